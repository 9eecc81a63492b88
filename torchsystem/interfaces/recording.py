"""``run_recorder``: a dependency that records the job's runs in the run database.

``recorder: RunRecorder = Depends(run_recorder)`` gives a handler a ``RunRecorder`` on
the job's database whose runs carry the job's tag (``{"job": id}`` in their
hyperparameters, so ``GET /jobs/{id}`` lists them); register it with the training's
producer. It is closed when the handler returns: its runs end ``finished``, ``failed``
when the handler raised, ``interrupted`` when the job was stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

from torchsystem.depends import Depends
from torchsystem.interfaces.context import JobContext, current_job

if TYPE_CHECKING:
    from torchsystem.runs.recorder import RunRecorder

__all__ = ["run_recorder"]


def run_recorder(job: Annotated[JobContext, Depends(current_job)]) -> Iterator[RunRecorder]:
    """A ``RunRecorder`` for the current job, closed with the handler's outcome."""
    from torchsystem.runs.recorder import RunRecorder

    recorder = RunRecorder(job.database, hyperparameters=job.tags)
    try:
        yield recorder
    except BaseException as error:
        recorder.close(error)
        raise
    recorder.close()
