import pytest

from karyostudio.core.classes import (CLASS_NAMES, KARYOGRAM_ROWS, NUM_CLASSES, UnknownLabelError, class_index,
                                      class_name, denver_group, parse_label, voc_name)


def test_class_names_and_order():
    assert NUM_CLASSES == 24
    assert CLASS_NAMES[:3] == ("1", "2", "3") and CLASS_NAMES[-2:] == ("X", "Y")
    assert [class_name(class_index(n)) for n in CLASS_NAMES] == list(CLASS_NAMES)
    # Every class appears exactly once in the karyogram rows.
    flat = [n for row in KARYOGRAM_ROWS for n in row]
    assert sorted(flat, key=class_index) == list(CLASS_NAMES) and len(flat) == 24


@pytest.mark.parametrize("name,group", [("1", "A"), ("5", "B"), ("12", "C"), ("X", "C"), ("15", "D"),
                                        ("18", "E"), ("20", "F"), ("22", "G"), ("Y", "G")])
def test_denver_groups(name, group):
    assert denver_group(name) == group


@pytest.mark.parametrize("raw,scheme,expected", [
    ("1", "canonical", "1"), ("x", "canonical", "X"), (" Y ", "any", "Y"),
    ("23", "autokary", "X"), ("24", "autokary", "Y"), ("22", "autokary", "22"), (7, "any", "7"),
    ("A1", "voc", "1"), ("C12", "voc", "12"), ("G22", "voc", "22"), ("X", "voc", "X"), ("b5", "any", "5"),
])
def test_parse_label_known(raw, scheme, expected):
    assert parse_label(raw, scheme) == expected


@pytest.mark.parametrize("raw,scheme", [
    ("-1", "any"), ("119", "any"), ("0", "any"), ("25", "any"), ("23", "canonical"), ("A4", "voc"),
    ("B1", "voc"), ("A01", "voc"), ("01", "any"), ("", "any"), ("chr1", "any"), (None, "any"), (True, "any"),
    ("A1", "autokary"),
])
def test_parse_label_rejects_unknown(raw, scheme):
    with pytest.raises(UnknownLabelError) as info:
        parse_label(raw, scheme)
    assert repr(raw) in str(info.value) or str(raw) in str(info.value)


def test_voc_names_round_trip():
    for name in CLASS_NAMES:
        assert parse_label(voc_name(name), "voc") == name
    assert voc_name("1") == "A1" and voc_name("X") == "X" and voc_name("21") == "G21"


def test_karyogram_groups_are_the_clinical_four_rows():
    from karyostudio.core.classes import KARYOGRAM_GROUPS

    assert KARYOGRAM_GROUPS == (
        (("1", "2", "3"), ("4", "5")),
        (("6", "7", "8", "9", "10", "11", "12"),),
        (("13", "14", "15"), ("16", "17", "18")),
        (("19", "20"), ("21", "22"), ("X", "Y")),
    )
    assert KARYOGRAM_ROWS == tuple(tuple(n for g in row for n in g) for row in KARYOGRAM_GROUPS)
