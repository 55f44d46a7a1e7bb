"""Joint karyotype assignment: pairs made consistent, sex hypotheses, trisomy, odd counts."""

from __future__ import annotations

import numpy as np
import pytest

from karyostudio.core.classes import CLASS_NAMES, class_index
from karyostudio.core.instance import Instance
from karyostudio.models.classic.assign import AssignConfig, assign_karyotype, cluster_flags


def karyotype_log_probs(names: list[str], *, p_true: float = 0.9, seed: int = 0) -> np.ndarray:
    """Rows putting p_true on each given class and the rest spread (randomly) over the others."""
    rng = np.random.default_rng(seed)
    rows = []
    for name in names:
        rest = rng.dirichlet(np.ones(len(CLASS_NAMES) - 1)) * (1 - p_true)
        row = np.insert(rest, class_index(name), p_true)
        rows.append(np.log(row))
    return np.array(rows)


def normal(sex: str) -> list[str]:
    return [c for c in CLASS_NAMES[:22] for _ in range(2)] + list(sex)


def test_joint_assignment_fixes_three_ones_and_no_two():
    names = normal("XY")
    lp = karyotype_log_probs(names)
    # One "2" looks slightly more like a "1" on its own: argmax gives three 1s and one 2 ...
    two = names.index("2")
    lp[two] = np.log(np.full(24, 0.02 / 22))
    lp[two, class_index("1")] = np.log(0.5)
    lp[two, class_index("2")] = np.log(0.48)
    independent = [CLASS_NAMES[k] for k in lp.argmax(1)]
    assert independent.count("1") == 3 and independent.count("2") == 1
    result = assign_karyotype(lp)
    # ... the joint assignment gives two of each.
    assert result.labels == names
    assert result.labels.count("1") == 2 and result.labels.count("2") == 2
    # The corrected chromosome is less certain than the others.
    assert result.confidence[two] < np.median(result.confidence)
    assert result.row_probability[two] == pytest.approx(0.48, rel=1e-6)


def test_xy_and_xx_hypotheses_are_chosen_by_evidence():
    male = assign_karyotype(karyotype_log_probs(normal("XY")))
    female = assign_karyotype(karyotype_log_probs(normal("XX")))
    assert male.sex_hypothesis == "XY" and male.labels.count("Y") == 1
    assert female.sex_hypothesis == "XX" and female.labels.count("X") == 2
    assert female.hypothesis_scores["XX"] > female.hypothesis_scores["XY"]


def test_sex_prior_decides_when_the_evidence_is_balanced():
    names = normal("X") + ["X"]
    lp = karyotype_log_probs(names)
    # The last sex chromosome is equally X or Y.
    lp[-1] = np.log(np.full(24, 0.02 / 22))
    lp[-1, class_index("X")] = lp[-1, class_index("Y")] = np.log(0.49)
    assert assign_karyotype(lp, config=AssignConfig(xy_log_prior=0.5)).sex_hypothesis == "XY"
    assert assign_karyotype(lp, config=AssignConfig(xy_log_prior=-0.5)).sex_hypothesis == "XX"


def test_trisomy_21_survives_when_strongly_supported():
    names = normal("XX") + ["21"]
    result = assign_karyotype(karyotype_log_probs(names, p_true=0.97))
    assert result.labels.count("21") == 3
    assert result.labels == names


def test_weak_third_copy_goes_back_to_its_empty_pair():
    # A "22" that on its own looks more like a 21 (0.6 vs 0.3): argmax makes a trisomy 21.
    names = normal("XY")
    lp = karyotype_log_probs(names)
    odd = len(names) - 1 - names[::-1].index("22")
    lp[odd] = np.log(np.full(24, 0.1 / 22))
    lp[odd, class_index("21")] = np.log(0.6)
    lp[odd, class_index("22")] = np.log(0.3)
    assert [CLASS_NAMES[k] for k in lp.argmax(1)].count("21") == 3
    result = assign_karyotype(lp)
    assert result.labels == names
    # With an almost free extra copy the 2:1 preference wins and the trisomy stays.
    weak = assign_karyotype(lp, config=AssignConfig(extra_copy_cost=0.1))
    assert weak.labels.count("21") == 3 and weak.labels.count("22") == 1


def test_more_than_47_instances_are_all_labelled():
    names = normal("XY") + ["1", "5", "13", "18", "21", "X"]  # 52 chromosomes
    result = assign_karyotype(karyotype_log_probs(names, p_true=0.99))
    assert all(lb is not None for lb in result.labels)
    assert result.labels == names


def test_fewer_than_46_instances():
    names = normal("XY")[::3]  # 16 chromosomes of a badly spread cell
    result = assign_karyotype(karyotype_log_probs(names))
    assert result.labels == names
    assert np.all((result.confidence > 0.5) & (result.confidence <= 1.0))


def test_clusters_take_no_slot_and_get_no_label():
    names = normal("XY")
    lp = karyotype_log_probs(names)
    cluster_row = np.log(np.full((1, 24), 1 / 24))
    cluster_row[0, class_index("1")] = np.log(0.9)  # would steal a slot of "1" if it took part
    lp = np.concatenate([cluster_row, lp])
    instances = [Instance(id=k, polygon=[[0, 0], [1, 0], [1, 1]], attributes={"cluster": k == 0})
                 for k in range(len(lp))]
    skip = cluster_flags(instances)
    result = assign_karyotype(lp, skip=skip)
    assert result.labels[0] is None and np.isnan(result.confidence[0])
    assert result.labels[1:] == names


def test_results_are_stable_and_inputs_untouched():
    lp = karyotype_log_probs(normal("XX"), p_true=0.4, seed=3)
    before = lp.copy()
    a, b = assign_karyotype(lp), assign_karyotype(lp)
    assert a.labels == b.labels and np.array_equal(a.confidence, b.confidence)
    assert np.array_equal(lp, before)
    # Logits (unnormalised rows) give the same answer as log-probabilities.
    c = assign_karyotype(lp + 7.0)
    assert c.labels == a.labels


def test_edge_cases_and_bad_input():
    empty = assign_karyotype(np.zeros((0, 24)))
    assert empty.labels == [] and empty.sex_hypothesis is None
    all_skipped = assign_karyotype(np.zeros((2, 24)), skip=np.array([True, True]))
    assert all_skipped.labels == [None, None]
    with_inf = np.full((1, 24), -np.inf)
    with_inf[0, 4] = 0.0
    assert assign_karyotype(with_inf).labels == ["5"]
    with pytest.raises(ValueError):
        assign_karyotype(np.zeros((3, 23)))
    with pytest.raises(ValueError):
        assign_karyotype(np.zeros((3, 24)), skip=np.zeros(2, dtype=bool))


# --- large inputs: the min-cost flow path ----------------------------------------------------------

from scipy.special import logsumexp  # noqa: E402

from karyostudio.models.classic import assign as assign_module  # noqa: E402


def _random_log_probs(n: int, rng: np.random.Generator, *, crowd: bool) -> np.ndarray:
    lp = rng.normal(size=(n, 24)) * 3
    peaks = rng.integers(0, 3, n) if crowd else rng.integers(0, 24, n)  # crowd: most want classes 1-3
    lp[np.arange(n), peaks] += 6
    return np.maximum(lp - logsumexp(lp, axis=1, keepdims=True), -50.0)


@pytest.mark.parametrize("n, extra_copy_cost, crowd", [
    (20, 4.0, False), (46, 4.0, False), (52, 0.3, True), (75, 4.0, True), (90, 0.0, True), (110, 1.0, False)])
def test_flow_gives_the_slot_solution_and_its_max_marginals(n, extra_copy_cost, crowd):
    """The flow (used past EXACT_SLOTS_MAX) and the slot matrices agree on labels, scores and confidences."""
    lp = _random_log_probs(n, np.random.default_rng(n), crowd=crowd)
    config = AssignConfig(extra_copy_cost=extra_copy_cost, xy_log_prior=0.3)
    extra = 1 + max(0, n - 46)
    hyp_s, totals_s, classes_s, conf_s = assign_module._assign_slots(-lp, extra, config)
    hyp_f, totals_f, classes_f, conf_f = assign_module._assign_flow(-lp, extra, config)
    assert hyp_f == hyp_s
    assert np.array_equal(classes_f, classes_s)
    assert totals_f == pytest.approx(totals_s, abs=1e-8)
    np.testing.assert_allclose(conf_f, conf_s, atol=1e-9)


def test_thousands_of_objects_are_named_in_seconds():
    """A debris field (1,000 specks) and a huge image (5,000 objects) used to take hours and gigabytes."""
    import time

    rng = np.random.default_rng(0)
    for n, limit_s in ((1000, 10.0), (5000, 40.0)):
        lp = _random_log_probs(n, rng, crowd=False)
        start = time.perf_counter()
        result = assign_karyotype(lp)
        elapsed = time.perf_counter() - start
        assert elapsed < limit_s, f"{n} objects took {elapsed:.1f} s"
        assert all(label is not None for label in result.labels)
        assert np.all((result.confidence >= 0.5 - 1e-12) & (result.confidence <= 1.0))
        # Extra copies are spread over the classes (each costs more than the one before), not piled up.
        counts = np.bincount([class_index(lb) for lb in result.labels], minlength=24)
        assert counts.max() - counts.min() < n // 24 + 20


# --- presence: the assignment decides which detections are chromosomes -----------------------------

def test_presence_keeps_a_doubtful_detection_that_fills_an_empty_class_and_drops_a_third_copy():
    """Two detections equally doubtful as objects: the one that would be the cell's only second 21
    is kept, the one that would be a third chromosome 1 is dropped. No per-object threshold can
    tell them apart; the assignment with presence does."""
    names = [n for n in normal("XY") if n != "21"] + ["21"]  # one 21 found with confidence
    lp = karyotype_log_probs(names, p_true=0.95)
    pale_21 = karyotype_log_probs(["21"], p_true=0.8, seed=1)
    half_of_1 = karyotype_log_probs(["1"], p_true=0.8, seed=2)
    lp = np.vstack([lp, pale_21, half_of_1])
    presence = np.r_[np.full(len(names), 0.98), 0.3, 0.3]
    result = assign_karyotype(lp, presence=presence)
    assert result.labels[len(names)] == "21"
    assert result.labels[len(names) + 1] is None
    assert np.isnan(result.confidence[len(names) + 1])
    assert result.labels[:len(names)] == names
    assert result.sex_hypothesis == "XY"
    # Without the presence the third 1 is kept as a trisomy reading or forced somewhere.
    assert assign_karyotype(lp).labels[len(names) + 1] is not None


def test_presence_drops_junk_even_where_classes_are_empty():
    """A debris field: nothing looks like a chromosome, so nothing is kept, however empty the cell."""
    lp = karyotype_log_probs(["21", "Y", "22", "19"] * 5)
    result = assign_karyotype(lp, presence=np.full(20, 1e-4))
    assert all(label is None for label in result.labels)
    assert result.sex_hypothesis is None


def test_presence_shape_and_settings_are_checked():
    with pytest.raises(ValueError, match="presence"):
        assign_karyotype(np.zeros((3, 24)), presence=np.ones(2))
    with pytest.raises(TypeError, match="presence_floor"):
        AssignConfig(presence_floor=1.5)
    with pytest.raises(TypeError, match="missing_copy_cost"):
        AssignConfig(missing_copy_cost="6")


def test_presence_probability_rises_with_the_detector_score_and_falls_with_reject():
    from karyostudio.models.classic.assign import presence_probability

    config = AssignConfig(score_weight=2.0, reject_weight=0.5, presence_bias=0.3)
    p = presence_probability(np.array([0.1, 0.5, 0.9, 0.9]), np.array([0.1, 0.1, 0.1, 0.9]), config)
    assert p[0] < p[1] < p[2] and p[3] < p[2]
    # logit p = 2 logit(0.5) + 0.5 logit(0.9) + 0.3
    assert p[1] == pytest.approx(1 / (1 + np.exp(-(0.5 * np.log(9) + 0.3))))


@pytest.mark.parametrize("n, crowd", [(30, False), (50, True), (80, True), (120, False)])
def test_flow_and_slots_agree_with_presence(n, crowd):
    """The "no chromosome" reading and the fill bonus give the same optimum and max-marginals both ways."""
    rng = np.random.default_rng(100 + n)
    lp = _random_log_probs(n, rng, crowd=crowd)
    presence = rng.uniform(0.02, 0.99, n)
    config = AssignConfig(missing_copy_cost=2.5, extra_copy_cost=1.5)
    cost, bonus = assign_module._costs(lp, presence, config)
    extra = 1 + max(0, n - 46)
    hyp_s, totals_s, classes_s, conf_s = assign_module._assign_slots(cost, extra, config, bonus)
    hyp_f, totals_f, classes_f, conf_f = assign_module._assign_flow(cost, extra, config, bonus)
    if abs(totals_s["XX"] - totals_s["XY"]) > 1e-9:  # an exact tie may go either way
        assert hyp_f == hyp_s
    assert np.array_equal(classes_f, classes_s)
    assert (classes_s == assign_module.NO_CHROMOSOME).any() and (classes_s != assign_module.NO_CHROMOSOME).any()
    assert totals_f == pytest.approx(totals_s, abs=1e-8)
    np.testing.assert_allclose(conf_f, conf_s, atol=1e-9)


def test_only_a_metaphase_earns_the_fill_bonus():
    """Five doubtful objects on their own (a field of debris or stray pieces) are dropped; the same
    five beside 40 clear chromosomes fill the copies the cell lacks."""
    doubtful_names = ["21", "22", "19", "20", "Y"]
    doubtful = karyotype_log_probs(doubtful_names, p_true=0.8, seed=3)
    alone = assign_karyotype(doubtful, presence=np.full(5, 0.3))
    assert all(label is None for label in alone.labels)
    clear_names = [n for n in normal("XY") if n not in doubtful_names]
    lp = np.vstack([karyotype_log_probs(clear_names, p_true=0.95), doubtful])
    presence = np.r_[np.full(len(clear_names), 0.98), np.full(5, 0.3)]
    in_a_metaphase = assign_karyotype(lp, presence=presence)
    assert in_a_metaphase.labels[len(clear_names):] == doubtful_names


def test_a_field_of_several_metaphases_keeps_every_likely_chromosome():
    """Two metaphases side by side (92 likely chromosomes) are not one cell with 46 surplus copies:
    every likely chromosome is kept and named, doubtful objects are still settled one by one."""
    two_cells = normal("XY") + normal("XX")
    lp = np.vstack([karyotype_log_probs(two_cells, p_true=0.9), karyotype_log_probs(["1", "2"], seed=5)])
    presence = np.r_[np.full(len(two_cells), 0.8), 0.1, 0.1]
    result = assign_karyotype(lp, presence=presence)
    assert result.labels[:len(two_cells)] == two_cells
    assert result.labels[len(two_cells):] == [None, None]


def test_one_metaphase_still_drops_a_likely_surplus_copy():
    """Within one metaphase a likely-looking third chromosome 1 (a second box on a chromosome) is
    dropped unless the classifier and detector are sure enough to pay for a trisomy."""
    names = normal("XY")
    lp = np.vstack([karyotype_log_probs(names, p_true=0.95), karyotype_log_probs(["1"], p_true=0.8, seed=2)])
    surplus = assign_karyotype(lp, presence=np.r_[np.full(len(names), 0.98), 0.7])
    assert surplus.labels[len(names)] is None
    sure = assign_karyotype(lp, presence=np.r_[np.full(len(names), 0.98), 0.9999])
    assert sure.labels[len(names)] == "1"


def _cell_with_a_doubtful_y(p_y: float) -> np.ndarray:
    """45 clear chromosomes (XY less the Y) and one object read as Y at p_y, otherwise as X."""
    lp = karyotype_log_probs(normal("X") + ["Y"], p_true=0.95)
    lp[-1] = np.log(np.full(24, 1e-4))
    lp[-1, class_index("Y")], lp[-1, class_index("X")] = np.log(p_y), np.log(1 - p_y - 22e-4)
    return lp


def test_the_strongest_y_reading_weighs_in_the_sex_decision():
    """XY wins exactly when the whole-cell evidence plus the prior and the weighted strongest Y
    reading favour it; the weight changes decisions the prior alone would make."""
    config = AssignConfig(xy_log_prior=-1.0, y_evidence_weight=1.5)
    prior_only = AssignConfig(xy_log_prior=-1.0)
    decisions, without_weight = [], []
    for p_y in (0.05, 0.3, 0.45, 0.6, 0.8, 0.95):
        lp = _cell_with_a_doubtful_y(p_y)
        neutral = assign_karyotype(lp).hypothesis_scores
        whole_cell = neutral["XY"] - neutral["XX"]
        odds = -1.0 + 1.5 * np.log(p_y / (1 - p_y))
        decided = assign_karyotype(lp, config=config)
        assert decided.sex_hypothesis == ("XY" if whole_cell + odds > 0 else "XX")
        assert (decided.labels[-1] == "Y") == (decided.sex_hypothesis == "XY")
        decisions.append(decided.sex_hypothesis)
        without_weight.append(assign_karyotype(lp, config=prior_only).sex_hypothesis)
    assert decisions[0] == "XX" and decisions[-1] == "XY" and decisions != without_weight
    female = assign_karyotype(karyotype_log_probs(normal("XX"), p_true=0.95, seed=2), config=config)
    assert female.sex_hypothesis == "XX" and "Y" not in female.labels


def test_xy_log_odds_is_the_prior_plus_the_weighted_strongest_y():
    from karyostudio.models.classic.assign import xy_log_odds

    lp = _cell_with_a_doubtful_y(0.3)
    presence = np.full(len(lp), 0.9)
    config = AssignConfig(xy_log_prior=0.5, y_evidence_weight=2.0)
    strongest = 0.3 * 0.9
    assert xy_log_odds(lp, presence, config) == pytest.approx(0.5 + 2.0 * np.log(strongest / (1 - strongest)))
    assert xy_log_odds(lp, presence, AssignConfig(xy_log_prior=0.5)) == 0.5  # no weight: the prior alone
    with pytest.raises(TypeError, match="y_evidence_weight"):
        AssignConfig(y_evidence_weight=float("nan"))


def test_flow_and_slots_agree_with_a_cell_level_xy_odds():
    rng = np.random.default_rng(7)
    lp = _random_log_probs(50, rng, crowd=True)
    presence = rng.uniform(0.05, 0.99, 50)
    config = AssignConfig(xy_log_prior=1.2, y_evidence_weight=0.8)
    cost, bonus = assign_module._costs(lp, presence, config)
    odds = assign_module.xy_log_odds(lp, presence, config)
    _, totals_s, classes_s, conf_s = assign_module._assign_slots(cost, 5, config, bonus, odds)
    _, totals_f, classes_f, conf_f = assign_module._assign_flow(cost, 5, config, bonus, odds)
    assert totals_f == pytest.approx(totals_s, abs=1e-8)
    assert np.array_equal(classes_f, classes_s)
    np.testing.assert_allclose(conf_f, conf_s, atol=1e-9)
