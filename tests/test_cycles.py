"""EST cycles: local-midnight boundaries (DST included), ids, labels, and aoristic shares."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from app.errors import InvalidInput, NotFound
from app.hotspots.cycles import CycleGrid, aoristic_weights, observed_shares
from app.timeutil import STOCKHOLM

GRID = CycleGrid(anchor=dt.date(2026, 1, 7), days=14)  # the demo's meeting Wednesdays
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=STOCKHOLM)


def test_current_and_previous_resolve_around_now():
    current = GRID.resolve("current", now=NOW)
    assert current.id == "2026-11-11" and current.last_day == dt.date(2026, 11, 24)
    assert GRID.resolve("previous", now=NOW).id == "2026-10-28"
    assert GRID.resolve("2026-10-28", now=NOW) == GRID.resolve("previous", now=NOW)
    assert current.start == dt.datetime(2026, 11, 11, tzinfo=STOCKHOLM)
    assert current.end == dt.datetime(2026, 11, 25, tzinfo=STOCKHOLM)


def test_cycles_before_the_anchor_continue_the_grid():
    assert GRID.resolve("2025-12-24", now=NOW).last_day == dt.date(2026, 1, 6)


def test_label_names_the_iso_weeks():
    assert GRID.resolve("2026-11-11", now=NOW).label == "v.46–48 2026"  # Wednesday to Tuesday
    monday = CycleGrid(anchor=dt.date(2026, 11, 9), days=14).cycle(0)
    assert monday.label == "v.46–47 2026"
    assert CycleGrid(anchor=dt.date(2026, 12, 28), days=14).cycle(0).label == "v.53 2026–v.1 2027"


@pytest.mark.parametrize("first_day, hours", [("2026-03-18", 14 * 24 - 1), ("2026-10-14", 14 * 24 + 1),
                                              ("2026-11-11", 14 * 24)])
def test_cycles_over_a_dst_change_are_one_hour_shorter_or_longer(first_day, hours):
    cycle = GRID.resolve(first_day, now=NOW)
    assert cycle.end.astimezone(dt.UTC) - cycle.start.astimezone(dt.UTC) == dt.timedelta(hours=hours)
    assert cycle.start.astimezone(STOCKHOLM).hour == 0 and cycle.end.astimezone(STOCKHOLM).hour == 0


def test_a_report_at_local_midnight_belongs_to_the_new_cycle():
    midnight = dt.datetime(2026, 11, 11, 0, 0, tzinfo=STOCKHOLM)
    assert GRID.index_at(midnight) == GRID.resolve("2026-11-11", now=NOW).index
    assert GRID.index_at(midnight - dt.timedelta(seconds=1)) == GRID.resolve("2026-10-28", now=NOW).index


@pytest.mark.parametrize("ref, error", [("2026-11-12", NotFound), ("2026-11-25", NotFound),
                                        ("last week", InvalidInput), ("2026-13-01", InvalidInput),
                                        ("0001-01-01", NotFound), ("9999-12-31", NotFound)])
def test_bad_cycle_references_are_refused_with_a_reason(ref, error):
    with pytest.raises(error) as caught:
        GRID.resolve(ref, now=NOW)
    assert "cycle" in caught.value.detail.lower()


def test_aoristic_weights_share_a_window_in_proportion_to_overlap():
    cycles = GRID.span(GRID.resolve("current", now=NOW), 2)
    edges = GRID.boundaries_utc(cycles)
    boundary = edges[1]
    starts = np.array([boundary - 3 * 3600, boundary - 100, edges[0] + 10, boundary - 3600])
    ends = np.array([boundary + 1 * 3600, boundary - 100, edges[0] + 10, edges[2] + 3600 * 23])
    w = aoristic_weights(starts, ends, edges)
    np.testing.assert_allclose(w[0], [0.75, 0.25])  # 3 h before midnight, 1 h after
    np.testing.assert_allclose(w[1], [1.0, 0.0])  # an instant
    np.testing.assert_allclose(w[2], [1.0, 0.0])
    assert w[3].sum() < 1  # the part after the last cycle is not counted here


def test_observed_shares_leave_out_the_time_before_the_first_report_and_after_now():
    cycles = GRID.span(GRID.resolve("current", now=NOW), 4)  # 2026-10-14 (over DST) … 2026-11-11
    first_report = dt.datetime(2026, 10, 21, 12, tzinfo=STOCKHOLM)  # halfway through the second (337 h)
    shares = observed_shares(cycles, since=first_report, now=NOW)
    assert shares[0] == 0.0 and shares[2] == 1.0
    assert shares[1] == pytest.approx((dt.datetime(2026, 10, 28, tzinfo=STOCKHOLM).timestamp()
                                       - first_report.timestamp()) / (337 * 3600))
    assert shares[3] == pytest.approx((10 * 24 + 12) / (14 * 24))  # 21 Nov 12:00 in the cycle from 11 Nov
    assert cycles[3].elapsed_share(NOW) == shares[3] and cycles[2].elapsed_share(NOW) == 1.0
    assert (observed_shares(cycles, since=None, now=NOW) == 0).all()  # no report yet: nothing observed
