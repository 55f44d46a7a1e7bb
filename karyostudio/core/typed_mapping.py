"""The one converter between plain mappings (YAML, JSON, manifests) and settings dataclasses.

``from_mapping(cls, data, where)`` builds a dataclass from its field types: nested dataclasses,
lists, tuples (``tuple[int, ...]`` and fixed-length), dicts, optional fields, ``Literal`` choices
and the scalars bool / int / float / str. Anything that does not fit is an error that names the
setting by its dotted path (``settings.sources[0].split must be one of ...``): an unknown or
mistyped key never silently trains or loads something else. Value checks that need more than
the type live in the dataclass's ``__post_init__``; their ValueErrors come back as the same
error, prefixed with the path. ``to_mapping`` is the inverse (tuples become lists).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from typing import Any, Literal, Mapping, TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """A mapping that does not fit its settings dataclass."""


def from_mapping(cls: type[T], data: Any, where: str = "", *, error: type[Exception] = SettingsError) -> T:
    """``cls`` built from ``data``, every value checked against its field's type (module docstring)."""
    if not isinstance(data, Mapping):
        raise error(f"{where or 'settings'} must be a mapping, got {_shown(data)}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(str(k) for k in set(data) - set(known))
    if unknown:
        place = f" in {where}" if where else ""
        raise error(f"unknown setting(s){place}: {', '.join(unknown)}; known: {', '.join(known)}")
    values = {key: _convert(hints[key], value, _join(where, key), error) for key, value in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise error(f"{where}: {exc}" if where else str(exc)) from None


def to_mapping(obj: Any) -> Any:
    """Plain JSON-able data of a settings dataclass (nested ones too; tuples as lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: to_mapping(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_mapping(v) for v in obj]
    return obj


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _shown(value: Any) -> str:
    return f"{value!r}" if isinstance(value, (str, int, float, bool, type(None))) else type(value).__name__


def _convert(hint: Any, value: Any, where: str, error: type[Exception]) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise error(f"{where}: unsupported setting type {hint}")
        return _convert(inner[0], value, where, error)
    if origin is Literal:
        if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args):
            raise error(f"{where} must be one of {', '.join(map(str, args))}; got {_shown(value)}")
        return value
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, where, error=error)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise error(f"{where} must be a list, got {_shown(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise error(f"{where} must be a list of {len(args)} values, got {len(value)}")
            return tuple(_convert(a, v, f"{where}[{k}]", error) for k, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [_convert(item, v, f"{where}[{k}]", error) for k, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise error(f"{where} must be a mapping, got {_shown(value)}")
        return copy.deepcopy(dict(value))
    if hint is Any:
        return copy.deepcopy(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise error(f"{where} must be true or false, got {_shown(value)}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (hint is int and value != int(value)):
            raise error(f"{where} must be a{'n integer' if hint is int else ' number'}, got {_shown(value)}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise error(f"{where} must be a string, got {_shown(value)}")
        return value
    raise error(f"{where}: unsupported setting type {hint}")
