"""DeepCHM trainer settings: the ``settings`` mapping of a family "deepchm" config, checked.

  model       DeepCHMSpec fields (models/deepchm/spec.py), e.g. backbone, input_size and
              the ablation switches use_pminf / use_sgach / use_hdlos / use_dasmp;
  sources     image collections (training/config.py SourceConfig fields: synth, labelme, voc);
  labelme_dirs folders of reviewed labelme files added to training (train --corrections);
  data_root   base folder of relative source paths (default: $KARYOSTUDIO_DATA or the working folder);
  augment     AugmentConfig fields (flips, quarter turns, small rotations, brightness/contrast);
  epochs, steps_per_epoch (default one pass over the training images), batch_size,
  lr (Adam, 1e-4), lr_decay (0.96) every decay_steps steps (default one epoch), grad_clip,
  log_every, max_val_images, val_score_floor (lowest score kept for AP and the best-F1 threshold),
  num_workers (data-loading processes).
The paper: Adam 1e-4 decaying by 0.96 every 518 iterations (one epoch), 120 epochs, batch 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from karyostudio.models.deepchm.spec import DeepCHMSpec
from karyostudio.training.config import AugmentConfig, SourceConfig
from karyostudio.training.errors import ConfigError
from karyostudio.training.family_settings import check_sources, require_at_least_one


@dataclass
class DeepCHMSettings:
    model: DeepCHMSpec = field(default_factory=DeepCHMSpec)
    sources: list[SourceConfig] = field(default_factory=list)
    labelme_dirs: list[str] = field(default_factory=list)  # reviewed corrections (train --corrections)
    data_root: str = ""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    epochs: int = 120
    steps_per_epoch: int | None = None
    batch_size: int = 1
    lr: float = 1e-4
    lr_decay: float = 0.96
    decay_steps: int | None = None
    grad_clip: float | None = 10.0
    log_every: int = 10
    max_val_images: int | None = 100
    val_score_floor: float = 0.05
    num_workers: int = 0  # data-loading processes (synthetic images and targets are CPU work)

    def check(self) -> None:
        """Value rules beyond the field types; ConfigError names the setting."""
        if not self.sources:
            raise ConfigError("settings.sources: a DeepCHM run needs at least one image source")
        check_sources(self.sources)
        require_at_least_one(self, ("epochs", "batch_size", "log_every", "steps_per_epoch", "decay_steps",
                                 "max_val_images"))
        if self.num_workers < 0:
            raise ConfigError(f"settings.num_workers must be >= 0, got {self.num_workers}")
        if self.lr <= 0 or not 0 < self.lr_decay <= 1:
            raise ConfigError("settings.lr must be positive and settings.lr_decay in (0, 1]")
        if not 0 <= self.val_score_floor < 1:
            raise ConfigError("settings.val_score_floor must lie in [0, 1)")
