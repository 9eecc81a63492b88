"""The CUDA path: NCCL (a group of one on one GPU), a network moved to its rank's GPU,
DDP with ``device_ids``, and ``torch.compile`` over a replicated network. Skipped without
CUDA (CI is CPU-only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import torch.distributed as dist

from tests.distributed._system import Regressor, data, weights
from torchsystem.compiler import compile  # noqa: A004 - torchsystem 1.3's name
from torchsystem.distributed import DataParallel, local_device, replica
from torchsystem.training import TensorLoader, Training
from torchsystem.training._collective import _device

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture
def nccl() -> Iterator[None]:
    torch.cuda.set_device(0)
    dist.init_process_group("nccl", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _trained(model: Regressor) -> Regressor:
    x, y, _, _ = data()
    loader = TensorLoader(x, y, batch_size=16, seed=2, device="cuda")
    Training().fit(model, [("train", loader)], epochs=2)
    return model


@pytest.mark.parametrize("compiled", [False, True])
def test_a_replicated_network_trains_on_its_gpu_as_a_plain_one(nccl: None, compiled: bool) -> None:
    torch.manual_seed(0)
    plain = Regressor().cuda()
    replicated = Regressor().cuda()
    replicated.load_state_dict(plain.state_dict())
    DataParallel()(replicated)
    if compiled:
        compile(replicated)

    ddp = replica(replicated.nn)
    assert ddp is not None
    assert ddp.device_ids == [0]
    assert _device() == torch.device("cuda", 0)
    expected, got = weights(_trained(plain)), weights(_trained(replicated))
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("processes", "expected"), [
    ("1", "cuda:0"),
    (str(torch.cuda.device_count() + 1) if torch.cuda.is_available() else "2", "cpu"),
])
def test_each_process_gets_its_own_gpu_or_every_one_uses_the_cpu(
    monkeypatch: pytest.MonkeyPatch, processes: str, expected: str,
) -> None:
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", processes)

    assert local_device() == expected
