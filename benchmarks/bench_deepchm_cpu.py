"""CPU seconds per image of the DeepCHM predictor at the paper's input size, by stage.

A synthetic metaphase (--cell-size px square) goes through DeepCHMPredictor with the longer
side at --input-size (768: the paper's 512 x 768). Weights are random (torch.manual_seed(0)) or
a trained export (--manifest). Three timings, medians of --iters runs after a warm-up:
  network   the nn.Module forward on the prepared tensor;
  predict   end to end (preparation, network, decoding, skew-NMS, outline refinement);
  loaded    end to end with the decoder under a trained-like load: the skeleton channel is
            replaced by the image's ground-truth skeleton map (anchors where a trained model puts
            them) and every anchor scores above --score-threshold, so pre_nms_top_n boxes
            reach skew-NMS and up to max_detections outlines are refined. An upper bound on
            decoding cost; random weights alone give almost no anchors (skeleton prior 0.01).

Example:
  .venv/bin/python benchmarks/bench_deepchm_cpu.py --threads 1 --iters 2
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _cpu_timing import median_s  # benchmarks/ is on sys.path when run as a script

from karyostudio.geometry.polygons import polygon_to_mask
from karyostudio.geometry.rotated import rotated_boxes_from_polygons
from karyostudio.models.deepchm.model import DeepCHM
from karyostudio.models.deepchm.image import prepare
from karyostudio.models.deepchm.predictor import DeepCHMPredictor
from karyostudio.models.deepchm.spec import DeepCHMSpec
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for
from karyostudio.training.deepchm_targets import targets_from_masks


def truth_skeleton(cell, predictor: DeepCHMPredictor) -> torch.Tensor:
    """The ground-truth skeleton map of the cell at the network's input scale."""
    tensor, scale = prepare(cell.image, predictor.spec.input_size)
    height, width = tensor.shape[-2:]
    polygons = [inst.polygon * np.array(scale) for inst in cell.instances]
    masks = np.stack([polygon_to_mask(p, (height, width)) for p in polygons])
    found = targets_from_masks(masks, rotated_boxes_from_polygons(polygons), predictor.spec.feature_stride)
    return torch.from_numpy(found.maps[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", help="a trained DeepCHM export (default: random weights)")
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--input-size", type=int, default=768)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--cell-size", type=int, default=1024)
    parser.add_argument("--score-threshold", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.manifest:
        from karyostudio.models.registry import load_predictor

        predictor = load_predictor(args.manifest)
    else:
        torch.manual_seed(0)
        spec = DeepCHMSpec(backbone=args.backbone, input_size=args.input_size)
        predictor = DeepCHMPredictor(DeepCHM(spec), name="deepchm-bench")
    cell = generate_metaphase(rng_for(0, 0), SynthConfig(size=args.cell_size))
    image = cell.image
    spec = predictor.spec
    print(f"CPU, torch {torch.__version__}, {torch.get_num_threads()} thread(s); synthetic {image.shape[1]} x "
          f"{image.shape[0]} metaphase ({len(cell.instances)} chromosomes) -> longer side {spec.input_size}, "
          f"{spec.backbone}, {'weights ' + args.manifest if args.manifest else 'random weights'}; "
          f"median of {args.iters}")
    tensor, _ = prepare(image, spec.input_size)
    with torch.inference_mode():
        network = median_s(lambda: predictor.model(tensor[None]), args.iters)
    counts: list[int] = []
    predict = median_s(lambda: counts.append(len(predictor.predict(image))), args.iters)
    print(f"network {network:.2f} s, predict {predict:.2f} s per image ({counts[-1]} instances)")

    skeleton = truth_skeleton(cell, predictor).clamp(1e-4, 1 - 1e-4)
    forward = predictor.model.net.forward

    def loaded_forward(images: torch.Tensor) -> dict[str, torch.Tensor]:
        out = forward(images)
        out["saliency"][:, 0] = torch.logit(skeleton)
        return out

    predictor.model.net.forward = loaded_forward
    predictor.score_threshold = args.score_threshold
    anchors = int((skeleton >= spec.t_loc).sum()) * spec.anchors_per_location
    loaded = median_s(lambda: counts.append(len(predictor.predict(image))), args.iters)
    print(f"loaded decoder: {anchors} skeleton-guided anchors, <= {spec.pre_nms_top_n} to skew-NMS: "
          f"predict {loaded:.2f} s per image ({counts[-1]} instances)")


if __name__ == "__main__":
    main()
