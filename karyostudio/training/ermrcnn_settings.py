"""Enhanced Rotated Mask R-CNN trainer settings: the ``settings`` mapping of a "rotated-maskrcnn" config.

  model        ERMRCNNSpec fields (models/ermrcnn/spec.py), e.g. backbone, input_size and
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

from karyostudio.models.ermrcnn.spec import ERMRCNNSpec
from karyostudio.training.config import AugmentConfig, SourceConfig
from karyostudio.training.errors import ConfigError
from karyostudio.training.family_settings import check_sources, require_at_least_one, with_corrections


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

    def check(self) -> None:
        """Value rules beyond the field types; ConfigError names the setting."""
        if not all_sources(self):
            raise ConfigError("settings.sources: a rotated-maskrcnn run needs at least one image source")
        check_sources(self.sources, check_val_fraction=False)
        require_at_least_one(self, ("epochs", "batch_size", "log_every", "steps_per_epoch", "max_val_images",
                                 "early_stop_patience"))
        if self.lr <= 0 or not 0 <= self.momentum < 1 or self.weight_decay < 0 or self.warmup_steps < 0:
            raise ConfigError("settings.lr must be positive, momentum in [0, 1), weight_decay and warmup_steps >= 0")
        if self.cache_images < 0:
            raise ConfigError(f"settings.cache_images must be at least 0, got {self.cache_images}")
        if not 0 <= self.val_score_threshold <= 1:
            raise ConfigError("settings.val_score_threshold must lie in [0, 1]")


def all_sources(settings: ERMRCNNSettings) -> list[SourceConfig]:
    """The configured sources plus one labelme source per labelme_dirs entry."""
    return with_corrections(list(settings.sources), settings.labelme_dirs)
