"""Karyotype-level assignment: name all chromosomes of a cell together, not one by one.

Independent argmax happily calls three chromosomes "1" and none "2". Here every instance is
matched to a *slot* by minimum-cost bipartite matching (Hungarian algorithm, scipy's
linear_sum_assignment), where a slot is one expected copy of a class:

- two slots per autosome, and the sex slots of a hypothesis: XX (two X) or XY (one X, one Y);
  both hypotheses are solved and the better total (plus the XY log odds, below) wins;
- extra slots for copies beyond the expected number (trisomy, XXY, ...), the k-th extra copy of
  a class costing ``k * extra_copy_cost`` on top, so a third "21" is chosen only when the
  classifier supports it more strongly than any other reading of the cell;
- the cost of putting instance i in a slot of class c is -log p_i(c); slots left empty (a lost
  chromosome, 45,X) cost nothing.

Instances flagged as clusters (overlapping chromosomes not yet split, ``skip``) take no slot
and get label None: a cluster is not one chromosome, and letting it consume a slot would push
a real chromosome out of its class.

With ``presence`` (the probability that each object is one real chromosome, from the detector's
score and the classifier's "no chromosome" output, see :func:`presence_probability`) the
assignment also decides which objects are chromosomes at all: an object may take the "no
chromosome" reading at cost -log(1 - p) instead of a class slot at -log p - log p(c), and every
expected copy that is filled earns ``missing_copy_cost`` (an expected chromosome is rarely
absent) when the cell is a metaphase at all (at least ``METAPHASE_AT_LEAST`` likely chromosomes). So a doubtful detection is kept where the cell lacks its class (a pale 21 when only one
21 was found) and dropped where it would be a third copy (a second box on a chromosome 1), which
no threshold on the object alone can do.

Confidence of an assigned label is a max-marginal: with Δ = (best total cost when instance i is
forbidden its label) - (best total cost), confidence = 1 / (1 + exp(-Δ)). It is the probability
of the label under the two best competing whole-cell readings, so it drops when the cell's
other chromosomes make the label doubtful even if the instance's own row was confident.
``row_probability`` is the classifier's own (independent) probability of the assigned class.

Cells of up to ``EXACT_SLOTS_MAX`` instances are solved as written above (one slot matrix, one
re-solve per instance for its max-marginal; a few milliseconds for 46). Larger inputs (debris
fields, huge images, untrimmed detector output) go through the equivalent min-cost flow of
:mod:`karyostudio.models.classic.assign_flow`, which gives the same optimum and the same
max-marginals in one pass, so any number of objects is named in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp

from karyostudio.core.cell_count import NO_METAPHASE_BELOW
from karyostudio.core.classes import AUTOSOMES, CLASS_NAMES, NUM_CLASSES, class_index
from karyostudio.core.instance import Instance
from karyostudio.models.base import is_cluster
from karyostudio.models.classic.assign_flow import solve_flow

SEX_HYPOTHESES: dict[str, dict[str, int]] = {"XX": {"X": 2, "Y": 0}, "XY": {"X": 1, "Y": 1}}

_MIN_LOG_PROB = -50.0  # floor for log(0), keeps costs finite
_FORBIDDEN = 1e6
# Up to this many instances the slot matrix is solved directly; beyond, the min-cost flow.
EXACT_SLOTS_MAX = 64


@dataclass(frozen=True)
class AssignConfig:
    extra_copy_cost: float = 4.0  # -log prior odds of each copy beyond the expected number
    xy_log_prior: float = 0.0  # log P(XY) / P(XX), added in favour of XY
    # The strongest single Y reading of the cell, y = max_i P(i is a chromosome) P(i is a Y), adds
    # y_evidence_weight * logit(y) to the XY log odds. The whole-cell totals weigh a Y against every
    # other reading of the cell, where a misread X or a junk object can tip them; one clear Y is
    # the evidence a cytogeneticist looks for. A model's manifest carries the weight (and the
    # prior) fit on its training cells (benchmarks/analyse_default_errors.py --fit-sex).
    y_evidence_weight: float = 0.0
    # With presence probabilities only (see the module docstring). An expected copy is absent
    # about once in 800 in the annotated normal cells of Taichung's training patients (189 of
    # 150,972), log odds 6.7: a missing chromosome is rare, so a doubtful detection that fills
    # one is kept.
    missing_copy_cost: float = 6.5
    # presence_probability: logit p = score_weight * logit(detector score)
    #                                 + reject_weight * logit(1 - "no chromosome") + presence_bias
    # (a model's manifest carries the weights calibrated for its detector and classifier)
    score_weight: float = 1.0
    reject_weight: float = 1.0
    presence_bias: float = 0.0
    presence_floor: float = 0.05  # detections scoring less are not considered at all

    def __post_init__(self) -> None:
        for name in ("extra_copy_cost", "xy_log_prior", "y_evidence_weight", "missing_copy_cost", "score_weight",
                     "reject_weight", "presence_bias", "presence_floor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise TypeError(f"assign setting {name} must be a finite number, got {value!r}")
        if self.extra_copy_cost < 0 or self.missing_copy_cost < 0:
            raise TypeError("assign settings extra_copy_cost and missing_copy_cost must not be negative")
        if not 0.0 <= self.presence_floor < 1.0:
            raise TypeError(f"assign setting presence_floor must lie in [0, 1), got {self.presence_floor}")


@dataclass(frozen=True)
class Assignment:
    """Result for one cell; arrays are aligned with the input rows."""

    labels: list[str | None]
    confidence: np.ndarray  # (N,) max-marginal probability of the label; nan where label is None
    row_probability: np.ndarray  # (N,) classifier probability of the label; nan where label is None
    sex_hypothesis: str | None  # "XX" or "XY"; None when no instance was assigned
    hypothesis_scores: dict[str, float] = field(default_factory=dict)  # total log-score, prior included

    def subset(self, rows: Sequence[int]) -> "Assignment":
        """The same assignment for the given rows only (e.g. the instances kept as chromosomes)."""
        rows = np.asarray(rows, dtype=np.int64)
        return Assignment([self.labels[r] for r in rows], self.confidence[rows], self.row_probability[rows],
                          self.sex_hypothesis, dict(self.hypothesis_scores))


def _slot_classes(expected: dict[str, int], extra_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Class index and added cost of every slot of one hypothesis."""
    classes, penalties = [], []
    for name in CLASS_NAMES:
        for _ in range(expected.get(name, 2 if name in AUTOSOMES else 0)):
            classes.append(class_index(name))
            penalties.append(0.0)
        for k in range(1, extra_per_class + 1):
            classes.append(class_index(name))
            penalties.append(float(k))
    return np.array(classes, dtype=np.int64), np.array(penalties, dtype=np.float64)


_PRESENCE_CLIP = 1e-4


def _clean_presence(presence: np.ndarray) -> np.ndarray:
    """Presence probabilities made usable: unknown (nan) as 0.5, kept off exactly 0 and 1."""
    return np.clip(np.nan_to_num(presence, nan=0.5), _PRESENCE_CLIP, 1.0 - _PRESENCE_CLIP)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _PRESENCE_CLIP, 1.0 - _PRESENCE_CLIP)
    return np.log(p) - np.log1p(-p)


def presence_probability(detector_score: np.ndarray, reject: np.ndarray,
                         config: AssignConfig = AssignConfig()) -> np.ndarray:
    """(N,) probability that each detection is one real chromosome, from the detector's score and
    the classifier's "no chromosome" probability (a logistic combination, weights in ``config``)."""
    z = (config.score_weight * _logit(detector_score) + config.reject_weight * _logit(1.0 - np.asarray(reject))
         + config.presence_bias)
    return np.clip(1.0 / (1.0 + np.exp(-z)), _PRESENCE_CLIP, 1.0 - _PRESENCE_CLIP)


def _prior(hypothesis: str, xy_log_odds: float) -> float:
    """Prior as a cost (negative log-odds), relative to XX."""
    return -xy_log_odds if hypothesis == "XY" else 0.0


def y_readings(log_probs: np.ndarray, presence: np.ndarray | None) -> np.ndarray:
    """P(i is a chromosome) P(i is a Y) of normalised (N, 24) rows; ``presence`` None: all are."""
    return np.exp(log_probs[:, class_index("Y")]) * (1.0 if presence is None else presence)


def strongest_y_reading(log_probs: np.ndarray, presence: np.ndarray | None) -> float:
    """The cell's strongest Y reading: the largest of :func:`y_readings`."""
    return float(np.max(y_readings(log_probs, presence)))


def xy_log_odds(log_probs: np.ndarray, presence: np.ndarray | None, config: AssignConfig) -> float:
    """The cell's XY log odds before the whole-cell totals: the prior plus its strongest Y reading.

    ``log_probs`` (N, 24) are normalised rows, ``presence`` (N,) or None (every row a chromosome).
    """
    if config.y_evidence_weight == 0.0 or len(log_probs) == 0:
        return float(config.xy_log_prior)
    return float(config.xy_log_prior + config.y_evidence_weight * _logit(strongest_y_reading(log_probs, presence)))


def _forbid(cost: np.ndarray, row: int, slots: np.ndarray) -> np.ndarray:
    out = cost.copy()
    out[row, slots] = _FORBIDDEN
    return out


def _solve(cost: np.ndarray) -> tuple[float, np.ndarray]:
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].sum()), cols[np.argsort(rows)]


def assign_karyotype(log_probs: np.ndarray, *, skip: np.ndarray | None = None,
                     presence: np.ndarray | None = None, config: AssignConfig = AssignConfig()) -> Assignment:
    """Assign classes to the N instances of one cell from their (N, 24) log-probabilities.

    Rows are renormalised (logsumexp), so logits work too. ``skip`` (N,) bool marks instances
    (clusters) that take no slot and get label None. ``presence`` (N,) gives each instance's
    probability of being a chromosome at all; the assignment then also drops instances (label
    None), see the module docstring.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    if lp.ndim != 2 or lp.shape[1] != NUM_CLASSES:
        raise ValueError(f"log_probs must be N x {NUM_CLASSES}, got shape {lp.shape}")
    n = len(lp)
    skip = np.zeros(n, dtype=bool) if skip is None else np.asarray(skip, dtype=bool)
    if skip.shape != (n,):
        raise ValueError(f"skip must have shape ({n},), got {skip.shape}")
    if presence is not None:
        presence = np.asarray(presence, dtype=np.float64)
        if presence.shape != (n,):
            raise ValueError(f"presence must have shape ({n},), got {presence.shape}")
    labels: list[str | None] = [None] * n
    confidence = np.full(n, np.nan)
    row_prob = np.full(n, np.nan)
    rows = np.flatnonzero(~skip)
    if len(rows) == 0:
        return Assignment(labels, confidence, row_prob, None, {})
    lp = np.nan_to_num(lp[rows], nan=_MIN_LOG_PROB, neginf=_MIN_LOG_PROB, posinf=-_MIN_LOG_PROB)
    lp = np.maximum(lp - logsumexp(lp, axis=1, keepdims=True), _MIN_LOG_PROB)
    # Enough extra slots that every instance fits even in a cell with many more than 46.
    extra_per_class = 1 + max(0, len(rows) - 46)
    row_presence = None if presence is None else _clean_presence(presence[rows])
    cost, fill_bonus = _costs(lp, row_presence, config)
    odds = xy_log_odds(lp, row_presence, config)

    if len(rows) <= EXACT_SLOTS_MAX:
        best_hyp, results, chosen, confidence_rows = _assign_slots(cost, extra_per_class, config, fill_bonus, odds)
    else:
        best_hyp, results, chosen, confidence_rows = _assign_flow(cost, extra_per_class, config, fill_bonus, odds)
    for k, r in enumerate(rows):
        c = int(chosen[k])
        if c == NO_CHROMOSOME:
            continue
        labels[r] = CLASS_NAMES[c]
        row_prob[r] = float(np.exp(lp[k, c]))
        confidence[r] = confidence_rows[k]
    scores = {h: -results[h] for h in results}
    if all(label is None for label in labels):
        best_hyp = None  # everything was taken for no chromosome: no sex to decide
    return Assignment(labels, confidence, row_prob, best_hyp, scores)


NO_CHROMOSOME = NUM_CLASSES  # the column of the "no chromosome" reading, with presence only
LIKELY_CHROMOSOME = 0.5  # presence from which an object counts as a likely chromosome
METAPHASE_AT_LEAST = NO_METAPHASE_BELOW  # likely chromosomes that make a metaphase
# More likely chromosomes than this is not one diploid metaphase with a few doubtful extras
# (validation cells have at most 52): several metaphases, a polyploid cell, a crowded field.
ONE_METAPHASE_AT_MOST = 69


def _costs(lp: np.ndarray, presence: np.ndarray | None, config: AssignConfig) -> tuple[np.ndarray, float]:
    """(N, 24) or, with presence, (N, 25) costs of each reading of each row, and the fill bonus."""
    if presence is None:
        return -lp, 0.0
    p = _clean_presence(presence)
    keep = -lp - np.log(p)[:, None]
    likely = p >= LIKELY_CHROMOSOME
    n_likely = int(np.count_nonzero(likely))
    # The 46 expected copies are a metaphase's: a field with fewer likely chromosomes than a
    # metaphase could have (debris, nuclei, a few stray chromosomes) earns nothing for filling
    # them, so each of its objects is kept on its own evidence alone.
    bonus = float(config.missing_copy_cost) if n_likely >= METAPHASE_AT_LEAST else 0.0
    drop = -np.log1p(-p)
    if n_likely > ONE_METAPHASE_AT_MOST:
        # The one-metaphase prior (two copies of each class) does not describe this field, so it
        # must not drop likely chromosomes as surplus copies; only doubtful objects are settled.
        drop = np.where(likely, _FORBIDDEN, drop)
    return np.concatenate([keep, drop[:, None]], axis=1), bonus


def _assign_slots(cost: np.ndarray, extra_per_class: int, config: AssignConfig, fill_bonus: float = 0.0,
                  xy_odds: float | None = None):
    """(best hypothesis, total cost per hypothesis, class per row, confidence per row) by slot matrices.

    ``cost`` is (N, 24), or (N, 25) with the "no chromosome" column, which gets one slot per row;
    ``xy_odds`` is the cell's XY log odds (:func:`xy_log_odds`; None: the configured prior).
    """
    n = len(cost)
    xy_odds = config.xy_log_prior if xy_odds is None else xy_odds
    costs: dict[str, np.ndarray] = {}
    results: dict[str, tuple[float, np.ndarray]] = {}
    slot_class: dict[str, np.ndarray] = {}
    for hyp, expected in SEX_HYPOTHESES.items():
        classes, penalties = _slot_classes(expected, extra_per_class)
        # Expected slots (penalty 0) earn the fill bonus; extra ones pay their penalty.
        added = np.where(penalties == 0, -fill_bonus, config.extra_copy_cost * penalties)
        if cost.shape[1] > NUM_CLASSES:
            classes = np.concatenate([classes, np.full(n, NO_CHROMOSOME)])
            added = np.concatenate([added, np.zeros(n)])
        costs[hyp] = cost[:, classes] + added[None, :]
        total, cols = _solve(costs[hyp])
        results[hyp] = (total + _prior(hyp, xy_odds), cols)
        slot_class[hyp] = classes
    best_hyp = min(results, key=lambda h: results[h][0])
    best_total, best_cols = results[best_hyp]
    chosen = slot_class[best_hyp][best_cols]
    confidence = np.full(n, np.nan)
    for k in range(n):
        c = int(chosen[k])
        if c == NO_CHROMOSOME:
            continue
        alternative = min(_solve(_forbid(costs[h], k, slot_class[h] == c))[0] + _prior(h, xy_odds)
                          for h in costs)
        confidence[k] = float(1.0 / (1.0 + np.exp(best_total - alternative)))  # alternative >= best
    return best_hyp, {h: results[h][0] for h in results}, chosen, confidence


def _expected_counts(expected: dict[str, int]) -> np.ndarray:
    return np.array([expected.get(name, 2 if name in AUTOSOMES else 0) for name in CLASS_NAMES], dtype=np.int64)


def _assign_flow(cost: np.ndarray, extra_per_class: int, config: AssignConfig, fill_bonus: float = 0.0,
                 xy_odds: float | None = None):
    """Like _assign_slots, by the min-cost flow of assign_flow (same optimum, same max-marginals)."""
    n = len(cost)
    xy_odds = config.xy_log_prior if xy_odds is None else xy_odds
    solutions, totals = {}, {}
    for hyp, expected in SEX_HYPOTHESES.items():
        counts = _expected_counts(expected)
        capacity = counts + extra_per_class
        extra_cost = np.full(NUM_CLASSES, config.extra_copy_cost)
        if cost.shape[1] > NUM_CLASSES:  # "no chromosome": nothing expected, free, room for all
            counts, capacity = np.append(counts, 0), np.append(capacity, n)
            extra_cost = np.append(extra_cost, 0.0)
        solutions[hyp] = solve_flow(cost, counts, capacity, extra_cost, fill_bonus)
        totals[hyp] = solutions[hyp].total + _prior(hyp, xy_odds)
    best_hyp = min(totals, key=totals.get)
    chosen = solutions[best_hyp].classes
    alternative = np.full(n, np.inf)
    for hyp, solution in solutions.items():
        # Where this hypothesis already gives the row another class, forbidding the chosen one costs nothing.
        same = solution.classes == chosen
        alternative = np.minimum(alternative, totals[hyp] + np.where(same, solution.forbid_delta, 0.0))
    with np.errstate(over="ignore"):
        confidence = 1.0 / (1.0 + np.exp(totals[best_hyp] - alternative))
    confidence[chosen == NO_CHROMOSOME] = np.nan
    return best_hyp, totals, chosen, confidence


def cluster_flags(instances: Sequence[Instance]) -> np.ndarray:
    """(N,) bool: True where an instance's attributes mark it as a cluster (``"cluster": True``)."""
    return np.array([is_cluster(inst) for inst in instances], dtype=bool)
