"""One path for what the readers report: every command and the app show it the same way.

Readers never drop, clip or repair a shape silently: they append a line to
``ImageAnnotations.skipped`` ("shape 3 of 40 (label '119', polygon): unknown chromosome label
'119'; skipped"). This module gathers those lines for a whole annotation set, formats them for
a terminal or a dialog, and refuses a set in which every shape was skipped, which would
otherwise be scored (mAP 0) or trained on as if it were empty.
"""

from __future__ import annotations

from pathlib import Path

from karyostudio.core.annotated_image import AnnotationSet
from karyostudio.io.errors import AnnotationReadError

SHOWN_IN_ERRORS = 5


def reader_warnings(annotations: AnnotationSet) -> list[str]:
    """"key: report" for every report of every image, in key order."""
    return [f"{key}: {line}" for key in sorted(annotations) for line in annotations[key].skipped]


def kind_of(line: str) -> str:
    """"skipped" for a shape that was left out, "warning" for one kept after a repair or clip."""
    return "skipped" if line.rstrip().endswith("skipped") else "warning"


def count_skipped(lines: list[str]) -> int:
    return sum(1 for line in lines if kind_of(line) == "skipped")


def require_instances(annotations: AnnotationSet, path: str | Path, what: str) -> None:
    """Raise AnnotationReadError when ``annotations`` hold no instance although shapes were read
    (all skipped): ``what`` names the role ("ground truth", "predictions")."""
    if any(ann.instances for ann in annotations.values()):
        return
    lines = [line for line in reader_warnings(annotations) if kind_of(line) == "skipped"]
    if not lines:
        return  # really empty: nothing was there to skip
    shown = "; ".join(lines[:SHOWN_IN_ERRORS])
    more = len(lines) - SHOWN_IN_ERRORS
    raise AnnotationReadError(path, f"every one of the {len(lines)} shape(s) of the {what} was skipped, so there "
                                    f"is nothing to work with: {shown}" + (f"; ... and {more} more" if more > 0 else ""))


def warnings_text(lines: list[str], shown: int = 12) -> str:
    """The first ``shown`` lines and how many more, for a dialog."""
    text = "\n".join(lines[:shown])
    more = len(lines) - shown
    return text + (f"\n\u2026 and {more} more" if more > 0 else "")
