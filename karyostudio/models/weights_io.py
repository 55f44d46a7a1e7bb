"""Weights files shared by the model families: a plain-dict spec plus a state_dict, nothing pickled.

Every file is a dict ``{"format", "version", "spec", "state_dict"}`` written atomically with
``torch.save`` and read back with ``torch.load(..., weights_only=True)``. Exports store
floating-point tensors in float16 (half the size; the precision loss is far below what changes
a prediction) and readers turn them back to float32. A family describes its files once with a
``WeightsFormat`` (format name, error type, spec parsing, model building) and gets saving,
reading, loading and exporting from it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Mapping, Protocol, TypeVar

import torch

from karyostudio.io.atomic import atomic_write_bytes
from karyostudio.io.errors import FormatError
from karyostudio.models.manifest import Manifest, manifest_for_weights, write_manifest


S = TypeVar("S")
M = TypeVar("M", bound=torch.nn.Module)


class Spec(Protocol):
    """A model spec that turns itself into a plain dict (what a weights file stores)."""

    def to_dict(self) -> dict[str, Any]: ...


def save_torch_dict(path: str | Path, payload: Mapping[str, Any]) -> Path:
    """``torch.save`` a plain dict atomically (an interrupted write leaves the old file intact)."""
    buffer = io.BytesIO()
    torch.save(dict(payload), buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def load_torch_dict(path: Path, error: type[FormatError], *, missing: str = "weights file not found",
                    unreadable: str = "cannot read weights") -> Any:
    """What ``torch.load(weights_only=True)`` reads from ``path``; ``error`` for a missing or damaged file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise error(path, missing) from None
    except Exception as exc:  # torch raises many types for damaged or foreign files
        raise error(path, f"{unreadable}: {exc}") from None


def save_weights_file(path: str | Path, fmt: str, version: int, spec: Spec,
                      state_dict: Mapping[str, torch.Tensor], *, half: bool = True) -> Path:
    """Write spec + state_dict (floating-point tensors as float16 when ``half``) in format ``fmt``."""
    state = {k: (v.detach().to("cpu", torch.float16) if half and v.is_floating_point() else v.detach().cpu())
             for k, v in state_dict.items()}
    return save_torch_dict(path, {"format": fmt, "version": version, "spec": spec.to_dict(), "state_dict": state})


def read_weights_file(path: Path, fmt: str, error: type[FormatError], *, kind: str,
                      version: int | None = None) -> dict[str, Any]:
    """The dict of a weights file of format ``fmt``, checked for its format and (when given) version.

    ``kind`` names the file in messages with its article, e.g. "a DeepCHM".
    """
    data = load_torch_dict(path, error)
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise error(path, f"not {kind} weights file (format {fmt!r} expected)")
    if version is not None and data.get("version") != version:
        raise error(path, f"weights version {data.get('version')} is not supported")
    return data


def read_spec_and_state(path: Path, fmt: str, error: type[FormatError], *, kind: str,
                        parse_spec: Callable[[Any], S], spec_errors: tuple[type[Exception], ...],
                        version: int | None = None) -> tuple[S, dict[str, torch.Tensor]]:
    """(spec, float32 state_dict) of a weights file (see read_weights_file); ``parse_spec`` reads the
    stored spec dict and raises one of ``spec_errors`` for a bad one."""
    data = read_weights_file(path, fmt, error, kind=kind, version=version)
    try:
        spec = parse_spec(data["spec"])
    except (KeyError, TypeError, *spec_errors) as exc:  # TypeError: a spec that is not a dict
        raise error(path, f"bad model spec: {exc}") from None
    return spec, float_state(data["state_dict"])


def float_state(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state_dict with floating-point tensors as float32 (files store float16)."""
    return {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}


def load_fitting_state(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path,
                       error: type[FormatError], device: str | torch.device) -> Any:
    """``model`` with ``state`` loaded, in eval mode on ``device``; ``error`` when the tensors do not fit."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise error(path, f"weights do not fit the model spec: {exc}") from None
    return model.to(device).eval()


def write_export_manifest(weights: Path, name: str, family: str, spec: Spec, *, input: Mapping[str, Any],
                          metrics: Mapping[str, float] | None = None, extra: Mapping[str, object] | None = None,
                          **fields: Any) -> Manifest:
    """Write ``<name>.manifest.json`` beside an exported weights file; returns the manifest.

    The manifest's ``extra`` starts with the spec (as a dict) followed by ``extra``; ``fields``
    are further manifest fields (description, training_data, classes).
    """
    manifest = manifest_for_weights(
        weights, name, family, metrics={k: float(v) for k, v in (metrics or {}).items()}, input=dict(input),
        extra={"spec": spec.to_dict(), **dict(extra or {})}, **fields)
    return write_manifest(manifest, manifest.path)


@dataclass(frozen=True)
class WeightsFormat(Generic[S, M]):
    """The weights files of one model family: what they are called, how to check and build them."""

    family: str  # the manifest family of exported files
    name: str  # the file's "format" field
    kind: str  # names a file in messages, with its article: "a DeepCHM"
    error: type[FormatError]
    parse_spec: Callable[[Any], S]  # the stored spec dict -> spec; raises one of spec_errors
    spec_errors: tuple[type[Exception], ...]
    build: Callable[[S], M]  # a fresh model of a spec
    version: int = 1

    def save(self, path: str | Path, state_dict: Mapping[str, torch.Tensor], spec: S, *,
             half: bool = True) -> Path:
        """Write spec + state_dict atomically (floating-point tensors as float16 when ``half``)."""
        return save_weights_file(path, self.name, self.version, spec, state_dict, half=half)

    def read(self, path: str | Path) -> tuple[S, dict[str, torch.Tensor]]:
        """(spec, float32 state_dict) of a weights file."""
        return read_spec_and_state(Path(path), self.name, self.error, kind=self.kind, parse_spec=self.parse_spec,
                                   spec_errors=self.spec_errors, version=self.version)

    def load_model(self, path: str | Path, device: str | torch.device = "cpu") -> tuple[M, S]:
        """(model in eval mode on ``device``, spec) of a weights file."""
        spec, state = self.read(path)
        return load_fitting_state(self.build(spec), state, Path(path), self.error, device), spec

    def export(self, directory: str | Path, name: str, state_dict: Mapping[str, torch.Tensor], spec: S, *,
               input: Mapping[str, Any], metrics: Mapping[str, float] | None = None,
               extra: Mapping[str, object] | None = None, **fields: Any) -> Manifest:
        """Write ``<name>.pt`` (float16) and ``<name>.manifest.json`` into ``directory``; returns the
        manifest. ``fields`` are further manifest fields (description, training_data, classes)."""
        weights = self.save(Path(directory) / f"{name}.pt", state_dict, spec, half=True)
        return write_export_manifest(weights, name, self.family, spec, input=input, metrics=metrics, extra=extra,
                                     **fields)
