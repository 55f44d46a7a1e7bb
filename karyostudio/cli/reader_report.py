"""Printing what the readers reported (karyostudio.io.reader_warnings), the same for every command."""

from __future__ import annotations

import sys
from typing import TextIO

from karyostudio.core.annotated_image import AnnotationSet
from karyostudio.io.reader_warnings import count_skipped, kind_of, reader_warnings

SHOWN_LINES = 50


def print_reader_warnings(source: str, annotations: AnnotationSet, *, file: TextIO | None = None,
                          limit: int = SHOWN_LINES) -> list[str]:
    """Print each report as "skipped: ..." or "warning: ...", then a count line; returns the reports."""
    out = file if file is not None else sys.stderr
    lines = reader_warnings(annotations)
    for line in lines[:limit]:
        print(f"{kind_of(line)}: {line}", file=out)
    if len(lines) > limit:
        print(f"... and {len(lines) - limit} more reports", file=out)
    if lines:
        skipped = count_skipped(lines)
        print(f"reading {source}: {skipped} shape(s) skipped, {len(lines) - skipped} clipped, repaired or "
              f"otherwise reported", file=out)
    return lines
