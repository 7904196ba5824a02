"""Frame encoders of TA²Net (E_X, E_M, E_C): a ResNet cut after a chosen layer, or a tiny CNN.

ImageNet weights come only from a local ``state_dict`` file or from torchvision's own
cache/download; without either the encoders start from random weights (logged).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torchvision
from torch import nn

from actiondubber.torchutil import check_fits, fetch_pretrained, load_state_dict_file

_TINY_WIDTHS = (24, 48, 96, 128)
_RESNET_CHANNELS = {
    "resnet50": {"layer1": 256, "layer2": 512, "layer3": 1024, "layer4": 2048},
    "resnet34": {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512},
    "resnet18": {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512},
}
_STRIDES = {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}


def feature_stride(cut: str) -> int:
    """Downsampling factor of an encoder cut after *cut* (same for ResNets and the tiny CNN)."""
    return _STRIDES[cut]


def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _tiny_body(in_ch: int, cut: str) -> tuple[nn.Sequential, int]:
    """A small plain CNN with the ResNet stage strides (4, 8, 16, 32): two 3x3 convs per stage."""
    n_stages = list(_STRIDES).index(cut) + 1
    ch = _TINY_WIDTHS[0]
    layers: list[nn.Module] = [_conv_bn(in_ch, ch // 2, 2), _conv_bn(ch // 2, ch, 2)]
    for s in range(1, n_stages):
        layers += [_conv_bn(ch, _TINY_WIDTHS[s], 2), _conv_bn(_TINY_WIDTHS[s], _TINY_WIDTHS[s], 1)]
        ch = _TINY_WIDTHS[s]
    if n_stages == 1:
        layers.append(_conv_bn(ch, ch, 1))
    return nn.Sequential(*layers), ch


def _resnet_body(name: str, in_ch: int, cut: str) -> tuple[nn.Sequential, int]:
    """torchvision ResNet stem (conv1, bn1, relu, maxpool) through *cut*, first conv taking *in_ch* channels."""
    net = getattr(torchvision.models, name)(weights=None)
    if in_ch != 3:
        net.conv1 = nn.Conv2d(in_ch, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    keep = ["conv1", "bn1", "relu", "maxpool"] + [f"layer{i}" for i in range(1, int(cut[-1]) + 1)]
    body = nn.Sequential()
    for k in keep:
        body.add_module(k, getattr(net, k))
    return body, _RESNET_CHANNELS[name][cut]


class FrameEncoder(nn.Module):
    """One encoder: backbone body, then a 1x1 conv + BN + ReLU mapping its features to ``dim`` channels.

    Input (N, in_ch, H, W), output (N, dim, H/s, W/s) with s = :func:`feature_stride` (16 for layer3).
    """

    def __init__(self, backbone: str, cut: str, in_ch: int, dim: int) -> None:
        super().__init__()
        self.backbone_name = backbone
        self.in_ch = in_ch
        if backbone == "tiny":
            self.body, ch = _tiny_body(in_ch, cut)
        else:
            self.body, ch = _resnet_body(backbone, in_ch, cut)
        self.proj = nn.Sequential(nn.Conv2d(ch, dim, 1, bias=False), nn.BatchNorm2d(dim), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.body(x))

    def load_imagenet(self, sd: Mapping[str, torch.Tensor], source: str) -> None:
        """Copy ImageNet ResNet weights into the body; a non-RGB first conv gets the RGB filters' mean.

        Tensors of *sd* beyond the cut (later stages, the classifier) are ignored.
        """
        own = self.body.state_dict()
        new = {}
        for k in own:
            if k not in sd:
                continue
            w = sd[k]
            if k == "conv1.weight" and self.in_ch != 3 and tuple(w.shape) == (64, 3, 7, 7):
                w = w.float().mean(dim=1, keepdim=True).repeat(1, self.in_ch, 1, 1)
            new[k] = w
        check_fits(self.body, new, source=source,
                   fits=f"torchvision {self.backbone_name} (pass an ImageNet {self.backbone_name} state_dict)")
        self.body.load_state_dict({k: w.to(own[k].dtype) for k, w in new.items()}, strict=True)


_IMAGENET_WEIGHTS = {
    "resnet50": "ResNet50_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet18": "ResNet18_Weights",
}


def load_imagenet_state_dict(pretrained: str, backbone: str) -> tuple[dict, str]:
    """ImageNet weights for *backbone*: from the file *pretrained*, or torchvision's when it is ``"torchvision"``.

    Returns (state_dict, description). A missing/damaged file raises :class:`InputError`; torchvision
    weights that are neither cached nor downloadable raise :class:`BackendUnavailableError`.
    """
    if pretrained != "torchvision":
        return load_state_dict_file(pretrained, "ResNet"), str(pretrained)
    weights = getattr(torchvision.models, _IMAGENET_WEIGHTS[backbone]).IMAGENET1K_V1
    sd = fetch_pretrained(weights, purpose="TA2Net", what=f"torchvision {backbone} ImageNet weights",
                          hint=f"pass an ImageNet {backbone} state_dict file as pretrained=PATH")
    return sd, f"torchvision {backbone} IMAGENET1K_V1"
