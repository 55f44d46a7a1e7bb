"""Centre-detector trainer settings: the ``settings`` mapping of a family "centernet" config, checked.

  model         CenterNetSpec fields (models/centernet/spec.py);
  sources       image collections (training/config.py SourceConfig: synth, labelme, voc);
  labelme_dirs  folders of reviewed labelme files, added as sources (``train --corrections``);
  data_root     base folder of relative source paths (default: $KARYOSTUDIO_DATA or the working folder);
  augment       DetectorAugment fields (training/centernet_data.py);
  crop          side of the square training windows (input pixels, a multiple of 32);
  epochs, steps_per_epoch (default one pass), batch_size, lr (AdamW, cosine to lr * min_lr_ratio
  over ``epochs`` epochs after ``warmup_steps``), weight_decay, grad_clip, log_every,
  max_val_images, num_workers (data-loading processes);
  init_from     start from this detector weights file (an exported ``.pt``, e.g. the shipped
                default-cpu-detector.pt), whose spec must equal ``model``: fine-tuning on
                reviewed cells or a continuation with a new schedule, instead of from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from karyostudio.models.centernet.spec import CenterNetSpec
from karyostudio.training.centernet_data import DetectorAugment
from karyostudio.training.config import SourceConfig
from karyostudio.training.errors import ConfigError
from karyostudio.training.family_settings import check_sources, require_at_least_one


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
    init_from: str | None = None

    def check(self) -> None:
        """Value rules beyond the field types; ConfigError names the setting."""
        if not self.sources and not self.labelme_dirs:
            raise ConfigError("settings.sources: a centernet run needs at least one image source")
        check_sources(self.sources)
        low, high = self.augment.scale_range
        if not 0 < low <= high:
            raise ConfigError(f"settings.augment.scale_range must satisfy 0 < low <= high, got {self.augment.scale_range}")
        require_at_least_one(self, ("epochs", "batch_size", "log_every", "steps_per_epoch", "max_val_images"))
        if self.crop < 64 or self.crop % 32:
            raise ConfigError(f"settings.crop must be a multiple of 32 of at least 64, got {self.crop}")
        if self.num_workers < 0 or self.warmup_steps < 0:
            raise ConfigError("settings.num_workers and settings.warmup_steps must be >= 0")
        if self.lr <= 0 or not 0 < self.min_lr_ratio <= 1 or self.weight_decay < 0:
            raise ConfigError("settings.lr must be positive, min_lr_ratio in (0, 1], weight_decay >= 0")
