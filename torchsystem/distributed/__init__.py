"""Scale out under ``torchrun``: the same training system in N processes.

- ``DataParallel``: compiler step that joins the process group from ``torchrun``'s
  environment and replicates the aggregate's networks with DDP (``state_dict`` keys
  unchanged); nothing in one process.
- ``distribute``: each rank's shard of one global order per ``(seed, epoch)`` for
  ``TensorLoader`` and ``DataLoader`` (``ShardedTensorLoader``, ``ShardedLoader``).
- ``RankZero``: a consumer that writes on rank 0 only, with an optional barrier.
- ``rank``, ``world_size``, ``local_rank``, ``is_main``, ``barrier``, ``join``,
  ``leave``: a small API that is a no-op in one process.

The ``Training`` service itself reduces every pass's metrics (sample-weighted) and
agrees on early stops across ranks whenever a process group of more than one is joined.
docs/distributed.md has the whole contract.
"""

from torchsystem.distributed.consumers import RankZero
from torchsystem.distributed.parallel import DataParallel, replica
from torchsystem.distributed.sampling import (
    ShardedLoader,
    ShardedTensorLoader,
    ShardSampler,
    distribute,
    shard,
)
from torchsystem.distributed.world import (
    CollectiveError,
    barrier,
    is_main,
    join,
    joined,
    leave,
    local_device,
    local_rank,
    rank,
    world_size,
)

__all__ = [
    "CollectiveError",
    "DataParallel",
    "RankZero",
    "ShardSampler",
    "ShardedLoader",
    "ShardedTensorLoader",
    "barrier",
    "distribute",
    "is_main",
    "join",
    "joined",
    "leave",
    "local_device",
    "local_rank",
    "rank",
    "replica",
    "shard",
    "world_size",
]
