"""Synthetic variants: separated sister chromatids and fields with no metaphase."""

import numpy as np
import pytest


def test_separated_chromatids_open_a_gap_along_the_arms_only():
    from karyostudio.synth import SynthConfig, generate_metaphase

    together = generate_metaphase(7, SynthConfig(size=512, clutter=False, clusters_mean=0))
    apart = generate_metaphase(7, SynthConfig(size=512, clutter=False, clusters_mean=0, chromatid_gap=0.5))
    assert [i.label for i in apart.instances] == [i.label for i in together.instances]
    # Same outlines, paler inside them: the gap lets light through between the chromatids.
    mask = together.masks().any(axis=0)
    assert np.array_equal(mask, apart.masks().any(axis=0))
    assert apart.image[mask].mean() > together.image[mask].mean() + 5
    with pytest.raises(ValueError, match="chromatid_gap"):
        SynthConfig(chromatid_gap=0.95)


def test_debris_only_field_has_no_chromosome_but_clutter():
    from karyostudio.synth import SynthConfig, generate_metaphase

    field = generate_metaphase(3, SynthConfig(size=512, debris_only=True))
    assert field.instances == [] and field.karyotype == ""
    assert field.image.min() < field.image.max() - 40  # specks and nuclei darken the field
