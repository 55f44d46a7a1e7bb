"""CPU seconds per image of the Enhanced Rotated Mask R-CNN predictor at the paper's input size.

A synthetic metaphase (--width x --height px, default 640 x 512: the paper's input) goes through
ERMRCNNPredictor with the longer side at --input-size (640). Weights are random
(torch.manual_seed(0), the paper's ResNet-50 spec) or a trained export (--manifest). Timings are
medians of --iters runs after a warm-up:
  network   the model's forward (backbone, endpoint branch, RPN, RoI heads, mask NMS);
  predict   end to end (preparation, network, paste-back at image resolution, outlines).
With random weights almost no class score passes the detector's 0.05 floor, so the "loaded"
rows set box_score_thresh = 0 (and the predictor's threshold 0): every one of the
detections_per_img rotated and axis-aligned detections is masked, merged by mask NMS and traced,
an upper bound on the per-detection work of a trained model.

Example:
  .venv/bin/python benchmarks/bench_ermrcnn_cpu.py --threads 1 --iters 2
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch
from _cpu_timing import median_s  # benchmarks/ is on sys.path when run as a script

from karyostudio.models.maskrcnn.image_prep import resize_long_side
from karyostudio.models.registry import load_predictor
from karyostudio.models.ermrcnn.model import build_ermrcnn
from karyostudio.models.ermrcnn.predictor import ERMRCNNPredictor, detect
from karyostudio.models.ermrcnn.spec import ERMRCNNSpec
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", help="a trained export (default: random weights, paper spec)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--input-size", type=int, default=640)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cell = generate_metaphase(rng_for(0, 0), SynthConfig(size=max(args.width, args.height)))
    image = np.ascontiguousarray(cell.image[:args.height, :args.width])
    if args.manifest:
        predictors = {"trained": load_predictor(args.manifest)}
    else:
        torch.manual_seed(0)
        spec = ERMRCNNSpec(input_size=args.input_size)
        model = build_ermrcnn(spec)
        loaded_spec = dataclasses.replace(spec, box_score_thresh=0.0)
        loaded_model = build_ermrcnn(loaded_spec)
        loaded_model.load_state_dict(model.state_dict())
        predictors = {"random": ERMRCNNPredictor(model, spec, name="random"),
                      "random, loaded": ERMRCNNPredictor(loaded_model, loaded_spec, name="loaded",
                                                         score_threshold=0.0)}
    print(f"image {args.width} x {args.height}, input {args.input_size}, threads {args.threads}, "
          f"iters {args.iters}")
    for label, predictor in predictors.items():
        resized, _ = resize_long_side(image, predictor.spec.input_size)
        tensor = torch.from_numpy(resized).float().div_(255.0)[None]
        with torch.no_grad():
            network = median_s(lambda: detect(predictor.model, [tensor]), args.iters)
        found: list = []
        end_to_end = median_s(lambda: found.__setitem__(slice(None), predictor.predict(image)), args.iters)
        print(f"{label:16s} network {network:6.2f} s   predict {end_to_end:6.2f} s   instances {len(found)}")


if __name__ == "__main__":
    main()
