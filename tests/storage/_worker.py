"""A training process for the kill and signal tests: ``python -m tests.storage._worker``.

It trains ``tests.storage._models.Model`` with a checkpoint every epoch and a graceful
stop, resuming from ``--directory``. With ``--markers FILE`` it appends ``writing N`` /
``wrote N`` around each checkpoint write (from the writer thread) and ``resumed N`` /
``fresh`` at start; ``--slow-write S`` spreads each write over about ``S`` seconds, so a
kill can land in the middle of one. The last stdout line is ``final <sha256> <epochs>``.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from tests.storage._models import Run, digest, loaders
from torchsystem.storage import Checkpoints, GracefulStop, StopRequested
from torchsystem.storage.snapshot import Snapshot


def _mark(markers: str | None, line: str) -> None:
    if markers is not None:
        descriptor = os.open(markers, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, f"{line}\n".encode())
        finally:
            os.close(descriptor)


def _slow_save(seconds: float) -> None:
    """``torch.save`` that writes its bytes in 20 pieces over ``seconds``."""
    save = torch.save

    def slowly(obj: Any, file: Any, *args: Any, **kwargs: Any) -> None:
        buffer = io.BytesIO()
        save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        piece = max(1, len(data) // 20)
        for start in range(0, len(data), piece):
            file.write(data[start : start + piece])
            file.flush()
            time.sleep(seconds / 20)

    torch.save = slowly  # type: ignore[assignment]


class Marked(Checkpoints):
    """Checkpoints that report each write to the markers file."""

    markers: str | None = None

    def _write(self, snapshot: Snapshot) -> None:
        _mark(self.markers, f"writing {snapshot.epoch}")
        super()._write(snapshot)
        _mark(self.markers, f"wrote {snapshot.epoch}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--directory", required=True)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--kind", default="tensor")
    parser.add_argument("--markers")
    parser.add_argument("--slow-write", type=float, default=0.0)
    parser.add_argument("--epoch-pause", type=float, default=0.0)
    parser.add_argument("--result", help="a file the final line is also written to")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.slow_write:
        _slow_save(args.slow_write)
    run = Run(Path(args.directory), made=Marked)
    checkpoints = run.checkpoints
    assert isinstance(checkpoints, Marked)
    checkpoints.markers = args.markers
    stop = GracefulStop(run.training.producer)
    run.training.producer.register(stop)
    if args.epoch_pause:
        run.training.producer.register(_pausing(args.epoch_pause))
    torch.manual_seed(0)
    with stop:
        model = run.compiler.compile()
        chosen = loaders(args.kind)
        checkpoints.restore_loaders(model, chosen)
        resumed = checkpoints.resumed.get(model.id)
        _mark(args.markers, "fresh" if resumed is None else f"resumed {resumed.epoch}")
        print("fresh" if resumed is None else f"resumed {resumed.epoch} {resumed.path}",
              flush=True)
        try:
            if resumed is None or resumed.stopped is None:
                run.training.fit(model, chosen, args.epochs)
            checkpoints.close()
        except StopRequested as stopped:
            checkpoints.close()
            print(stopped, file=sys.stderr, flush=True)
            return stopped.status
    final = f"final {digest(model)} {model.epoch}"
    print(final, flush=True)
    if args.result is not None:
        Path(args.result).write_text(final)
    return 0


def child(argv: list[str], log: str) -> None:
    """A process's target (``multiprocessing``): ``main`` with its output in ``log``."""
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    sys.exit(main(argv))


def warm() -> None:
    """Import what the first optimizer imports, so forked children start at once."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def _pausing(seconds: float) -> Any:
    from torchsystem.services import Consumer
    from torchsystem.training import Stepped

    consumer = Consumer()

    @consumer.handler
    def pause(event: Stepped) -> None:
        time.sleep(seconds)

    return consumer


if __name__ == "__main__":
    raise SystemExit(main())
