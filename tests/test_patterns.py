"""The weekday × hour matrix: instants and aoristically spread windows."""
from __future__ import annotations

import datetime as dt

import numpy as np

from app.hotspots.patterns import hour_of_week_matrix


def wall(y, m, d, h, minute=0) -> float:
    return dt.datetime(y, m, d, h, minute, tzinfo=dt.UTC).timestamp()


def test_instants_land_on_their_weekday_and_hour():
    m = hour_of_week_matrix([(6, 23, 4), (1, 0, 1)], np.empty(0), np.empty(0), clip_from=0, clip_to=1e12)
    assert m.shape == (7, 24) and m[5, 23] == 4 and m[0, 0] == 1 and m.sum() == 5


def test_a_night_window_is_spread_over_its_hours():
    # Friday 2026-11-20 22:00 to Saturday 02:00, local wall clock.
    m = hour_of_week_matrix([], np.array([wall(2026, 11, 20, 22)]), np.array([wall(2026, 11, 21, 2)]),
                            clip_from=0, clip_to=1e12)
    assert m[4, 22] == m[4, 23] == m[5, 0] == m[5, 1] == 0.25
    assert m.sum() == 1.0


def test_partial_hours_and_clipping():
    start, end = wall(2026, 11, 16, 8, 30), wall(2026, 11, 16, 10, 0)  # Monday 08:30-10:00
    m = hour_of_week_matrix([], np.array([start]), np.array([end]), clip_from=0, clip_to=1e12)
    np.testing.assert_allclose(m[0, 8:10], [1 / 3, 2 / 3])
    clipped = hour_of_week_matrix([], np.array([start]), np.array([end]), clip_from=wall(2026, 11, 16, 9),
                                  clip_to=1e12)
    np.testing.assert_allclose(clipped[0, 8:10], [0, 2 / 3])


def test_windows_longer_than_a_week_spread_evenly():
    start = wall(2026, 11, 2, 0)
    m = hour_of_week_matrix([], np.array([start]), np.array([start + 14 * 86400]), clip_from=0, clip_to=1e12)
    np.testing.assert_allclose(m, np.full((7, 24), 1 / 168))
