"""Measured follow-up of an action: pure functions over before/after counts (no database).

The counts are reports (aoristic, so possibly fractional) summed over an equal number of
cycles before and after an action starts, in three disjoint areas:

* **target** ``t0, t1`` — the place itself;
* **buffer** ``d0, d1`` — the ring of cells around it, where crime could be displaced to;
* **control** ``c0, c1`` — the rest of the municipality (or the buffer ring, when asked), which
  carries the town-wide trend, the season and changes in how much people report.

Why these tests (counts per place and fortnight are small, often single digits):

* :func:`conditional_test` — given the target's total ``n = t0 + t1``, if the target changed
  like the control did, ``t1`` is Binomial(n, c1 / (c0 + c1)). This is the conditional form of
  the exact test for two Poisson rates: it needs no normal approximation, so it is valid for
  any count, 2 → 0 included (it then just says the evidence is weak). It treats the control's
  split as known, which is accurate when the control is much larger than the target (the rest
  of the municipality); with the small ring as control it is somewhat optimistic.
* :func:`rate_ratio` — the relative effect (t1/t0) / (c1/c0), a ratio of ratios (odds-ratio
  style); its interval is the exact Clopper–Pearson interval of the same binomial, mapped to
  the ratio scale, so test and interval always agree.
* :func:`wdd` — the weighted displacement difference (Wheeler & Ratcliffe 2018, building on
  Bowers & Johnson's 2003 weighted displacement quotient, :func:`wdq`): the net change in
  target + buffer beyond what the control's trend predicts, in reports. Its z-score is a normal
  approximation (Poisson variances), approximate on small counts, so it informs but does not
  decide the traffic light.
* the displacement check runs :func:`conditional_test` on the buffer against the control: an
  increase there beyond the control's trend is displacement, a decrease a diffusion of benefits.

Fractional counts go through the regularised incomplete beta function, the continuous extension
of the binomial tail (as in :mod:`app.hotspots.stats`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from scipy import special

from app.hotspots.stats import ALPHA, binomial_lower_p, binomial_upper_p

CONFIDENCE = 0.95
MEANINGFUL_REDUCTION = 0.8  # a point estimate of ≥ 20 % fewer reports counts as a (weak) effect


@dataclass(frozen=True)
class ConditionalTest:
    """Exact conditional test of the target's after-share against the control's.

    ``expected_share`` is c1 / (c0 + c1), ``observed_share`` t1 / (t0 + t1); ``p_decrease`` and
    ``p_increase`` are the one-sided p-values, ``p_two_sided`` twice the smaller (capped at 1)."""

    n: float
    observed_share: float | None
    expected_share: float | None
    p_decrease: float
    p_increase: float
    p_two_sided: float


def conditional_test(t0: float, t1: float, c0: float, c1: float) -> ConditionalTest:
    """Did the target change differently from the control? See the module docstring.

    With no control reports at all the expected share is undefined and both p-values are 1
    (no evidence either way); the same when the target has no reports in either period."""
    n = t0 + t1
    c = c0 + c1
    if n <= 0 or c <= 0:
        return ConditionalTest(n=n, observed_share=t1 / n if n > 0 else None,
                               expected_share=c1 / c if c > 0 else None, p_decrease=1.0, p_increase=1.0,
                               p_two_sided=1.0)
    p0 = c1 / c
    low = float(binomial_lower_p(t1, n, p0))
    high = float(binomial_upper_p(t1, n, p0))
    return ConditionalTest(n=n, observed_share=t1 / n, expected_share=p0, p_decrease=low, p_increase=high,
                           p_two_sided=min(1.0, 2.0 * min(low, high)))


def clopper_pearson(k: float, n: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval for a binomial proportion ``k / n``; real-valued
    ``k`` and ``n`` through the beta quantiles."""
    alpha = 1.0 - confidence
    lo = 0.0 if k <= 0 else float(special.betaincinv(k, n - k + 1.0, alpha / 2))
    hi = 1.0 if k >= n else float(special.betaincinv(k + 1.0, n - k, 1 - alpha / 2))
    return lo, hi


@dataclass(frozen=True)
class RateRatio:
    """(t1/t0) / (c1/c0) with its exact conditional interval; ``None`` where undefined
    (a zero in the control, or no target reports at all). Below 1: fewer reports than the
    control's trend predicts; ``change_pct`` = (ratio − 1) × 100."""

    ratio: float | None
    low: float | None
    high: float | None
    change_pct: float | None


def rate_ratio(t0: float, t1: float, c0: float, c1: float, confidence: float = CONFIDENCE) -> RateRatio:
    """The relative effect and its interval (see the module docstring). With t0 = 0 the point
    estimate is infinite, with t1 = 0 it is 0; the interval is still finite on one side."""
    n = t0 + t1
    if n <= 0 or c0 <= 0 or c1 <= 0:
        return RateRatio(None, None, None, None)
    scale = c0 / c1

    def to_ratio(share: float) -> float | None:
        return None if share >= 1.0 else share / (1.0 - share) * scale

    lo, hi = clopper_pearson(t1, n, confidence)
    ratio = to_ratio(t1 / n)
    return RateRatio(ratio=ratio, low=to_ratio(lo), high=to_ratio(hi),
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
    code with its numbers (for a page to word it in its own language)."""

    light: str
    reason: str
    code: str = ""
    values: dict = field(default_factory=dict)


def propose_light(*, carried_out: bool, target: ConditionalTest, ratio: RateRatio,
                  displacement: ConditionalTest | None, alpha: float = ALPHA) -> Light:
    """Green: carried out and a significant reduction (one-sided exact test, ``alpha``) without
    significant displacement to the buffer. Yellow: carried out with a weaker or partial effect —
    a reduction with displacement, a point estimate of ≥ 20 % fewer reports that is not
    significant, or too few reports to tell. Red: not carried out, or no effect."""
    if not carried_out:
        return Light("red", "not carried out (status is not done)", "not_carried_out")
    if target.n < 1:
        return Light("yellow", "carried out, but too few reports at the place to measure an effect", "too_few")
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
