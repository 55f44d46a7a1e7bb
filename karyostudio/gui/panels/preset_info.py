"""What the training panel says about a preset: its description and how long it takes here.

The description is the comment block a preset's YAML file opens with. The duration is what the
preset itself fixes: its time budget (``max_minutes``; training stops there at the latest, and
the CPU presets were sized for the 2 CPU cores they were timed on), scaled for this machine's
cores; a preset without a budget says so. Presets for a GPU say when this machine has none.
The panel defaults to the shortest CPU preset, so a first try finishes in minutes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources

import yaml

REFERENCE_CORES = 2  # the CPU presets' budgets were set on a 2-core machine


@dataclass(frozen=True)
class PresetInfo:
    name: str
    description: str
    budget_minutes: float | None
    device: str

    @property
    def needs_gpu(self) -> bool:
        return self.device.startswith("cuda")

    def duration_text(self, cores: int | None = None, has_gpu: bool = False) -> str:
        cores = cores or os.cpu_count() or 1
        if self.needs_gpu and not has_gpu:
            return "needs a GPU; this machine has none (on its CPU it would take days)"
        if self.budget_minutes is None:
            return "no time budget: it runs its epochs to the end (see the description)"
        minutes = self.budget_minutes
        if not self.needs_gpu and cores < REFERENCE_CORES:
            return (f"up to {_minutes(minutes)} of training (its budget, sized for {REFERENCE_CORES} cores); "
                    f"this machine has {cores}, so it gets less done in that time")
        return f"up to {_minutes(minutes)} on this machine ({cores} CPU cores{', a GPU' if has_gpu else ''})"


def _minutes(value: float) -> str:
    return f"{value / 60:.1f} h" if value >= 90 else f"{value:.0f} min"


def _text(name: str) -> str:
    from karyostudio.training.config import PRESET_PACKAGE  # imported when asked: no training code at start

    folder = resources.files(PRESET_PACKAGE)
    for suffix in (".yaml", ".yml"):
        entry = folder / f"{name}{suffix}"
        if entry.is_file():
            return entry.read_text(encoding="utf-8")
    return ""


def preset_info(name: str) -> PresetInfo:
    text = _text(name)
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        data = {}
    budget = data.get("max_minutes")
    if budget is None:  # some families keep their budget in their own settings
        for value in data.values():
            if isinstance(value, dict) and value.get("max_minutes") is not None:
                budget = value["max_minutes"]
                break
    return PresetInfo(name, " ".join(lines), float(budget) if budget is not None else None,
                      str(data.get("device", "cpu")))


def default_preset(names: list[str] | None = None) -> str | None:
    """The shortest CPU preset with a budget (ties by name)."""
    from karyostudio.training.config import preset_names

    infos = [preset_info(n) for n in (names if names is not None else preset_names())]
    short = [i for i in infos if not i.needs_gpu and i.budget_minutes is not None]
    if not short:
        return infos[0].name if infos else None
    return min(short, key=lambda i: (i.budget_minutes, i.name)).name
