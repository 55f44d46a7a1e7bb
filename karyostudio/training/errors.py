"""The errors a training run raises (checkpoint files have theirs in training/checkpoint.py)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A training configuration that cannot be used (unknown key or preset, bad value, missing data)."""


class TrainingError(RuntimeError):
    """Training could not produce a model (the loss diverged, no time left to train, unreadable data)."""
