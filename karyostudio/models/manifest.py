"""Model manifests: what a weights file is, how it was made and how well it did.

A manifest is a JSON file ``<name>.manifest.json`` that sits beside its weights file. It names
the model family that can load the weights, their sha256 (checked before loading, so a
truncated download or a swapped file is caught with a clear message), the class order, the
input normalisation, the training data, validation metrics, and the creating version.

Manifests are searched in, in this order (the first manifest of a given name wins):
  1. every folder in $KARYOSTUDIO_MODELS (os.pathsep-separated),
  2. the user models folder ($XDG_DATA_HOME or ~/.local/share, then karyostudio/models),
  3. the ``models/`` folder of the source tree beside the package (shipped default models).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

from karyostudio.core.classes import CLASS_NAMES
from karyostudio.io.atomic import atomic_write_text
from karyostudio.io.errors import FormatError

MANIFEST_SUFFIX = ".manifest.json"
MODELS_ENV = "KARYOSTUDIO_MODELS"
REPO_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


class ManifestError(FormatError):
    """A manifest file is missing, not valid JSON, or lacks required fields."""


class WeightsMissingError(ManifestError):
    """The weights file a manifest names does not exist."""


class WeightsChecksumError(ManifestError):
    """The weights file exists but its sha256 differs from the manifest's."""


@dataclass
class Manifest:
    name: str
    family: str
    weights: str  # file name, relative to the manifest's folder
    sha256: str
    classes: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    input: dict[str, Any] = field(default_factory=dict)  # normalisation, crop size, ...
    description: str = ""
    training_data: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # validation metrics
    created: str = field(default_factory=lambda: date.today().isoformat())
    karyostudio_version: str = field(default_factory=lambda: karyostudio_version())
    extra: dict[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)  # where it was read from; not saved

    @property
    def weights_path(self) -> Path:
        """Absolute location of the weights (beside the manifest)."""
        if self.path is None:
            raise ManifestError(None, f"manifest {self.name!r} has no location; save or read it first")
        return self.path.parent / self.weights

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("path")
        return json.dumps(data, indent=2, sort_keys=False) + "\n"


_REQUIRED = ("name", "family", "weights", "sha256")
_KNOWN = {f for f in Manifest.__dataclass_fields__ if f != "path"}


def karyostudio_version() -> str:
    try:
        return metadata.version("karyostudio")
    except metadata.PackageNotFoundError:
        return "unknown"


def manifest_path_for(directory: Path, name: str) -> Path:
    return Path(directory) / f"{name}{MANIFEST_SUFFIX}"


def read_manifest(path: str | Path) -> Manifest:
    """Parse a manifest file (does not touch the weights; see :func:`verify_weights`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(path, "manifest file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(path, f"cannot read manifest: {exc}") from None
    if not isinstance(data, dict):
        raise ManifestError(path, "manifest must be a JSON object")
    if "family" not in data and "kind" in data:
        data["family"] = data.pop("kind")
    missing = [k for k in _REQUIRED if not isinstance(data.get(k), str) or not data.get(k)]
    if missing:
        raise ManifestError(path, f"manifest lacks required field(s): {', '.join(missing)}")
    # Unknown keys are kept under extra so a newer manifest survives an older reader.
    extra = dict(data.get("extra") or {})
    extra.update({k: v for k, v in data.items() if k not in _KNOWN})
    fields = {k: v for k, v in data.items() if k in _KNOWN}
    fields["extra"] = extra
    try:
        manifest = Manifest(**fields, path=path.resolve())
    except TypeError as exc:
        raise ManifestError(path, f"malformed manifest: {exc}") from None
    unknown_classes = [c for c in manifest.classes if c not in CLASS_NAMES]
    if unknown_classes:
        raise ManifestError(path, f"unknown class names in manifest: {unknown_classes}")
    return manifest


def write_manifest(manifest: Manifest, path: str | Path) -> Manifest:
    """Write a manifest atomically; returns it with ``path`` set to where it was written."""
    path = Path(path).resolve()
    atomic_write_text(path, manifest.to_json())
    manifest.path = path
    return manifest


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_for_weights(weights: str | Path, name: str, family: str, **fields: Any) -> Manifest:
    """A manifest describing an existing weights file (checksum computed), ready to write beside it."""
    weights = Path(weights).resolve()
    manifest = Manifest(name=name, family=family, weights=weights.name, sha256=sha256_file(weights), **fields)
    manifest.path = manifest_path_for(weights.parent, name)
    return manifest


def model_files(manifest: Manifest) -> list[Path]:
    """Every file a model needs beside its manifest: its weights and the weights its parts name in
    ``extra`` (e.g. the classic pipeline's ``extra.detector.weights``), for copying a model whole."""
    files = [manifest.weights_path]
    for part in (manifest.extra or {}).values():
        if isinstance(part, dict) and isinstance(part.get("weights"), str):
            files.append(manifest.weights_path.parent / Path(part["weights"]).name)
    return files


def verify_weights(manifest: Manifest) -> Path:
    """Check the weights file exists and matches the manifest's sha256; return its path."""
    weights = manifest.weights_path
    if not weights.is_file():
        raise WeightsMissingError(manifest.path, f"weights file {weights} of model {manifest.name!r} not found")
    actual = sha256_file(weights)
    if actual.lower() != manifest.sha256.lower():
        raise WeightsChecksumError(
            manifest.path, f"weights file {weights} does not match the manifest of model {manifest.name!r} "
                           f"(sha256 {actual[:12]}..., expected {manifest.sha256[:12]}...): "
                           f"the file is damaged or belongs to another model")
    return weights


def user_model_dir() -> Path:
    """The user's own model folder (where the app installs models it trained)."""
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "karyostudio" / "models"


def model_dirs() -> list[Path]:
    """Folders searched for manifests, highest priority first (existing or not)."""
    dirs = [Path(p).expanduser() for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p]
    dirs.append(user_model_dir())
    dirs.append(REPO_MODELS_DIR)
    return dirs


def find_manifests() -> dict[str, Path]:
    """Model name -> manifest path over all model folders (first folder wins on duplicates)."""
    found: dict[str, Path] = {}
    for directory in model_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob(f"*{MANIFEST_SUFFIX}")):
            found.setdefault(path.name[: -len(MANIFEST_SUFFIX)], path)
    return found
