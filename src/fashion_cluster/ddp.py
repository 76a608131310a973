"""Training on several processes with torch.distributed (DistributedDataParallel).

`start` runs a training function on N processes of this machine (CPU processes talking
over ``gloo``, or one process a GPU over ``nccl``) and returns the first process's
result; `world` tells a function which process it is. Under ``torchrun`` (several
machines) the script sets up the process group itself, and a training function asked
for as many processes as the group has trains in it: see docs/scale-out.md. A script
that starts processes must guard its top level with ``if __name__ == "__main__":``,
since each new process imports it.

The contrastive CNN uses it (`fashion_cluster.contrastive.train_simclr`): every process
takes its share of each global batch, the projections of the whole batch are gathered
(`gather`) so that the NT-Xent loss sees all its negatives, as SimCLR's, and
DistributedDataParallel averages the gradients.
"""

from __future__ import annotations

import mmap
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from .errors import FashionClusterError

__all__ = ["MappedArray", "ProcessGroupError", "gather", "placement", "received", "shareable",
           "shared_batch", "start", "world"]


class ProcessGroupError(FashionClusterError, RuntimeError):
    """A training process failed; the message carries its error."""


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def placement(processes: int) -> tuple[int, int, bool]:
    """Where a training function asked for ``processes`` runs: ``(rank, world, start)``,
    this process's rank and the group's size it trains in (``(0, 1)`` alone), and
    whether the processes are still to be started (`start`). Inside a group the count
    must be 1 (train alone) or the group's size.

    Raises
    ------
    ValueError
        ``processes`` is not a positive integer, or another count than the group's.
    """
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ValueError(f"processes must be a positive integer, got {processes!r}")
    rank, group = world()
    if processes == 1:
        return 0, 1, False
    if group == 1:
        return 0, processes, True
    if group != processes:
        raise ValueError(f"processes={processes}, but this process is one of a "
                         f"torch.distributed group of {group}: pass processes={group}")
    return rank, group, False


def shared_batch(batch: int, processes: int, least: int, what: str) -> int:
    """``batch`` rounded down to a multiple of ``processes``, so that every process
    trains on an equal share of it.

    Raises
    ------
    ValueError
        A share would hold fewer than ``least`` images (the message names ``what``).
    """
    share = batch // processes
    if share < least:
        raise ValueError(f"{what} needs at least {least} image{'s' * (least > 1)} a batch "
                         f"on each of {processes} process(es); the batch holds {batch}")
    return share * processes


def gather(x: torch.Tensor) -> torch.Tensor:
    """Every process's ``x`` (same shape on each), concatenated along the first axis in
    rank order. Differentiable: each process gets the gradient of its own rows from the
    losses of all processes."""
    return _Gather.apply(x)


class _Gather(torch.autograd.Function):
    # torch.distributed.nn.functional.all_gather does this too, but is deprecated in
    # favour of a private module.
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)  # the sum of every process's gradient for every row
        rows = len(grad) // dist.get_world_size()
        return grad[dist.get_rank() * rows : (dist.get_rank() + 1) * rows]


class MappedArray(NamedTuple):
    """A whole array mapped from a file, sent to another process by its place in the file."""

    filename: str
    offset: int
    shape: tuple[int, ...]
    dtype: str

    def open(self) -> np.memmap:
        return np.memmap(self.filename, dtype=self.dtype, mode="c", offset=self.offset,
                         shape=self.shape)


def shareable(x: torch.Tensor | np.ndarray) -> torch.Tensor | MappedArray:
    """``x`` as new processes (`start`) can take it without a copy: a whole C-ordered
    array mapped from a file by its file (a slice of one does not start at its
    ``offset``), other arrays in shared memory. `received` takes it in the new process.
    The new processes read the file: what this process changed in a copy-on-write
    mapping (``mmap_mode="c"``) is not theirs to see."""
    if (isinstance(x, np.memmap) and isinstance(x.base, mmap.mmap) and x.filename
            and x.flags.c_contiguous):
        return MappedArray(str(x.filename), int(x.offset), tuple(x.shape), x.dtype.str)
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    return x.cpu().share_memory_()


def received(x: torch.Tensor | MappedArray, device: torch.device) -> torch.Tensor:
    """In a new process, what `shareable` sent: a mapped array stays mapped (on the CPU,
    read as it is used), a tensor is copied to ``device`` (none on the CPU)."""
    return torch.from_numpy(x.open()) if isinstance(x, MappedArray) else x.to(device)


def start(fn: Callable[..., Any], processes: int, args: tuple, device: torch.device,
          on_report: Callable[..., None] | None = None) -> Any:
    """Run ``fn(device, report, *args)`` on ``processes`` new local processes and return
    what the first (rank 0) returns.

    Each process joins one process group (``gloo`` on CPU, with this process's threads
    shared out; ``nccl`` on CUDA, process r on ``cuda:r``). ``report(*values)`` called in
    rank 0 calls ``on_report(*values)`` here, so progress shows while they train. Tensors
    in ``args`` go through shared memory, not copies.

    Raises
    ------
    ProcessGroupError
        A process failed (its error is in the message); the others are stopped.
    """
    if device.type == "cuda" and processes > torch.cuda.device_count():
        raise ValueError(f"{processes} processes on CUDA need as many GPUs, this machine "
                         f"has {torch.cuda.device_count()}")
    with tempfile.TemporaryDirectory(prefix="fashion-cluster-group-") as rendezvous:
        # a file, not a TCP port, where the processes meet: no port to find free and lose
        return _run(fn, processes, args, device, on_report, Path(rendezvous, "store"))


def _run(fn: Callable[..., Any], processes: int, args: tuple, device: torch.device,
         on_report: Callable[..., None] | None, rendezvous: Path) -> Any:
    queue = mp.get_context("spawn").SimpleQueue()
    threads = max(1, torch.get_num_threads() // processes)
    context = mp.start_processes(_process, args=(processes, rendezvous.as_uri(), device.type,
                                                 threads, queue, fn, args),
                                 nprocs=processes, join=False, start_method="spawn")
    result: list = []
    errors: list[str] = []

    def drain() -> None:
        while not queue.empty():
            kind, payload = queue.get()
            if kind == "result":
                result.append(pickle.loads(payload))
            elif kind == "error":
                errors.append(payload)
            elif on_report is not None:
                on_report(*payload)
    try:
        while not context.join(timeout=0.2):
            drain()
    except (mp.ProcessRaisedException, mp.ProcessExitedException) as exc:
        drain()  # the first error a process sent is the cause; the others follow from it
        cause = errors[0] if errors else str(exc).strip().splitlines()[-1]
        raise ProcessGroupError(f"a training process failed: {cause}") from None
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
                process.join(5)
    drain()
    if not result:
        raise ProcessGroupError("the training processes ended without a result")
    return result[0]


def _process(rank: int, processes: int, rendezvous: str, device_type: str, threads: int,
             queue, fn: Callable[..., Any], args: tuple) -> None:
    torch.set_num_threads(threads)
    device = torch.device(device_type, rank) if device_type == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=rendezvous,
                            rank=rank, world_size=processes)
    try:
        def report(*values: Any) -> None:
            if rank == 0:
                queue.put(("report", values))
        try:
            out = fn(device, report, *args)
        except Exception as exc:
            queue.put(("error", f"process {rank}: {type(exc).__name__}: {exc}"))
            raise
        if rank == 0:  # by value: shared tensors would vanish with this process
            queue.put(("result", pickle.dumps(out)))
        dist.barrier()  # none leaves while another still needs the group
    finally:
        dist.destroy_process_group()
    # Done, and the result is in the pipe: leave without the interpreter's teardown, in
    # which a thread torch left behind aborted about 1 process in 20 ("terminate called
    # without an active exception", measured on 2 CPU processes).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
