"""The karyostudio fields of an Instance that foreign formats have no place for.

labelme shapes and COCO annotations both tolerate extra keys, so an instance's id, score,
source, reviewed flag and attributes travel as the keys "instance_id", "score", "source",
"reviewed" and "attributes" of the shape or annotation object.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from karyostudio.core.instance import MANUAL_SOURCE, Instance

FIELD_KEYS = ("instance_id", "score", "source", "reviewed", "attributes")


class InvalidFieldError(ValueError):
    """An extra field holds a value of the wrong type; the message says which and why."""


def fields_to_json(inst: Instance, *, drop_attributes: Iterable[str] = ()) -> dict[str, Any]:
    """instance_id, score (when known), source, reviewed and attributes (when any) of an instance."""
    out: dict[str, Any] = {"instance_id": inst.id}
    if inst.score is not None:
        out["score"] = inst.score
    out["source"] = inst.source
    out["reviewed"] = inst.reviewed
    attributes = {k: v for k, v in inst.attributes.items() if k not in set(drop_attributes)}
    if attributes:
        out["attributes"] = attributes
    return out


def fields_from_json(obj: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for Instance (score, source, reviewed, attributes) plus "instance_id".

    Missing keys take the defaults of a manual outline. Raises InvalidFieldError naming the field.
    """
    score = obj.get("score")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score) \
                or not 0.0 <= score <= 1.0:
            raise InvalidFieldError(f"score {score!r} is not a number in [0, 1]")
        score = float(score)
    source = obj.get("source", MANUAL_SOURCE)
    if not isinstance(source, str):
        raise InvalidFieldError(f"source {source!r} is not a string")
    reviewed = obj.get("reviewed", False)
    if not isinstance(reviewed, bool):
        raise InvalidFieldError(f"reviewed {reviewed!r} is not true or false")
    attributes = obj.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise InvalidFieldError(f"attributes {attributes!r} is not a JSON object")
    return dict(instance_id=obj.get("instance_id"), score=score, source=source, reviewed=reviewed,
                attributes=dict(attributes))


def assign_ids(stored: list[Any]) -> list[int]:
    """Stored instance ids when every instance has one and they are distinct positive integers,
    else 1..N in order (a file with partial or duplicate ids gets fresh ones throughout)."""
    usable = (all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in stored)
              and len(set(stored)) == len(stored))
    return list(stored) if usable else list(range(1, len(stored) + 1))
