"""ChromSeg trainer settings: the ``settings`` mapping of a family "chromseg" config, checked.

  size, base_channels, depth   crop side and the UNet++ shape (models/overlap/unetpp.py);
  train_count, val_count       synthetic crossing crops for training and validation (seed
                               ``synth_seed``, metaphases of ``synth_size`` px, at most
                               ``max_per_image`` crops from each);
  labelme_dirs                 folders of labelme files whose overlapping outlines give crossing
                               crops too (``labelme_val_fraction`` of their images validate);
  cache_dir                    where crops are cached (default ``<out_dir>/cache``);
  batch_size, lr, weight_decay, epochs, steps_per_epoch (default one pass), log_every;
  loss_lambda, loss_alpha, loss_gamma   the Mixed-Weight Focal loss;
  tight_probability            how often a crop is cut tight around its cluster (augmentation);
  threshold, val_batch_size, select_metric   validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from karyostudio.models.overlap.unetpp import UNetPPSpec, UNetPPSpecError
from karyostudio.synth import SynthConfig
from karyostudio.training.errors import ConfigError
from karyostudio.training.family_settings import require_at_least_one

SelectMetric = Literal["val.iou_foreground", "val.iou_crossing", "val.overlap_acc"]
METRICS = get_args(SelectMetric)


@dataclass
class ChromSegSettings:
    size: int = 256
    base_channels: int = 8
    depth: int = 4
    train_count: int = 800
    val_count: int = 100
    synth_seed: int = 0
    synth_size: int = 1024
    max_per_image: int = 3
    labelme_dirs: list[str] = field(default_factory=list)
    labelme_val_fraction: float = 0.1
    cache_dir: str | None = None
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-5
    epochs: int = 20
    steps_per_epoch: int | None = None
    loss_lambda: float = 0.7
    loss_alpha: float = 0.75
    loss_gamma: float = 1.0
    tight_probability: float = 0.3
    threshold: float = 0.5
    val_batch_size: int = 8
    select_metric: SelectMetric = "val.iou_crossing"
    log_every: int = 10

    def check(self) -> None:
        """Value rules beyond the field types; ConfigError names the setting."""
        require_at_least_one(self, ("size", "base_channels", "depth", "train_count", "synth_size", "max_per_image",
                                    "batch_size", "epochs", "val_batch_size", "log_every", "steps_per_epoch"))
        if self.val_count < 0:
            raise ConfigError(f"settings.val_count must be a non-negative integer, got {self.val_count}")
        for name, low, high in (("loss_lambda", 0, 1), ("loss_alpha", 0, 1), ("labelme_val_fraction", 0, 0.99),
                                ("tight_probability", 0, 1), ("threshold", 0.001, 0.999)):
            if not low <= getattr(self, name) <= high:
                raise ConfigError(f"settings.{name} must be a number in [{low}, {high}], got {getattr(self, name)!r}")
        if self.lr <= 0:
            raise ConfigError(f"settings.lr must be a positive number, got {self.lr!r}")
        for name in ("loss_gamma", "weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"settings.{name} must be a non-negative number, got {getattr(self, name)!r}")
        if self.size % 2 ** (self.depth - 1):
            raise ConfigError(f"settings.size must be a multiple of {2 ** (self.depth - 1)} for depth {self.depth}")
        try:
            UNetPPSpec(base_channels=self.base_channels, depth=self.depth)
            SynthConfig(size=self.synth_size)
        except (UNetPPSpecError, ValueError) as exc:
            raise ConfigError(f"settings: {exc}") from None
