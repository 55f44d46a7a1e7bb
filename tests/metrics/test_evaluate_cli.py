"""`karyostudio evaluate` end to end: files written by karyostudio.io, read back and scored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from karyostudio.cli import main
from karyostudio.io.annotation_set import save_annotation_set
from karyostudio.io.coco import write_coco
from karyostudio.io.coco_results import write_coco_results
from karyostudio.metrics.evaluate import evaluate_annotations

from tests.metrics.helpers import make_instance, make_set, random_blob, rect


def sample_sets(keys: list[str], *, box_only: bool = False, seed: int = 0):
    rng = np.random.default_rng(seed)
    gt_images, pred_images = {}, {}
    labels = ["1", "1", "2", "X", "Y", "21"]
    for key in keys:
        g, p = [], []
        for j, label in enumerate(labels):
            cx, cy = 20 + 40 * j, 50 + rng.uniform(-5, 5)
            poly = rect(cx - 6, cy - 18, cx + 6, cy + 18) if box_only else random_blob(rng, cx, cy, 7, 20, n=8)
            g.append(make_instance(j, poly, label, box_only=box_only))
            guess = label if j != 2 else "3"  # one misclassification per image
            p.append(make_instance(j, poly + rng.normal(0, 0.7, (1, 2)), guess, float(rng.uniform(0.6, 1.0)),
                                   box_only=box_only))
        gt_images[key], pred_images[key] = g, p
    return make_set(gt_images, (260, 110)), make_set(pred_images, (260, 110))


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["evaluate", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_labelme_folders(tmp_path, capsys):
    gt, pred = sample_sets(["cell_a", "cell_b"])
    save_annotation_set(gt, tmp_path / "gt", "labelme")
    save_annotation_set(pred, tmp_path / "pred", "labelme")
    out_json = tmp_path / "results" / "eval.json"
    code, stdout, _ = run_cli(capsys, "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"),
                              "--json", str(out_json))
    assert code == 0
    assert "box mAP@50" in stdout and "mask mAP@50" in stdout and "Confusion matrix" in stdout
    written = json.loads(out_json.read_text())
    assert written["images"]["evaluated"] == 2 and written["masks"]["available"]
    direct = evaluate_annotations(gt, pred)
    assert written["mask_ap"]["mean"] == pytest.approx(direct["mask_ap"]["mean"])
    assert written["per_class"]["2"] == {"tp": 0, "err": 2, "fn": 0, "fp": 0}
    assert written["karyotype"]["accuracy"] == 0.0
    assert not list(out_json.parent.glob(".*.tmp"))  # the atomic write left no temporary file


def test_coco_results_against_coco_ground_truth_with_own_ids(tmp_path, capsys):
    gt, pred = sample_sets(["cell_a", "cell_b"], seed=1)
    ids = {"cell_a": 17, "cell_b": 5}
    write_coco(tmp_path / "gt.json", gt, image_ids=ids)
    write_coco_results(tmp_path / "results.json", pred, ids)
    code, stdout, _ = run_cli(capsys, "--gt", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "results.json"),
                              "--json", str(tmp_path / "eval.json"))
    assert code == 0
    written = json.loads((tmp_path / "eval.json").read_text())
    assert written["images"]["matched"] == 2 and written["images"]["only_in_pred"] == 0
    assert written["box_ap"]["mean"] == pytest.approx(evaluate_annotations(gt, pred)["box_ap"]["mean"])


def test_coco_results_against_voc_with_numeric_keys(tmp_path, capsys):
    gt, pred = sample_sets(["103064", "103071"], box_only=True, seed=2)
    save_annotation_set(gt, tmp_path / "voc", "voc")
    write_coco_results(tmp_path / "results.json", pred, {"103064": 103064, "103071": 103071})
    code, stdout, _ = run_cli(capsys, "--gt", str(tmp_path / "voc"), "--pred", str(tmp_path / "results.json"))
    assert code == 0
    assert "2 evaluated (2 in both" in stdout
    assert "box-only" in stdout  # mask metrics are explained, not silently zero


def test_user_errors_exit_2_with_a_message(tmp_path, capsys):
    gt, pred = sample_sets(["a"])
    save_annotation_set(gt, tmp_path / "gt", "labelme")
    other, _ = sample_sets(["b"])
    save_annotation_set(other, tmp_path / "other", "labelme")
    code, _, err = run_cli(capsys, "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "missing"))
    assert code == 2 and "missing" in err
    code, _, err = run_cli(capsys, "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "gt"), "--iou", "0")
    assert code == 2 and "--iou" in err
    code, _, err = run_cli(capsys, "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "other"))
    assert code == 2 and "nothing to evaluate" in err
    (tmp_path / "blocked").mkdir()
    code, _, err = run_cli(capsys, "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "gt"),
                           "--json", str(tmp_path / "blocked"))
    assert code == 2 and "cannot write" in err


@pytest.mark.shared_data
def test_taichung_files_against_themselves(taichung_dir: Path, tmp_path, capsys):
    for xml in sorted((taichung_dir / "annotations").glob("*.xml"))[:5]:
        shutil.copy(xml, tmp_path / xml.name)  # a small temporary VOC folder outside the repository
    code, stdout, _ = run_cli(capsys, "--gt", str(tmp_path), "--pred", str(tmp_path),
                              "--json", str(tmp_path / "out" / "eval.json"))
    assert code == 0
    written = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert written["images"]["evaluated"] == 5
    assert written["box_ap"]["mean"] == pytest.approx(1.0)
    assert written["detection"]["recall"] == 1.0 and written["counts"]["exact_rate"] == 1.0
    assert written["masks"]["available"] is False
