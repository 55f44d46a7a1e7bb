"""Synthetic G-banded metaphases with complete ground truth (numpy, SciPy, OpenCV, scikit-image).

    from karyostudio.synth import SynthConfig, generate_metaphase, rng_for, write_sample
    sample = generate_metaphase(rng_for(seed, index), SynthConfig(size=1024))
    write_sample(sample, "out", "cell_0001")  # cell_0001.png / .json (labelme) / .npz

Chromosomes follow the GRCh38 ideogram (band table in data/): relative lengths, centromere
positions and G-band patterns. See metaphase.SynthMetaphase for what a sample holds.
"""

from karyostudio.synth.config import SynthConfig
from karyostudio.synth.dataset import SampleSummary, generate_dataset, sample_stem
from karyostudio.synth.files import read_instance_masks, sample_annotations, sample_arrays, write_sample
from karyostudio.synth.karyotype_plan import ANEUPLOIDIES
from karyostudio.synth.metaphase import SynthMetaphase, generate_metaphase, rng_for
from karyostudio.synth.overlaps import CrossingCluster, MaskPatch

__all__ = [
    "ANEUPLOIDIES",
    "CrossingCluster",
    "MaskPatch",
    "SampleSummary",
    "SynthConfig",
    "SynthMetaphase",
    "generate_dataset",
    "generate_metaphase",
    "read_instance_masks",
    "rng_for",
    "sample_annotations",
    "sample_arrays",
    "sample_stem",
    "write_sample",
]
