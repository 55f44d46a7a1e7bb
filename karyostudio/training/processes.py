"""The processes of a run: one, or one of torchrun's WORLD_SIZE processes (DistributedDataParallel).

Families that can train on several GPUs (``TrainingTask.distributed``) run under ``distributed``;
every other run is one process on the configured device.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as torch_dist

from karyostudio.models.registry import resolve_device


@dataclass(frozen=True)
class Processes:
    rank: int
    world_size: int
    device: torch.device

    @classmethod
    def single(cls, device: str) -> "Processes":
        return cls(0, 1, torch.device(resolve_device(device)))

    @property
    def main(self) -> bool:
        """The process that writes files and talks to callbacks."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            torch_dist.barrier()

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Values averaged over processes (same keys everywhere: all ranks take the same batch kind)."""
        if self.world_size == 1:
            return values
        keys = sorted(values)
        t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        torch_dist.all_reduce(t)
        return dict(zip(keys, (t / self.world_size).tolist()))

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on one (e.g. one ran out of time)."""
        if self.world_size == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
        return bool(t.item())


@contextlib.contextmanager
def distributed(device: str) -> Iterator[Processes]:
    """One process, or one of torchrun's WORLD_SIZE processes (process group set up and torn down here)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        yield Processes.single(device)
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        resolve_device(f"cuda:{local_rank}")
        torch.cuda.set_device(local_rank)
        target = torch.device(f"cuda:{local_rank}")
    else:
        target = torch.device(resolve_device(device))
    started = not torch_dist.is_initialized()
    if started:
        torch_dist.init_process_group("nccl" if target.type == "cuda" else "gloo")
    try:
        yield Processes(torch_dist.get_rank(), torch_dist.get_world_size(), target)
    finally:
        if started:
            torch_dist.destroy_process_group()
