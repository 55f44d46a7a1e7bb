"""Benchmark the karyogram: upright/straightened cut-out speed, the p-arm guess, and scene updates.

On --cells synthetic metaphases (karyostudio.synth, seed --seed) it measures:
  strips    milliseconds per chromosome for the upright and the straightened cut-out
  p-arm     how often the guess (width constriction, used when an instance carries no
            skeleton/endpoints/centromere) puts the same end up as the synthetic ground truth;
            chromosomes where the two cut-outs differ in size are left out of the comparison
  scene     the karyogram scene of the bundled sample: a full build, an update after one
            relabel (no pixels recomputed) and after one flip (one chromosome recomputed)

Example:
  QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_karyogram.py --cells 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from karyostudio.core.instance import Instance  # noqa: E402
from karyostudio.render.cutout import to_gray_uint8  # noqa: E402
from karyostudio.render.straighten import chromosome_strip  # noqa: E402
from karyostudio.synth import SynthConfig, generate_metaphase, rng_for  # noqa: E402

ORIENTATION_KEYS = ("skeleton", "endpoints", "centromere")


def bench_strips(cells: int, seed: int, size: int) -> None:
    upright_ms, straight_ms, agree, compared = [], [], 0, 0
    for index in range(cells):
        sample = generate_metaphase(rng_for(seed, index), SynthConfig(size=size))
        gray = to_gray_uint8(sample.image)
        for inst in sample.instances:
            start = time.perf_counter()
            known = chromosome_strip(gray, inst)
            upright_ms.append(1000 * (time.perf_counter() - start))
            start = time.perf_counter()
            chromosome_strip(gray, inst, straighten=True)
            straight_ms.append(1000 * (time.perf_counter() - start))
            bare = Instance(id=inst.id, polygon=inst.polygon, label=inst.label,
                            attributes={k: v for k, v in inst.attributes.items() if k not in ORIENTATION_KEYS})
            guessed = chromosome_strip(gray, bare)
            if known is None or guessed is None or known.shape != guessed.shape:
                continue
            same = np.abs(known.pixels.astype(int) - guessed.pixels).mean()
            turned = np.abs(known.pixels.astype(int) - guessed.pixels[::-1, ::-1]).mean()
            compared += 1
            agree += same <= turned
    print(f"strips: {len(upright_ms)} chromosomes in {cells} cell(s) of {size} px")
    print(f"  upright      median {statistics.median(upright_ms):.2f} ms, max {max(upright_ms):.2f} ms")
    print(f"  straightened median {statistics.median(straight_ms):.2f} ms, max {max(straight_ms):.2f} ms")
    print(f"p-arm guess agrees with the ground truth: {agree}/{compared} ({100 * agree / max(compared, 1):.0f}%)")


def bench_scene(repeats: int) -> None:
    from PySide6.QtWidgets import QApplication

    from karyostudio.core.commands import SetLabel
    from karyostudio.core.orientation import ChangeOrientation
    from karyostudio.gui.app import SAMPLES_DIR
    from karyostudio.gui.karyogram.scene import KaryogramScene
    from karyostudio.gui.selection import Selection
    from karyostudio.workspace.session import Session

    app = QApplication.instance() or QApplication([])
    session = Session.open(SAMPLES_DIR / "sample_metaphase.json")
    builds, relabels, flips = [], [], []
    for _ in range(repeats):
        scene = KaryogramScene(Selection())
        start = time.perf_counter()
        scene.set_document(session.document)
        scene.update_now()
        builds.append(time.perf_counter() - start)
        first = session.document.instances[0]
        session.history.push(SetLabel([first.id], "Y"))
        start = time.perf_counter()
        scene.update_now()
        relabels.append(time.perf_counter() - start)
        session.history.push(ChangeOrientation([first.id], "flip_vertical"))
        start = time.perf_counter()
        scene.update_now()
        flips.append(time.perf_counter() - start)
        session.history.undo()
        session.history.undo()
        scene.set_document(None)
    app.processEvents()
    n = len(session.document)
    print(f"scene ({n} chromosomes, bundled sample): build {1000 * statistics.median(builds):.1f} ms, "
          f"update after a relabel {1000 * statistics.median(relabels):.1f} ms, "
          f"after a flip {1000 * statistics.median(flips):.1f} ms (medians of {repeats})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    bench_strips(args.cells, args.seed, args.size)
    bench_scene(args.repeats)


if __name__ == "__main__":
    main()
