"""The follow-up statistics, pure, cross-checked against scipy where scipy has the same thing."""
import math

import pytest
from scipy import stats

from app.actions import effect


def test_conditional_test_is_the_exact_binomial_of_the_after_share():
    # 12 reports before, 3 after at the place; the control went 400 -> 380.
    res = effect.conditional_test(12, 3, 400, 380)
    ref_less = stats.binomtest(3, 15, 380 / 780, alternative="less").pvalue
    ref_greater = stats.binomtest(3, 15, 380 / 780, alternative="greater").pvalue
    assert res.p_decrease == pytest.approx(ref_less, rel=1e-9)
    assert res.p_increase == pytest.approx(ref_greater, rel=1e-9)
    assert res.p_decrease < 0.05
    assert res.expected_share == pytest.approx(380 / 780)


def test_small_counts_are_not_called_an_effect():
    # 3 -> 1 is what chance does; the exact test says so instead of a z-score crying wolf
    res = effect.conditional_test(3, 1, 500, 500)
    assert res.p_decrease == pytest.approx(stats.binomtest(1, 4, 0.5, alternative="less").pvalue)
    assert res.p_decrease > 0.3


def test_with_a_large_control_the_test_agrees_with_fishers_exact():
    # Fisher conditions on the control too; with a control 100x the target they coincide.
    res = effect.conditional_test(10, 2, 5000, 5100)
    _, fisher_p = stats.fisher_exact([[2, 10], [5100, 5000]], alternative="less")
    assert res.p_decrease == pytest.approx(fisher_p, rel=0.05)


def test_fractional_aoristic_counts_sit_between_the_integers():
    lo = effect.conditional_test(10, 2, 300, 300).p_decrease
    mid = effect.conditional_test(10, 2.5, 300, 300).p_decrease
    hi = effect.conditional_test(10, 3, 300, 300).p_decrease
    assert lo < mid < hi


def test_no_reports_means_no_evidence():
    res = effect.conditional_test(0, 0, 100, 100)
    assert (res.p_decrease, res.p_increase, res.observed_share) == (1.0, 1.0, None)


def test_rate_ratio_is_the_ratio_of_ratios_with_an_exact_interval():
    rr = effect.rate_ratio(20, 8, 400, 400)
    assert rr.ratio == pytest.approx((8 / 20) / (400 / 400))
    assert rr.change_pct == pytest.approx(-60.0)
    ci = stats.binomtest(8, 28).proportion_ci(confidence_level=0.95, method="exact")
    assert rr.low == pytest.approx(ci.low / (1 - ci.low), rel=1e-7)
    assert rr.high == pytest.approx(ci.high / (1 - ci.high), rel=1e-7)
    assert rr.low < rr.ratio < rr.high < 1  # a significant reduction: the interval stays below 1
    assert effect.conditional_test(20, 8, 400, 400).p_two_sided < 0.05


def test_clopper_pearson_matches_scipy():
    for k, n in [(0, 5), (1, 5), (5, 5), (3, 17)]:
        ci = stats.binomtest(k, n).proportion_ci(method="exact")
        lo, hi = effect.clopper_pearson(k, n)
        assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_rate_ratio_undefined_without_control_reports():
    assert effect.rate_ratio(5, 2, 0, 10).ratio is None


def test_wdd_nets_target_and_buffer_against_the_control_trend():
    # control flat; target 30 -> 10 (-20), ring 40 -> 50 (+10): net -10
    w = effect.wdd(30, 10, 40, 50, 1000, 1000)
    assert w.wdd == pytest.approx(-10.0)
    assert (w.target_part, w.buffer_part) == pytest.approx((-20.0, 10.0))
    # variance: t1 + d1 + (t0 + d0) + (t0 + d0)^2 * (1/c0 + 1/c1)
    var = 10 + 50 + 70 + 70 ** 2 * (2 / 1000)
    assert w.variance == pytest.approx(var)
    assert w.z == pytest.approx(-10 / math.sqrt(var))
    assert w.p_two_sided == pytest.approx(2 * stats.norm.sf(abs(w.z)))


def test_wdd_follows_the_control_trend():
    # everything halves, the place with it: no effect beyond the trend
    w = effect.wdd(30, 15, 40, 20, 1000, 500)
    assert w.wdd == pytest.approx(0.0)


def test_wdq_sign_tells_displacement_from_diffusion():
    assert effect.wdq(30, 10, 40, 50, 1000, 1000) < 0  # the ring got worse: displacement
    assert effect.wdq(30, 10, 40, 30, 1000, 1000) > 0  # the ring improved too: diffusion of benefits
    assert effect.wdq(30, 30, 40, 30, 1000, 1000) is None  # no change at the place


def _light(t0, t1, d0, d1, c0, c1, carried_out=True):
    return effect.propose_light(carried_out=carried_out, target=effect.conditional_test(t0, t1, c0, c1),
                                ratio=effect.rate_ratio(t0, t1, c0, c1),
                                displacement=effect.conditional_test(d0, d1, c0, c1))


def test_traffic_light_proposals():
    assert _light(20, 4, 30, 30, 500, 500).light == "green"
    assert _light(20, 4, 10, 40, 500, 500).light == "yellow"  # reduction, but displaced to the ring
    assert "displacement" in _light(20, 4, 10, 40, 500, 500).reason
    assert _light(5, 3, 30, 30, 500, 500).light == "yellow"  # -40 %, not significant: weaker effect
    assert _light(10, 11, 30, 30, 500, 500).light == "red"  # no effect
    assert _light(20, 4, 30, 30, 500, 500, carried_out=False).light == "red"  # not done
    assert _light(0, 0, 30, 30, 500, 500).light == "yellow"  # nothing to measure
