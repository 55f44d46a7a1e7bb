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
  in a 2x field  the metaphase off-centre in a field twice as wide and high (empty slide around);
  rotated 90     the camera mounted a quarter turn round.
For each it reports the exact count (the annotated number of chromosomes), the mean count
error, the karyotype string exact, and the sex chromosomes (X and Y counts) right.

Usage: python benchmarks/bench_image_styles.py [--model NAME] [--every 20] [--json out.json]
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
        "in a 2x field": _in_larger_field,
        "rotated 90": lambda im: np.ascontiguousarray(np.rot90(im)),
    }


def run(root: Path, model: str, every: int) -> dict:
    ids = validation_ids(root, _TRAIN_DEFAULTS["val_fraction"], _TRAIN_DEFAULTS["seed"])[::every]
    predictor = load_predictor(model)
    cells = [read_voc(root / "annotations" / f"{i}.xml", image_dirs=[root / "JEPG"]) for i in ids]
    results = {}
    for name, change in styles(np.random.default_rng(0)).items():
        errors, karyotype_ok, sex_ok, seconds = [], [], [], []
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
        errors = np.array(errors)
        results[name] = {"exact_count": float(np.mean(errors == 0)), "mean_count_error": float(errors.mean()),
                         "karyotype_exact": float(np.mean(karyotype_ok)),
                         "sex_chromosomes_right": float(np.mean(sex_ok)), "median_seconds": float(np.median(seconds))}
        print(f"{name:13s} " + ", ".join(f"{k} {v:.2f}" for k, v in results[name].items()), file=sys.stderr)
    return {"model": model, "cells": len(cells), "every": every, "styles": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--every", type=int, default=20, help="analyse every k-th validation cell")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = run(args.data, args.model, args.every)
    print(json.dumps(result, indent=1))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
