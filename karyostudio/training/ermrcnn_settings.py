"""Enhanced Rotated Mask R-CNN trainer settings: the ``settings`` mapping of a "rotated-maskrcnn" config.

  model        ERMRCNNSpec fields (models/rotated/ermrcnn_spec.py), e.g. backbone, input_size and
               the ablation switches horizontal_branch / endpoint_branch;
  sources      image collections (training/config.py SourceConfig fields: synth, labelme, voc;
               VOC boxes train boxes only: no mask loss on those images);
  labelme_dirs extra labelme folders (reviewed corrections from the app);
  data_root    base folder of relative source paths (default: $KARYOSTUDIO_DATA or the working folder);
  augment      AugmentConfig fields;
  epochs, steps_per_epoch (default one pass), batch_size, lr, momentum, weight_decay,
  warmup_steps, grad_clip, log_every, max_val_images, val_score_threshold (for AJI),
  early_stop_patience (epochs without a lower mean mask loss; None: never stop early),
  cache_images (how many loaded samples stay in memory; synthetic ones are slow to generate).
The paper: SGD, momentum 0.9, lr 0.005, 100 epochs, early stop after 10 epochs without a lower
mask loss, 640 x 512 input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from karyostudio.models.rotated.ermrcnn_spec import ERMRCNNSpec, ERMRCNNSpecError
from karyostudio.training import settings_parsing as parsing
from karyostudio.training.config import AugmentConfig, ConfigError, SourceConfig


@dataclass
class ERMRCNNSettings:
    model: ERMRCNNSpec = field(default_factory=ERMRCNNSpec)
    sources: list[SourceConfig] = field(default_factory=list)
    labelme_dirs: list[str] = field(default_factory=list)
    data_root: str = ""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    epochs: int = 100
    steps_per_epoch: int | None = None
    batch_size: int = 2
    lr: float = 0.005
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 500
    grad_clip: float | None = 10.0
    log_every: int = 10
    max_val_images: int | None = 100
    val_score_threshold: float = 0.5
    early_stop_patience: int | None = 10
    cache_images: int = 64  # samples kept in memory (see ermrcnn_train.CachedSource); 0: none


_SCALARS = {"epochs": int, "steps_per_epoch": int, "batch_size": int, "lr": float, "momentum": float,
            "weight_decay": float, "warmup_steps": int, "grad_clip": float, "log_every": int,
            "max_val_images": int, "val_score_threshold": float, "early_stop_patience": int, "data_root": str,
            "cache_images": int}
_OPTIONAL = {"steps_per_epoch", "grad_clip", "max_val_images", "early_stop_patience"}


def parse_settings(data: Mapping[str, Any] | None) -> ERMRCNNSettings:
    """Checked settings; ConfigError names unknown keys and bad values."""
    data = dict(data or {})
    values = parsing.parse_common(data, ERMRCNNSettings, "rotated-maskrcnn", scalars=_SCALARS, optional=_OPTIONAL,
                                  spec_from_dict=ERMRCNNSpec.from_dict, spec_error=ERMRCNNSpecError,
                                  check_val_fraction=False, sort_known=True)
    values["labelme_dirs"] = parsing.parse_labelme_dirs(data)
    settings = ERMRCNNSettings(**values)
    _check(settings)
    return settings


def all_sources(settings: ERMRCNNSettings) -> list[SourceConfig]:
    """The configured sources plus one labelme source per labelme_dirs entry."""
    return parsing.with_corrections(list(settings.sources), settings.labelme_dirs)


def settings_to_dict(settings: ERMRCNNSettings) -> dict[str, Any]:
    out = parsing.common_settings_dict(settings)
    out["labelme_dirs"] = list(settings.labelme_dirs)
    return out


def _check(s: ERMRCNNSettings) -> None:
    if not all_sources(s):
        raise ConfigError("settings.sources: a rotated-maskrcnn run needs at least one image source")
    parsing.require_at_least_one(s, ("epochs", "batch_size", "log_every", "steps_per_epoch", "max_val_images",
                                     "early_stop_patience"))
    if s.lr <= 0 or not 0 <= s.momentum < 1 or s.weight_decay < 0 or s.warmup_steps < 0:
        raise ConfigError("settings.lr must be positive, momentum in [0, 1), weight_decay and warmup_steps >= 0")
    if s.cache_images < 0:
        raise ConfigError(f"settings.cache_images must be at least 0, got {s.cache_images}")
    if not 0 <= s.val_score_threshold <= 1:
        raise ConfigError("settings.val_score_threshold must lie in [0, 1]")
