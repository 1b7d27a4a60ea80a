"""Data-parallel training inside a ``torch.distributed`` worker: who am I, my part of a batch,
averaged numbers, synchronised BatchNorm and DDP wrapping.

Every helper is a no-op without a process group (``world_size() == 1``, ``rank() == 0``,
``is_main()``): a trainer calls them unconditionally and its single-process path stays what it
was. The launcher (:mod:`faceless.distributed`) initialises the group; nothing here does.

The batch contract: every rank draws the SAME global batch from ``step_generator(seed, step)``
and keeps its contiguous chunk (:func:`shard`): equal chunks, and where the global batch does not
divide by the world size the first ``batch % world`` ranks get one sample more (the last ranks one
fewer). DDP averages gradients over ranks, so a rank whose chunk differs from ``batch / world``
scales its mean loss by :func:`loss_weight` (``n_rank * world / batch``): the average of the
scaled losses' gradients is then the gradient of the global batch's mean loss, as one process
computes it. :func:`all_reduce_mean` reports losses weighted the same way.

BatchNorm: ``torch.nn.SyncBatchNorm`` synchronises batch statistics on CUDA only (on CPU tensors
it raises "SyncBatchNorm expected input tensor to be on GPU"); :class:`CpuSyncBatchNorm` does the
same on the CPU (gloo) with differentiable all-reduces of per-channel sums, so a data-parallel
model normalises by the global batch's statistics as the single-process one does.
:func:`convert_sync_batchnorm` picks torch's on CUDA and ours elsewhere; both keep BatchNorm's
state_dict keys, so exported weights load into the plain models.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

T = TypeVar("T")


def is_distributed() -> bool:
    """A process group is initialised (this process is one worker of several, or of one)."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    """Rank 0 (or no process group): the one that writes files, logs and returns results."""
    return rank() == 0


def backend() -> str | None:
    """The process group's backend (gloo | nccl), None without one."""
    return str(dist.get_backend()) if is_distributed() else None


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def shard(n: int, world: int | None = None, index: int | None = None) -> slice:
    """Rank ``index``'s contiguous part of ``n`` items split over ``world`` ranks (defaults: this
    process's): ``n // world`` each, the first ``n % world`` ranks one more."""
    world = world_size() if world is None else world
    index = rank() if index is None else index
    base, extra = divmod(n, world)
    start = index * base + min(index, extra)
    return slice(start, start + base + (1 if index < extra else 0))


def shard_sizes(n: int, world: int | None = None) -> list[int]:
    """Every rank's part of ``n`` items (see :func:`shard`)."""
    world = world_size() if world is None else world
    return [shard(n, world, r).stop - shard(n, world, r).start for r in range(world)]


def loss_weight(local: int, total: int) -> float:
    """The factor on a rank's mean loss over ``local`` of the global batch's ``total`` samples that
    makes DDP's gradient average the gradient of the global mean: ``local * world / total``."""
    return local * world_size() / total


def all_reduce_mean(values: Mapping[str, float], count: int | None = None) -> dict[str, float]:
    """Each number averaged over the ranks, weighted by each rank's ``count`` (its samples; None:
    equal weights), the same on every rank. Without a process group: ``values`` as they are.
    Every rank must pass the same keys."""
    if world_size() == 1:
        return dict(values)
    keys = sorted(values)
    weight = 1.0 if count is None else float(count)
    device = _collective_device()
    packed = torch.tensor([float(values[k]) * weight for k in keys] + [weight], dtype=torch.float64, device=device)
    dist.all_reduce(packed)
    total = float(packed[-1])
    means = {k: float(v) / total if total else float("nan") for k, v in zip(keys, packed[:-1].tolist())}
    return {k: means[k] for k in values}


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every rank (pickled)."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=_collective_device())
    return box[0]


def main_only(fn: Callable[[], T]) -> T:
    """``fn()`` run on rank 0 alone, its (picklable) result broadcast to every rank; the others wait.
    If it raises on rank 0, the others raise too (a RuntimeError naming it) instead of waiting."""
    if world_size() == 1:
        return fn()
    outcome: tuple[bool, Any] = (True, None)
    error: BaseException | None = None
    if is_main():
        try:
            outcome = (True, fn())
        except BaseException as exc:  # noqa: BLE001 - passed on to every rank, then raised here
            error = exc
            outcome = (False, f"{type(exc).__name__}: {exc}")
    ok, value = broadcast_object(outcome)
    if error is not None:
        raise error
    if not ok:
        raise RuntimeError(f"rank 0 failed: {value}")
    return value


def _collective_device() -> torch.device:
    """Where the backend's collectives take tensors: the current GPU under nccl, else the CPU."""
    if backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# ----------------------------------------------------------------------------------------------
# BatchNorm with the global batch's statistics
# ----------------------------------------------------------------------------------------------
class _SumOverRanks(torch.autograd.Function):
    """The sum of a tensor over the ranks; its gradient is the sum of the ranks' gradients (every
    rank's loss depends on every rank's input). ``torch.distributed.nn.functional.all_reduce`` is this,
    deprecated in torch 2.x for a private module."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # noqa: ARG004 - autograd's signature
        total = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: ARG004
        return _SumOverRanks.apply(grad)


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over every rank, differentiably."""
    return _SumOverRanks.apply(tensor)


class CpuSyncBatchNorm(_BatchNorm):
    """BatchNorm whose training-mode statistics are those of the batch over every rank, on any device
    gloo reduces (the CPU); a plain BatchNorm in eval mode or without a process group.

    Two differentiable all-reduces per call (:func:`sum_over_ranks`): the per-channel sum and
    count, then the sum of squared deviations from the global mean (two passes, as BatchNorm
    computes it, rather than the cancellation-prone sum of squares). Running statistics are updated as BatchNorm does, with
    the unbiased variance. State_dict keys: BatchNorm's own.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        if not bn_training or world_size() == 1:
            return super().forward(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        shape = [1, -1] + [1] * (input.dim() - 2)
        dims = [0, *range(2, input.dim())]
        x = input.float()
        local = torch.cat([x.sum(dims), x.new_full((1,), float(input.numel() // input.size(1)))])
        total = sum_over_ranks(local)
        count = total[-1]
        mean = total[:-1] / count
        centred = x - mean.reshape(shape)
        var = sum_over_ranks(centred.square().sum(dims)) / count  # biased, as normalisation uses
        if self.training and self.track_running_stats:
            with torch.no_grad():
                n = float(count)
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                self.running_var.mul_(1 - factor).add_(var.detach() * (n / max(n - 1, 1.0)), alpha=factor)
        out = centred * torch.rsqrt(var + self.eps).reshape(shape)
        if self.affine:
            out = out * self.weight.float().reshape(shape) + self.bias.float().reshape(shape)
        return out.to(input.dtype)


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with every BatchNorm synchronised over the ranks: torch's ``SyncBatchNorm`` on CUDA with NCCL,
    :class:`CpuSyncBatchNorm` elsewhere. The same parameter and buffer tensors, the same state_dict
    keys; call it before building optimisers (torch's conversion keeps the parameters too). CUDA
    under gloo (several ranks sharing one GPU: NCCL refuses that) takes ours too: it needs only all-reduce."""
    if device.type == "cuda" and dist.is_initialized() and dist.get_backend() == "nccl":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _to_cpu_sync(module)


def _to_cpu_sync(module: nn.Module) -> nn.Module:
    converted = module
    if isinstance(module, _BatchNorm) and not isinstance(module, (CpuSyncBatchNorm, nn.SyncBatchNorm)):
        converted = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                     module.track_running_stats)
        if module.affine:
            converted.weight, converted.bias = module.weight, module.bias
        converted.running_mean, converted.running_var = module.running_mean, module.running_var
        converted.num_batches_tracked = module.num_batches_tracked
        converted.train(module.training)
    for name, child in module.named_children():
        converted.add_module(name, _to_cpu_sync(child))
    return converted


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` in DistributedDataParallel on ``device``; without a process group, ``module`` itself.

    Buffers are not broadcast from rank 0 at every forward: synchronised BatchNorm keeps them equal,
    and a module called outside its wrapper (a frozen discriminator in the generator's step) would
    otherwise see them overwritten mid-step."""
    if world_size() == 1:
        return module
    options: dict[str, Any] = dict(_NO_BUFFER_SYNC)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        options.update(device_ids=[index], output_device=index)
    return DistributedDataParallel(module, **options)


#: DDP's switch for not broadcasting buffers at every forward: ``forward_sync_buffers`` where torch has it
#: (``broadcast_buffers`` is deprecated there), ``broadcast_buffers`` before.
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                   if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
                   else {"broadcast_buffers": False})


def describe(batch_size: int) -> dict[str, Any]:
    """What a report says about the data parallelism of a run with global batch ``batch_size``."""
    return {"world_size": world_size(), "backend": backend(), "batch_per_rank": shard_sizes(batch_size)}
