"""faceless.training.parallel: the helpers without a process group, and inside 2 gloo ranks (the
CPU sync BatchNorm against BatchNorm2d on the concatenated batch)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from faceless.training import parallel
from faceless.training.parallel import (CpuSyncBatchNorm, all_reduce_mean, convert_sync_batchnorm, is_main,
                                        loss_weight, main_only, rank, shard, shard_sizes, world_size, wrap_ddp)

from ..gloo import run_ranks

CPU = torch.device("cpu")


def test_without_a_process_group_everything_is_one_process():
    assert (world_size(), rank(), is_main()) == (1, 0, True)
    assert shard(7) == slice(0, 7) and loss_weight(7, 7) == 1.0
    assert all_reduce_mean({"b": 2.0, "a": 1.5}, 3) == {"b": 2.0, "a": 1.5}
    assert main_only(lambda: 42) == 42
    model = nn.Linear(2, 2)
    assert wrap_ddp(model, CPU) is model
    assert parallel.describe(16) == {"world_size": 1, "backend": None, "batch_per_rank": [16]}


@pytest.mark.parametrize("n,world,sizes", [(8, 2, [4, 4]), (7, 2, [4, 3]), (10, 4, [3, 3, 2, 2]), (1, 2, [1, 0])])
def test_shards_are_contiguous_cover_the_batch_and_the_last_ranks_get_one_fewer(n, world, sizes):
    parts = [shard(n, world, r) for r in range(world)]
    assert [p.stop - p.start for p in parts] == sizes == shard_sizes(n, world)
    assert parts[0].start == 0 and parts[-1].stop == n
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))


def small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))


def test_converted_models_keep_their_parameters_and_state_dict_keys():
    torch.manual_seed(0)
    model = small_net()
    weight = model[1].weight
    before = {k: v.clone() for k, v in model.state_dict().items()}
    converted = convert_sync_batchnorm(model, CPU)
    assert isinstance(converted[1], CpuSyncBatchNorm) and isinstance(converted[4], CpuSyncBatchNorm)
    assert converted[1].weight is weight
    plain = small_net()
    plain.load_state_dict(converted.state_dict())  # strict: the same keys
    for k, v in plain.state_dict().items():
        assert torch.equal(v, before[k]), k
    # Without a process group it is BatchNorm itself, in both modes.
    x = torch.randn(5, 3, 6, 6)
    for mode in (True, False):
        converted.train(mode), plain.train(mode)
        torch.testing.assert_close(converted(x), plain(x), rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------
# Inside a gloo group
# ----------------------------------------------------------------------------------------------
def _collectives() -> dict:
    r = rank()
    values = all_reduce_mean({"loss": float(r + 1), "other": 10.0 * r}, count=3 - r)  # counts 3 and 2
    unweighted = all_reduce_mean({"loss": float(r + 1)})
    broadcast = main_only(lambda: {"from": rank()})
    try:
        main_only(lambda: 1 / 0)
        failure = None
    except (ZeroDivisionError, RuntimeError) as error:
        failure = type(error).__name__
    return {"world": world_size(), "rank": r, "main": is_main(), "values": values, "unweighted": unweighted,
            "broadcast": broadcast, "failure": failure, "weight": loss_weight(len(range(7)[shard(7)]), 7),
            "describe": parallel.describe(7)}


def test_collectives_in_two_ranks():
    first, second = run_ranks(_collectives, 2)
    assert (first["world"], first["rank"], first["main"]) == (2, 0, True)
    assert (second["world"], second["rank"], second["main"]) == (2, 1, False)
    for result in (first, second):
        assert result["values"] == pytest.approx({"loss": (1 * 3 + 2 * 2) / 5, "other": (0 * 3 + 10 * 2) / 5})
        assert result["unweighted"] == {"loss": 1.5}
        assert result["broadcast"] == {"from": 0}
        assert result["describe"] == {"world_size": 2, "backend": "gloo", "batch_per_rank": [4, 3]}
    # Rank 0's own error on rank 0; a RuntimeError naming it on the other, which does not hang.
    assert (first["failure"], second["failure"]) == ("ZeroDivisionError", "RuntimeError")
    assert (first["weight"], second["weight"]) == (pytest.approx(8 / 7), pytest.approx(6 / 7))


def _batch(seed: int, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(7, 4, 5, 5, generator=gen) * 3 + 2  # an uneven split (4 + 3) and a mean far from 0
    g = torch.randn(7, 4, 5, 5, generator=gen)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, g


def _sync_bn(seed: int, channels_last: bool, momentum: float | None) -> dict:
    torch.manual_seed(0)
    bn = convert_sync_batchnorm(nn.BatchNorm2d(4, momentum=momentum), CPU)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-0.5, 0.5)
    part = shard(7)
    outputs, grads = [], []
    for step in range(2):
        x, g = _batch(seed + step, channels_last)
        x = x[part].clone().requires_grad_(True)
        out = bn(x)
        (out * g[part]).sum().backward()
        outputs.append(out.detach())
        grads.append(x.grad)
    bn.eval()
    x, _ = _batch(seed + 5, channels_last)
    return {"outputs": outputs, "grads": grads, "weight_grad": bn.weight.grad, "bias_grad": bn.bias.grad,
            "state": bn.state_dict(), "eval": bn(x[part]).detach(), "type": type(bn).__name__}


@pytest.mark.parametrize("channels_last,momentum", [(False, 0.1), (True, None)])
def test_cpu_sync_batchnorm_equals_batchnorm_on_the_whole_batch(channels_last, momentum):
    ranks = run_ranks(_sync_bn, 2, 3, channels_last, momentum)
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(4, momentum=momentum)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-0.5, 0.5)
    parts = [shard(7, 2, r) for r in range(2)]
    tol = {"rtol": 1e-5, "atol": 1e-5}
    for step in range(2):
        x, g = _batch(3 + step, channels_last)
        x.requires_grad_(True)
        out = bn(x)
        (out * g).sum().backward()
        for r, part in enumerate(parts):
            assert ranks[r]["type"] == "CpuSyncBatchNorm"
            torch.testing.assert_close(ranks[r]["outputs"][step], out.detach()[part], **tol)
            torch.testing.assert_close(ranks[r]["grads"][step], x.grad[part], **tol)
    # Each rank holds its part's gradient of the parameters; DDP would sum (average) them.
    torch.testing.assert_close(ranks[0]["weight_grad"] + ranks[1]["weight_grad"], bn.weight.grad, **tol)
    torch.testing.assert_close(ranks[0]["bias_grad"] + ranks[1]["bias_grad"], bn.bias.grad, **tol)
    for r in range(2):  # running mean, unbiased running variance, batches tracked
        for key, value in bn.state_dict().items():
            torch.testing.assert_close(ranks[r]["state"][key], value, **tol)
    bn.eval()
    x, _ = _batch(8, channels_last)
    for r, part in enumerate(parts):
        torch.testing.assert_close(ranks[r]["eval"], bn(x).detach()[part], **tol)


def _ddp_step(sizes_seed: int) -> dict:
    """One SGD step of a DDP model with synced BN on a rank's chunk of a 7-sample batch, the
    chunk's mean loss scaled by loss_weight."""
    torch.manual_seed(0)
    model = wrap_ddp(convert_sync_batchnorm(small_net(), CPU), CPU)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(sizes_seed)
    x, y = torch.randn(7, 3, 6, 6, generator=gen), torch.randn(7, 4, 4, 4, generator=gen)
    part = shard(7)
    loss = nn.functional.mse_loss(model(x[part]), y[part]) * loss_weight(part.stop - part.start, 7)
    loss.backward()
    opt.step()
    return {k: v.detach() for k, v in model.module.state_dict().items()}


def test_ddp_with_synced_batchnorm_and_weighted_losses_steps_as_one_process():
    ranks = run_ranks(_ddp_step, 2, 4)
    torch.manual_seed(0)
    model = small_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(4)
    x, y = torch.randn(7, 3, 6, 6, generator=gen), torch.randn(7, 4, 4, 4, generator=gen)
    nn.functional.mse_loss(model(x), y).backward()
    opt.step()
    for r in range(2):
        for key, value in model.state_dict().items():
            torch.testing.assert_close(ranks[r][key], value, rtol=1e-5, atol=1e-6)
