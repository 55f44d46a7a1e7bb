"""Benchmark Mask R-CNN training throughput and inference latency per backbone.

For each backbone (full-size models as the presets build them, trained from scratch), at --size
px: training images/s over --train-iters SGD steps of --batch synthetic metaphases (after one
warm-up step; data preparation excluded), and inference ms/image over --infer-iters calls of
MaskRCNNPredictor.predict on a --size px image (postprocess to Instances included). The models
are untrained, so inference runs with score threshold 0 and the detector keeps its 100 highest
scoring boxes: the full postprocess cost of a cell with 100 outlines is measured.

Example (CPU, a few iterations):
  .venv/bin/python benchmarks/bench_maskrcnn.py --size 640 --train-iters 2 --infer-iters 3 --threads 2
  .venv/bin/python benchmarks/bench_maskrcnn.py --device cuda --size 640 --batch 4 --amp
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np
import torch

from karyostudio.models.maskrcnn import BACKBONES, MaskRCNNPredictor, MaskRCNNSpec, build_maskrcnn
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for
from karyostudio.training.detection_data import DetectionDataset, SynthSource


def variants(names: list[str], attention: bool) -> list[tuple[str, MaskRCNNSpec]]:
    out = []
    for name in names:
        out.append((name, MaskRCNNSpec(backbone=name)))
        if attention:
            out.append((f"{name}+attention", MaskRCNNSpec(backbone=name, attention=True)))
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_images_per_s(spec: MaskRCNNSpec, batches: list, device: torch.device, iters: int, amp: bool) -> float:
    torch.manual_seed(0)
    model = build_maskrcnn(spec).to(device).train()
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=1e-4)
    amp = amp and device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.float16) if amp else contextlib.nullcontext()
    scaler = torch.amp.GradScaler(device.type, enabled=amp)  # as the training engine does
    times = []
    for k in range(iters + 1):
        images, targets = batches[k % len(batches)]
        images = [i.to(device) for i in images]
        targets = [{key: v.to(device) for key, v in t.items()} for t in targets]
        sync(device)
        start = time.perf_counter()
        with autocast:
            loss = sum(model(images, targets).values())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        sync(device)
        if k:  # the first step pays one-off allocation costs
            times.append(time.perf_counter() - start)
    return len(batches[0][0]) / statistics.median(times)


def inference_ms(spec: MaskRCNNSpec, image: np.ndarray, device: torch.device, iters: int) -> tuple[float, int]:
    torch.manual_seed(0)
    model = build_maskrcnn(MaskRCNNSpec(**{**spec.to_dict(), "box_score_thresh": 0.0}))
    predictor = MaskRCNNPredictor(model, spec, name="bench", device=str(device), score_threshold=0.0)
    predictor.predict(image)
    times, count = [], 0
    for _ in range(iters):
        sync(device)
        start = time.perf_counter()
        count = len(predictor.predict(image))
        sync(device)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=640, help="network input size (px)")
    parser.add_argument("--batch", type=int, default=2, help="training batch size")
    parser.add_argument("--train-iters", type=int, default=3)
    parser.add_argument("--infer-iters", type=int, default=3)
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=BACKBONES)
    parser.add_argument("--attention", action="store_true", help="also time each backbone with the attention FPN")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true", help="float16 autocast with loss scaling (CUDA only)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--test-proposals", type=int, default=None,
                        help="RPN proposals kept at inference (default: the spec's 1000); the box head's cost "
                             "grows with it")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    source = SynthSource(seed=0, indices=range(2 * args.batch), size=max(args.size, 128))
    dataset = DetectionDataset(source, input_size=args.size)
    items = [dataset[i] for i in range(2 * args.batch)]
    batches = [([i for i, _ in items[b:b + args.batch]], [t for _, t in items[b:b + args.batch]])
               for b in (0, args.batch)]
    image = generate_metaphase(rng_for(0, 99), SynthConfig(size=max(args.size, 128))).image

    print(f"device {device}, {torch.get_num_threads()} CPU threads, input {args.size} px, "
          f"train batch {args.batch}, torch {torch.__version__}")
    print(f"{'model':28s} {'params (M)':>10s} {'train img/s':>12s} {'infer ms/img':>13s} {'outlines':>9s}")
    for name, spec in variants(args.backbones, args.attention):
        changes = {"input_size": args.size}
        if args.test_proposals:
            changes.update(rpn_pre_nms_top_n_test=args.test_proposals, rpn_post_nms_top_n_test=args.test_proposals)
        spec = MaskRCNNSpec(**{**spec.to_dict(), **changes})
        params = sum(p.numel() for p in build_maskrcnn(spec).parameters()) / 1e6
        throughput = train_images_per_s(spec, batches, device, args.train_iters, args.amp)
        latency, count = inference_ms(spec, image, device, args.infer_iters)
        print(f"{name:28s} {params:10.1f} {throughput:12.2f} {latency:13.0f} {count:9d}", flush=True)


if __name__ == "__main__":
    main()
