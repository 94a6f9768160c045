"""The emerging-hotspot classes, one constructed series per class (oldest cycle first)."""
from __future__ import annotations

import numpy as np
import pytest

from app.hotspots.trend import TREND_CLASSES, classify_one, hot_streak

H, C, _ = 1, -1, 0
NO_TREND = (0.0, 0.8)
UP, DOWN = (3.0, 0.003), (-3.0, 0.003)

CASES = {
    "new": ([_, _, _, _, _, _, _, _, _, H], NO_TREND),
    "consecutive": ([_, _, _, _, _, _, _, H, H, H], UP),
    "intensifying": ([H, H, H, H, H, H, H, H, H, H], UP),
    "persistent": ([H, H, _, H, H, H, H, H, H, H], NO_TREND),
    "diminishing": ([H, H, H, H, H, H, H, H, H, H], DOWN),
    "sporadic": ([_, H, _, _, H, _, H, _, _, H], NO_TREND),
    "oscillating": ([H, _, C, _, H, _, C, _, _, H], NO_TREND),
    "historical": ([H, H, H, H, H, H, H, H, H, _], DOWN),
    "none": ([_, _, H, _, _, _, _, _, _, _], NO_TREND),
}


@pytest.mark.parametrize("expected", TREND_CLASSES)
def test_each_class_from_a_constructed_series(expected):
    states, (z, p) = CASES[expected]
    assert classify_one(np.array(states), z, p) == expected


def test_a_run_that_started_after_earlier_hot_cycles_is_not_consecutive():
    assert classify_one(np.array([H, _, _, _, _, _, _, H, H, H]), 0.0, 0.9) == "sporadic"


def test_cold_history_alone_does_not_make_a_cell_interesting():
    assert classify_one(np.array([C, C, C, _, _, _, _, _, _, _]), -2.0, 0.04) == "none"


def test_hot_streak_counts_back_from_the_latest_cycle():
    states = np.array([[_, H, H, H], [H, H, H, H], [H, H, H, _]])
    assert hot_streak(states).tolist() == [3, 4, 0]
