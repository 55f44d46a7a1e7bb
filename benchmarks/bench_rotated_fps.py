"""Inference speed (fps) of the rotated detectors at their papers' input sizes.

Models are looked up in karyostudio.models.rotated; one whose module is missing (or fails to
import) is listed as skipped with the reason. Each is built with random weights
(torch.manual_seed(0)) and wrapped in its Predictor; the input is a synthetic metaphase resized
to the paper's input shape (the predictor's own resizing then keeps it):
  - DeepCHM (Wang et al.): 768 x 512 (W x H; the paper's 512 x 768), ResNet-50 by default;
  - Enhanced Rotated Mask R-CNN (Wang et al.): 640 x 512 (W x H), ResNet-50 by default.
Reported per model: network forward ms (the nn.Module on the prepared tensor) and end-to-end
predict() ms -> fps (image preparation, network, box decoding, skew-NMS, outlines).

Untrained weights make decoding heavier or lighter than a trained model would: DeepCHM's
anchors sit where the predicted skeleton map passes t_loc (with random weights the skeleton
output starts near 0.01, below t_loc, so no anchor is placed and the decoder does nothing;
benchmarks/bench_deepchm_cpu.py also times a realistic decoder load); score thresholds are the specs' own unless --score-threshold is given (0 makes
every candidate box reach skew-NMS and the outline step, the decoder's worst case). A last
line times skew_nms alone on 3000 boxes crowded around a synthetic cell's 46 chromosomes
(DeepCHM's pre_nms_top_n). Timings are medians over --iters runs after one warm-up run; the
machine's load average is printed because shared CPUs slow everything down.

Example (CPU, 2 threads):
  .venv/bin/python benchmarks/bench_rotated_fps.py --threads 2 --iters 3
"""

from __future__ import annotations

import argparse
import importlib
import os
from typing import Callable

import cv2
import numpy as np
import torch
from _cpu_timing import median_s  # benchmarks/ is on sys.path when run as a script

from karyostudio.models.rotated.geometry import skew_nms
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for


PAPER_SHAPES = {"deepchm": (512, 768), "ermrcnn": (512, 640)}  # (height, width)


def _deepchm(backbone: str, options: dict) -> tuple[object, Callable[[np.ndarray], None], str]:
    spec_mod = importlib.import_module("karyostudio.models.deepchm.spec")
    model_mod = importlib.import_module("karyostudio.models.deepchm.model")
    pred_mod = importlib.import_module("karyostudio.models.deepchm.predictor")
    image_mod = importlib.import_module("karyostudio.models.deepchm.image")
    spec = spec_mod.DeepCHMSpec(backbone=backbone)
    predictor = pred_mod.DeepCHMPredictor(model_mod.DeepCHM(spec), name="deepchm-bench", **options)

    def forward(image: np.ndarray) -> None:
        tensor, _ = image_mod.prepare(image, spec.input_size)
        predictor.model(tensor[None])

    return predictor, forward, f"input longer side {spec.input_size}, {spec.backbone}"


def _ermrcnn(backbone: str, options: dict) -> tuple[object, Callable[[np.ndarray], None], str]:
    spec_mod = importlib.import_module("karyostudio.models.ermrcnn.spec")
    model_mod = importlib.import_module("karyostudio.models.ermrcnn.model")
    pred_mod = importlib.import_module("karyostudio.models.ermrcnn.predictor")
    prep = importlib.import_module("karyostudio.models.maskrcnn.image_prep")
    spec = spec_mod.ERMRCNNSpec(backbone=backbone)
    predictor = pred_mod.ERMRCNNPredictor(model_mod.build_ermrcnn(spec), spec, name="ermrcnn-bench", **options)

    def forward(image: np.ndarray) -> None:
        resized, _ = prep.resize_long_side(image, spec.input_size)
        tensor = torch.from_numpy(np.ascontiguousarray(resized)).float().div_(255.0)[None]
        predictor.model([tensor])  # eval mode: RPN, RoI heads and masks included

    return predictor, forward, f"input longer side {spec.input_size}, {spec.backbone}"


MODELS = {"deepchm": _deepchm, "ermrcnn": _ermrcnn}


def median_ms(fn: Callable[[], object], iters: int) -> float:
    return 1000.0 * median_s(fn, iters)


def crowded_boxes(cell, n: int, rng: np.random.Generator) -> torch.Tensor:
    """n boxes jittered around a cell's chromosome boxes, as a detector's candidates are."""
    truth = np.array([i.attributes["rotated_box"] for i in cell.instances], dtype=np.float64)
    pick = truth[rng.integers(len(truth), size=n)]
    jitter = rng.normal(0, 1, (n, 5)) * np.array([2.0, 2.0, 1.5, 4.0, 6.0])
    pick[:, 2:4] = np.maximum(pick[:, 2:4] + jitter[:, 2:4], 2.0)
    pick[:, [0, 1, 4]] += jitter[:, [0, 1, 4]]
    return torch.from_numpy(pick).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--score-threshold", type=float, default=None,
                        help="predictor score threshold (default: the model's own)")
    parser.add_argument("--nms-boxes", type=int, default=3000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cell = generate_metaphase(rng_for(0, 0), SynthConfig(size=1024))
    print(f"CPU, torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; synthetic metaphase at each paper's input "
          f"shape, random weights, median of {args.iters} runs")
    options = {} if args.score_threshold is None else {"score_threshold": args.score_threshold}
    for name in args.models:
        height, width = PAPER_SHAPES[name]
        image = cv2.resize(cell.image, (width, height), interpolation=cv2.INTER_AREA)
        try:
            torch.manual_seed(0)
            predictor, forward, setting = MODELS[name](args.backbone, options)
        except (ImportError, AttributeError, TypeError) as exc:
            print(f"{name:<10} skipped: {type(exc).__name__}: {exc}")
            continue
        with torch.inference_mode():
            net_ms = median_ms(lambda: forward(image), args.iters)
        found = []
        total_ms = median_ms(lambda: found.append(len(predictor.predict(image))), args.iters)
        print(f"{name:<10} {width} x {height} image, {setting}: network {net_ms:.0f} ms, predict "
              f"{total_ms:.0f} ms = {1000.0 / total_ms:.2f} fps ({found[-1]} instances)")
    boxes = crowded_boxes(cell, args.nms_boxes, np.random.default_rng(0))
    scores = torch.rand(len(boxes), generator=torch.Generator().manual_seed(0))
    # Small per-box batches: on a busy machine extra threads mostly wait, so time both.
    for threads in sorted({1, args.threads}):
        torch.set_num_threads(threads)
        kept = []
        nms_ms = median_ms(lambda: kept.append(len(skew_nms(boxes, scores, 0.2))), args.iters)
        print(f"skew_nms   {len(boxes)} crowded boxes (46 chromosomes, 1024 px cell), threshold 0.2, "
              f"{threads} thread(s): {nms_ms:.0f} ms, {kept[-1]} kept")


if __name__ == "__main__":
    main()
