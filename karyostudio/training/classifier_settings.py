"""Crop-classifier trainer settings: the ``settings`` mapping of a family "classic" config, checked.

The classic pipeline's learned part is its crop classifier; training the family trains it. The
run's seed, time budget (``max_minutes``, crop building included) and thread count are the
config's common fields.

  data_root        a Taichung-style VOC folder (relative: under data.root / $KARYOSTUDIO_DATA);
  pipeline_from    the installed classic model whose detector score threshold and assignment
                   calibration the exported model takes (None: the pipeline's defaults);
  cache_dir        where built crops are cached (None: not cached);
  epochs, batch_size, lr (AdamW, cosine after a short warm-up, by steps or by the time budget,
  whichever is further along), weight_decay, label_smoothing;
  val_fraction     patients held out for validation (split by patient, with the config's seed);
  max_images       a seeded subset of the images (quick runs);
  out_size, widths, hidden, dropout   the crop and the network (models/classic/classifier.py);
  flip_prob        upside-down flips (which end is up is a guess);
  style_prob       crops shown as another microscope might (blur, coarser sampling, noise);
  capture_styles   each training image is cropped this many times more, each time re-recorded
                   in a randomly drawn capture style (training/capture_style.py: grey stretch,
                   tone curve, sharpening or blur, noise), its annotated boxes and what the
                   detector finds in the restyled image alike (seed: the config's);
  workers          processes for crop building;
  detector         a chromosome detector's weights: its boxes on the training images become crops
                   too (what the classifier reads at run time), and its false detections teach a
                   "no chromosome" output; ``detector_score_floor`` is the lowest score used;
  init_from        start from this classifier checkpoint's weights;
  labelme_dirs     reviewed cells to learn from too (all for training; ``train --corrections``);
  synth_cells      synthetic cells whose chromosomes train too (seed ``synth_seed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from karyostudio.training.errors import ConfigError
from karyostudio.training.family_settings import require_at_least_one


@dataclass
class ClassifierSettings:
    data_root: str = ""
    pipeline_from: str | None = "default-cpu"
    cache_dir: str | None = ".cache"
    epochs: int = 8
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    val_fraction: float = 0.1
    max_images: int | None = None
    out_size: tuple[int, int] = (64, 32)
    widths: tuple[int, ...] = (16, 32, 64, 128)
    hidden: int = 128
    dropout: float = 0.2
    flip_prob: float = 0.5
    style_prob: float = 0.0
    capture_styles: int = 0
    workers: int = 2
    detector: str | None = None
    detector_score_floor: float = 0.2
    init_from: str | None = None
    labelme_dirs: list[str] = field(default_factory=list)
    synth_cells: int = 0
    synth_seed: int = 7

    def check(self) -> None:
        """Value rules beyond the field types; ConfigError names the setting."""
        if not self.data_root:
            raise ConfigError("settings.data_root is required (the Taichung-style VOC folder)")
        require_at_least_one(self, ("epochs", "batch_size", "hidden", "workers", "max_images"))
        if self.capture_styles < 0:
            raise ConfigError(f"settings.capture_styles must be >= 0, got {self.capture_styles}")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError("settings.lr must be positive and settings.weight_decay >= 0")
        for name in ("label_smoothing", "dropout", "flip_prob", "style_prob", "detector_score_floor"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"settings.{name} must lie in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"settings.val_fraction must lie in [0, 1), got {self.val_fraction}")
        if min(self.out_size) < 8 or not self.widths or self.synth_cells < 0:
            raise ConfigError("settings.out_size must be at least 8 x 8, widths non-empty, synth_cells >= 0")
