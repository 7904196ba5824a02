"""Atomic output writing."""

from __future__ import annotations

import os

import pytest

from actiondubber.errors import OutputError
from actiondubber.fileio import atomic_output, check_output_path, write_text_atomic


def test_atomic_write_has_normal_permissions(tmp_path):
    out = write_text_atomic(tmp_path / "a.txt", "hello")
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
    out.chmod(0o640)
    write_text_atomic(out, "again")
    assert out.stat().st_mode & 0o777 == 0o640 and out.read_text() == "again"


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "b.txt"
    out.write_text("keep me")
    with pytest.raises(RuntimeError), atomic_output(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert out.read_text() == "keep me"
    assert sorted(os.listdir(tmp_path)) == ["b.txt"]


def test_check_output_path(tmp_path):
    src = tmp_path / "in.mp4"
    src.write_bytes(b"x")
    with pytest.raises(OutputError, match="same as the input"):
        check_output_path(src, inputs=[src])
    with pytest.raises(OutputError, match="directory"):
        check_output_path(tmp_path)
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "x.json")
    assert check_output_path(tmp_path / "ok.json", inputs=[src]) == tmp_path / "ok.json"
