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


def test_the_running_cycle_is_tested_for_the_share_that_has_passed():
    """Half the cycle gone, 20 so far against 20 per cycle over 6: a doubled rate. Compared as
    if the cycle were complete it is nothing (p ≈ 0.54); for the half that has passed it is
    Binomial(140, 0.5 / 6.5)'s tail."""
    assert stats.increase_p(20, 120, 6) == pytest.approx(0.537, abs=0.001)
    assert stats.increase_p(20, 120, 6, exposure=0.5) == pytest.approx(
        sps.binomtest(20, 140, 0.5 / 6.5, alternative="greater").pvalue, rel=1e-9)
    assert stats.increase_p(20, 120, 6, exposure=0.5) < 0.01
    assert stats.increase_p(10, 120, 6, exposure=0.5) > 0.4  # the same rate so far: nothing


def test_without_a_baseline_cycle_there_is_no_increase_test():
    assert np.isnan(stats.increase_p(np.array([12.0, 0.0]), np.zeros(2), 0)).all()
    assert np.isnan(stats.increase_p(3, 4, 6, exposure=0.0))


def new_town(rng: np.random.Generator, cycles_reporting: int) -> tuple[np.ndarray, np.ndarray]:
    """217 cells with their own constant Poisson rates; reports only in the last cycles (the
    municipality began reporting then); 10 cycles in all, as the layer's trend window."""
    cells = disk(8)
    lam = rng.gamma(1.0, 2.0, cells.size)
    counts = np.zeros((cells.size, 10))
    counts[:, -cycles_reporting:] = rng.poisson(lam[:, None], (cells.size, cycles_reporting))
    return cells, counts


def test_a_new_municipality_does_not_see_every_busy_cell_as_a_significant_increase():
    """Reporting began 2 cycles ago at a constant rate per cell. The 6 cycles before the last
    are mostly before reporting began, and those are not zeros: the baseline is the one cycle
    there is (it was 6 with zeros: 46 of 160 cells 'increase', a cell with 12 and 6 reports
    had baseline 1.0)."""
    cells, counts = new_town(np.random.default_rng(3), 2)
    result = analysis.analyse(cells, counts, area=cells, baseline_cycles=6)
    assert result.baseline_cycles == 1 and result.baseline_exposure == 1.0
    assert int(result.increase.sum()) <= 2
    np.testing.assert_array_equal(result.baseline, counts[:, -2])
    busy = int(np.argmax(result.count))
    assert (result.count[busy], result.baseline[busy]) == (12.0, 6.0)
    # told explicitly when reporting began (the layer knows it from the first report): the same
    exposure = np.r_[np.zeros(8), np.ones(2)]
    explicit = analysis.analyse(cells, counts, area=cells, baseline_cycles=6, exposure=exposure)
    np.testing.assert_array_equal(explicit.p_increase, result.p_increase)


def test_with_reporting_begun_this_cycle_there_is_no_baseline_and_no_increase():
    cells, counts = new_town(np.random.default_rng(4), 1)
    result = analysis.analyse(cells, counts, area=cells, baseline_cycles=6)
    assert result.baseline_cycles == 0 and not result.increase.any()
    assert np.isnan(result.baseline).all() and np.isnan(result.p_increase).all()
    assert result.hot.any()  # the hot test needs no history: it compares cells within the cycle


def test_a_cycle_reporting_began_in_counts_for_its_observed_part():
    """Reporting began halfway through a cycle: that half-cycle of reports is half a cycle of
    baseline, not a quiet cycle that makes the next one look doubled."""
    cells, counts = new_town(np.random.default_rng(5), 3)
    counts[:, -3] = np.random.default_rng(6).poisson(counts[:, -2:].mean(axis=1) / 2)
    exposure = np.r_[np.zeros(7), 0.5, 1.0, 1.0]
    result = analysis.analyse(cells, counts, area=cells, baseline_cycles=6, exposure=exposure)
    assert result.baseline_cycles == 2 and result.baseline_exposure == 1.5
    np.testing.assert_allclose(result.baseline, counts[:, -3:-1].sum(axis=1) / 1.5)
    assert int(result.increase.sum()) <= 2


def test_a_running_cycle_compares_its_change_for_the_same_share():
    cells = disk(1)
    counts = np.full((cells.size, 10), 20.0)
    counts[:, -1] = 10.0  # half the cycle gone, the same rate
    exposure = np.r_[np.ones(9), 0.5]
    result = analysis.analyse(cells, counts, area=cells, baseline_cycles=6, exposure=exposure)
    assert result.share == 0.5
    np.testing.assert_array_equal(result.change, 0.0)
    np.testing.assert_array_equal(result.change_vs_baseline, 0.0)
    assert not result.increase.any()
    done = analysis.analyse(cells, counts, area=cells, baseline_cycles=6)  # as a finished cycle: halved
    np.testing.assert_array_equal(done.change, -10.0)


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


def test_reporting_begun_in_the_last_hour_of_the_cycle_before_gives_no_baseline_yet():
    """0.2 reports in the last hour of the cycle before are not a baseline of 20 per cycle: less
    than a cycle's worth of observed time gives no baseline (and no increase test) yet."""
    cells = disk(1)
    counts = np.zeros((cells.size, 10))
    counts[:, -2], counts[:, -1] = 0.2, 3.0
    exposure = np.r_[np.zeros(8), 0.01, 1.0]
    result = analysis.analyse(cells, counts, area=cells, baseline_cycles=6, exposure=exposure)
    assert result.baseline_cycles == 0 and np.isnan(result.baseline).all() and np.isnan(result.p_increase).all()
    assert not result.increase.any()
