"""The process-group API in one process: rank 0 of 1, read from torchrun's environment."""

from __future__ import annotations

import pytest
import torch

from torchsystem.distributed import (
    barrier,
    is_main,
    join,
    joined,
    leave,
    local_device,
    local_rank,
    rank,
)
from torchsystem.distributed import world_size as size


def test_one_process_is_rank_zero_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)

    assert (rank(), size(), local_rank(), is_main()) == (0, 1, 0, True)
    assert join() is False
    assert not joined()
    barrier()  # nothing to wait for
    leave()  # nothing to leave


def test_before_joining_the_rank_comes_from_torchrun_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")

    assert (rank(), size(), local_rank(), is_main()) == (3, 4, 1, False)


def test_a_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "zero")

    with pytest.raises(ValueError, match=r"\$RANK must be an integer \(torchrun sets it\), "
                                         r"got 'zero'"):
        rank()


def test_joining_without_torchrun_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)

    with pytest.raises(ValueError, match=r"\$WORLD_SIZE is 2 but MASTER_ADDR, MASTER_PORT are "
                                         r"not set; start the program with torchrun"):
        join()
    assert not joined()


def test_without_cuda_every_process_uses_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a CPU machine
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")

    assert local_device() == "cpu"


@pytest.mark.parametrize("failed", [False, True])
def test_leave_aborts_the_group_after_a_collective_failed(
    monkeypatch: pytest.MonkeyPatch, failed: bool,
) -> None:
    # Tearing a gloo group down politely after a peer died can throw in one of its
    # threads (SIGABRT at exit); after a failed collective, leave() aborts it instead.
    import torch.distributed as dist

    import torchsystem.training._collective as collective
    from torchsystem.distributed import joined, leave

    monkeypatch.setattr(collective, "_broken", [False])
    destroyed: list[bool] = []
    destroy = dist.destroy_process_group
    monkeypatch.setattr(dist, "destroy_process_group",
                        lambda *args: destroyed.append(True) or destroy(*args))
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    if failed:
        collective.broken("rank 0 of 1: the all-reduce failed")  # what a failure raises

    leave()

    assert not joined()
    assert destroyed == ([] if failed else [True])
    assert collective.collective_failed() is failed
