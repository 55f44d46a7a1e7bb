"""A case (the cells of one patient sample): per-cell summaries, the case tally, an HTML report.

A cell is one metaphase image; its state comes from its annotation file (status, chromosome
count, ISCN karyotype). The tally counts cells by status and by karyotype and gives the modal
number (the most frequent chromosome count), which is how a cytogeneticist summarises a case.
The report is plain HTML (no scripts, no external files) so it opens anywhere and converts to
PDF without loss.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Sequence


class CellStatus(str, Enum):
    NOT_STARTED = "not started"  # no annotation file yet
    AUTO = "auto"  # has outlines, not every one reviewed (model results, say)
    REVIEWED = "reviewed"  # every outline reviewed
    UNREADABLE = "unreadable"  # an annotation file exists but cannot be read


@dataclass(frozen=True)
class CaseCell:
    name: str  # the image key (file stem)
    image_path: Path
    annotation_path: Path | None = None  # None when the cell has no annotation file
    status: CellStatus = CellStatus.NOT_STARTED
    count: int | None = None  # outlines in the annotation file
    karyotype: str | None = None  # ISCN string of the outlines' labels
    error: str | None = None  # why the annotation file could not be read

    @property
    def analysed(self) -> bool:
        return self.status in (CellStatus.AUTO, CellStatus.REVIEWED)


@dataclass(frozen=True)
class CaseTally:
    cells: int
    by_status: dict[CellStatus, int]
    karyotypes: list[tuple[str, int]]  # most frequent first, ties in text order
    modal_numbers: tuple[int, ...]  # the most frequent counts (more than one on a tie)

    def karyotype_text(self) -> str:
        """e.g. "46,XX: 18 cells, 45,X: 2"."""
        parts = [f"{k}: {n} {'cell' if n == 1 else 'cells'}" if i == 0 else f"{k}: {n}"
                 for i, (k, n) in enumerate(self.karyotypes)]
        return ", ".join(parts) if parts else "no karyotypes yet"

    def modal_text(self) -> str:
        if not self.modal_numbers:
            return "modal number: none yet"
        return "modal number " + "/".join(str(m) for m in self.modal_numbers) + (
            " (tie)" if len(self.modal_numbers) > 1 else "")

    def status_text(self) -> str:
        counted = [f"{self.by_status.get(s, 0)} {s.value}" for s in CellStatus
                   if self.by_status.get(s, 0) or s != CellStatus.UNREADABLE]
        return f"{self.cells} {'cell' if self.cells == 1 else 'cells'}: " + ", ".join(counted)

    def text(self) -> str:
        return f"{self.status_text()}\n{self.karyotype_text()}\n{self.modal_text()}"


def case_tally(cells: Sequence[CaseCell]) -> CaseTally:
    """Tally of a case; karyotypes and the modal number come from analysed cells (auto or reviewed)."""
    by_status = Counter(cell.status for cell in cells)
    analysed = [c for c in cells if c.analysed and c.karyotype is not None]
    karyotypes = sorted(Counter(c.karyotype for c in analysed).items(), key=lambda kv: (-kv[1], kv[0]))
    counts = Counter(c.count for c in analysed if c.count is not None)
    top = max(counts.values(), default=0)
    modal = tuple(sorted(n for n, k in counts.items() if k == top)) if top else ()
    return CaseTally(len(cells), {s: by_status.get(s, 0) for s in CellStatus}, karyotypes, modal)


_STYLE = ("body{font-family:sans-serif;font-size:10pt}"
          "table{border-collapse:collapse}"
          "th,td{border:1px solid #888;padding:2px 8px;text-align:left}"
          "th{background:#ddd}")


def case_report_html(case_name: str, cells: Sequence[CaseCell], *, date: str,
                     reviewer: str | None = None) -> str:
    """A self-contained HTML page: case name, date, reviewer, tally and one row per cell."""
    esc = html.escape
    tally = case_tally(cells)
    rows = "\n".join(
        f"<tr><td>{esc(c.name)}</td><td>{esc(c.status.value)}</td>"
        f"<td>{'' if c.count is None else c.count}</td><td>{esc(c.karyotype or '')}</td></tr>"
        for c in cells)
    karyotype_rows = "\n".join(f"<tr><td>{esc(k)}</td><td>{n}</td></tr>" for k, n in tally.karyotypes)
    reviewer_line = f"<p>Reviewer: {esc(reviewer)}</p>" if reviewer else ""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Case {esc(case_name)}</title><style>{_STYLE}</style></head>
<body>
<h1>Case {esc(case_name)}</h1>
<p>Date: {esc(date)}</p>
{reviewer_line}
<h2>Summary</h2>
<p>{esc(tally.status_text())}<br>{esc(tally.modal_text())}</p>
<table><tr><th>Karyotype</th><th>Cells</th></tr>
{karyotype_rows}
</table>
<h2>Cells</h2>
<table><tr><th>Cell</th><th>Status</th><th>Count</th><th>Karyotype</th></tr>
{rows}
</table>
<p>Karyotypes are numerical (from chromosome counts) and include unreviewed model results of cells marked
"auto".</p>
</body></html>
"""
