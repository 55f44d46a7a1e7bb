"""A case (the cells of one patient sample): per-cell summaries, the case tally, an HTML report.

A cell is one metaphase image; its state comes from its annotation file (status, chromosome
count, ISCN karyotype). The count is the one of karyostudio.core.cell_count: named plus unnamed
chromosomes, the number the karyotype starts with; clusters are reported beside it. A reviewer
may reject a cell (unanalysable: broken, overlapping, poor banding); rejected cells stay listed
but are left out of the tally.

The tally follows the lab workflow of a constitutional karyotype: count N cells (default 20),
analyse M of them band by band (default 5) and make at least K karyograms (default 2); here a
cell is *counted* once it has outlines (auto or reviewed), *analysed* once every outline is
reviewed, and has a karyogram once one was exported beside its image. The tally counts cells by
status and by karyotype and gives the modal number (the most frequent chromosome count). The
report is plain HTML (no scripts, no external files) so it opens anywhere and converts to PDF
without loss.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Sequence


CELL_STATUS_KEY = "cellStatus"  # top-level key of a cell's labelme file: "rejected" when unanalysable
REJECTED = "rejected"
KARYOGRAM_SUFFIXES = (".png", ".svg", ".pdf")  # <cell>_karyogram.<suffix> beside the image


class CellStatus(str, Enum):
    NOT_STARTED = "not started"  # no annotation file yet
    AUTO = "auto"  # has outlines, not every one reviewed (model results, say)
    REVIEWED = "reviewed"  # every outline reviewed
    REJECTED = "rejected"  # marked unanalysable by a reviewer: left out of the tally
    UNREADABLE = "unreadable"  # an annotation file exists but cannot be read


@dataclass(frozen=True)
class CaseCell:
    name: str  # the image key (file stem)
    image_path: Path
    annotation_path: Path | None = None  # None when the cell has no annotation file
    status: CellStatus = CellStatus.NOT_STARTED
    count: int | None = None  # chromosomes: named + unnamed (the karyotype's number)
    karyotype: str | None = None  # ISCN string of the chromosomes' labels
    error: str | None = None  # why the annotation file could not be read
    named: int | None = None
    unnamed: int | None = None
    clusters: int | None = None  # unsplit clusters, not in the count
    karyogram: bool = False  # a karyogram of the cell was exported beside its image

    @property
    def analysed(self) -> bool:
        """Has outlines and counts (auto or reviewed; not rejected, not unreadable)."""
        return self.status in (CellStatus.AUTO, CellStatus.REVIEWED)

    def count_text(self) -> str:
        """e.g. "46" or "45 +2 clusters"."""
        if self.count is None:
            return ""
        return f"{self.count}" + (f" +{self.clusters} cl." if self.clusters else "")


@dataclass(frozen=True)
class LabTargets:
    count: int = 20  # cells whose chromosomes are counted
    analyse: int = 5  # cells analysed band by band
    karyograms: int = 2


@dataclass(frozen=True)
class CaseTally:
    cells: int
    by_status: dict[CellStatus, int]
    karyotypes: list[tuple[str, int]]  # most frequent first, ties in text order
    modal_numbers: tuple[int, ...]  # the most frequent counts (more than one on a tie)
    counted: int = 0
    analysed: int = 0
    karyograms: int = 0
    targets: LabTargets = LabTargets()

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
                   if self.by_status.get(s, 0) or s not in (CellStatus.UNREADABLE, CellStatus.REJECTED)]
        return f"{self.cells} {'cell' if self.cells == 1 else 'cells'}: " + ", ".join(counted)

    def workflow_text(self) -> str:
        """e.g. "counted 12/20, analysed 3/5, karyograms 1/2"; a met target gets a tick."""
        t = self.targets
        parts = [(f"counted {self.counted}/{t.count}", self.counted >= t.count),
                 (f"analysed {self.analysed}/{t.analyse}", self.analysed >= t.analyse),
                 (f"karyograms {self.karyograms}/{t.karyograms}", self.karyograms >= t.karyograms)]
        return ", ".join(text + (" \u2713" if done else "") for text, done in parts)

    @property
    def complete(self) -> bool:
        t = self.targets
        return self.counted >= t.count and self.analysed >= t.analyse and self.karyograms >= t.karyograms

    def text(self) -> str:
        return f"{self.status_text()}\n{self.workflow_text()}\n{self.karyotype_text()}\n{self.modal_text()}"


def case_tally(cells: Sequence[CaseCell], targets: LabTargets = LabTargets()) -> CaseTally:
    """Tally of a case; karyotypes and the modal number come from analysed cells (auto or reviewed),
    never from rejected ones."""
    by_status = Counter(cell.status for cell in cells)
    analysed = [c for c in cells if c.analysed and c.karyotype]
    karyotypes = sorted(Counter(c.karyotype for c in analysed).items(), key=lambda kv: (-kv[1], kv[0]))
    counts = Counter(c.count for c in analysed if c.count is not None)
    top = max(counts.values(), default=0)
    modal = tuple(sorted(n for n, k in counts.items() if k == top)) if top else ()
    return CaseTally(len(cells), {s: by_status.get(s, 0) for s in CellStatus}, karyotypes, modal,
                     counted=sum(c.analysed for c in cells),
                     analysed=sum(c.status == CellStatus.REVIEWED for c in cells),
                     karyograms=sum(c.karyogram and c.analysed for c in cells), targets=targets)


_STYLE = ("body{font-family:sans-serif;font-size:10pt}"
          "table{border-collapse:collapse}"
          "th,td{border:1px solid #888;padding:2px 8px;text-align:left}"
          "th{background:#ddd}")


def case_report_html(case_name: str, cells: Sequence[CaseCell], *, date: str,
                     reviewer: str | None = None, targets: LabTargets = LabTargets()) -> str:
    """A self-contained HTML page: case name, date, reviewer, tally, workflow and one row per cell."""
    esc = html.escape
    tally = case_tally(cells, targets)

    def number(value) -> str:
        return "" if value is None else str(value)

    rows = "\n".join(
        f"<tr><td>{esc(c.name)}</td><td>{esc(c.status.value)}</td>"
        f"<td>{number(c.count)}</td><td>{esc(c.karyotype or '')}</td><td>{number(c.named)}</td>"
        f"<td>{number(c.unnamed)}</td><td>{number(c.clusters)}</td><td>{'yes' if c.karyogram else ''}</td></tr>"
        for c in cells)
    karyotype_rows = "\n".join(f"<tr><td>{esc(k)}</td><td>{n}</td></tr>" for k, n in tally.karyotypes)
    reviewer_line = f"<p>Reviewer: {esc(reviewer)}</p>" if reviewer else ""
    workflow = "complete" if tally.complete else "not complete yet"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Case {esc(case_name)}</title><style>{_STYLE}</style></head>
<body>
<h1>Case {esc(case_name)}</h1>
<p>Date: {esc(date)}</p>
{reviewer_line}
<h2>Summary</h2>
<p>{esc(tally.status_text())}<br>{esc(tally.modal_text())}</p>
<p>Workflow (count {targets.count}, analyse {targets.analyse}, {targets.karyograms} karyograms): \
{esc(tally.workflow_text())}; {workflow}.</p>
<table><tr><th>Karyotype</th><th>Cells</th></tr>
{karyotype_rows}
</table>
<h2>Cells</h2>
<table><tr><th>Cell</th><th>Status</th><th>Count</th><th>Karyotype</th><th>Named</th><th>Unnamed</th>\
<th>Clusters</th><th>Karyogram</th></tr>
{rows}
</table>
<p>Count is the number of chromosomes (named and unnamed), the number the karyotype starts with; unsplit
clusters are listed apart and counted in neither. Karyotypes are numerical (from chromosome counts) and include
unreviewed model results of cells marked "auto"; rejected cells are left out of the tally.</p>
</body></html>
"""
