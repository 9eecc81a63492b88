"""Preloaded by the fork server of the kill test: the worker, warmed up, so that each
forked child starts training at once instead of importing for seconds."""

from tests.storage._worker import warm

warm()
