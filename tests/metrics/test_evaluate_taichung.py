"""`karyostudio evaluate` on real Taichung boxes: 1.0 against itself, pycocotools' numbers when perturbed."""

import pytest

pytest.importorskip("pycocotools")


@pytest.mark.slow
def test_evaluate_cli_on_taichung_matches_pycocotools(taichung_dir):
    from benchmarks.check_evaluate_taichung import check

    result = check(taichung_dir, limit=120, seed=1)
    assert result["self_map50"] == pytest.approx(1.0, abs=1e-9)
    assert 0.3 < result["perturbed_map50"] < 0.95  # perturbation really changes the score
    assert result["max_per_class_difference"] <= 1e-3
