"""Centre-detector trainer settings: the ``settings`` mapping of a family "centernet" config, checked.

  model         CenterNetSpec fields (models/centernet/spec.py);
  sources       image collections (training/config.py SourceConfig: synth, labelme, voc);
  labelme_dirs  folders of reviewed labelme files, added as sources (``train --corrections``);
  data_root     base folder of relative source paths (default: $KARYOSTUDIO_DATA or the working folder);
  augment       DetectorAugment fields (training/centernet_data.py);
  crop          side of the square training windows (input pixels, a multiple of 32);
  epochs, steps_per_epoch (default one pass), batch_size, lr (AdamW, cosine to lr * min_lr_ratio
  over ``epochs`` epochs after ``warmup_steps``), weight_decay, grad_clip, log_every,
  max_val_images, num_workers (data-loading processes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from karyostudio.models.centernet.spec import CenterNetSpec, CenterNetSpecError
from karyostudio.training import settings_parsing as parsing
from karyostudio.training.centernet_data import DetectorAugment
from karyostudio.training.config import ConfigError, SourceConfig


@dataclass
class CenterNetSettings:
    model: CenterNetSpec = field(default_factory=CenterNetSpec)
    sources: list[SourceConfig] = field(default_factory=list)
    labelme_dirs: list[str] = field(default_factory=list)
    data_root: str = ""
    augment: DetectorAugment = field(default_factory=DetectorAugment)
    crop: int = 352
    epochs: int = 20
    steps_per_epoch: int | None = None
    batch_size: int = 4
    lr: float = 2e-3
    min_lr_ratio: float = 0.02
    warmup_steps: int = 300
    weight_decay: float = 1e-4
    grad_clip: float | None = 10.0
    log_every: int = 50
    max_val_images: int | None = 60
    num_workers: int = 1


_SCALARS = {"crop": int, "epochs": int, "steps_per_epoch": int, "batch_size": int, "lr": float,
            "min_lr_ratio": float, "warmup_steps": int, "weight_decay": float, "grad_clip": float,
            "log_every": int, "max_val_images": int, "num_workers": int, "data_root": str}
_OPTIONAL = {"steps_per_epoch", "grad_clip", "max_val_images"}


def parse_settings(data: Mapping[str, Any] | None) -> CenterNetSettings:
    """Checked settings; ConfigError names unknown keys and bad values."""
    data = dict(data or {})
    parsing.reject_unknown(data, CenterNetSettings, "centernet")
    values = parsing.parse_scalars(data, _SCALARS, _OPTIONAL)
    values["model"] = parsing.parse_model(data, CenterNetSpec.from_dict, CenterNetSpecError)
    values["augment"] = _parse_augment(data.get("augment") or {})
    values["sources"] = parsing.parse_sources(data, check_val_fraction=True)
    values["labelme_dirs"] = parsing.parse_labelme_dirs(data)
    settings = CenterNetSettings(**values)
    _check(settings)
    return settings


def _parse_augment(data: Any) -> DetectorAugment:
    if not isinstance(data, Mapping):
        raise ConfigError(f"settings.augment must be a mapping, got {data!r}")
    data = dict(data)
    if "scale_range" in data:
        value = data["scale_range"]
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError("settings.augment.scale_range must be [low, high]")
        data["scale_range"] = tuple(float(v) for v in value)
    augment = parsing.parse_dataclass(DetectorAugment, data, "settings.augment")
    low, high = augment.scale_range
    if not 0 < low <= high:
        raise ConfigError(f"settings.augment.scale_range must satisfy 0 < low <= high, got {augment.scale_range}")
    return augment


def settings_to_dict(settings: CenterNetSettings) -> dict[str, Any]:
    out = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    out["model"] = settings.model.to_dict()
    out["augment"] = {**dataclasses.asdict(settings.augment), "scale_range": list(settings.augment.scale_range)}
    out["sources"] = [dataclasses.asdict(s) for s in settings.sources]
    return out


def _check(s: CenterNetSettings) -> None:
    if not s.sources and not s.labelme_dirs:
        raise ConfigError("settings.sources: a centernet run needs at least one image source")
    parsing.require_at_least_one(s, ("epochs", "batch_size", "log_every", "steps_per_epoch", "max_val_images"))
    if s.crop < 64 or s.crop % 32:
        raise ConfigError(f"settings.crop must be a multiple of 32 of at least 64, got {s.crop}")
    if s.num_workers < 0 or s.warmup_steps < 0:
        raise ConfigError("settings.num_workers and settings.warmup_steps must be >= 0")
    if s.lr <= 0 or not 0 < s.min_lr_ratio <= 1 or s.weight_decay < 0:
        raise ConfigError("settings.lr must be positive, min_lr_ratio in (0, 1], weight_decay >= 0")
