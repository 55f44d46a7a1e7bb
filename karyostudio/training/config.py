"""Typed training configuration, loadable from YAML/JSON files and named presets.

A config file is a mapping of TrainConfig fields (nested mappings for model, data, optim);
``extends: NAME`` starts from a preset and overrides what the file sets (mappings merge key by
key, everything else is replaced). Unknown keys are errors that list the known ones, so a typo
never silently trains something else. Relative data paths are resolved against ``data.root``,
which defaults to $KARYOSTUDIO_DATA or the working folder.

Regimes (Mask R-CNN):
  baseline     masks only (data.mask_sources), ``epochs`` at ``optim.lr``.
  two-stage    stage 1: ``stage1_epochs`` at ``stage1_lr`` on data.box_sources, each box turned into
               a coarse mask (data.coarse_mask_shape); stage 2: ``epochs`` at ``optim.lr`` (0.0004 in
               the report) on the mask sources, all of the network trained (Agnew et al. 2024).
  alternating  ``epochs`` at ``optim.lr``; every step takes a box batch with probability ``box_ratio``
               (RPN + box losses only) or a mask batch (all losses).
Every other family (models/families.py) reads the ``settings`` mapping into its own settings
dataclass (training/family_settings.py), plus the common fields name, device, seed, out_dir,
resume, max_minutes, num_threads, export and checkpoint_every. Mappings become dataclasses
through the one typed converter, karyostudio.core.typed_mapping.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from karyostudio.core.typed_mapping import from_mapping, to_mapping
from karyostudio.models.families import FAMILY_RECORDS
from karyostudio.models.maskrcnn.spec import MaskRCNNSpec
from karyostudio.training.errors import ConfigError

FAMILIES = tuple(FAMILY_RECORDS)
REGIMES = ("baseline", "two-stage", "alternating")
SOURCE_KINDS = ("synth", "labelme", "voc")
SPLITS = ("auto", "patient", "random")
SCHEDULES = ("step", "cosine", "constant")
AMP_DTYPES = ("float16", "bfloat16")
DATA_ENV = "KARYOSTUDIO_DATA"
WARMUP_START = 0.001  # warm-up starts at this fraction of the stage's learning rate
PRESET_PACKAGE = "karyostudio.training.presets"


@dataclass
class SourceConfig:
    """One image collection. synth: generated on the fly (train indices 0..count-1, validation
    indices count..count+val_count-1 of ``seed``); labelme: a folder of labelme JSON (e.g. written by
    ``karyostudio synth``; any annotation folder karyostudio.io.annotation_set reads works, and images
    whose instances are box-only train boxes only); voc: a Pascal VOC tree such as Taichung (boxes only).
    Instances without a class are left out: a detector needs one for every object it learns."""

    kind: str
    path: str = ""
    count: int = 100
    val_count: int = 10
    size: int = 1024
    seed: int = 0
    val_fraction: float = 0.1
    split: str = "auto"  # patient (Taichung ids: patient = id without its last digit) or random
    max_images: int | None = None


@dataclass
class AugmentConfig:
    flip: bool = True  # horizontal and vertical, each with p = 0.5
    rot90: bool = True  # a random number of quarter turns
    max_rotation_deg: float = 10.0  # uniform small rotation (samples with masks only)
    brightness: float = 0.1  # shift, fraction of the grey range
    contrast: float = 0.2  # factor in 1 +- contrast


@dataclass
class DataConfig:
    root: str = ""
    mask_sources: list[SourceConfig] = field(default_factory=list)
    box_sources: list[SourceConfig] = field(default_factory=list)
    coarse_mask_shape: str = "box"  # two-stage stage 1: "box" or "ellipse"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    num_workers: int = 0  # DataLoader worker processes per training process
    max_val_images: int | None = 200  # per validation set


@dataclass
class OptimConfig:
    lr: float = 0.005
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 500  # linear warm-up at the start of every stage
    schedule: str = "step"
    milestones: tuple[float, ...] = (0.75, 0.9)  # "step": fractions of a stage's steps
    gamma: float = 0.1
    grad_clip: float | None = 10.0  # max gradient norm; None: no clipping

    def lr_factor(self, step: int, total: int) -> float:
        """Learning-rate multiplier at step ``step`` (0-based) of a stage of ``total`` steps: linear
        warm-up from WARMUP_START, then the schedule (a pure function of the step, so resuming needs
        no scheduler state)."""
        factor = 1.0
        if step < self.warmup_steps:
            factor = WARMUP_START + (1.0 - WARMUP_START) * step / self.warmup_steps
        progress = step / max(total, 1)
        if self.schedule == "step":
            factor *= self.gamma ** sum(progress >= m for m in self.milestones)
        elif self.schedule == "cosine":
            factor *= 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        return factor


@dataclass
class TrainConfig:
    name: str = "maskrcnn"
    family: str = "maskrcnn"
    regime: str = "baseline"
    model: MaskRCNNSpec = field(default_factory=MaskRCNNSpec)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    epochs: int = 40
    batch_size: int = 4  # per process
    steps_per_epoch: int | None = None  # default: one pass over the stage's training images
    stage1_epochs: int = 20
    stage1_lr: float = 0.005
    box_ratio: float = 0.5
    seed: int = 0
    device: str = "cpu"  # "cpu", "cuda" or "cuda:N"; under torchrun each process takes cuda:LOCAL_RANK
    amp: bool = True  # CUDA only; validation and export run in float32
    # float16 (with loss scaling) rather than bfloat16: torchvision decodes boxes in the precision
    # of the regression output, and bfloat16 coordinates near 640 px are 4 px apart.
    amp_dtype: str = "float16"
    channels_last: bool = True  # CUDA only
    deterministic: bool = False
    num_threads: int | None = None  # torch CPU threads
    out_dir: str = "runs/maskrcnn"
    resume: bool = False
    max_minutes: float | None = None
    select_metric: str = "mask_data.mask_map50"  # best checkpoint; falls back to what validation gives
    val_batch_size: int = 2
    val_score_threshold: float = 0.5  # for AJI
    log_every: int = 10
    checkpoint_every: int | None = None  # steps; epoch ends, cancellation and time-outs always save
    export: bool = True
    settings: dict[str, Any] | None = None  # the family trainer's own settings (all families but maskrcnn)


# --- conversion -----------------------------------------------------------------------------------

def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """A checked TrainConfig from a plain mapping (``extends`` resolved)."""
    data = _resolve_extends(dict(data), seen=())
    config = from_mapping(TrainConfig, data, "config", error=ConfigError)
    check_config(config)
    return config


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain JSON-able dict (tuples as lists) that config_from_dict turns back into the same config."""
    return to_mapping(config)


def load_config(path: str | Path) -> TrainConfig:
    """Read a YAML (.yaml/.yml) or JSON (.json) config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of settings")
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def preset_names() -> list[str]:
    folder = resources.files(PRESET_PACKAGE)
    return sorted(p.name.rsplit(".", 1)[0] for p in folder.iterdir() if p.name.endswith((".yaml", ".yml")))


def preset_dict(name: str) -> dict[str, Any]:
    folder = resources.files(PRESET_PACKAGE)
    for suffix in (".yaml", ".yml"):
        entry = folder / f"{name}{suffix}"
        if entry.is_file():
            return yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
    raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")


def load_preset(name: str) -> TrainConfig:
    return config_from_dict(preset_dict(name))


def _resolve_extends(data: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if base_name in seen:
        raise ConfigError(f"presets extend each other in a circle: {' -> '.join(seen + (base_name,))}")
    base = _resolve_extends(preset_dict(base_name), seen + (base_name,))
    return _merge(base, data)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# --- checks and paths -----------------------------------------------------------------------------

def check_config(config: TrainConfig) -> None:
    """Raise ConfigError for settings no run could use."""
    _one_of("family", config.family, FAMILIES)
    if config.family != "maskrcnn":
        return  # the family's task checks its own settings
    _one_of("regime", config.regime, REGIMES)
    _one_of("optim.schedule", config.optim.schedule, SCHEDULES)
    _one_of("amp_dtype", config.amp_dtype, AMP_DTYPES)
    _one_of("data.coarse_mask_shape", config.data.coarse_mask_shape, ("box", "ellipse"))
    for name in ("epochs", "batch_size", "val_batch_size", "log_every"):
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.regime == "two-stage" and config.stage1_epochs < 1:
        raise ConfigError(f"stage1_epochs must be at least 1, got {config.stage1_epochs}")
    if config.regime == "alternating" and not 0.0 < config.box_ratio < 1.0:
        raise ConfigError(f"box_ratio must lie strictly between 0 and 1, got {config.box_ratio}")
    if config.optim.lr <= 0 or config.stage1_lr <= 0:
        raise ConfigError("learning rates must be positive")
    if not config.data.mask_sources:
        raise ConfigError(f"regime {config.regime!r} needs data.mask_sources")
    if config.regime != "baseline" and not config.data.box_sources:
        raise ConfigError(f"regime {config.regime!r} needs data.box_sources")
    for role in ("mask_sources", "box_sources"):
        for k, source in enumerate(getattr(config.data, role)):
            check_source(source, f"data.{role}[{k}]")


def check_source(source: SourceConfig, where: str, *, check_val_fraction: bool = True) -> None:
    """One image source: a known kind and split, a path unless synthetic, sensible synthetic counts
    and (``check_val_fraction``) a validation fraction in [0, 1); ConfigError names ``where``."""
    _one_of(f"{where}.kind", source.kind, SOURCE_KINDS)
    _one_of(f"{where}.split", source.split, SPLITS)
    if source.kind != "synth" and not source.path:
        raise ConfigError(f"{where}: a {source.kind} source needs a path")
    if source.kind == "synth" and (source.count < 1 or source.val_count < 0):
        raise ConfigError(f"{where}: synth needs count >= 1 and val_count >= 0")
    if check_val_fraction and not 0.0 <= source.val_fraction < 1.0:
        raise ConfigError(f"{where}.val_fraction must lie in [0, 1), got {source.val_fraction}")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def data_path(config: TrainConfig, path: str) -> Path:
    """A data path of the config: absolute as given, relative ones under data.root."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    root = config.data.root or os.environ.get(DATA_ENV, "")
    return Path(root).expanduser() / candidate if root else candidate


# --- interpretation -------------------------------------------------------------------------------

# Batch streams: mask data, box data (box losses only) and box data with coarse masks (stage 1).
MASKS, BOXES, COARSE = "masks", "boxes", "coarse"
# Settings a resumed run may change: where and how fast it runs, not what it learns.
RESUMABLE_CHANGES = {"resume", "max_minutes", "device", "num_threads", "out_dir", "export", "log_every",
                     "checkpoint_every", "val_batch_size", "data.num_workers", "data.root", "amp", "amp_dtype",
                     "channels_last", "deterministic"}


@dataclass(frozen=True)
class Stage:
    name: str
    epochs: int
    lr: float
    streams: tuple[str, ...]


def plan_stages(config: TrainConfig) -> list[Stage]:
    """The stages of a Mask R-CNN regime, in order."""
    if config.regime == "two-stage":
        return [Stage("stage1", config.stage1_epochs, config.stage1_lr, (COARSE,)),
                Stage("stage2", config.epochs, config.optim.lr, (MASKS,))]
    if config.regime == "alternating":
        return [Stage("main", config.epochs, config.optim.lr, (BOXES, MASKS))]
    return [Stage("main", config.epochs, config.optim.lr, (MASKS,))]


def resume_mismatch(saved: Mapping[str, Any], current: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of settings that differ between a saved run's config and the current one,
    ignoring those a resumed run may change."""
    differ = []
    for key in sorted(set(saved) | set(current)):
        name = f"{prefix}{key}"
        if name in RESUMABLE_CHANGES:
            continue
        a, b = saved.get(key), current.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            differ += resume_mismatch(a, b, f"{name}.")
        elif a != b:
            differ.append(name)
    return differ


def describe_data(config: TrainConfig) -> str:
    """One line naming the training data, for manifests."""
    parts = []
    for role, sources in (("masks", config.data.mask_sources), ("boxes", config.data.box_sources)):
        for s in sources:
            what = f"synthetic x{s.count} at {s.size} px (seed {s.seed})" if s.kind == "synth" else f"{s.kind} {s.path}"
            parts.append(f"{role}: {what}")
    return f"regime {config.regime}; " + "; ".join(parts)


def model_file(path: str, where: str) -> Path:
    """A weights file named in a config: as given (absolute or from the working folder), else
    looked up in the model folders (so presets can name the shipped models/ files)."""
    from karyostudio.models.manifest import model_dirs

    candidate = Path(path).expanduser()
    if candidate.is_file() or candidate.is_absolute():
        return candidate
    for folder in model_dirs():
        if (folder / candidate.name).is_file():
            return folder / candidate.name
    raise ConfigError(f"{where}: no weights file {path!r} here or in the model folders")


def add_labelme_source(config: TrainConfig, folder: str | Path) -> TrainConfig:
    """A copy of ``config`` that also learns from a folder of labelme files (reviewed corrections).

    Mask R-CNN configs get it as another mask source; every other family in
    ``settings["labelme_dirs"]`` (the ChromSeg trainer derives crossing regions from overlapping
    outlines, the crop classifier learns from crops of the named outlines).
    """
    folder = str(Path(folder).expanduser().resolve())
    out = copy.deepcopy(config)
    if config.family == "maskrcnn":
        out.data.mask_sources.append(SourceConfig(kind="labelme", path=folder))
    else:
        settings = dict(out.settings or {})
        settings["labelme_dirs"] = [*settings.get("labelme_dirs", []), folder]
        out.settings = settings
    return out
