"""Which models exist and how to load them.

A *family* is a kind of model with one loader (a factory taking the model's manifest and a
device). Factories are registered as "module:function" strings and imported only when a model
of that family is loaded, so listing models never imports torch.

A *model* is a name users type (``--model default-cpu``). Models come from two places: the
built-in list below (known even before their weights are installed, so ``karyostudio models``
can say what is missing) and every manifest found in the model folders (see
karyostudio.models.manifest). ``load_predictor`` also accepts a path to a manifest or to a
weights file with a manifest beside it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

from karyostudio.models.base import Predictor
from karyostudio.models.families import FAMILY_RECORDS, PREDICTOR, SPLITTER
from karyostudio.models.manifest import (
    MANIFEST_SUFFIX,
    Manifest,
    ManifestError,
    WeightsMissingError,
    find_manifests,
    model_dirs,
    read_manifest,
    verify_weights,
)

DEFAULT_MODEL = "default-cpu"

# factory(manifest or None, device) -> Predictor; manifest is None only for families that
# need no weights.
Factory = Callable[[Union[Manifest, None], str], Predictor]


@dataclass(frozen=True)
class ModelFamily:
    name: str
    factory: str | Factory  # "package.module:function" (imported lazily) or a callable
    needs_weights: bool = True

    def load_factory(self) -> Factory:
        if callable(self.factory):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module_name), attr)


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    family: str
    description: str = ""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    family: str
    description: str
    manifest_path: Path | None
    weights_present: bool  # True also for families that need no weights


class UnknownModelError(LookupError):
    def __init__(self, name: str, available: list[str]):
        self.name = name
        self.available = available
        listing = ", ".join(available) if available else "(none)"
        super().__init__(f"unknown model {name!r}; available models: {listing}")


class DeviceUnavailableError(RuntimeError):
    """The requested compute device (e.g. cuda) is not usable on this machine."""


# Loaders of the predictor families of models/families.py (register_family adds others, e.g. in tests).
FAMILIES: dict[str, ModelFamily] = {r.name: ModelFamily(r.name, r.predictor) for r in FAMILY_RECORDS.values()
                                    if r.role == PREDICTOR}
# Families whose models are stages run after a predictor (``predict --split-clusters``), not
# predictors: available_models() leaves them out, available_splitters() lists them.
SPLITTER_FAMILIES: frozenset[str] = frozenset(r.name for r in FAMILY_RECORDS.values() if r.role == SPLITTER)
MODELS: dict[str, RegisteredModel] = {
    DEFAULT_MODEL: RegisteredModel(DEFAULT_MODEL, "classic", FAMILY_RECORDS["classic"].description),
}


def register_family(name: str, factory: str | Factory, *, needs_weights: bool = True) -> None:
    FAMILIES[name] = ModelFamily(name, factory, needs_weights)


def register_model(name: str, family: str, description: str = "") -> None:
    if family not in FAMILIES:
        raise KeyError(f"unknown model family {family!r}; register it first")
    MODELS[name] = RegisteredModel(name, family, description)


def available_models() -> list[ModelInfo]:
    """Registered and discovered models, the default model first, then by name (splitters left out)."""
    return [info for info in _all_models() if info.family not in SPLITTER_FAMILIES]


def available_splitters() -> list[ModelInfo]:
    """Installed cluster splitters (families in SPLITTER_FAMILIES), by name."""
    return [info for info in _all_models() if info.family in SPLITTER_FAMILIES]


def _all_models() -> list[ModelInfo]:
    manifests = find_manifests()
    infos: dict[str, ModelInfo] = {}
    for name in sorted(set(MODELS) | set(manifests)):
        path = manifests.get(name)
        manifest = _try_read(path)
        registered = MODELS.get(name)
        family = manifest.family if manifest else (registered.family if registered else "?")
        description = (registered.description if registered else "") or (manifest.description if manifest else "")
        fam = FAMILIES.get(family)
        if fam is not None and not fam.needs_weights:
            present = True
        else:
            present = manifest is not None and manifest.weights_path.is_file()
        infos[name] = ModelInfo(name, family, description, path, present)
    ordered = [infos.pop(DEFAULT_MODEL)] if DEFAULT_MODEL in infos else []
    return ordered + list(infos.values())


def _try_read(path: Path | None) -> Manifest | None:
    if path is None:
        return None
    try:
        return read_manifest(path)
    except ManifestError:
        return None


def resolve_device(device: str) -> str:
    """Validate a device string ("cpu", "cuda", "cuda:N"); raise DeviceUnavailableError if unusable."""
    if device == "cpu":
        return device
    if device != "cuda" and not device.startswith("cuda:"):
        raise DeviceUnavailableError(f"unknown device {device!r}; use 'cpu' or 'cuda'")
    import torch  # only needed to ask about GPUs

    if not torch.cuda.is_available():
        raise DeviceUnavailableError(f"device {device!r} requested but CUDA is not available on this machine; "
                                     f"use --device cpu")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise DeviceUnavailableError(f"device {device!r} requested but only {torch.cuda.device_count()} "
                                     f"CUDA device(s) exist")
    return device


def load_predictor(name_or_path: str | Path, device: str = "cpu") -> Predictor:
    """Load a model by name, manifest path or weights path.

    Raises UnknownModelError (message lists the available models), ManifestError and its
    subclasses WeightsMissingError / WeightsChecksumError, or DeviceUnavailableError.
    """
    device = resolve_device(device)
    manifest, family_name = _locate(name_or_path)
    family = FAMILIES.get(family_name)
    if family is None and family_name in SPLITTER_FAMILIES:
        raise ManifestError(manifest.path if manifest else None,
                            f"model {name_or_path!s} is a cluster splitter, not a predictor; use it after a "
                            f"predictor (karyostudio predict --split-clusters {name_or_path!s})")
    if family is None:
        raise ManifestError(manifest.path if manifest else None,
                            f"model family {family_name!r} is not known to this version of karyostudio")
    if family.needs_weights:
        if manifest is None:
            searched = ", ".join(str(d) for d in model_dirs())
            raise WeightsMissingError(None, f"model {name_or_path!r} is registered but not installed: no "
                                            f"{name_or_path}{MANIFEST_SUFFIX} in the model folders ({searched})")
        verify_weights(manifest)
    return family.load_factory()(manifest, device)


def _locate(name_or_path: str | Path) -> tuple[Manifest | None, str]:
    """(manifest or None, family name) for a model name or a path."""
    text = str(name_or_path)
    manifests = find_manifests()
    registered = MODELS.get(text)
    if registered is not None or text in manifests:
        # An installed manifest describes its weights, so its family wins over the registration.
        if text in manifests:
            manifest = read_manifest(manifests[text])
            return manifest, manifest.family
        return None, registered.family
    path = Path(text).expanduser()
    if isinstance(name_or_path, Path) or path.exists() or path.suffix or "/" in text or "\\" in text:
        manifest = read_manifest(path if text.endswith(MANIFEST_SUFFIX) else _manifest_beside(path))
        return manifest, manifest.family
    raise UnknownModelError(text, [info.name for info in available_models()])


def _manifest_beside(weights: Path) -> Path:
    """The manifest in the weights file's folder that names this file as its weights."""
    if not weights.is_file():
        raise WeightsMissingError(weights, "weights file not found")
    for candidate in sorted(weights.parent.glob(f"*{MANIFEST_SUFFIX}")):
        try:
            if read_manifest(candidate).weights == weights.name:
                return candidate
        except ManifestError:
            continue
    raise ManifestError(weights, f"no manifest beside the weights file names it; expected a "
                                 f"*{MANIFEST_SUFFIX} file with \"weights\": \"{weights.name}\"")
