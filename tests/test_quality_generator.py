"""The quality benchmark's synthetic town must plant a truth worth forecasting.

If the generator's hotspots were too weak, or its truth did not match where reports fall, the
benchmark's PAI ratios would say nothing about the forecast score. No database needed; the
suite's conftest still wants DATABASE_URL, so run it with `make test`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import quality  # noqa: E402


@pytest.fixture(scope="module")
def area() -> quality.StudyArea:
    return quality.study_area()


@pytest.fixture(scope="module")
def town(area) -> quality.Simulation:
    return quality.simulate(area, np.random.default_rng(11), events_per_cycle=1_000, cycles=5)


def test_study_area_is_ten_by_ten_km_of_res9_cells(area):
    assert area.cell_area.sum() == pytest.approx(1e8, rel=0.02)  # m²
    assert area.quad_w.sum() == pytest.approx(area.cell_area.sum())
    assert np.all(np.diff(area.cells) > 0)


def test_reports_per_cycle_match_the_truth(town):
    reports, expected_parents = town.counts.sum(axis=0), town.truth.sum(axis=0)
    assert np.all(np.abs(reports - (1 + quality.OFFSPRING_P) * expected_parents) < 5 * np.sqrt(reports) + 30)


def test_the_oracle_flags_a_real_concentration(area, town):
    flag = quality.top_share(town.truth[:, -1], area.flagged_cells)
    assert quality.pai(flag, town.counts[:, -1]) > 5


def test_random_reports_score_about_one_wherever_flagged(area, town):
    flag = quality.top_share(town.truth[:, -1], area.flagged_cells)
    share = area.cell_area / area.cell_area.sum()
    uniform = np.random.default_rng(3).multinomial(100_000, share)
    assert quality.pai(flag, uniform) == pytest.approx(1.0, abs=0.1)


def test_tied_cells_share_the_last_places():
    flag = quality.top_share(np.array([5.0, 1.0, 1.0, 1.0, 0.0]), 2)
    assert flag.tolist() == pytest.approx([1.0, 1 / 3, 1 / 3, 1 / 3, 0.0])
