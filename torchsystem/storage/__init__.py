"""Checkpoints and resume: crash-safe, asynchronous, bit-exact, by model identity.

``Checkpoints`` (a consumer) copies the state on the training thread at each epoch
boundary and writes it durably on another thread; its ``restore`` compiler step resumes
the newest complete checkpoint of an aggregate's id. ``GracefulStop`` ends training on
SIGTERM, Ctrl-C or a request from another thread, after the current step, with the
newest checkpoint on disk. ``CheckpointStore`` is the durable file layer underneath.

Optional battery: the core never imports it; the run-database index needs SQLAlchemy
(``pip install 'torchsystem[runs]'``), nothing else does.
"""

from torchsystem.storage.checkpoints import Checkpoints
from torchsystem.storage.errors import CheckpointError
from torchsystem.storage.restore import Resumed
from torchsystem.storage.snapshot import Snapshot, Staging, capture
from torchsystem.storage.stop import GracefulStop, Interrupted, StopRequested
from torchsystem.storage.store import CheckpointStore, Summary
from torchsystem.storage.writer import Writer

__all__ = [
    "CheckpointError",
    "CheckpointStore",
    "Checkpoints",
    "GracefulStop",
    "Interrupted",
    "Resumed",
    "Snapshot",
    "Staging",
    "StopRequested",
    "Summary",
    "Writer",
    "capture",
]
