"""`karyostudio models`: list the known models, whether their weights are installed and intact.

Columns: name, family, weights (present/missing), sha256 (ok, MISMATCH, or - when there is
nothing to check), and a short summary of the validation metrics from the manifest; cluster
splitters (ChromSeg) follow in a table of their own. --json prints the same as a JSON list for
scripts (splitters carry "role": "splitter").
"""

from __future__ import annotations

import argparse
import json

from karyostudio.models.manifest import (
    ManifestError,
    WeightsChecksumError,
    WeightsMissingError,
    read_manifest,
    verify_weights,
)
from karyostudio.models.registry import ModelInfo, available_models, available_splitters

MAX_METRICS_SHOWN = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def run(args: argparse.Namespace) -> int:
    entries = [describe(info) for info in available_models()]
    splitters = [describe(info) for info in available_splitters()]
    if args.json:
        print(json.dumps(entries + [{**e, "role": "splitter"} for e in splitters], indent=2))
    else:
        print(format_table(entries))
        if splitters:  # used with `predict --split-clusters` / Analysis > Split crossing clusters
            print("\ncluster splitters (predict --split-clusters NAME):")
            print(format_table(splitters))
    return 0


def describe(info: ModelInfo) -> dict:
    """One model's listing: manifest facts plus the result of checking its weights."""
    entry = {"name": info.name, "family": info.family, "description": info.description,
             "manifest": str(info.manifest_path) if info.manifest_path else None,
             "weights": "present" if info.weights_present else "missing", "sha256": "-", "metrics": {}}
    if info.manifest_path is None:
        return entry
    try:
        manifest = read_manifest(info.manifest_path)
    except ManifestError as exc:
        entry["problem"] = str(exc)
        return entry
    entry["metrics"] = manifest.metrics
    try:
        verify_weights(manifest)
        entry["sha256"] = "ok"
    except WeightsMissingError:
        entry["weights"] = "missing"
    except WeightsChecksumError as exc:
        entry["sha256"] = "MISMATCH"
        entry["problem"] = str(exc)
    return entry


def metrics_summary(metrics: dict) -> str:
    shown = []
    for key, value in list(metrics.items())[:MAX_METRICS_SHOWN]:
        shown.append(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}")
    more = len(metrics) - len(shown)
    return " ".join(shown) + (f" (+{more} more)" if more > 0 else "") if shown else "-"


def format_table(entries: list[dict]) -> str:
    header = ("name", "family", "weights", "sha256", "validation metrics")
    rows = [(e["name"], e["family"], e["weights"], e["sha256"], metrics_summary(e["metrics"])) for e in entries]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for r in [header, *rows]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + str(r[-1]))
    for e in entries:
        if "problem" in e:
            lines.append(f"! {e['name']}: {e['problem']}")
    if not entries:
        lines.append("(no models registered)")
    return "\n".join(lines)
