"""kill -9 during a predict batch and during rapid edits in the app: at most a few seconds are lost.

Both run the real program in a child process (benchmarks/kill9_work_lost.py, which also gives
the figures in BENCHMARKS.md) and kill it with SIGKILL at a random moment.
"""

from __future__ import annotations

import sys

import pytest

from benchmarks.kill9_work_lost import app_trial, predict_trial

TARGET_S = 5.0
SLACK_S = 0.5  # timers and process scheduling on a loaded 2-core machine

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")]


def test_killed_predict_loses_only_the_image_in_progress(tmp_path):
    trial = predict_trial(tmp_path, images=12, kill_window_s=2.0, seed=1)
    assert trial["results"] >= 1
    assert trial["missing_from_summary"] == []  # every written result is listed
    assert trial["temp_files_after_rerun"] == [] and trial["summary_complete_after_rerun"]
    assert trial["seconds_lost"] <= TARGET_S


def test_app_killed_during_rapid_edits_loses_at_most_the_maximum_wait(tmp_path):
    trial = app_trial(tmp_path, interval_s=0.25, kill_after_s=9.0, seed=2)
    assert trial["edits"] >= 20  # edits kept coming, so the debounce alone would never have saved
    assert trial["saved"] > 0
    assert trial["seconds_lost"] <= TARGET_S + SLACK_S
