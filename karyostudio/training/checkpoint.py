"""Training checkpoints and the metric log: state_dicts, numbers and plain dicts only.

Every file here loads with ``torch.load(path, weights_only=True)`` (no pickled objects) and is
written atomically, so an interrupted save leaves the previous checkpoint intact.

  last.pt   everything needed to continue the run: config, model, optimizer, grad scaler,
            progress (step, epoch, stage, batches consumed per data stream, epoch history, best)
  best.pt   model state_dict of the best validated epoch, with its metrics and the config
  metrics.jsonl  one JSON record per line ("step" records every log_every steps, "epoch" records);
            rewritten whole with every checkpoint so that it always matches last.pt
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from karyostudio.io.atomic import atomic_write_text
from karyostudio.io.errors import CheckpointError
from karyostudio.models.weights_io import load_torch_dict, save_torch_dict

CHECKPOINT_FORMAT = "karyostudio-train-checkpoint"
BEST_FORMAT = "karyostudio-best-model"
CHECKPOINT_VERSION = 1
LAST_NAME, BEST_NAME, LOG_NAME, CONFIG_NAME = "last.pt", "best.pt", "metrics.jsonl", "config.json"
__all__ = ["CheckpointError", "MetricLog", "load_best", "load_train_state", "save_best", "save_train_state",
           "write_config"]


def _save(path: Path, payload: Mapping[str, Any]) -> Path:
    return save_torch_dict(path, payload)


def _load(path: Path, expected_format: str) -> dict[str, Any]:
    data = load_torch_dict(path, CheckpointError, missing="checkpoint not found", unreadable="cannot read checkpoint")
    if not isinstance(data, dict) or data.get("format") != expected_format:
        raise CheckpointError(path, f"not a {expected_format} file")
    if data.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(path, f"checkpoint version {data.get('version')} is not supported "
                                    f"(this karyostudio reads version {CHECKPOINT_VERSION})")
    return data


def save_train_state(path: str | Path, *, config: Mapping[str, Any], model: Mapping[str, torch.Tensor],
                     optimizer: Mapping[str, Any], scaler: Mapping[str, Any], progress: Mapping[str, Any]) -> Path:
    return _save(Path(path), {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": dict(config),
                              "model": dict(model), "optimizer": dict(optimizer), "scaler": dict(scaler),
                              "progress": dict(progress)})


def load_train_state(path: str | Path) -> dict[str, Any]:
    """The dict save_train_state wrote (keys config, model, optimizer, scaler, progress)."""
    return _load(Path(path), CHECKPOINT_FORMAT)


def save_best(path: str | Path, *, model: Mapping[str, torch.Tensor], config: Mapping[str, Any],
              metrics: Mapping[str, Any], epoch: int) -> Path:
    return _save(Path(path), {"format": BEST_FORMAT, "version": CHECKPOINT_VERSION, "model": dict(model),
                              "config": dict(config), "metrics": dict(metrics), "epoch": int(epoch)})


def load_best(path: str | Path) -> dict[str, Any]:
    return _load(Path(path), BEST_FORMAT)


def write_config(path: str | Path, config: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(config, indent=2) + "\n")


class MetricLog:
    """The run's JSONL log, kept in memory and rewritten atomically on every save."""

    def __init__(self, path: str | Path, records: list[dict[str, Any]] | None = None):
        self.path = Path(path)
        self.records = list(records or [])

    @classmethod
    def resume(cls, path: str | Path, up_to_step: int) -> "MetricLog":
        """The log of a run being resumed, without records written after its checkpoint's step."""
        path = Path(path)
        records = []
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut off by a crash; everything it held is after the checkpoint
                if isinstance(record, dict) and record.get("step", 0) <= up_to_step:
                    records.append(record)
        return cls(path, records)

    def append(self, record: Mapping[str, Any]) -> None:
        self.records.append(dict(record))

    def write(self) -> None:
        atomic_write_text(self.path, "".join(json.dumps(r, allow_nan=False, default=_json_default) + "\n"
                                             for r in self.records))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
