"""Every command against hostile input: one line on stderr, a non-zero exit, nothing written, inputs unchanged.

The cases are a table (command × input slot × kind of bad input). Each case runs the real command line
in-process (click's runner) against real generated media and asserts: the exit code is not 0; stderr is
exactly one line, ``actiondubber: error: ...``, naming the problem (the offending file or option); no
traceback and no "internal error"; no file at any output path; no ``.part`` file left; and every input
file byte-identical. A full disk is a real one (``RLIMIT_FSIZE`` in a child process); a read-only
folder is simulated by making the temp-file call fail with ``EROFS`` (root can write anywhere).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from actiondubber.cli import cli
from actiondubber.detection.detector import detect
from actiondubber.evaluate.labels import write_labels
from actiondubber.events import events_to_dict, save_events
from actiondubber.synth import render_clip

ROOT = Path(__file__).resolve().parents[1]
LONG = "x" * 300


# --------------------------------------------------------------------------- the inputs


def _write_wav(path: Path, sr: int = 16000) -> None:
    from scipy.io import wavfile

    t = np.arange(int(0.2 * sr)) / sr
    wavfile.write(path, sr, (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-20 * t)).astype(np.float32))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Good inputs, and bad ones of every kind, in one folder (plus a huge sparse file beside it)."""
    d = tmp_path_factory.mktemp("inputs")
    clip = d / "clip.mp4"
    render_clip(clip, seconds=1.6, fps=25, size=(96, 64), seed=3, preset="ultrafast")
    ev = detect(clip)
    save_events(ev, d / "events.json")
    good = events_to_dict(ev)
    if not good["events"]:
        good["events"] = [{"frame": 5, "time": 0.2, "score": 1.0, "x": 10.0, "y": 10.0}]
        save_events_dict = good
        (d / "events.json").write_text(json.dumps(save_events_dict))
    write_labels(d / "labels.csv", {"clip": [5, 20]})
    _write_wav(d / "knock.wav")
    (d / "sounds").mkdir()
    _write_wav(d / "sounds" / "a.wav")
    (d / "cfg.yaml").write_text("preset: small_cpu\n")
    (d / "anno.json").write_text(json.dumps({"database": {"clip": {"duration": 1.6, "subset": "validation",
                                 "annotations": [{"segment": [0.2, 0.8], "label": "bounce"}]}}}))
    (d / "segs.json").write_text(json.dumps({"results": {"clip": [{"segment": [0.2, 0.7], "label": "bounce",
                                                                  "score": 0.9}]}}))
    (d / "vids").mkdir()
    (d / "vids" / "clip.mp4").write_bytes(clip.read_bytes())

    bad: dict[str, Path] = {}
    bad["missing"] = d / "missing.mp4"
    (d / "adir.mp4").mkdir()
    bad["directory"] = d / "adir.mp4"
    (d / "empty.mp4").write_bytes(b"")
    bad["empty"] = d / "empty.mp4"
    (d / "text.mp4").write_text("this is not a video\n")
    bad["text"] = d / "text.mp4"
    data = clip.read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 5])
    bad["truncated"] = d / "truncated.mp4"
    rng = np.random.default_rng(0)
    (d / "noise.mp4").write_bytes(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    bad["random_bytes"] = d / "noise.mp4"
    zeroed = bytearray(data)
    zeroed[: min(4096, len(zeroed))] = b"\0" * min(4096, len(zeroed))
    (d / "zeroed.mp4").write_bytes(bytes(zeroed))
    bad["zeroed_header"] = d / "zeroed.mp4"
    import cv2

    cv2.imwrite(str(d / "still.png"), np.zeros((32, 32, 3), np.uint8))
    bad["one_image"] = d / "still.png"
    (d / "wav_as_video.mp4").write_bytes((d / "knock.wav").read_bytes())
    bad["audio_only"] = d / "wav_as_video.mp4"
    bad["unicode_missing"] = d / "vidéo ‘quoted’ \"名前\" with spaces.mp4"
    os.symlink(d / "nowhere.mp4", d / "dangling.mp4")
    bad["dangling_symlink"] = d / "dangling.mp4"

    # events files that are wrong in every way the loader must catch
    def ev_file(name: str, obj) -> Path:
        p = d / f"ev_{name}.json"
        p.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
        return p

    def mutated(**changes):
        g = json.loads(json.dumps(good))
        for k, v in changes.items():
            if k.startswith("ev0_"):
                g["events"][0][k[4:]] = v
            elif v is None:
                g.pop(k, None)
            else:
                g[k] = v
        return g

    n = good["n_frames"]
    evbad: dict[str, Path] = {
        "missing": d / "ev_missing.json",
        "directory": d / "adir.mp4",
        "empty": ev_file("empty", ""),
        "not_json": ev_file("not_json", "{this is not json"),
        "json_array": ev_file("array", [1, 2, 3]),
        "no_events": ev_file("no_events", {"schema": good["schema"]}),
        "foreign_schema": ev_file("foreign", mutated(schema="other.tool/2")),
        "no_schema": ev_file("no_schema", mutated(schema=None)),
        "negative_frame": ev_file("negframe", mutated(ev0_frame=-3)),
        "frame_past_end": ev_file("pastend", mutated(ev0_frame=n + 50, ev0_time=None)),
        "time_past_end": ev_file("timepast", mutated(ev0_time=good["duration"] + 5)),
        "infinity_score": ev_file("inf", json.dumps(mutated()).replace('"score": ' + json.dumps(
            good["events"][0]["score"]), '"score": Infinity', 1)),
        "nan_time": ev_file("nan", json.dumps(mutated()).replace('"time": ' + json.dumps(
            good["events"][0]["time"]), '"time": NaN', 1)),
        "fps_zero": ev_file("fps0", mutated(fps=0)),
        "fps_negative": ev_file("fpsneg", mutated(fps=-25)),
        "scores_wrong_length": ev_file("scoreslen", mutated(scores=[0.0, 1.0])),
        "times_decreasing": ev_file("timesdec", mutated(times=list(reversed(good["times"])))),
        "no_time_no_clock": ev_file("notime", mutated(ev0_time=None, fps=None, times=None)),
        "frame_is_text": ev_file("frametext", mutated(ev0_frame="seven")),
        "deeply_nested": ev_file("nested", "[" * 100000 + "]" * 100000),
        "binary": ev_file("binary", "\x00\x01\x02"),
        "x_is_text": ev_file("xtext", mutated(ev0_x="left")),
        "score_is_list": ev_file("scorelist", mutated(ev0_score=[1, 2])),
        "params_not_object": ev_file("params", mutated(params=[1, 2])),
        "video_not_string": ev_file("videonum", mutated(video=42)),
        "times_nan": ev_file("timesnan", json.dumps(mutated(times=[0.0] + good["times"][1:])).replace(
            "[0.0,", "[NaN,", 1)),
        "n_frames_negative": ev_file("nneg", mutated(n_frames=-5, times=None, scores=None)),
        "width_negative": ev_file("wneg", mutated(width=-640)),
        "events_not_list": ev_file("evdict", mutated(events={"frame": 3})),
        "event_not_object": ev_file("evnum", mutated(events=[3, 4])),
        "latin1": d / "ev_latin1.json",
    }
    (d / "ev_latin1.json").write_bytes(b'{"schema": "caf\xe9"}')
    huge = tmp_path_factory.mktemp("huge") / "huge.json"
    with open(huge, "wb") as fh:
        fh.truncate(300 * 2**20)
    evbad["huge"] = huge

    labbad: dict[str, Path] = {
        "missing": d / "lab_missing.csv",
        "directory": d / "adir.mp4",
        "empty": d / "lab_empty.csv",
        "binary": d / "lab_binary.csv",
        "garbage": d / "lab_garbage.csv",
        "wrong_columns": d / "lab_cols.csv",
        "negative_frames": d / "lab_neg.csv",
        "no_usable_rows": d / "lab_norows.csv",
    }
    labbad["empty"].write_text("")
    labbad["binary"].write_bytes(bytes(range(256)) * 4)
    labbad["garbage"].write_text("lorem ipsum\ndolor sit amet\n")
    labbad["wrong_columns"].write_text("id,frames\nclip,1\n")
    labbad["negative_frames"].write_text('video_id,sound_label,class\nclip,"-4,-2",hit\n')
    labbad["no_usable_rows"].write_text('video_id,sound_label,class\nclip,"a,b",hit\n')

    cfgbad = {
        "missing": d / "cfg_missing.yaml",
        "garbage": d / "cfg_garbage.yaml",
        "unknown_key": d / "cfg_unknown.yaml",
        "bad_value": d / "cfg_badvalue.yaml",
        "not_a_mapping": d / "cfg_list.yaml",
    }
    cfgbad["garbage"].write_text("{{{: not: yaml: [")
    cfgbad["unknown_key"].write_text("no_such_setting: 3\n")
    cfgbad["bad_value"].write_text("clip_len: -5\n")
    cfgbad["not_a_mapping"].write_text("- 1\n- 2\n")

    sndbad = {"missing": d / "snd_missing.wav", "not_audio": d / "text.mp4", "empty": d / "empty.mp4"}
    (d / "nosounds").mkdir()
    (d / "nosounds" / "readme.txt").write_text("no sounds here")
    (d / "emptydir").mkdir()
    return {"dir": d, "clip": clip, "events": d / "events.json", "segs": d / "segs.json",
            "anno": d / "anno.json", "labels": d / "labels.csv", "wav": d / "knock.wav",
            "sounds": d / "sounds", "cfg": d / "cfg.yaml", "vids": d / "vids", "bad": bad, "evbad": evbad,
            "labbad": labbad, "cfgbad": cfgbad, "sndbad": sndbad, "huge": huge}


# --------------------------------------------------------------------------- the table

#: Kinds of bad output path; each expands an output slot of a command.
OUTPUT_KINDS = ("too_long", "same_as_input", "missing_folder", "is_directory", "exists", "read_only")

# Each command: its good argument list (placeholders {clip} {events} ... {out:EXT} {dir:NAME}), its slots.
COMMANDS: dict[str, dict] = {
    "detect": {"args": ["detect", "{clip}", "--json", "{out:json}"], "video": ["{clip}"], "out": ["{out:json}"],
               "extra_outs": [["--csv", "{out2:csv}"], ["--plot", "{out3:png}"]],
               "labels": ["--labels", "{labels}"],
               "values": [["-s", "2"], ["-s", "nan"], ["--min-gap", "inf"], ["--min-gap", "-1"],
                          ["--short-side", "4"], ["--floor", "nan"], ["--top-fraction", "0"], ["--kind", "magic"],
                          ["--backend", "none"], ["--frame-offset", "5"], ["--peak-window", "0"], ["--blur", "-1"],
                          ["--change-gate", "-3"], ["--gravity", "inf"], ["--multiscale", "5"],
                          ["--sound-check", "maybe"], ["--sound-check", "off"], ["--fast", "--multiscale", "5"]]},
    "evaluate": {"args": ["evaluate", "--pred", "{events}", "--labels", "{labels}", "--json", "{out:json}"],
                 "events": ["{events}"], "labels_slot": ["{labels}"], "out": ["{out:json}"],
                 "extra_outs": [["--csv", "{out2:csv}"]], "values": [["--merge-labels", "-1"]]},
    "label-from-audio": {"args": ["label-from-audio", "{clip}", "-o", "{out:csv}"], "video": ["{clip}"],
                         "out": ["{out:csv}"], "values": [["--threshold", "2"], ["--min-time", "-1"],
                                                          ["--sr", "10"]]},
    "synth": {"args": ["synth", "{out:mp4}", "--seconds", "0.5", "--size", "64x48"], "out": ["{out:mp4}"],
              "extra_outs": [["--labels", "{out2:csv}"]],
              "values": [["--size", "0x0"], ["--size", "huge"], ["--size", "99999x99999"], ["--fps", "0"],
                         ["--seconds", "-1"], ["--scene", "space"], ["--objects", "-2"]]},
    "flow": {"args": ["flow", "{clip}", "-o", "{out:mp4}", "--max-frames", "4"], "video": ["{clip}"],
             "out": ["{out:mp4}"], "values": [["--short-side", "3"], ["--max-frames", "0"], ["--backend", "x"],
                                                    ["--compensate", "x"]]},
    "export": {"args": ["export", "{events}", "--edl", "{out:edl}"], "events": ["{events}"], "out": ["{out:edl}"],
               "extra_outs": [["--otio", "{out2:otio}"], ["--srt", "{out3:srt}"], ["--vtt", "{out4:vtt}"],
                              ["--csv", "{out5:csv}"], ["--audacity", "{out6:txt}"], ["--fcpxml", "{out7:xml}"]],
               "templates": True, "video_opt": ["--video", "{clip}"],
               "values": [["--cue-length", "-1"], ["--cue-length", "nan"]]},
    "preview": {"args": ["preview", "{clip}", "--events", "{events}", "-o", "{out:mp4}", "--max-width", "64"],
                "video": ["{clip}"], "events": ["{events}"], "out": ["{out:mp4}"],
                "extra_outs": [["--png", "{out2:png}"]], "audio_opt": ["--audio", "{wav}"],
                "values": [["--png-frame", "99999"], ["--window", "0"], ["--max-width", "2"]]},
    "dub": {"args": ["dub", "{clip}", "--events", "{events}", "-o", "{out:mp4}"], "video": ["{clip}"],
            "events": ["{events}"], "out": ["{out:mp4}"], "extra_outs": [["--save-events", "{out2:json}"]],
            "sound_opt": ["--sound", "{wav}"], "sound_dir_opt": ["--sound-dir", "{sounds}"],
            "values": [["--sound", "kazoo"], ["--mix", "loud"], ["--duck-db", "5"], ["--jitter-db", "nan"],
                       ["--pitch-jitter", "99"], ["--level-db", "inf"]]},
    "sync": {"args": ["sync", "{clip}", "--json", "{out:json}"], "video": ["{clip}"], "out": ["{out:json}"],
             "values": [["--max-lag", "-5"], ["--max-lag", "nan"], ["--min-impacts", "0"], ["--window", "0"],
                        ["-s", "9"], ["--offset", "inf"], ["--fix"], ["--offset", "40"]]},
    "batch": {"args": ["batch", "{vids}", "-o", "{dir:results}"], "videos_dir": ["{vids}"],
              "values": [["--workers", "0"], ["--engine", "spark"], ["--export", "bogus"], ["--timeout", "-1"],
                         ["--max-memory", "-5"], ["--sound", "kazoo", "--dub"], ["--min-gap", "nan"],
                        ["--labels-from-audio", "--dont-care", "2"]]},
    "serve": {"args": ["serve", "{vids}", "--no-browser", "--port", "1"], "videos_dir": ["{vids}"],
              "values": [["--port", "0"], ["--port", "70000"], ["--max-upload-mb", "0"]]},
    "count": {"args": ["count", "{clip}", "--json", "{out:json}"], "video": ["{clip}"], "out": ["{out:json}"],
              "labels": ["--labels", "{labels}"],
              "values": [["-s", "3"], ["--event-mode", "blob"], ["--start", "5", "--end", "1"], ["--end", "nan"]]},
    "sounding": {"args": ["sounding", "{clip}", "--events", "{events}", "--json", "{out:json}"],
                 "video": ["{clip}"], "events": ["{events}"], "out": ["{out:json}"],
                 "values": [["--threshold", "2"], ["--mode", "psychic"], ["--weights", "{wav}"]]},
    "evaluate-tal": {"args": ["evaluate-tal", "--pred", "{segs}", "--annotations", "{anno}", "--json", "{out:json}"],
                     "json_slots": ["{segs}", "{anno}"], "out": ["{out:json}"],
                     "values": [["--tiou", "banana"], ["--tiou", "0.1,7"]]},
    "localize": {"args": ["localize", "{clip}", "--model", "{wav}"], "video": ["{clip}"],
                 "values": [["--duration", "-1"]]},
    "features": {"args": ["features", "{clip}", "--out-dir", "{dir:feats}"], "video": ["{clip}"],
                 "values": [["--short-side", "2"]]},
    "train-tal": {"args": ["train-tal", "--annotations", "{anno}", "--features", "{vids}", "--out-dir", "{dir:tal}",
                           "--epochs", "1"], "json_slots": ["{anno}"],
                  "values": [["--fusion", "magic"], ["--epochs", "0"], ["--lr", "-1"]]},
    "train-mc3": {"args": ["train-mc3", "--clips", "{labels}", "--out-dir", "{dir:mc3}"], "labels_slot": ["{labels}"],
                  "values": [["--tau", "0"], ["--batch-size", "1"], ["--anchor", "smell"]]},
    "train-verifier": {"args": ["train-verifier", "--videos", "{vids}", "--labels", "{labels}", "-o", "{out:json}"],
                       "labels_slot": ["{labels}"], "videos_dir": ["{vids}"], "out": ["{out:json}"],
                       "values": [["--l2", "-1"], ["--features", "pixels"], ["--short-side", "3"],
                                  ["--tune-set", "7"]]},
    "train": {"args": ["train", "--labels", "{labels}", "--videos", "{vids}", "--out-dir", "{dir:run}",
                       "--config", "{cfg}", "--iterations", "1"],
              "labels_slot": ["{labels}"], "config": ["{cfg}"], "videos_dir": ["{vids}"],
              "values": [["--iterations", "0"], ["--batch-size", "0"], ["--lr", "-1"], ["--lr", "nan"],
                         ["--lr-mult", "nonsense"], ["--accumulate", "0"], ["--device", "tpu:9"]]},
}


def _cases():
    """(id, command, kind, slot data) for every case in the table."""
    out = []
    for cmd, spec in COMMANDS.items():
        for kind in ("missing", "directory", "empty", "text", "truncated", "random_bytes", "zeroed_header",
                     "one_image", "audio_only", "unicode_missing", "dangling_symlink"):
            if spec.get("video"):
                out.append((f"{cmd}-video-{kind}", cmd, "video", kind))
        if spec.get("events"):
            for kind in ("missing", "directory", "empty", "not_json", "json_array", "no_events", "foreign_schema",
                         "no_schema", "negative_frame", "frame_past_end", "time_past_end", "infinity_score",
                         "nan_time", "fps_zero", "fps_negative", "scores_wrong_length", "times_decreasing",
                         "no_time_no_clock", "frame_is_text", "deeply_nested", "binary", "latin1", "huge",
                         "x_is_text", "score_is_list", "params_not_object", "video_not_string", "times_nan",
                         "n_frames_negative", "width_negative", "events_not_list", "event_not_object"):
                out.append((f"{cmd}-events-{kind}", cmd, "events", kind))
        for slot in spec.get("json_slots", []):
            for kind in ("missing", "directory", "empty", "not_json", "json_array", "deeply_nested", "binary",
                         "latin1", "huge", "foreign_schema"):
                out.append((f"{cmd}-json{slot[1:-1]}-{kind}", cmd, "json", (slot, kind)))
        if spec.get("labels") or spec.get("labels_slot"):
            for kind in ("missing", "directory", "empty", "binary", "garbage", "wrong_columns", "negative_frames",
                         "no_usable_rows"):
                out.append((f"{cmd}-labels-{kind}", cmd, "labels", kind))
        outs = [spec["out"][0]] + [o[1] for o in spec.get("extra_outs", [])] if spec.get("out") else []
        for slot in outs:
            for kind in OUTPUT_KINDS:
                out.append((f"{cmd}-output{slot.split(':')[0][4:] or ''}-{kind}", cmd, "output", (slot, kind)))
        if spec.get("templates"):
            for t in ("hit {n", "{n.__class__}", "{n:>999999999}", "{frame[0]}", "{unknown}", "x" * 500, "}{"):
                out.append((f"{cmd}-template-{t[:14]}", cmd, "template", t))
        if spec.get("video_opt"):
            for kind in ("missing", "directory", "empty", "text"):
                out.append((f"{cmd}-videoopt-{kind}", cmd, "video_opt", kind))
        if spec.get("audio_opt"):
            for kind in ("missing", "directory", "empty", "text"):
                out.append((f"{cmd}-audioopt-{kind}", cmd, "audio_opt", kind))
        if spec.get("sound_opt"):
            for kind in ("missing", "not_audio", "empty"):
                out.append((f"{cmd}-sound-{kind}", cmd, "sound_opt", kind))
            for kind in ("missing", "nosounds", "emptydir", "file_not_dir"):
                out.append((f"{cmd}-sounddir-{kind}", cmd, "sound_dir_opt", kind))
        if spec.get("config"):
            for kind in ("missing", "garbage", "unknown_key", "bad_value", "not_a_mapping"):
                out.append((f"{cmd}-config-{kind}", cmd, "config", kind))
        if spec.get("videos_dir"):
            for kind in ("missing", "file_not_dir") + (("emptydir",) if cmd != "serve" else ()):
                out.append((f"{cmd}-videos-{kind}", cmd, "videos_dir", kind))
        for i, v in enumerate(spec.get("values", [])):
            out.append((f"{cmd}-value{i}-{'='.join(v)}", cmd, "value", v))
    return out


CASES = _cases()


def _fill(arg: str, w: dict, o: Path) -> str:
    if arg.startswith("{out") and ":" in arg:
        name, ext = arg[1:-1].split(":")
        return str(o / f"{name}.{ext}")
    if arg.startswith("{dir:"):
        return str(o / arg[5:-1])
    if arg.startswith("{") and arg.endswith("}") and arg[1:-1] in w:
        return str(w[arg[1:-1]])
    return arg


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _build(case, w: dict, o: Path) -> tuple[list[str], list[Path], list[Path]]:
    """(argv, output paths that must not appear, output paths that must keep their bytes)."""
    _, cmd, slot, kind = case
    spec = COMMANDS[cmd]
    args = list(spec["args"])
    must_keep: list[Path] = []

    def replace(placeholder: str, value: str) -> None:
        for i, a in enumerate(args):
            if a == placeholder:
                args[i] = value
                return
        raise AssertionError(f"{placeholder} not in {args}")

    if slot == "video":
        replace(spec["video"][0], str(w["bad"][kind]))
    elif slot == "events":
        replace(spec["events"][0], str(w["evbad"][kind]))
    elif slot == "json":
        replace(kind[0], str(w["evbad"][kind[1]]))
    elif slot == "labels":
        if spec.get("labels_slot"):
            replace(spec["labels_slot"][0], str(w["labbad"][kind]))
        else:
            args += [spec["labels"][0], str(w["labbad"][kind])]
    elif slot == "output":
        placeholder, okind = kind
        extra = next((e for e in spec.get("extra_outs", []) if e[1] == placeholder), None)
        if extra is not None:
            args += extra
        ext = placeholder[1:-1].split(":")[1]
        target = {
            "too_long": o / f"{LONG}.{ext}",
            "same_as_input": Path(_fill(next((a for a in args if a in ("{clip}", "{events}", "{labels}")),
                                            "{clip}"), w, o)),
            "missing_folder": o / "no" / "such" / f"folder.{ext}",
            "is_directory": o,
            "exists": o / f"exists.{ext}",
            "read_only": o / f"ro.{ext}",
        }[okind]
        if okind == "exists":
            target.write_bytes(b"precious user file\n")
            must_keep.append(target)
        replace(placeholder, str(target))
    elif slot == "template":
        args += ["--name", kind]
    elif slot == "video_opt":
        args += [spec["video_opt"][0], str(w["bad"][kind])]
    elif slot == "audio_opt":
        args += [spec["audio_opt"][0], str(w["bad"][kind])]
    elif slot == "sound_opt":
        args += [spec["sound_opt"][0], str(w["sndbad"][kind])]
    elif slot == "sound_dir_opt":
        p = {"missing": w["dir"] / "no_sounds_here", "nosounds": w["dir"] / "nosounds",
             "emptydir": w["dir"] / "emptydir", "file_not_dir": w["wav"]}[kind]
        args += [spec["sound_dir_opt"][0], str(p)]
    elif slot == "config":
        replace(spec["config"][0], str(w["cfgbad"][kind]))
    elif slot == "videos_dir":
        p = {"missing": w["dir"] / "no_videos_here", "file_not_dir": w["clip"], "emptydir": w["dir"] / "emptydir"}
        replace(spec["videos_dir"][0], str(p[kind]))
    elif slot == "value":
        args += list(kind)
    argv = [_fill(a, w, o) for a in args]
    outs = [Path(_fill(a, w, o)) for a in args if a.startswith(("{out", "{dir:"))]
    outs = [p for p in outs if p not in must_keep and p != o and p.parent.exists() is not None]
    return argv, [p for p in outs if not _is_input(p, w)], must_keep


def _is_input(p: Path, w: dict) -> bool:
    return p.exists() and w["dir"] in p.parents


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, world, tmp_path, monkeypatch):
    o = tmp_path / "out"
    o.mkdir()
    argv, outs, keep = _build(case, world, o)
    kept = {p: p.read_bytes() for p in keep}
    before = _tree_digest(world["dir"])
    if case[2] == "output" and case[3][1] == "read_only":
        import tempfile

        def refuse(*a, **k):
            raise OSError(errno.EROFS, "Read-only file system", str(o))

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    res = CliRunner().invoke(cli, argv)
    err = res.stderr.strip().splitlines()
    if case[2] == "video" and case[3] == "truncated" and res.exit_code == 0:
        # a cut-off file is decoded as far as it goes: allowed, with one warning that says so
        # (the warning comes once per process: the decoded facts of a file are remembered)
        assert all(e.startswith("actiondubber: warning:") for e in err) and len(err) <= 2, res.stderr
        assert _tree_digest(world["dir"]) == before
        return
    assert res.exit_code not in (0, None), f"{argv}: exit 0\n{res.stderr}"
    if case[2] == "video" and case[3] == "truncated":  # the warnings that it was cut off may come first
        assert all(e.startswith("actiondubber: warning:") for e in err[:-1]) and len(err) <= 3, res.stderr
        err = err[-1:]
    assert not isinstance(res.exception, Exception) or isinstance(res.exception, SystemExit), \
        f"{argv}: raised {res.exception!r}"
    assert len(err) == 1, f"{argv}: stderr has {len(err)} lines:\n{res.stderr}"
    assert err[0].startswith("actiondubber: error:"), err[0]
    assert "Traceback" not in res.output and "internal error" not in err[0], err[0]
    for p in outs:  # not even an empty folder: every input is checked before an output is created
        assert not p.exists(), f"{argv}: left {p}"
    leftovers = [p for p in o.rglob("*") if ".part" in p.name]
    assert not leftovers, f"{argv}: left {leftovers}"
    for p, data in kept.items():
        assert p.read_bytes() == data, f"{argv}: overwrote {p}"
    assert _tree_digest(world["dir"]) == before, f"{argv}: changed an input"


def test_case_count():
    """The table stays large: every command, every kind of input it takes."""
    per = {}
    for c in CASES:
        per[c[1]] = per.get(c[1], 0) + 1
    assert set(per) == set(COMMANDS) and len(CASES) >= 400, per


# --------------------------------------------------------------------------- a real full disk


def _limit_file_size():  # in the child: writes past 4 kB fail with EFBIG instead of killing it
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


@pytest.mark.parametrize("cmd", [
    ["detect", "{clip}", "--plot", "{out:png}"],
    ["flow", "{clip}", "-o", "{out:mp4}"],
    ["preview", "{clip}", "--events", "{events}", "-o", "{out:mp4}"],
    ["dub", "{clip}", "--events", "{events}", "-o", "{out:mp4}"],
    ["synth", "{out:mp4}", "--seconds", "2"],
], ids=lambda c: c[0])
def test_disk_full_is_one_line_and_leaves_nothing(cmd, world, tmp_path):
    o = tmp_path / "out"
    o.mkdir()
    argv = [_fill(a, world, o) for a in cmd]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONDONTWRITEBYTECODE="1")
    res = subprocess.run([sys.executable, "-m", "actiondubber", *argv], capture_output=True, text=True, env=env,
                         preexec_fn=_limit_file_size, timeout=300)
    err = res.stderr.strip().splitlines()
    assert res.returncode != 0, res.stderr
    assert len(err) == 1 and err[0].startswith("actiondubber: error:"), res.stderr
    assert list(o.iterdir()) == [], list(o.iterdir())
