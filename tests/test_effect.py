"""The follow-up statistics, pure, cross-checked against scipy where scipy has the same thing."""
import math

import numpy as np
import pytest
from scipy import stats
from scipy.stats.contingency import odds_ratio

from app.actions import effect


def test_conditional_test_is_fishers_exact_test_on_the_two_by_two_table():
    # 12 reports before, 3 after at the place; the control went 40 -> 38.
    res = effect.conditional_test(12, 3, 40, 38)
    table = [[3, 12], [38, 40]]
    assert res.p_decrease == pytest.approx(stats.fisher_exact(table, alternative="less").pvalue, rel=1e-12)
    assert res.p_increase == pytest.approx(stats.fisher_exact(table, alternative="greater").pvalue, rel=1e-12)
    assert res.p_decrease < 0.05
    assert res.expected_share == pytest.approx(38 / 78) and res.whole_counts == (12, 3, 40, 38)


def test_with_the_whole_town_as_control_it_is_the_exact_binomial_test():
    # conditioning on the control's split costs nothing when the control is 1000x the place
    res = effect.conditional_test(12, 3, 40000, 38000)
    assert res.p_decrease == pytest.approx(stats.binomtest(3, 15, 38 / 78, alternative="less").pvalue, rel=0.01)


def test_small_counts_are_not_called_an_effect():
    # 3 -> 1 is what chance does; the exact test says so instead of a z-score crying wolf
    res = effect.conditional_test(3, 1, 500, 500)
    assert res.p_decrease > 0.3


def test_a_control_with_no_reports_before_does_not_make_an_unchanged_place_green():
    # 5 reports before, 5 after at the place; the control ring had 0 before and 1 after. The old
    # test took the control's split (0 : 1) as exact: green, "p = 0.000".
    t = effect.conditional_test(5, 5, 0, 1)
    assert t.p_decrease == pytest.approx(6 / 11)  # Fisher: the only other table has t1 = 6
    light = effect.propose_light(carried_out=True, target=t, ratio=effect.rate_ratio(5, 5, 0, 1), displacement=None)
    assert light.light == "red" and light.code == "no_reduction"


def test_a_small_control_is_calibrated_when_nothing_changed():
    """No effect anywhere (the same Poisson rate before and after at the place and in a ring of
    ~3 reports per period): a significant reduction may come in at most 5 % of follow-ups. The
    binomial test that took the control's split as exact gave ~13 %; Fisher's exact ~1.5 %.
    (The full calibration, with the whole town as control: bench/follow_up.py.)"""
    rng = np.random.default_rng(7)
    runs = 1000
    t, c = rng.poisson(4, (runs, 2)), rng.poisson(3, (runs, 2))
    false_greens = sum(effect.conditional_test(*t[i], *c[i]).p_decrease < 0.05 for i in range(runs))
    assert false_greens / runs <= 0.05, false_greens / runs


def test_fractional_aoristic_counts_are_rounded_to_whole_reports_for_the_test():
    assert effect.whole(2.5) == 3 and effect.whole(2.49) == 2 and effect.whole(0.5) == 1
    rounded = effect.conditional_test(10, 2, 300, 300)
    res = effect.conditional_test(10.2, 2.4, 299.6, 300.4)
    assert (res.p_decrease, res.whole_counts) == (rounded.p_decrease, (10, 2, 300, 300))
    assert res.n == pytest.approx(12.6) and res.observed_share == pytest.approx(2.4 / 12.6)  # shown as counted


def test_no_reports_means_no_evidence():
    res = effect.conditional_test(0, 0, 100, 100)
    assert (res.p_decrease, res.p_increase, res.observed_share) == (1.0, 1.0, None)
    assert effect.conditional_test(18, 3, 0, 0).p_decrease == 1.0  # no control: nothing to compare with


def test_rate_ratio_is_the_ratio_of_ratios_with_the_exact_conditional_interval():
    rr = effect.rate_ratio(20, 8, 400, 400)
    assert rr.ratio == pytest.approx((8 / 20) / (400 / 400))
    assert rr.change_pct == pytest.approx(-60.0)
    ci = odds_ratio([[8, 20], [400, 400]], kind="conditional").confidence_interval(0.95)
    assert (rr.low, rr.high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert rr.low < rr.ratio < rr.high < 1  # a significant reduction: the interval stays below 1


def test_interval_and_test_agree():
    for t0, t1, c0, c1 in [(20, 8, 400, 400), (12, 5, 30, 30), (9, 2, 6, 4), (5, 5, 4, 5), (30, 14, 500, 480)]:
        rr, test = effect.rate_ratio(t0, t1, c0, c1), effect.conditional_test(t0, t1, c0, c1)
        assert (rr.high < 1) == (test.p_two_sided < 0.05), (t0, t1, c0, c1, rr, test.p_two_sided)


def test_rate_ratio_undefined_without_control_reports():
    assert effect.rate_ratio(5, 2, 0, 10).ratio is None
    assert effect.rate_ratio(5, 0, 10, 10).ratio == 0.0 and effect.rate_ratio(5, 0, 10, 10).low == 0.0


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


def _light(t0, t1, d0, d1, c0, c1, carried_out=True, **status):
    return effect.propose_light(carried_out=carried_out, target=effect.conditional_test(t0, t1, c0, c1),
                                ratio=effect.rate_ratio(t0, t1, c0, c1),
                                displacement=effect.conditional_test(d0, d1, c0, c1), **status)


def test_traffic_light_proposals():
    assert _light(20, 4, 30, 30, 500, 500).light == "green"
    assert _light(20, 4, 10, 40, 500, 500).light == "yellow"  # reduction, but displaced to the ring
    assert "displacement" in _light(20, 4, 10, 40, 500, 500).reason
    assert _light(5, 3, 30, 30, 500, 500).light == "yellow"  # -40 %, not significant: weaker effect
    assert _light(10, 11, 30, 30, 500, 500).light == "red"  # no effect
    assert _light(20, 4, 30, 30, 500, 500, carried_out=False).light == "red"  # not done, due date passed
    assert _light(0, 0, 30, 30, 500, 500).light == "yellow"  # nothing to measure


def test_too_few_reports_to_tell_is_said_so_not_a_weak_reduction():
    # 3 -> 0 is "-100 %", but even 4 -> 0 could not be significant: say there is too little to tell
    light = _light(3, 0, 30, 30, 500, 500)
    assert (light.light, light.code, light.values) == ("yellow", "too_few", {"t0": 3, "t1": 0, "min": 5})
    assert _light(5, 0, 30, 30, 500, 500).light == "green"  # 5 -> 0: p = 0.5^5 = 0.03


def test_without_control_reports_the_place_is_not_compared_with_nothing():
    # a rare category: 18 -> 3 at the place, none anywhere else. Was red "no reduction (p = 1.000)".
    light = _light(18, 3, 0, 0, 0, 0)
    assert (light.light, light.code) == ("yellow", "no_control")
    own = stats.binomtest(3, 21, 0.5, alternative="less").pvalue
    assert light.values == {"t0": 18, "t1": 3, "p_own": round(own, 3)} and "cannot be compared" in light.reason


def test_an_action_within_its_planned_period_gets_no_light_yet():
    light = _light(20, 20, 30, 30, 500, 500, carried_out=False, due_passed=False, status="in_progress",
                   due_date="2027-03-01")
    assert (light.light, light.code, light.values) == (None, "not_yet_due",
                                                       {"status": "in_progress", "due_date": "2027-03-01"})
    late = _light(20, 20, 30, 30, 500, 500, carried_out=False, due_passed=True, status="planned",
                  due_date="2026-03-01")
    assert (late.light, late.code) == ("red", "not_carried_out") and "due 2026-03-01" in late.reason
    cancelled = _light(20, 4, 30, 30, 500, 500, carried_out=False, due_passed=False, status="cancelled",
                       due_date="2027-03-01")
    assert (cancelled.light, cancelled.code, cancelled.values["status"]) == ("red", "not_carried_out", "cancelled")
