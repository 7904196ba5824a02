"""Seed 004's two losses, on L2-normalised embeddings ``{modality: (B, d)}``.

* :func:`contrastive_loss`: for every ordered pair (i, j), i != j, the InfoNCE term
  ``-1/|B| sum_t log exp(e_i^t . e_j^t / tau) / sum_l exp(e_i^t . e_j^l / tau)``, summed over pairs.
* :func:`consensus_loss`: the similarities ``s_i = e_i . e_a`` to the anchor modality a, calibrated by
  monotone maps K_i (:class:`Calibration`), the consensus ``c = K^-1(min_i K_i(s_i))`` and
  ``1/|B| sum_t sum_{i != a} |s_i - c|`` (the 2-norm of a scalar).
"""

from __future__ import annotations

from actiondubber.mc3.encoders import require

torch = require("torch")
F = torch.nn.functional


def info_nce(a, b, tau: float):
    """``-mean_t log softmax_l(a_t . b_l / tau)[t]``: one direction of one modality pair."""
    logits = a @ b.T / tau
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))


def contrastive_loss(emb: dict, tau: float):
    """Sum of :func:`info_nce` over every ordered pair of the modalities in *emb*."""
    names = list(emb)
    total = emb[names[0]].new_zeros(())
    for i in names:
        for j in names:
            if i != j:
                total = total + info_nce(emb[i], emb[j], tau)
    return total


class Calibration(torch.nn.Module):
    """The maps K_i: ``"zscore"`` (running mean/std of each pair's similarity) or ``"identity"``.

    ``forward(name, s)`` is K_name(s); :meth:`inverse` is K^-1 with the mean of the pairs' statistics.
    Statistics are updated (detached, exponential moving average) by :meth:`update` in training.
    """

    def __init__(self, names: list[str], kind: str = "zscore", momentum: float = 0.9):
        super().__init__()
        self.names = list(names)
        self.kind = kind
        self.momentum = float(momentum)
        self.register_buffer("mu", torch.zeros(len(self.names)))
        self.register_buffer("sigma", torch.ones(len(self.names)))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, sims: dict) -> None:
        mu = torch.stack([sims[n].mean() for n in self.names])
        sd = torch.stack([sims[n].std(unbiased=False).clamp_min(1e-3) for n in self.names])
        if int(self.seen) == 0:
            self.mu.copy_(mu)
            self.sigma.copy_(sd)
        else:
            m = self.momentum
            self.mu.mul_(m).add_((1 - m) * mu)
            self.sigma.mul_(m).add_((1 - m) * sd)
        self.seen += 1

    def forward(self, name: str, s):
        if self.kind == "identity":
            return s
        k = self.names.index(name)
        return (s - self.mu[k]) / self.sigma[k]

    def inverse(self, z):
        if self.kind == "identity":
            return z
        return z * self.sigma.mean() + self.mu.mean()


def anchor_similarities(emb: dict, anchor: str) -> dict:
    """``{i: e_i . e_anchor}`` per sample, for every modality i other than the anchor."""
    a = emb[anchor]
    return {n: (e * a).sum(dim=1) for n, e in emb.items() if n != anchor}


def consensus(sims: dict, calib: Calibration):
    """``c = K^-1(min_i K_i(s_i))`` per sample."""
    z = torch.stack([calib(n, s) for n, s in sims.items()], dim=0)
    return calib.inverse(z.min(dim=0).values)


def consensus_loss(emb: dict, anchor: str, calib: Calibration, *, detach: bool = True):
    """``mean_t sum_{i != a} |e_i . e_a - c|`` (see the module docs); *detach* makes c a fixed target."""
    sims = anchor_similarities(emb, anchor)
    c = consensus(sims, calib)
    if detach:
        c = c.detach()
    return torch.stack([(s - c).abs() for s in sims.values()], dim=0).sum(dim=0).mean()
