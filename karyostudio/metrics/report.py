"""Fixed-width text report of an evaluate_annotations() result (ratios shown as percentages)."""

from __future__ import annotations

from karyostudio.core.classes import CLASS_NAMES


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.1f}"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _line(label: str, value: str, note: str = "") -> str:
    return f"  {label:<34}{value:>8}" + (f"   {note}" if note else "")


def format_report(result: dict) -> str:
    """A readable plain-text summary: headline metrics, per-class table, confusion matrix."""
    s, im, inst = result["settings"], result["images"], result["instances"]
    out = ["karyostudio evaluation", ""]
    out.append(f"Images: {im['evaluated']} evaluated ({im['matched']} in both, {im['only_in_gt']} only in ground "
               f"truth, {im['only_in_pred']} only in predictions)")
    out.append(f"Instances: {inst['gt']} ground truth ({inst['gt_unnamed']} unnamed), {inst['pred']} predicted "
               f"({inst['pred_unnamed']} unnamed, {inst['pred_without_score']} without score)")
    out.append(f"IoU threshold {s['iou_threshold']:.2f}; decision metrics use predictions with score >= "
               f"{s['score_threshold']:.2f}, matched on {s['decision_matching_iou']} IoU")
    out.append("")

    box = result["box_ap"]
    out.append("Average precision (all predictions, COCO 101-point, maxDets 100)")
    missing = ", ".join(box["classes_without_gt"])
    out.append(_line("box mAP@50", _pct(box["mean"]), f"classes without ground truth: {missing}" if missing else ""))
    out.append(_line("box AP@50, class-agnostic", _pct(result["box_ap_class_agnostic"])))
    mask_ap = result["mask_ap"]
    out.append(_line("mask mAP@50", _pct(mask_ap["mean"]) if mask_ap else "n/a",
                     "" if mask_ap else result["masks"]["reason"] or ""))
    out.append("")

    seg = result["segmentation"]
    if seg is not None:
        out.append("Instance segmentation (masks)")
        out.append(_line("AJI (mean per image / pooled)", _pct(seg["aji"]), f"pooled {_pct(seg['aji_pooled'])}"))
        out.append(_line("AJI class-aware", _pct(seg["aji_class_aware"]),
                         f"pooled {_pct(seg['aji_class_aware_pooled'])}"))
        out.append(_line("PQ class-agnostic", _pct(seg["pq"]), f"SQ {_pct(seg['sq'])}  RQ {_pct(seg['rq'])}"))
        out.append(_line("mPQ (mean over classes)", _pct(seg["mpq"])))
        out.append("")

    det = result["detection"]
    chosen = "chosen for max F1" if det["threshold_chosen_by"] == "max_f1" else "given"
    out.append(f"Rotated-box detection (DeepCHM metrics, skew-IoU; score threshold "
               f"{_num(det['score_threshold'], 3)} {chosen})")
    out.append(_line("AP", _pct(det["ap"])))
    out.append(_line("Precision / Recall / F1", _pct(det["precision"]),
                     f"recall {_pct(det['recall'])}  F1 {_pct(det['f1'])}"))
    out.append(_line("mFPs (false positives per image)", _num(det["mfps"])))
    out.append(_line("mOD (mean overlap degree)", _pct(det["mod"])))
    out.append("")

    ov = result["overlap"]
    if ov is not None:
        out.append(f"Crossing overlaps (ChromSeg metrics; {ov['n_images_with_crossings']} of {ov['n_images']} "
                   f"images have crossings)")
        out.append(_line("IoU foreground / crossing", _pct(ov["iou_foreground"]),
                         f"crossing {_pct(ov['iou_crossing'])}"))
        out.append(_line("OverlapAcc / SPAcc / overall", _pct(ov["overlap_acc"]),
                         f"SPAcc {_pct(ov['sp_acc'])}  overall {_pct(ov['overall_acc'])}"))
        out.append("")

    counts, kary = result["counts"], result["karyotype"]
    out.append("Per image")
    out.append(_line("chromosome count exact", _pct(counts["exact_rate"]),
                     f"mean |error| {_num(counts['mean_abs_error'])}, mean error {_num(counts['mean_error'])}"))
    out.append(_line("karyotype (ISCN) exact", _pct(kary["accuracy"]), f"{kary['n_mismatches']} mismatching"))
    for ex in kary["mismatch_examples"][:5]:
        out.append(f"      {ex['image']}: expected {ex['gt']}, got {ex['pred']}")
    out.append("")
    out.extend(_class_table(result))
    out.append("")
    out.extend(_confusion(result["confusion"]))
    return "\n".join(out) + "\n"


def _class_table(result: dict) -> list[str]:
    box = result["box_ap"]["per_class"]
    mask = result["mask_ap"]["per_class"] if result["mask_ap"] else {}
    pq = result["segmentation"]["per_class_pq"] if result["segmentation"] else {}
    rows = [f"{'class':>6} {'boxAP':>6} {'maskAP':>6} {'PQ':>6} {'TP':>6} {'ERR':>6} {'FN':>6} {'FP':>6}"]
    for name in CLASS_NAMES:
        t = result["per_class"][name]
        rows.append(f"{name:>6} {_pct(box.get(name)):>6} {_pct(mask.get(name)):>6} "
                    f"{_pct(pq[name]['pq']) if name in pq else 'n/a':>6} "
                    f"{t['tp']:>6} {t['err']:>6} {t['fn']:>6} {t['fp']:>6}")
    return ["Per class (TP/ERR/FN/FP after the score threshold; ERR = found but misclassified)", *rows]


def _confusion(confusion: dict) -> list[str]:
    labels = ["un" if l == "unnamed" else "bg" if l == "background" else l for l in confusion["labels"]]
    width = max(4, max(len(str(v)) for row in confusion["matrix"] for v in row) + 1)
    out = ["Confusion matrix (rows: ground truth, columns: prediction; un = unnamed, bg = background)",
           " " * 4 + "".join(f"{l:>{width}}" for l in labels)]
    for label, row in zip(labels, confusion["matrix"]):
        out.append(f"{label:>4}" + "".join(f"{v if v else '.':>{width}}" for v in row))
    return out
