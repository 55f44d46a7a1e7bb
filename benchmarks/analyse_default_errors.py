"""Break the default model's errors down by kind, from the raw parts of dump_default_parts.py.

For a decision rule (which detections are kept, how the cell is named) this reports, on the
cells of the dump:
  - missed chromosomes by cause: no detection near it at all, detected below the kept score,
    dropped as "no chromosome", or kept but its outline does not match it at box IoU 0.5;
  - extra outlines by kind: a second box on an annotated chromosome (a half or a duplicate), or
    nothing annotated there (debris, a nucleus, background);
  - exact count and karyotype on normal cells, the sex decision and its errors (XY called XX
    with the Y not found / found but named otherwise; XX called XY with the cell's strongest Y
    reading on an annotated chromosome or where nothing is annotated), the decision by the
    cell's annotated sex chromosomes (XX, XY, X, XXY, ...), and the decision against the
    patient's sex (what most of the patient's cells are annotated with), which a single cell's
    annotation can contradict (a Y lost from one cell, or a chromosome the annotation left out);
  - misnamed matched chromosomes, the commonest confusions.

The rules compared are the shipped one (detector score >= 0.2, "no chromosome" below 0.5, then
the joint assignment) and the assignment that decides keep-or-drop itself (the presence of
each detection passed to ``assign_karyotype``). ``--half A|B`` restricts to one half of the validation patients, so a
setting chosen on one half is checked on the other.

``--fit-sex TRAIN_PARTS`` fits the sex decision's XY prior and the weight of the cell's strongest
Y reading (AssignConfig xy_log_prior, y_evidence_weight) by a logistic regression of "the cell is
annotated XY" on the whole-cell evidence (total of XX minus total of XY) and logit(max_i presence_i
P_i(Y)), on the cells annotated exactly XX or XY of a dump of *training* cells
(``dump_default_parts.py --split train``), and scores the parts with them.

``--fit-presence`` calibrates the presence weights (AssignConfig score_weight, reject_weight,
presence_bias: a logistic regression of "this detection is a distinct annotated chromosome",
box IoU >= 0.5 one-to-one in score order) by two-fold cross-fitting over the patient halves: each
half is scored with the weights fit on the other, and the mean of the two fits is printed for a
model's manifest.

Usage:
  python benchmarks/analyse_default_errors.py parts.npz [--half A|B] [--fit-presence]
      [--fit-sex train-parts.npz] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from karyostudio.core.classes import CLASS_NAMES
from karyostudio.core.karyotype import karyotype_string
from karyostudio.metrics.ap import coco_box_iou
from karyostudio.metrics.matching import greedy_match, score_order
from karyostudio.models.registry import DEFAULT_MODEL
from scipy.optimize import minimize

from benchmarks.bench_default_pipeline import sex_chromosomes
from karyostudio.models.classic.assign import (AssignConfig, _logit, assign_karyotype, presence_probability,
                                               strongest_y_reading, y_readings)

SHIPPED_SCORE, SHIPPED_REJECT = 0.2, 0.5  # the per-object rule used before the presence assignment


def manifest_assign_config(model: str) -> AssignConfig:
    """The AssignConfig a model's manifest gives its pipeline (extra.assign)."""
    from karyostudio.models.registry import _locate

    manifest, _ = _locate(model)
    return AssignConfig(**((manifest.extra or {}).get("assign", {}) if manifest else {}))


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def patient_of(cell_id: str) -> str:
    """The patient of a Taichung cell: its id without the last digit."""
    return cell_id[:-1]


def patient_half(cell_id: str) -> str:
    """A or B: the validation patients halved by a hash of the patient id (id without its last digit)."""
    return "A" if sum(map(ord, patient_of(cell_id))) % 2 == 0 else "B"


def patient_sexes(parts: dict) -> dict[str, str]:
    """Each patient's sex, "XY" or "XX", as most of its cells in the dump are annotated (a Y or
    none); patients split evenly are left out. The split is by patient, so a patient's cells are
    all in the same dump."""
    votes: dict[str, list[bool]] = {}
    y = CLASS_NAMES.index("Y")
    for cell, cell_id in enumerate(parts["cell_ids"]):
        has_y = bool(np.any(parts["gt_class"][parts["gt_cell"] == cell] == y))
        votes.setdefault(patient_of(str(cell_id)), []).append(has_y)
    return {patient: "XY" if np.mean(v) > 0.5 else "XX" for patient, v in votes.items() if np.mean(v) != 0.5}


def decide(parts: dict, cell: int, rule: str, config: AssignConfig) -> tuple[np.ndarray, list[str]]:
    """(indices of the kept detections of one cell, their labels) under a rule."""
    rows = np.flatnonzero(parts["cell"] == cell)
    score, reject, lp = parts["det_score"][rows], parts["reject"][rows], parts["log_probs"][rows]
    if rule == "shipped":
        keep = (score >= SHIPPED_SCORE) & (reject < SHIPPED_REJECT)
        kept = rows[keep]
        assignment = assign_karyotype(lp[keep], config=config)
        return kept, list(assignment.labels), assignment.sex_hypothesis
    candidates = score >= config.presence_floor
    presence = presence_probability(score[candidates], reject[candidates], config)
    assignment = assign_karyotype(lp[candidates], presence=presence, config=config)
    labels = np.array(assignment.labels, dtype=object)
    keep = np.array([label is not None for label in labels], dtype=bool)
    return rows[candidates][keep], list(labels[keep]), assignment.sex_hypothesis


def analyse(parts: dict, rule: str, config: AssignConfig, cells: list[int]) -> dict:
    causes, extras, confusions = Counter(), Counter(), Counter()
    sex_errors = Counter()
    by_complement: dict[str, list[int]] = {}
    patients = patient_sexes(parts)
    patient_n = patient_ok = contradicting = 0
    sex_error_cells = []  # (cell id, annotated sex chromosomes, decided, patient's sex) of each wrong decision
    count_ok = karyotype_ok = normal_n = sex_ok = clean_n = clean_ok = 0
    matched = correct = n_gt = n_pred = 0
    count_errors = []
    other_n = other_count_ok = other_karyotype_ok = 0
    for cell in cells:
        gt_rows = np.flatnonzero(parts["gt_cell"] == cell)
        gt_box, gt_class = parts["gt_box"][gt_rows], parts["gt_class"][gt_rows]
        kept, labels, sex = decide(parts, cell, rule, config)
        all_rows = np.flatnonzero(parts["cell"] == cell)
        n_gt, n_pred = n_gt + len(gt_rows), n_pred + len(kept)
        # match kept outlines to the annotation, in score order, as the benchmark does
        order = score_order(parts["det_score"][kept])
        kept, labels = kept[order], [labels[k] for k in order]
        iou = coco_box_iou(parts["outline_box"][kept], gt_box) if len(kept) else np.zeros((0, len(gt_rows)))
        match = greedy_match(iou, 0.5)
        found = set(int(g) for g in match if g >= 0)
        for d, g in enumerate(match):
            if g >= 0:
                matched += 1
                truth = CLASS_NAMES[gt_class[g]]
                correct += labels[d] == truth
                if labels[d] != truth:
                    confusions[(truth, labels[d])] += 1
            else:
                overlap = iou[d].max() if iou.shape[1] else 0.0
                extras["second box on a chromosome" if overlap >= 0.1 else "nothing annotated there"] += 1
        # causes of the misses, from every detection of the cell down to the dump's floor
        det_iou = coco_box_iou(parts["outline_box"][all_rows], gt_box) if len(all_rows) else np.zeros((0, len(gt_rows)))
        kept_set = set(int(k) for k in kept)
        for g in range(len(gt_rows)):
            if g in found:
                continue
            near = np.flatnonzero(det_iou[:, g] >= 0.5) if len(all_rows) else []
            if len(near) == 0:
                causes["no detection matches it"] += 1
            elif any(int(all_rows[k]) in kept_set for k in near):
                causes["kept, but taken by another match"] += 1
            elif parts["det_score"][all_rows[near]].max() < SHIPPED_SCORE:
                causes["detected below score 0.2"] += 1
            else:
                causes["dropped as no chromosome / by the assignment"] += 1
        truth_sex = "XY" if CLASS_NAMES.index("Y") in gt_class else "XX"
        sex_ok += sex == truth_sex
        tally = by_complement.setdefault(sex_chromosomes(CLASS_NAMES[c] for c in gt_class), [0, 0])
        tally[0], tally[1] = tally[0] + (sex == truth_sex), tally[1] + 1
        patient_sex = patients.get(patient_of(str(parts["cell_ids"][cell])))
        if patient_sex is not None:
            patient_n, patient_ok = patient_n + 1, patient_ok + (sex == patient_sex)
            contradicting += patient_sex != truth_sex
        if annotated_sex(gt_class) is not None:
            clean_n, clean_ok = clean_n + 1, clean_ok + (sex == truth_sex)
        if sex != truth_sex:
            sex_error_cells.append([str(parts["cell_ids"][cell]), sex_chromosomes(CLASS_NAMES[c] for c in gt_class),
                                    sex, patient_sex])
            if truth_sex == "XY":
                y_rows = gt_rows[gt_class == CLASS_NAMES.index("Y")]
                y_found = any(g in found and labels[list(match).index(g)] != "Y"
                              for g in np.flatnonzero(gt_class == CLASS_NAMES.index("Y")))
                sex_errors["XY called XX, Y found but named otherwise" if y_found else
                           "XY called XX, Y not found"] += 1 if len(y_rows) else 0
            else:
                sex_errors[f"XX called XY, {y_reading_place(parts, cell, config, gt_box)}"] += 1
        truth_karyotype = karyotype_string(CLASS_NAMES[c] for c in gt_class)
        if not parts["cell_normal"][cell]:
            other_n += 1
            other_count_ok += len(kept) == len(gt_rows)
            other_karyotype_ok += karyotype_string(labels) == truth_karyotype
        else:
            normal_n += 1
            count_ok += len(kept) == len(gt_rows)
            count_errors.append(len(kept) - len(gt_rows))
            karyotype_ok += karyotype_string(labels) == truth_karyotype
    errors = np.array(count_errors)
    return {
        "rule": rule, "cells": len(cells), "normal_cells": normal_n,
        "exact_count_normal": count_ok / max(normal_n, 1),
        "karyotype_exact_normal": karyotype_ok / max(normal_n, 1),
        "sex_decision_correct": sex_ok / max(len(cells), 1),
        "sex_decision_correct_annotated_xx_or_xy": clean_ok / max(clean_n, 1), "cells_annotated_xx_or_xy": clean_n,
        "sex_decision_by_annotated_sex_chromosomes": {k or "none": f"{ok}/{n}" for k, (ok, n) in
                                                      sorted(by_complement.items(), key=lambda kv: -kv[1][1])},
        "sex_decision_vs_patient_sex": {"correct": patient_ok / max(patient_n, 1), "cells": patient_n,
                                        "cells_whose_annotation_contradicts_the_patient": contradicting},
        "sex_error_cells": sex_error_cells,
        "other_cells": {"cells": other_n, "exact_count": other_count_ok, "karyotype_exact": other_karyotype_ok},
        "recall": matched / max(n_gt, 1), "precision": matched / max(n_pred, 1),
        "classification_matched": correct / max(matched, 1),
        "count_error_normal": {"mean": float(errors.mean()) if len(errors) else 0.0,
                               "under": int((errors < 0).sum()), "over": int((errors > 0).sum())},
        "missed_by_cause": dict(causes), "extras_by_kind": dict(extras), "sex_errors": dict(sex_errors),
        "top_confusions": [[t, p, n] for (t, p), n in confusions.most_common(12)],
    }


def candidate_readings(parts: dict, cell: int, config: AssignConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, presence, normalised log-probabilities) of a cell's detections the assignment considers."""
    rows = np.flatnonzero((parts["cell"] == cell) & (parts["det_score"] >= config.presence_floor))
    presence = presence_probability(parts["det_score"][rows], parts["reject"][rows], config)
    lp = parts["log_probs"][rows].astype(np.float64)
    return rows, presence, lp - np.logaddexp.reduce(lp, axis=1, keepdims=True)


def y_reading_place(parts: dict, cell: int, config: AssignConfig, gt_box: np.ndarray) -> str:
    """Where a cell's strongest Y reading (max presence x P(Y), as the sex decision weighs it) lies:
    on an annotated chromosome (box IoU >= 0.1 with one) or where nothing is annotated (which, on a
    cell annotated 45,X, can be a chromosome the annotation left out)."""
    rows, presence, lp = candidate_readings(parts, cell, config)
    if len(rows) == 0:
        return "no detection"
    strongest = rows[int(np.argmax(y_readings(lp, presence)))]
    overlap = coco_box_iou(parts["outline_box"][[strongest]], gt_box).max() if len(gt_box) else 0.0
    return "Y read on an annotated chromosome" if overlap >= 0.1 else "Y read where nothing is annotated"


def _xywh(boxes: np.ndarray) -> np.ndarray:
    return np.c_[boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]]


def fit_presence(parts: dict, cells: list[int], floor: float) -> np.ndarray:
    """(score_weight, reject_weight, presence_bias) by logistic regression on the cells' detections."""
    features, targets = [], []
    for cell in cells:
        rows = np.flatnonzero((parts["cell"] == cell) & (parts["det_score"] >= floor))
        rows = rows[score_order(parts["det_score"][rows])]
        gt = parts["gt_box"][parts["gt_cell"] == cell]
        match = greedy_match(coco_box_iou(_xywh(parts["det_box"][rows]), gt), 0.5) if len(rows) else np.zeros(0)
        features.append(np.c_[_logit(parts["det_score"][rows]), _logit(1.0 - parts["reject"][rows]), np.ones(len(rows))])
        targets.append(np.asarray(match) >= 0)
    return fit_logistic(np.concatenate(features), np.concatenate(targets), start=[1.0, 1.0, 0.0])


def fit_logistic(x: np.ndarray, y: np.ndarray, start: list[float]) -> np.ndarray:
    """Weights w of the logistic regression P(y) = sigmoid(x @ w), by maximum likelihood."""
    y = np.asarray(y, dtype=np.float64)

    def loss(w: np.ndarray) -> float:
        z = x @ w
        return float(np.sum(np.logaddexp(0.0, z) - y * z))

    return minimize(loss, np.array(start), method="BFGS").x


def annotated_sex(gt_class: np.ndarray) -> str | None:
    """"XX" or "XY" when a cell is annotated with exactly those sex chromosomes, else None."""
    sex = sex_chromosomes(CLASS_NAMES[c] for c in gt_class)
    return sex if sex in ("XX", "XY") else None


def fit_sex(parts: dict, config: AssignConfig) -> tuple[float, float, int]:
    """(xy_log_prior, y_evidence_weight, cells used) fit on the cells annotated exactly XX or XY."""
    neutral = replace(config, xy_log_prior=0.0, y_evidence_weight=0.0)
    features, targets = [], []
    for cell in range(len(parts["cell_ids"])):
        truth = annotated_sex(parts["gt_class"][parts["gt_cell"] == cell])
        rows, presence, lp = candidate_readings(parts, cell, config)
        if truth is None or len(rows) == 0:
            continue
        assignment = assign_karyotype(parts["log_probs"][rows], presence=presence, config=neutral)
        if assignment.sex_hypothesis is None:
            continue
        whole_cell = assignment.hypothesis_scores["XY"] - assignment.hypothesis_scores["XX"]
        strongest_y = _logit(strongest_y_reading(lp, presence))
        features.append((whole_cell, strongest_y, 1.0))
        targets.append(truth == "XY")
    a, b, c = fit_logistic(np.array(features), np.array(targets), start=[1.0, 0.0, 0.0])
    if a <= 0:
        raise SystemExit(f"the whole-cell evidence got weight {a:.3f} <= 0 in the sex fit: not a usable decision")
    return round(float(c / a), 2), round(float(b / a), 2), len(targets)


def with_weights(config: AssignConfig, weights: np.ndarray) -> AssignConfig:
    return replace(config, score_weight=round(float(weights[0]), 2), reject_weight=round(float(weights[1]), 2),
                   presence_bias=round(float(weights[2]), 2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", type=Path)
    parser.add_argument("--half", choices=["A", "B"], default=None)
    parser.add_argument("--fit-presence", action="store_true")
    parser.add_argument("--fit-sex", type=Path, default=None, metavar="TRAIN_PARTS",
                        help="fit the sex decision on this dump of training cells and score with it")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="whose manifest's assign settings to use")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    parts = load(args.parts)
    cells = [k for k, c in enumerate(parts["cell_ids"]) if args.half is None or patient_half(str(c)) == args.half]
    config = manifest_assign_config(args.model)
    results = [analyse(parts, "shipped", AssignConfig(), cells), analyse(parts, "presence", config, cells)]
    if args.fit_sex:
        prior, weight, used = fit_sex(load(args.fit_sex), config)
        print(f"sex decision fit on {used} training cells annotated XX or XY: xy_log_prior {prior}, "
              f"y_evidence_weight {weight}")
        result = analyse(parts, "presence", replace(config, xy_log_prior=prior, y_evidence_weight=weight), cells)
        result["rule"] = f"presence, sex decision fit on the training cells (prior {prior}, Y weight {weight})"
        results.append(result)
    if args.fit_presence:
        halves = {h: [k for k in cells if patient_half(str(parts["cell_ids"][k])) == h] for h in "AB"}
        fits = {h: fit_presence(parts, halves[h], config.presence_floor) for h in "AB"}
        print(f"presence weights fit on half A {np.round(fits['A'], 3)}, on half B {np.round(fits['B'], 3)}, "
              f"mean {np.round((fits['A'] + fits['B']) / 2, 3)}")
        for scored, fitted in (("A", "B"), ("B", "A")):
            result = analyse(parts, "presence", with_weights(config, fits[fitted]), halves[scored])
            result["rule"] = f"presence, half {scored} with the weights fit on half {fitted}"
            results.append(result)
    for result in results:
        print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
