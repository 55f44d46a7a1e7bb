"""Instance: one chromosome (or an unsplit cluster) in a metaphase image.

Instances are immutable values: editing means building a new Instance with
:meth:`Instance.with_` and swapping it in through a command. That keeps undo exact and
lets views compare old and new states cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

from karyostudio.core.classes import is_class_name

# Where an instance came from: "manual" for a person's drawing; model names otherwise.
MANUAL_SOURCE = "manual"


def _as_polygon(points: Any) -> np.ndarray:
    poly = np.asarray(points, dtype=np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2:
        raise ValueError(f"polygon must be an N x 2 array of (x, y) points, got shape {poly.shape}")
    if len(poly) < 3:
        raise ValueError(f"polygon needs at least 3 points, got {len(poly)}")
    if not np.all(np.isfinite(poly)):
        raise ValueError("polygon has non-finite coordinates")
    poly = poly.copy()
    poly.setflags(write=False)
    return poly


@dataclass(frozen=True, eq=False)
class Instance:
    """A chromosome outline in image pixel coordinates (x right, y down).

    label is a canonical class name ("1".."22", "X", "Y") or None when unnamed.
    score is the model's confidence in [0, 1], or None for manual outlines.
    attributes holds optional extra data that formats carry along (rotated box,
    "cluster" flag, per-class probabilities, ...); values must be JSON-serialisable.
    """

    id: int
    polygon: np.ndarray
    label: str | None = None
    score: float | None = None
    source: str = MANUAL_SOURCE
    reviewed: bool = False
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "polygon", _as_polygon(self.polygon))
        if self.label is not None and not is_class_name(self.label):
            raise ValueError(f"label must be a canonical class name or None, got {self.label!r}")
        if self.score is not None:
            s = float(self.score)
            if not 0.0 <= s <= 1.0:
                raise ValueError(f"score must lie in [0, 1], got {s}")
            object.__setattr__(self, "score", s)
        object.__setattr__(self, "id", int(self.id))
        object.__setattr__(self, "attributes", dict(self.attributes))

    def with_(self, **changes: Any) -> "Instance":
        """A copy with some fields changed (validated like a new instance)."""
        return replace(self, **changes)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """Axis-aligned box (xmin, ymin, xmax, ymax)."""
        x, y = self.polygon[:, 0], self.polygon[:, 1]
        return float(x.min()), float(y.min()), float(x.max()), float(y.max())

    @property
    def area(self) -> float:
        """Polygon area by the shoelace formula."""
        x, y = self.polygon[:, 0], self.polygon[:, 1]
        return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instance):
            return NotImplemented
        return (self.id == other.id and self.label == other.label and self.score == other.score
                and self.source == other.source and self.reviewed == other.reviewed
                and dict(self.attributes) == dict(other.attributes)
                and self.polygon.shape == other.polygon.shape
                and bool(np.array_equal(self.polygon, other.polygon)))

    def __hash__(self) -> int:
        return hash((self.id, self.label, self.polygon.shape))
