"""Seconds of work lost when karyostudio is killed with kill -9: predict batches and the app's autosave.

predict  runs ``karyostudio predict`` (the default model) on copies of the bundled sample cell,
         kills it with SIGKILL at a random moment after its first result, and measures the work
         lost: the time since the newest result file was written (the image in progress). It
         also checks that summary.csv lists every result file, and that the next run into the
         folder leaves no temporary file of the killed one.
app      runs the desktop application (offscreen) in a child process that edits the document
         every --interval seconds (each edit adds one outline and is logged with its time),
         kills it with SIGKILL at a random moment, reads the recovery file the autosave left
         and measures the work lost: the time between the last edit made and the last edit the
         recovery file holds. ``--max-wait-ms 0`` turns the autosave's maximum wait off, which is
         how the app behaved before (a debounce only), for comparison.

Examples:
  .venv/bin/python benchmarks/kill9_work_lost.py predict --trials 5
  .venv/bin/python benchmarks/kill9_work_lost.py app --trials 5 --interval 1.0 --kill-after 20
  .venv/bin/python benchmarks/kill9_work_lost.py app --trials 5 --interval 0.2 --kill-after 20
  .venv/bin/python benchmarks/kill9_work_lost.py app --trials 3 --interval 1.0 --kill-after 20 --max-wait-ms 0
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "resources" / "samples" / "sample_metaphase.png"


# --- predict ---------------------------------------------------------------------------------------

def predict_trial(work: Path, *, images: int = 40, kill_window_s: float = 4.0, seed: int = 0,
                  model: str = "default-cpu", timeout_s: float = 300.0) -> dict:
    """One kill -9 of a predict batch; returns the measurements (see the module docstring)."""
    rng = random.Random(seed)
    inputs = work / "cells"
    inputs.mkdir(parents=True, exist_ok=True)
    for k in range(images):
        shutil.copyfile(SAMPLE, inputs / f"cell{k:02d}.png")
    out = work / "out"
    command = [sys.executable, "-m", "karyostudio", "predict", str(inputs), "--out", str(out), "--model", model]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    started = time.time()
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not list(out.glob("*.json")):  # the model is loaded and one cell is done
            if child.poll() is not None or time.time() - started > timeout_s:
                raise RuntimeError(f"predict ended (or hung) before its first result: {child.returncode}")
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, kill_window_s))
        child.send_signal(signal.SIGKILL)
        killed = time.time()
    finally:
        child.wait()
    results = sorted(out.glob("*.json"))
    newest = max(p.stat().st_mtime for p in results)
    listed = {Path(row["image"]).stem for row in _csv_rows(out / "summary.csv")}
    missing = [p.name for p in results if p.stem not in listed]
    temps_after_kill = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    # The next run into the folder (on one more cell) cleans up and completes the summary.
    shutil.copyfile(SAMPLE, work / "next.png")
    subprocess.run([sys.executable, "-m", "karyostudio", "predict", str(work / "next.png"), "--out", str(out),
                    "--model", model], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=timeout_s, check=True)
    temps_after_rerun = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    listed_after = {Path(row["image"]).stem for row in _csv_rows(out / "summary.csv")}
    return {"results": len(results), "of": images, "seconds_lost": round(killed - newest, 3),
            "missing_from_summary": missing, "temp_files_after_kill": temps_after_kill,
            "temp_files_after_rerun": temps_after_rerun,
            "summary_complete_after_rerun": {p.stem for p in out.glob("*.json")} <= listed_after}


def _csv_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# --- app ---------------------------------------------------------------------------------------------

def app_trial(work: Path, *, interval_s: float, kill_after_s: float, max_wait_ms: int | None = None,
              seed: int = 0, startup_timeout_s: float = 120.0) -> dict:
    """One kill -9 of the app while it is being edited every ``interval_s`` seconds."""
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    log, recovery = work / "edits.log", work / "recovery"
    command = [sys.executable, str(Path(__file__).resolve()), "app-child", "--log", str(log),
               "--recovery", str(recovery), "--interval", str(interval_s)]
    if max_wait_ms is not None:
        command += ["--max-wait-ms", str(max_wait_ms)]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "KARYOSTUDIO_RECOVERY_DIR": str(recovery),
           "XDG_CONFIG_HOME": str(work / "config"), "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        started = time.time()
        while not (log.is_file() and log.read_text().strip()):  # the first edit was made
            if child.poll() is not None or time.time() - started > startup_timeout_s:
                raise RuntimeError(f"the app did not start editing: {child.stderr.read().decode()[-2000:]}")
            time.sleep(0.02)
        time.sleep(kill_after_s * rng.uniform(0.8, 1.2))
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
        child.stderr.close()
    edits = [tuple(map(float, line.split())) for line in log.read_text().splitlines() if line.strip()]
    saved = _recovered_edits(recovery)
    last_time = edits[-1][1]
    saved_time = edits[saved - 1][1] if saved > 0 else edits[0][1]
    return {"edits": len(edits), "saved": saved, "edits_lost": len(edits) - saved,
            "seconds_lost": round(last_time - saved_time, 3) if saved < len(edits) else 0.0}


def _recovered_edits(recovery: Path) -> int:
    from karyostudio.io.labelme import read_labelme

    files = sorted(recovery.glob("*.json"))
    return max((len(read_labelme(p).instances) for p in files), default=0)


def app_child(log: Path, recovery: Path, interval_s: float, max_wait_ms: int | None) -> int:
    """The edited app: opens the sample cell, adds one outline every interval, logs each edit."""
    import numpy as np
    from PySide6.QtCore import QTimer

    from karyostudio.core.commands import AddInstances
    from karyostudio.core.instance import Instance
    from karyostudio.gui.app import create_application
    from karyostudio.gui.autosave import AUTOSAVE_MAX_WAIT_MS
    from karyostudio.gui.main_window import MainWindow

    app = create_application()
    wait = AUTOSAVE_MAX_WAIT_MS if max_wait_ms is None else (max_wait_ms or 10 ** 9)
    window = MainWindow(predictor_loader=lambda name: None, model_lister=lambda: [], recovery_directory=recovery,
                        autosave_max_wait_ms=wait)
    window.show()
    if not window.files.open_path(SAMPLE):
        return 1
    handle = open(log, "a", buffering=1)
    count = [0]

    def edit() -> None:
        count[0] += 1
        k = count[0]
        x, y = 20 + (k * 37) % 900, 20 + (k * 53) % 700
        polygon = np.array([[x, y], [x + 12, y], [x + 12, y + 30], [x, y + 30]], dtype=np.float64)
        window.session.history.push(AddInstances([Instance(id=100000 + k, polygon=polygon, label="1")]))
        handle.write(f"{k} {time.time():.4f}\n")

    timer = QTimer()
    timer.timeout.connect(edit)
    timer.start(int(interval_s * 1000))
    QTimer.singleShot(0, edit)
    return app.exec()


# --- command line ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("predict")
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--images", type=int, default=40)
    a = sub.add_parser("app")
    a.add_argument("--trials", type=int, default=5)
    a.add_argument("--interval", type=float, default=1.0, help="seconds between edits")
    a.add_argument("--kill-after", type=float, default=20.0, help="seconds of editing before the kill (+-20 %%)")
    a.add_argument("--max-wait-ms", type=int, default=None, help="autosave maximum wait (0: none, as before)")
    c = sub.add_parser("app-child")
    c.add_argument("--log", type=Path, required=True)
    c.add_argument("--recovery", type=Path, required=True)
    c.add_argument("--interval", type=float, required=True)
    c.add_argument("--max-wait-ms", type=int, default=None)
    args = parser.parse_args(argv)
    if args.what == "app-child":
        return app_child(args.log, args.recovery, args.interval, args.max_wait_ms)
    trials = []
    for k in range(args.trials):
        with tempfile.TemporaryDirectory() as tmp:
            if args.what == "predict":
                trial = predict_trial(Path(tmp), images=args.images, seed=k)
            else:
                trial = app_trial(Path(tmp), interval_s=args.interval, kill_after_s=args.kill_after,
                                  max_wait_ms=args.max_wait_ms, seed=k)
        print(json.dumps(trial), flush=True)
        trials.append(trial)
    lost = [t["seconds_lost"] for t in trials]
    print(json.dumps({"what": args.what, "trials": len(trials), "seconds_lost_median": statistics.median(lost),
                      "seconds_lost_max": max(lost)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
