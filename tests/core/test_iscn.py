"""ISCN validation of reviewer-typed karyotypes."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.core.classes import CLASS_NAMES
from karyostudio.core.iscn import IscnError, is_valid_karyotype, validate_karyotype
from karyostudio.core.karyotype import iscn_from_counts


@pytest.mark.parametrize("text", [
    "46,XX", "46,XY", "47,XX,+21", "45,X", "47,XXY", "47,XY,+mar", "48,XY,+2mar", "44,U",
    "46,XY,t(9;22)(q34;q11.2)", "46,XX,del(5)(p15)", "46,XY,inv(9)(p12q13)", "46,XX,i(X)(q10)",
    "46,XY,der(22)t(9;22)(q34;q11)", "45,XX,rob(13;14)(q10;q10)", "46,XX,r(13)",
    "mos 45,X[10]/46,XX[20]", "69,XXY", "46,XY,-7,+mar",
])
def test_valid_karyotypes(text):
    assert is_valid_karyotype(text)


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("XX,46", "start with the chromosome count"),
    ("46", "count and the sex chromosomes"),
    ("46,YX", "X before Y"),
    ("46,XQ", "sex chromosomes"),
    ("47,XX", "does not match"),
    ("46,XX,+21", "add up to 47"),
    ("46,XX,,+1", "empty field"),
    ("46,XY,t(9)(q34)", "two or more chromosomes"),
    ("46,XY,t(9;22)(q34)", "breakpoint group"),
    ("46,XY,del(5(p15)", "unbalanced"),
    ("46,XY,foo(5)", "cannot read"),
    ("47,XX, +21", "no spaces"),
    ("mos 45,X/46,XX", "cell count in brackets"),
    ("46,XX,+23", "cannot read"),
])
def test_invalid_karyotypes_say_why(text, reason):
    with pytest.raises(IscnError, match=reason):
        validate_karyotype(text)


def test_every_counted_karyotype_is_valid():
    """What the karyogram counts from labels must pass the reviewer's validation unchanged."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        counts = {name: int(rng.choice([0, 1, 2, 2, 2, 3])) for name in CLASS_NAMES}
        counts[None] = int(rng.integers(0, 3))
        text = iscn_from_counts(counts)
        assert is_valid_karyotype(text), text
