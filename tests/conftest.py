"""Settings of the whole test session."""

import os

from tests._postgres import postgres_server, postgres_url  # noqa: F401 - shared fixtures

# One intra-op thread, set before PyTorch is imported (subprocesses inherit it): the
# tests' tensors are tiny, and on a busy machine extra threads spin instead of working.
os.environ.setdefault("OMP_NUM_THREADS", "1")
