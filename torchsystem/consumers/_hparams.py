"""TensorBoard's hparams records of one run: its hyperparameters when it starts, its
status when it ends.

Only the session records are written, never an experiment record: TensorBoard's HParams
dashboard then gathers the hyperparameters of every run folder and takes as metrics
every scalar tag of those folders, showing each run's final values. TensorBoard is
imported when a record is made, never at import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["flatten", "session_end", "session_start"]

# Ended.outcome -> tensorboard.hparams.Status
_STATUS = {
    "finished": "STATUS_SUCCESS",
    "stopped early": "STATUS_SUCCESS",
    "failed": "STATUS_FAILURE",
    "interrupted": "STATUS_FAILURE",  # TensorBoard has no status for a run cut short
}


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """One ``a.b.c`` key per leaf: mappings and lists of mappings are opened (a list item
    by its index), other lists become JSON text, integers a double cannot hold exactly
    (a 64-bit seed) text, ``None`` is left out."""
    flat: dict[str, bool | int | float | str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)) and any(isinstance(v, Mapping) for v in value):
            flat.update(flatten({str(i): item for i, item in enumerate(value)}, f"{name}."))
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            flat[name] = str(value)
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        elif value is not None:
            flat[name] = json.dumps(value, sort_keys=True, default=str)
    return flat


def _protos() -> Any:
    """TensorBoard's hparams protocol buffers (imported on first use)."""
    from types import SimpleNamespace

    from tensorboard.compat.proto import summary_pb2  # type: ignore[import-untyped]
    from tensorboard.plugins.hparams import (  # type: ignore[import-untyped]
        api_pb2,
        metadata,
        plugin_data_pb2,
    )

    return SimpleNamespace(summary=summary_pb2, api=api_pb2, metadata=metadata,
                           data=plugin_data_pb2)


def _summary(tag: str, **data: Any) -> Any:
    protos = _protos()
    content = protos.data.HParamsPluginData(version=protos.metadata.PLUGIN_DATA_VERSION, **data)
    plugin = protos.summary.SummaryMetadata.PluginData(
        plugin_name=protos.metadata.PLUGIN_NAME, content=content.SerializeToString())
    value = protos.summary.Summary.Value(
        tag=tag, metadata=protos.summary.SummaryMetadata(plugin_data=plugin))
    return protos.summary.Summary(value=[value])


def session_start(hparams: Mapping[str, bool | int | float | str], started: float) -> Any:
    """The ``Summary`` that starts a session with ``hparams`` at ``started``."""
    protos = _protos()
    info = protos.data.SessionStartInfo(start_time_secs=started)
    for name, value in hparams.items():
        if isinstance(value, bool):
            info.hparams[name].bool_value = value
        elif isinstance(value, (int, float)):
            info.hparams[name].number_value = value
        else:
            info.hparams[name].string_value = value
    return _summary(protos.metadata.SESSION_START_INFO_TAG, session_start_info=info)


def session_end(outcome: str, ended: float) -> Any:
    """The ``Summary`` that ends a session with the status of ``outcome`` (a run's)."""
    protos = _protos()
    status = protos.api.Status.Value(_STATUS.get(outcome, "STATUS_UNKNOWN"))
    info = protos.data.SessionEndInfo(status=status, end_time_secs=ended)
    return _summary(protos.metadata.SESSION_END_INFO_TAG, session_end_info=info)
