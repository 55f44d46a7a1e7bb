"""The default model on real validation cells shown as other labs' microscopes might show them.

Every ``--every``-th cell of the Taichung validation split (patients never trained on) is analysed
as it is and after each of these changes, which stand in for another scanner or preparation:
  low contrast   the grey range squeezed to 150-230 (a pale stain, a flat camera curve);
  negative       bright chromosomes on a dark slide (a fluorescence image, "inverted DAPI");
  enlarged x2    a higher-magnification camera; reduced x0.6   a lower one;
  blur + noise   Gaussian blur (sigma 1.5 px) and sensor noise (sigma 8 grey levels);
  12-bit in 16   a 12-bit camera's values in a 16-bit file, offset by 100;
  vignetting     illumination falling to 55 % in the corners;
  enlarged x3    a high-resolution camera (chromosomes three times as many pixels long);
  enhanced       what a capture system's "enhance" gives: grey range stretched until the slide is
                 white, gamma 0.8, an unsharp mask (sigma 2 px, amount 0.8);
  JPEG q35       an export saved as a strongly compressed JPEG;
  CLAHE          adaptive histogram equalisation (clip limit 3, 8 x 8 tiles), another "enhance";
  in a 2x field  the metaphase off-centre in a field twice as wide and high (empty slide around);
  rotated 90     the camera mounted a quarter turn round.
Capture-style training of the classifier (training/capture_style.py) draws stretches, tone
curves, sharpening, blur and noise like "enhanced", "low contrast" and "blur + noise"; JPEG q35,
CLAHE, scale and the rest are styles no training draws. For each style it reports the exact
count (the annotated number of chromosomes), the mean count error, the karyotype string exact,
the sex chromosomes (X and Y counts) right and the sex decision (XY when a Y is annotated)
right; the JSON also lists every cell's result.

Usage: python benchmarks/bench_image_styles.py [--model NAME] [--every 20] [--styles "as recorded,enhanced"]
       [--json out.json]
Data: Taichung metaphase dataset (Tseng et al., Scientific Data 10, 104, 2023; CC BY 4.0).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from benchmarks.bench_default_pipeline import DEFAULT_DATA, _TRAIN_DEFAULTS, sex_chromosomes, validation_ids
from karyostudio.core.karyotype import karyotype_string
from karyostudio.io.atomic import atomic_write_text
from karyostudio.io.images import read_image
from karyostudio.io.voc import read_voc
from karyostudio.models.registry import DEFAULT_MODEL, load_predictor


def _vignetting(image: np.ndarray) -> np.ndarray:
    h, w = image.shape
    yy, xx = np.mgrid[:h, :w]
    r2 = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / ((h / 2) ** 2 + (w / 2) ** 2)
    return np.clip(image * (1 - 0.45 * r2), 0, 255).astype(np.uint8)


def _enhanced(image: np.ndarray) -> np.ndarray:
    f = image.astype(np.float32)
    low, slide = np.percentile(f, 1), np.percentile(f, 90)
    f = np.clip((f - low) / max(slide - low, 1.0), 0, 1) ** 0.8 * 255
    return np.clip(f + 0.8 * (f - cv2.GaussianBlur(f, (0, 0), 2)), 0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray, quality: int = 35) -> np.ndarray:
    _, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def _in_larger_field(image: np.ndarray) -> np.ndarray:
    h, w = image.shape
    field = np.full((2 * h, 2 * w), int(np.percentile(image, 95)), np.uint8)
    field[h // 3:h // 3 + h, w // 2:w // 2 + w] = image
    return field


def styles(rng: np.random.Generator) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    return {
        "as recorded": lambda im: im,
        "low contrast": lambda im: (150 + im.astype(np.float32) * (80 / 255)).astype(np.uint8),
        "negative": lambda im: 255 - im,
        "enlarged x2": lambda im: cv2.resize(im, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC),
        "reduced x0.6": lambda im: cv2.resize(im, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA),
        "blur + noise": lambda im: np.clip(cv2.GaussianBlur(im, (0, 0), 1.5).astype(np.float32)
                                           + rng.normal(0, 8, im.shape), 0, 255).astype(np.uint8),
        "12-bit in 16": lambda im: im.astype(np.uint16) * 16 + 100,
        "vignetting": _vignetting,
        "enlarged x3": lambda im: cv2.resize(im, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC),
        "enhanced": _enhanced,
        "JPEG q35": _jpeg,
        "CLAHE": lambda im: cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(im),
        "in a 2x field": _in_larger_field,
        "rotated 90": lambda im: np.ascontiguousarray(np.rot90(im)),
    }


def run(root: Path, model: str, every: int, names: list[str] | None = None) -> dict:
    ids = validation_ids(root, _TRAIN_DEFAULTS["val_fraction"], _TRAIN_DEFAULTS["seed"])[::every]
    predictor = load_predictor(model)
    cells = [read_voc(root / "annotations" / f"{i}.xml", image_dirs=[root / "JEPG"]) for i in ids]
    changes = styles(np.random.default_rng(0))
    unknown = sorted(set(names or []) - set(changes))
    if unknown:
        raise SystemExit(f"unknown style(s) {', '.join(unknown)}; known: {', '.join(changes)}")
    results = {}
    for name, change in changes.items():
        if names and name not in names:
            continue
        errors, karyotype_ok, sex_ok, decision_ok, seconds, per_cell = [], [], [], [], [], []
        for gt in cells:
            image = change(read_image(gt.image_path))
            start = time.perf_counter()
            cell = predictor.predict_cell(image)
            seconds.append(time.perf_counter() - start)
            labels = [i.label for i in cell.instances]
            truth = [i.label for i in gt.instances]
            errors.append(len(cell.instances) - len(truth))
            karyotype_ok.append(cell.karyotype == karyotype_string(truth))
            sex_ok.append(sex_chromosomes(labels) == sex_chromosomes(truth))
            decision_ok.append(cell.sex_hypothesis == ("XY" if "Y" in truth else "XX"))
            per_cell.append({"id": gt.key, "count_error": errors[-1], "sex_chromosomes": sex_chromosomes(labels),
                             "annotated_sex_chromosomes": sex_chromosomes(truth), "sex_decision": cell.sex_hypothesis})
        errors = np.array(errors)
        results[name] = {"exact_count": float(np.mean(errors == 0)), "mean_count_error": float(errors.mean()),
                         "karyotype_exact": float(np.mean(karyotype_ok)),
                         "sex_chromosomes_right": float(np.mean(sex_ok)),
                         "sex_decision_right": float(np.mean(decision_ok)), "median_seconds": float(np.median(seconds))}
        print(f"{name:13s} " + ", ".join(f"{k} {v:.2f}" for k, v in results[name].items()), file=sys.stderr)
        results[name]["cells"] = per_cell
    return {"model": model, "cells": len(cells), "every": every, "styles": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--every", type=int, default=20, help="analyse every k-th validation cell")
    parser.add_argument("--styles", help="comma-separated style names to run (default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.styles.split(",")] if args.styles else None
    result = run(args.data, args.model, args.every, names)
    print(json.dumps({**result, "styles": {k: {m: v for m, v in r.items() if m != "cells"}
                                           for k, r in result["styles"].items()}}, indent=1))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
