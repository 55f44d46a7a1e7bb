"""RunRequest: what a model run loads, as one typed value handed from the GUI to its workers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

CPU = "cpu"


@dataclass(frozen=True)
class RunRequest:
    """A model (a registry name or a manifest path), the cluster splitter that follows it (or None),
    and the device both run on. Frozen, so it is a cache key and safe to pass between threads."""

    model: str
    splitter: str | None = None
    device: str = CPU

    @property
    def label(self) -> str:
        """How messages and undo texts name the run: the model, its splitter, a device other than the CPU."""
        text = self.model if self.splitter is None else f"{self.model} + {self.splitter}"
        return text if self.device == CPU else f"{text} on {self.device}"

    def model_only(self) -> RunRequest:
        """The same model on the same device without the splitter (what a predictor loader loads)."""
        return dataclasses.replace(self, splitter=None)
