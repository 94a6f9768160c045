"""The hotspot statistics, checked against reference implementations and on known truth."""
from __future__ import annotations

import warnings

import h3
import numpy as np
import pytest
from scipy import stats as sps

from app.hotspots import analysis, grid, stats

CENTRE = h3.latlng_to_cell(59.37, 16.51, 9)


def disk(k: int) -> np.ndarray:
    return np.sort(np.array([h3.str_to_int(c) for c in h3.grid_disk(CENTRE, k)], dtype=np.int64))


def test_binomial_tails_match_scipy_on_whole_counts():
    k = np.array([0, 1, 3, 7, 20])
    np.testing.assert_allclose(stats.binomial_upper_p(k, 40, 0.1), sps.binom.sf(k - 1, 40, 0.1), rtol=1e-9)
    np.testing.assert_allclose(stats.binomial_lower_p(k, 40, 0.1), sps.binom.cdf(k, 40, 0.1), rtol=1e-9)


def test_fractional_counts_fall_between_their_neighbours():
    lo, mid, hi = stats.binomial_upper_p(np.array([2.0, 2.5, 3.0]), 30, 0.05)
    assert lo > mid > hi


def test_three_to_five_is_noise_but_a_real_jump_is_not():
    """"A change from 3 to 5 must not light up": 5 this cycle against 3 per cycle over 6 cycles."""
    assert stats.increase_p(5, 6 * 3, 6) > 0.15
    assert stats.increase_p(15, 6 * 3, 6) < 0.001
    assert stats.increase_p(0, 0, 6) == 1.0


def test_benjamini_hochberg_agrees_with_scipy():
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.uniform(size=80), rng.uniform(0, 0.002, size=20)])
    expected = sps.false_discovery_control(p, method="bh") <= 0.05
    assert (stats.benjamini_hochberg(p, 0.05) == expected).all()
    assert not stats.benjamini_hochberg(np.array([np.nan, np.nan])).any()


def test_gi_star_matches_pysal_esda_on_the_same_h3_weights():
    import esda
    import libpysal

    cells = disk(6)
    y = np.random.default_rng(3).poisson(1.5, cells.size).astype(float)
    rows = grid.neighbour_rows(cells)
    sums = stats.neighbourhood_sums(y[:, None], rows)[:, 0]
    z = stats.gi_star_z(y, sums, area_cells=cells.size, neighbourhood_cells=grid.disk_sizes_in(cells, cells))
    w = libpysal.weights.W({i: [int(j) for j in row if j >= 0 and j != i] for i, row in enumerate(rows)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = esda.G_Local(y, w, transform="B", permutations=0, star=True).Zs
    np.testing.assert_allclose(z, reference, atol=1e-9)


def test_mann_kendall_matches_pymannkendall_with_ties():
    import pymannkendall

    series = np.random.default_rng(11).poisson(2, (20, 10)).astype(float)
    series[0] = np.arange(10)  # a clean upward trend
    z, p = stats.mann_kendall(series)
    for row, zi, pi in zip(series, z, p):
        ref = pymannkendall.original_test(row)
        assert zi == pytest.approx(ref.z) and pi == pytest.approx(ref.p)
    assert z[0] > 3 and p[0] < 0.001


def simulate(rng, area: np.ndarray, per_cycle: int, cycles: int = 10, planted: int = 0) -> np.ndarray:
    counts = np.zeros((area.size, cycles))
    for t in range(cycles):
        np.add.at(counts[:, t], rng.integers(0, area.size, per_cycle), 1)
    if planted:
        centre = int(np.searchsorted(area, h3.str_to_int(CENTRE)))
        counts[centre, -1] += planted
    return counts


def test_purely_random_points_rarely_make_a_hotspot():
    """Calibration on sparse counts (the full 100-run study is bench/quality.py)."""
    area, rng = disk(15), np.random.default_rng(2026)
    runs_with_hotspot = sum(
        analysis.analyse(area, simulate(rng, area, 300), area=area, baseline_cycles=6).hot.any() for _ in range(20))
    assert runs_with_hotspot <= 2


def test_the_analytic_gi_star_would_have_flagged_random_points():
    """Why Gi* decides nothing: normal-theory p-values + BH on sparse counts cry wolf."""
    area, rng = disk(25), np.random.default_rng(2026)  # 1,951 cells, 0.15 reports per cell
    alarms = 0
    for _ in range(10):
        result = analysis.analyse(area, simulate(rng, area, 300), area=area, baseline_cycles=6)
        alarms += stats.benjamini_hochberg(sps.norm.sf(result.gi_star_z)).any()
    assert alarms >= 8


def test_a_planted_cluster_is_hot_ranked_first_and_new():
    area, rng = disk(15), np.random.default_rng(7)
    result = analysis.analyse(area, simulate(rng, area, 300, planted=12), area=area, baseline_cycles=6)
    centre = int(np.searchsorted(area, h3.str_to_int(CENTRE)))
    assert result.hot[centre] and result.rank[centre] == 1
    assert result.trend[centre] == "new" and not result.repeat[centre]
    assert result.increase[centre] and result.p_increase[centre] < 1e-4


def test_a_persistent_cluster_is_a_repeat_place():
    area, rng = disk(15), np.random.default_rng(8)
    counts = simulate(rng, area, 300)
    centre = int(np.searchsorted(area, h3.str_to_int(CENTRE)))
    counts[centre] += 10
    result = analysis.analyse(area, counts, area=area, baseline_cycles=6)
    assert result.trend[centre] == "persistent" and result.hot_streak[centre] == 10 and result.repeat[centre]
    assert not result.increase[centre]  # hot, but not more than usual


def test_hexagon_rings_are_closed_counter_clockwise_and_contain_their_centre():
    from shapely.geometry import LinearRing, Point, Polygon

    for cell in disk(2):
        ring = grid.hexagon_ring(int(cell))
        assert ring[0] == ring[-1] and len(ring) == 7
        assert LinearRing(ring).is_ccw
        lat, lon = h3.cell_to_latlng(h3.int_to_str(int(cell)))
        assert Polygon(ring).contains(Point(lon, lat))
