"""The RAFT flow backend (torchvision): weights loading, inference shapes and its clean failures.

Weights are randomly initialised models saved by the test itself, so nothing
is downloaded; flows from them are meaningless, only shapes and plumbing are checked.
"""

from __future__ import annotations

import sys
import time
from urllib.parse import urlparse

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
from click.testing import CliRunner  # noqa: E402
from torchvision.models.optical_flow import Raft_Small_Weights, raft_large, raft_small  # noqa: E402

from actiondubber.cli import cli  # noqa: E402
from actiondubber.errors import BackendUnavailableError, InputError, ParameterError  # noqa: E402
from actiondubber.kinematics.flow import make_flow_backend  # noqa: E402
from actiondubber.kinematics.raft import RAFTFlow  # noqa: E402
from actiondubber.torchutil import resolves  # noqa: E402
from actiondubber.video.reader import probe  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("raft") / "raft_small_random.pth"
    torch.save(raft_small(weights=None, progress=False).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def raft(small_weights):
    return RAFTFlow(weights=small_weights, device="cpu", iters=2)


def _pair(h: int, w: int, shift: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (h, w), dtype=np.uint8)
    return a, np.roll(a, shift, axis=1)


@pytest.mark.parametrize("size", [(36, 52), (128, 138)])  # enlarged to RAFT's 128-px minimum; padded to /8
def test_flow_shape_dtype_finite(raft, size):
    a, b = _pair(*size)
    flow = raft.calc(a, b)
    assert flow.shape == (*size, 2) and flow.dtype == np.float32
    assert np.isfinite(flow).all()


def test_rgb_input_and_factory(small_weights):
    backend = make_flow_backend("raft", weights=small_weights, device="cpu", iters=1)
    assert backend.name == "raft" and isinstance(backend, RAFTFlow)
    a, b = _pair(40, 40)
    flow = backend.calc(np.repeat(a[..., None], 3, axis=2), np.repeat(b[..., None], 3, axis=2))
    assert flow.shape == (40, 40, 2)
    with pytest.raises(ValueError):
        backend.calc(a, b[:-1])


def test_wrapped_checkpoint_with_ddp_prefix_loads(tmp_path, small_weights, raft):
    sd = torch.load(small_weights, weights_only=True)
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, path)
    other = RAFTFlow(weights=path, device="cpu", iters=2)
    a, b = _pair(32, 48)
    np.testing.assert_allclose(other.calc(a, b), raft.calc(a, b), atol=1e-5)


def test_bad_weights_files_are_clean_input_errors(tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x80\x02not really a checkpoint" * 20)
    with pytest.raises(InputError, match="corrupt.pth: not a readable weights file"):
        RAFTFlow(weights=corrupt, device="cpu")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        RAFTFlow(weights=empty, device="cpu")
    with pytest.raises(InputError, match="not found"):
        RAFTFlow(weights=tmp_path / "missing.pth", device="cpu")

    large = tmp_path / "large.pth"
    torch.save(raft_large(weights=None, progress=False).state_dict(), large)
    with pytest.raises(InputError, match="do not fit torchvision raft_small.*raft_large"):
        RAFTFlow(weights=large, device="cpu")

    whole = tmp_path / "whole_model.pth"
    torch.save(torch.nn.Linear(2, 2), whole)
    with pytest.raises(InputError, match="state_dict"):
        RAFTFlow(weights=whole, device="cpu")

    not_a_dict = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), not_a_dict)
    with pytest.raises(InputError, match="not a RAFT state_dict"):
        RAFTFlow(weights=not_a_dict, device="cpu")


def test_bad_options(small_weights):
    with pytest.raises(ParameterError, match="unknown model"):
        RAFTFlow("raft_huge", weights=small_weights)
    with pytest.raises(ValueError):
        RAFTFlow(weights=small_weights, iters=0)
    with pytest.raises(ParameterError, match="unknown device"):
        RAFTFlow(weights=small_weights, device="warp-drive")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match="CUDA is not available"):
            RAFTFlow(weights=small_weights, device="cuda")


def test_no_weights_without_download_is_a_clean_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty pretrained-weights cache
    with pytest.raises(BackendUnavailableError, match="--raft-weights"):
        RAFTFlow(allow_download=False, device="cpu")




def test_offline_download_fails_fast_and_clean(tmp_path, monkeypatch):
    host = urlparse(Raft_Small_Weights.DEFAULT.url).hostname
    if resolves(host, 3.0):
        pytest.skip("the pretrained-weights host is reachable here; the offline path cannot be exercised")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailableError) as err:
        RAFTFlow(device="cpu")
    assert time.monotonic() - t0 < 30
    msg = str(err.value)
    assert "\n" not in msg and "weights" in msg and "--raft-weights" in msg
    assert not list(tmp_path.rglob("*.pth"))  # nothing half-downloaded left behind


def test_missing_torchvision_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision.models.optical_flow", None)  # makes the import fail
    with pytest.raises(BackendUnavailableError, match=r"pip install 'actiondubber\[torch\]'"):
        RAFTFlow()


def test_cli_flow_with_raft_weights(tmp_path, small_weights, make_video):
    clip = make_video(tmp_path / "clip.mp4", 5, (64, 48), 25)
    out = tmp_path / "raft_preview.mp4"
    args = ["flow", str(clip), "-o", str(out), "--backend", "raft", "--raft-weights", str(small_weights)]
    res = CliRunner().invoke(cli, [*args, "--max-frames", "1"])
    assert res.exit_code == 0, res.output
    info = probe(out)
    assert (info.n_frames, info.width, info.height) == (1, 3 * 64, 48)

    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"junk" * 10)
    res = CliRunner().invoke(cli, [*args[:-1], str(bad), "--force"])
    assert res.exit_code == 2 and "bad.pth: not a readable weights file" in res.stderr


# ----------------------------------------------------------------------------- the shared torch helper
#: Makes ``import torch`` / ``import torchvision`` fail as on a machine without the extra (a meta-path finder:
#: a ``sys.modules['torch'] = None`` entry would break scipy, which looks torch up in sys.modules).
_HIDE_TORCH = (
    "import sys\n"
    "class _Hide:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('torch', 'torchvision'):\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, _Hide())\n"
)


def test_hidden_torch_is_one_backend_unavailable_error_with_the_install_hint(tmp_path):
    """Without torch: require_torch, RAFT, the TA2Net classes and ``train`` all say what to install (exit 4)."""
    import subprocess

    code = _HIDE_TORCH + (
        "from actiondubber.errors import BackendUnavailableError\n"
        "from actiondubber.torchutil import require_torch\n"
        "from actiondubber.kinematics.flow import make_flow_backend\n"
        "import actiondubber.model as m\n"
        "from actiondubber.model.inputs import FeatureParams\n"  # the inputs need no torch
        "FeatureParams(size=32)\n"
        "for f in (lambda: require_torch('x'), lambda: make_flow_backend('raft'), lambda: m.TA2Net):\n"
        "    try:\n"
        "        f()\n"
        "    except BackendUnavailableError as e:\n"
        "        assert e.exit_code == 4 and \"pip install 'actiondubber[torch]'\" in str(e), str(e)\n"
        "        assert '\\n' not in str(e)\n"
        "    else:\n"
        "        raise SystemExit('no error')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    cli_code = _HIDE_TORCH + "import runpy; runpy.run_module('actiondubber', run_name='__main__')"
    args = ["train", "--labels", str(tmp_path / "l.csv"), "--videos", str(tmp_path), "--out", str(tmp_path / "o")]
    res = subprocess.run([sys.executable, "-c", cli_code, *args], capture_output=True, text=True, timeout=120)
    assert res.returncode == 4, res.stderr[-2000:]
    assert "pip install 'actiondubber[torch]'" in res.stderr and "Traceback" not in res.stderr


def test_device_choice_is_shared():
    from actiondubber.torchutil import choose_device

    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device("auto").type in ("cuda", "cpu")  # TA2Net: CUDA or CPU, never MPS
    with pytest.raises(ParameterError, match="unknown device"):
        choose_device("warp-drive", purpose="TA2Net")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailableError, match="CUDA is not available"):
            choose_device("cuda:0")


def test_weight_fit_check_names_the_keys_in_one_line():
    from actiondubber.torchutil import check_fits

    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    sd = net.state_dict()
    check_fits(net, sd, source="w.pth", fits="the net")  # fits: no error
    bad = {k: v for k, v in sd.items() if k != "1.bias"}
    bad["0.weight"] = torch.zeros(5, 2)
    bad["head.weight"] = torch.zeros(1)
    with pytest.raises(InputError) as err:
        check_fits(net, bad, source="w.pth", fits="the net")
    msg = str(err.value)
    assert msg == ("w.pth: the weights do not fit the net: 1 missing: 1.bias; 1 unexpected: head.weight; "
                   "1 of another shape: 0.weight")
