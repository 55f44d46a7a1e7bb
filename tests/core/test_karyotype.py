import pytest
from iscn_authenticator import validate_karyotype

from karyostudio.core.classes import AUTOSOMES
from karyostudio.core.karyotype import count_classes, is_normal, iscn_from_counts, karyotype_string


def cell(sex: str, gains=(), losses=()):
    labels = [a for a in AUTOSOMES for _ in range(2)] + list(sex)
    labels += list(gains)
    for loss in losses:
        labels.remove(loss)
    return labels


@pytest.mark.parametrize("labels,expected", [
    (cell("XY"), "46,XY"),
    (cell("XX"), "46,XX"),
    (cell("XX", gains=["21"]), "47,XX,+21"),
    (cell("X"), "45,X"),
    (cell("XXY"), "47,XXY"),
    (cell("XY", losses=["13"]), "45,XY,-13"),
    (cell("XY", gains=["21", "13"]), "48,XY,+13,+21"),
    (cell("XX", gains=["1"], losses=["2"]), "46,XX,+1,-2"),
    (cell("XY") + [None], "47,XY,+mar"),
    (cell("XX") + [None, None], "48,XX,+2mar"),
    (cell(""), "44,U"),
])
def test_karyotype_strings_are_valid_iscn(labels, expected):
    text = karyotype_string(labels)
    assert text == expected
    result = validate_karyotype(text)
    assert result.valid, (text, result.errors)


def test_is_normal():
    assert is_normal(count_classes(cell("XY")))
    assert not is_normal(count_classes(cell("XX", gains=["21"])))


def test_unknown_label_rejected():
    with pytest.raises(ValueError):
        iscn_from_counts({"23": 2})
