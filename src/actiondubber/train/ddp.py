"""Distributed data-parallel helpers: one process per device, started by ``torchrun``.

``torchrun --nproc_per_node N -m actiondubber train ...`` sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`setup` then joins the process group
(NCCL on GPUs, gloo on the CPU) and picks this process's device. Without
those variables everything here is a no-op for a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from actiondubber.errors import ActionDubberError


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: rank, world size, local rank, device."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def env_world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from the torchrun environment; (0, 1, 0) without it."""
    try:
        env = os.environ
        return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))
    except ValueError:
        raise ActionDubberError("RANK / WORLD_SIZE / LOCAL_RANK must be integers (set by torchrun)") from None


def setup(device: torch.device) -> Dist:
    """Join the process group when started by torchrun; return this process's :class:`Dist`.

    *device* is the device asked for (``cuda`` picks ``cuda:LOCAL_RANK`` under torchrun).
    """
    rank, world, local = env_world()
    if device.type == "cuda" and world > 1:
        if local >= torch.cuda.device_count():
            raise ActionDubberError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPU(s) here")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if world > 1 and not (dist.is_available() and dist.is_initialized()):
        if not dist.is_available():
            raise ActionDubberError("this torch build has no torch.distributed; run a single process")
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, world, local, device)


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def mean_scalar(d: Dist, value: float, device: torch.device) -> float:
    """The mean of *value* over all processes (the value itself for one process)."""
    if not d.enabled:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / d.world


def gather_objects(d: Dist, obj) -> list:
    """Every process's *obj*, in rank order (a one-element list for one process)."""
    if not d.enabled:
        return [obj]
    out: list = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(d: Dist, obj):
    """Rank 0's *obj* on every process."""
    if not d.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cleanup(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
