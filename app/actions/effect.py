"""Measured follow-up of an action: pure functions over before/after counts (no database).

The counts are reports (aoristic, so possibly fractional) summed over an equal number of
cycles before and after an action (see :mod:`app.actions.follow_up` for which cycles), in three
disjoint areas:

* **target** ``t0, t1`` — the place itself;
* **buffer** ``d0, d1`` — the ring of cells around it, where crime could be displaced to;
* **control** ``c0, c1`` — the rest of the municipality (or the buffer ring, when asked), which
  carries the town-wide trend, the season and changes in how much people report.

Why these tests (counts per place and fortnight are small, often single digits):

* :func:`conditional_test` — Fisher's exact test on the 2 × 2 table
  ``[[t1, t0], [c1, c0]]``, one-sided: is the place's after/before odds lower (``p_decrease``)
  or higher (``p_increase``) than the control's? It conditions on all margins, so the control's
  own before/after split is treated as the noisy count it is, not as a known rate: with a small
  control (the ring, a rare category) it stays at its level (≤ 5 % false greens under no effect;
  the earlier binomial test that took the control's split as exact gave 13 % with ~3 control
  reports per period), and with the whole town as control it coincides with the exact binomial
  test for two Poisson rates. Exact, so valid for any count, 2 → 0 included (it then just says the
  evidence is weak).
* :func:`rate_ratio` — the relative effect (t1/t0) / (c1/c0), a ratio of ratios (the table's
  odds ratio); its interval is the exact conditional one (inverting the same Fisher test,
  ``scipy.stats.contingency.odds_ratio(kind="conditional")``), so test and interval agree.
* :func:`wdd` — the weighted displacement difference (Wheeler & Ratcliffe 2018, building on
  Bowers & Johnson's 2003 weighted displacement quotient, :func:`wdq`): the net change in
  target + buffer beyond what the control's trend predicts, in reports. Its z-score is a normal
  approximation (Poisson variances), approximate on small counts, so it informs but does not
  decide the traffic light.
* the displacement check runs :func:`conditional_test` on the buffer against the control: an
  increase there beyond the control's trend is displacement, a decrease a diffusion of benefits.

Fractional counts: the exact tests need whole reports, so each of the four counts is rounded to
the nearest whole report (halves up) for the test and the interval only (:func:`whole`); the
counts shown, the ratio and WDD/WDQ keep the fractions.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from scipy import stats
from scipy.stats.contingency import odds_ratio

from app.hotspots.stats import ALPHA

CONFIDENCE = 0.95
MEANINGFUL_REDUCTION = 0.8  # a point estimate of ≥ 20 % fewer reports counts as a (weak) effect
# Below this many reports at the place (before + after, whole) nothing can be told: even all of
# them gone (4 → 0) has p = 0.5⁴ ≈ 0.06 against a flat control, so no result could be significant.
MIN_REPORTS = 5


def whole(count: float) -> int:
    """An aoristic count as whole reports for the exact tests: nearest, halves up (2.5 → 3)."""
    return int(math.floor(count + 0.5))


@dataclass(frozen=True)
class ConditionalTest:
    """Fisher's exact test of the target's after/before split against the control's.

    ``expected_share`` is c1 / (c0 + c1), ``observed_share`` t1 / (t0 + t1); ``p_decrease`` and
    ``p_increase`` are the one-sided p-values, ``p_two_sided`` twice the smaller (capped at 1);
    ``whole_counts`` are the counts the test used, ``[t0, t1, c0, c1]`` in whole reports."""

    n: float
    observed_share: float | None
    expected_share: float | None
    p_decrease: float
    p_increase: float
    p_two_sided: float
    whole_counts: tuple[int, int, int, int] = (0, 0, 0, 0)


def conditional_test(t0: float, t1: float, c0: float, c1: float) -> ConditionalTest:
    """Did the target change differently from the control? See the module docstring.

    With no control reports at all (in whole reports) there is nothing to compare with and both
    p-values are 1 (no evidence either way; :func:`propose_light` then says so); the same when the
    target has no reports in either period."""
    n, c = t0 + t1, c0 + c1
    counts = (whole(t0), whole(t1), whole(c0), whole(c1))
    w0, w1, k0, k1 = counts
    observed, expected = (t1 / n if n > 0 else None), (c1 / c if c > 0 else None)
    if w0 + w1 == 0 or k0 + k1 == 0:
        return ConditionalTest(n, observed, expected, 1.0, 1.0, 1.0, counts)
    table = [[w1, w0], [k1, k0]]
    low = float(stats.fisher_exact(table, alternative="less").pvalue)
    high = float(stats.fisher_exact(table, alternative="greater").pvalue)
    return ConditionalTest(n, observed, expected, low, high, min(1.0, 2.0 * min(low, high)), counts)


def own_change_p(t0: float, t1: float) -> float:
    """One-sided exact p of fewer reports after than before at the place alone (equal windows, so
    ``t1`` ~ Binomial(t0 + t1, ½) if nothing changed). Not adjusted for any town-wide trend: only
    for when there is no control to compare with."""
    w0, w1 = whole(t0), whole(t1)
    return 1.0 if w0 + w1 == 0 else float(stats.binomtest(w1, w0 + w1, 0.5, alternative="less").pvalue)


@dataclass(frozen=True)
class RateRatio:
    """(t1/t0) / (c1/c0) with its exact conditional interval; ``None`` where undefined
    (a zero in the control, or no target reports at all; an interval bound at 0 or infinity
    where the whole counts leave it open on that side). Below 1: fewer reports than the
    control's trend predicts; ``change_pct`` = (ratio − 1) × 100."""

    ratio: float | None
    low: float | None
    high: float | None
    change_pct: float | None


def rate_ratio(t0: float, t1: float, c0: float, c1: float, confidence: float = CONFIDENCE) -> RateRatio:
    """The relative effect and its interval (see the module docstring). With t0 = 0 the point
    estimate is infinite (``None``), with t1 = 0 it is 0; the interval is still finite on one side."""
    if t0 + t1 <= 0 or c0 <= 0 or c1 <= 0:
        return RateRatio(None, None, None, None)
    ratio = None if t0 <= 0 else (t1 / t0) * (c0 / c1)
    table = [[whole(t1), whole(t0)], [whole(c1), whole(c0)]]
    if min(sum(table[0]), sum(table[1]), table[0][0] + table[1][0], table[0][1] + table[1][1]) == 0:
        lo, hi = 0.0, math.inf  # a whole row or column is empty: no information on the ratio
    else:
        ci = odds_ratio(table, kind="conditional").confidence_interval(confidence)
        lo, hi = float(ci.low), float(ci.high)
    return RateRatio(ratio=ratio, low=lo, high=None if math.isinf(hi) else hi,
                     change_pct=None if ratio is None else (ratio - 1.0) * 100.0)


@dataclass(frozen=True)
class Wdd:
    """Weighted displacement difference, in reports: negative = net reduction in target and
    buffer beyond the control's trend. ``z`` and ``p_two_sided`` use a normal approximation."""

    wdd: float
    target_part: float
    buffer_part: float
    variance: float
    z: float | None
    p_two_sided: float | None


def wdd(t0: float, t1: float, d0: float, d1: float, c0: float, c1: float) -> Wdd | None:
    """Wheeler & Ratcliffe's WDD with one control for target and buffer, scaled to each area.

    The control's trend ``r = c1 / c0`` predicts ``t0·r`` and ``d0·r``; WDD =
    (t1 − t0·r) + (d1 − d0·r). Variance by the delta method with Poisson counts:
    t1 + d1 + (t0 + d0)·r² + (t0 + d0)²·r²·(1/c0 + 1/c1). ``None`` without control reports
    in either period."""
    if c0 <= 0 or c1 <= 0:
        return None
    r = c1 / c0
    target_part = t1 - t0 * r
    buffer_part = d1 - d0 * r
    value = target_part + buffer_part
    variance = t1 + d1 + (t0 + d0) * r * r + (t0 + d0) ** 2 * r * r * (1.0 / c0 + 1.0 / c1)
    if variance <= 0:
        return Wdd(value, target_part, buffer_part, 0.0, None, None)
    z = value / math.sqrt(variance)
    return Wdd(value, target_part, buffer_part, variance, z, math.erfc(abs(z) / math.sqrt(2.0)))


def wdq(t0: float, t1: float, d0: float, d1: float, c0: float, c1: float) -> float | None:
    """Bowers & Johnson's (2003) weighted displacement quotient:
    (d1/c1 − d0/c0) / (t1/c1 − t0/c0). With a success in the target (negative denominator),
    a positive WDQ means a diffusion of benefits to the buffer, a negative one displacement;
    ``None`` where undefined (no control reports, or no change in the target)."""
    if c0 <= 0 or c1 <= 0:
        return None
    success = t1 / c1 - t0 / c0
    if abs(success) < 1e-12:
        return None
    return (d1 / c1 - d0 / c0) / success


@dataclass(frozen=True)
class Light:
    """A traffic-light proposal (Brå's follow-up guide), the reason in words, and the same as a
    code with its numbers (for a page to word it in its own language). ``light`` is ``None``
    when no light is proposed yet (the action is not due)."""

    light: str | None
    reason: str
    code: str = ""
    values: dict = field(default_factory=dict)


def propose_light(*, carried_out: bool, target: ConditionalTest, ratio: RateRatio,
                  displacement: ConditionalTest | None, due_passed: bool = True, status: str | None = None,
                  due_date: str | None = None, alpha: float = ALPHA) -> Light:
    """Green: carried out and a significant reduction (one-sided exact test, ``alpha``) without
    significant displacement to the buffer. Yellow: carried out with a weaker or partial effect —
    a reduction with displacement, a point estimate of ≥ 20 % fewer reports that is not
    significant — or carried out but not measurable: fewer than :data:`MIN_REPORTS` reports at the
    place (``too_few``), or no control reports to compare with (``no_control``; the place's own
    before/after test is given, as such). Red: not carried out (cancelled, or the due date has
    passed), or no effect. No light (``not_yet_due``): not carried out but still within its
    planned period (``due_passed`` false), so there is nothing to judge yet."""
    if not carried_out:
        values = {"status": status, "due_date": due_date}
        if status != "cancelled" and not due_passed:
            return Light(None, f"not due yet (due {due_date}): follow it up after the due date", "not_yet_due", values)
        why = "cancelled" if status == "cancelled" else f"status {status}, due {due_date}"
        return Light("red", f"not carried out ({why})", "not_carried_out", values)
    t0, t1, c0, c1 = target.whole_counts
    if t0 + t1 < MIN_REPORTS:
        return Light("yellow", f"carried out, but too few reports at the place to tell ({t0} → {t1}; at least "
                               f"{MIN_REPORTS} needed)", "too_few", {"t0": t0, "t1": t1, "min": MIN_REPORTS})
    if c0 + c1 == 0:
        p_own = own_change_p(t0, t1)
        return Light("yellow", f"carried out, but cannot be compared with a control: no reports there; at the place "
                               f"alone {t0} → {t1} (p = {p_own:.3f} for fewer, not adjusted for trends)",
                     "no_control", {"t0": t0, "t1": t1, "p_own": round(p_own, 3)})
    p = round(target.p_decrease, 3)
    displaced = displacement is not None and displacement.p_increase < alpha
    if target.p_decrease < alpha:
        if displaced:
            return Light("yellow", f"significant reduction (p = {target.p_decrease:.3f}) but reports increased "
                                   f"in the surrounding ring (p = {displacement.p_increase:.3f}): displacement",
                         "displacement", {"p": p, "p_ring": round(displacement.p_increase, 3)})
        return Light("green", f"significant reduction against the control (p = {target.p_decrease:.3f})",
                     "reduction", {"p": p})
    if ratio.ratio is not None and ratio.ratio <= MEANINGFUL_REDUCTION:
        return Light("yellow", f"fewer reports than the control predicts ({ratio.change_pct:+.0f} %) but not "
                               f"significant (p = {target.p_decrease:.3f})",
                     "weak_reduction", {"p": p, "change_pct": round(ratio.change_pct)})
    return Light("red", f"no reduction against the control (p = {target.p_decrease:.3f})", "no_reduction", {"p": p})


def as_dict(value) -> dict | None:
    """A result dataclass as JSON-ready dict (numbers to 6 significant digits, so small
    p-values keep their precision)."""
    if value is None:
        return None
    return {k: (float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in asdict(value).items()}
