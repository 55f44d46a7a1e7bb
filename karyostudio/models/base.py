"""The Predictor protocol every model family implements, and helpers shared by its callers.

A predictor turns one metaphase image into chromosome instances in image pixel coordinates.
Each model family converts its raw output (masks, boxes, class scores) into Instances in one
place of its own (its postprocess step); callers (CLI, GUI, benchmarks) only ever see Instances.
"""

from __future__ import annotations

from typing import Iterable, Protocol, runtime_checkable

import numpy as np

from karyostudio.core.instance import Instance
from karyostudio.core.karyotype import karyotype_string
from karyostudio.core.progress import CancelToken, ProgressCallback

# Instance attribute set by segmenters on outlines that hold several touching/crossing
# chromosomes that could not be separated.
CLUSTER_ATTRIBUTE = "cluster"


@runtime_checkable
class Predictor(Protocol):
    """A loaded model, ready to predict.

    ``name`` is what ends up in ``Instance.source``; ``description`` is one line for lists.
    ``predict`` takes a 2-D grayscale image (uint8 or uint16), reports progress as
    progress(done, total, message), polls ``cancel`` between stages, and returns instances
    in image pixel coordinates (x right, y down).
    """

    name: str
    description: str

    def predict(self, image: np.ndarray, *, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> list[Instance]: ...


def is_cluster(instance: Instance) -> bool:
    """True for an outline that holds several chromosomes that were not separated."""
    return bool(instance.attributes.get(CLUSTER_ATTRIBUTE, False))


def prediction_karyotype(instances: Iterable[Instance]) -> str:
    """ISCN string of a predicted cell, counting single chromosomes only.

    Clusters are left out: they hold an unknown number of chromosomes, and counting one as an
    unnamed chromosome ("+mar") would misreport it. Unnamed single chromosomes do count (as
    "+mar") because each of them is one chromosome. A cell with clusters therefore shows a
    total below its real count until a reviewer splits them.
    """
    return karyotype_string(inst.label for inst in instances if not is_cluster(inst))
