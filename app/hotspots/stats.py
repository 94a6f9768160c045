"""Hotspot statistics as plain functions over arrays (no database, no H3).

Counts are reports per H3 cell per cycle, possibly fractional (aoristic weights). Layout:
``counts[i, t]`` for cell ``i`` and cycle ``t`` (oldest first, the cycle under study last);
``neighbours[i]`` lists row indices of the cell and its k=1 ring, ``-1`` where a neighbour has
no reports in any cycle (it then contributes zero).

Why these tests and not the textbook ones: reports per cell per fortnight are small Poisson
counts. The analytic Getis-Ord Gi* z-score assumes normality and, with Benjamini–Hochberg on
top, flags "hotspots" in nearly every run of purely random points. The hot test here is the
exact binomial tail of the neighbourhood total given the cycle's municipality-wide total (the
conditional form of the exact Poisson test), which stays calibrated on sparse counts. Gi* is
still computed, for analysts who know it, but decides nothing.

Fractional counts go through the regularised incomplete beta function, the continuous
extension of the binomial tail, so a count of 2.5 sits between 2 and 3.
"""
from __future__ import annotations

import numpy as np
from scipy import special, stats

ALPHA = 0.05


def binomial_upper_p(k: np.ndarray, n: np.ndarray, p: np.ndarray | float) -> np.ndarray:
    """P(X >= k) for X ~ Binomial(n, p); 1 where k <= 0. Real-valued ``k``, ``n`` allowed."""
    k, n = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64))
    p = np.broadcast_to(np.asarray(p, dtype=np.float64), k.shape)
    out = np.ones(k.shape)
    test = (k > 1e-9) & (n > 0) & (p < 1)
    kk = np.minimum(k[test], n[test])
    out[test] = special.betainc(kk, n[test] - kk + 1.0, p[test])
    return out


def binomial_lower_p(k: np.ndarray, n: np.ndarray, p: np.ndarray | float) -> np.ndarray:
    """P(X <= k) for X ~ Binomial(n, p); 1 where k >= n. Real-valued ``k``, ``n`` allowed."""
    k, n = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64))
    p = np.broadcast_to(np.asarray(p, dtype=np.float64), k.shape)
    out = np.ones(k.shape)
    test = (k < n - 1e-9) & (p > 0)
    out[test] = 1.0 - special.betainc(np.maximum(k[test], 0.0) + 1.0, n[test] - np.maximum(k[test], 0.0),
                                      p[test])
    return out


def increase_p(count: np.ndarray, baseline_total: np.ndarray, baseline_cycles: float,
               exposure: float = 1.0) -> np.ndarray:
    """One-sided p-value that a cell's rate this cycle exceeds its rate over ``baseline_cycles``.

    The exact conditional test for two Poisson counts (Przyborowski–Wilenski): given the total
    ``count + baseline_total``, ``count`` is Binomial(total, f / (f + k)) when the rate is
    unchanged, for ``f`` = ``exposure`` (the share of this cycle observed: below 1 while it
    runs) and ``k`` = ``baseline_cycles`` (cycles' worth of observed time in the baseline, a
    fraction for the cycle reporting began in). It accounts for the noise in the baseline too:
    5 against a baseline of 3 per cycle gives p ≈ 0.2, nothing to act on. NaN (no test) when
    there is no baseline or nothing of the cycle observed: comparing with cycles before
    reporting began would make every busy cell an increase.
    """
    count = np.asarray(count, dtype=np.float64)
    total = count + np.asarray(baseline_total, dtype=np.float64)
    if baseline_cycles <= 0 or exposure <= 0:
        return np.full(count.shape, np.nan)
    return binomial_upper_p(count, total, exposure / (exposure + baseline_cycles))


# A baseline needs at least half a cycle's worth of observed time: reporting that began in the
# last hour of the cycle before would otherwise scale that hour's reports up to a whole cycle's.
MIN_BASELINE_EXPOSURE = 0.5


def first_reporting(totals: np.ndarray) -> int:
    """Index of the first period with any report (``len(totals)`` when none). Periods before it
    are before the municipality's reporting began, not zeros: baselines and trend tests leave
    them out (else the start of reporting reads as an increase)."""
    reporting = np.flatnonzero(np.asarray(totals) > 0)
    return int(reporting[0]) if reporting.size else len(totals)


def benjamini_hochberg(p: np.ndarray, q: float = ALPHA) -> np.ndarray:
    """Which hypotheses Benjamini–Hochberg rejects at false discovery rate ``q`` (bool array).

    NaN p-values are not hypotheses (not counted in m, never rejected)."""
    p = np.asarray(p, dtype=np.float64)
    reject = np.zeros(p.shape, dtype=bool)
    tested = np.flatnonzero(~np.isnan(p))
    m = tested.size
    if m == 0:
        return reject
    order = tested[np.argsort(p[tested], kind="stable")]
    below = p[order] <= q * np.arange(1, m + 1) / m
    if below.any():
        reject[order[: np.flatnonzero(below)[-1] + 1]] = True
    return reject


def neighbourhood_sums(counts: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Total of each cell and its ring, per cycle: same shape as ``counts``."""
    counts = np.asarray(counts, dtype=np.float64)
    padded = np.vstack([counts, np.zeros((1,) + counts.shape[1:])])  # row -1 -> zeros
    return padded[neighbours].sum(axis=1)


def hot_cold_p(sums: np.ndarray, totals: np.ndarray, *, area_cells: int,
               neighbourhood_cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact p-values that each neighbourhood holds more (hot) or fewer (cold) reports than
    its share of the area would give, per cycle.

    Under no clustering each of a cycle's ``totals[t]`` reports falls in any of the
    municipality's ``area_cells`` cells alike, so a neighbourhood of ``neighbourhood_cells[i]``
    cells gets Binomial(total, neighbourhood_cells / area_cells).
    """
    share = np.clip(np.asarray(neighbourhood_cells, dtype=np.float64) / float(area_cells), 0.0, 1.0)
    share = share[:, None] if np.ndim(sums) == 2 else share
    totals = np.broadcast_to(np.asarray(totals, dtype=np.float64), np.shape(sums))
    return binomial_upper_p(sums, totals, share), binomial_lower_p(sums, totals, share)


def hot_cold_states(sums: np.ndarray, totals: np.ndarray, *, area_cells: int,
                    neighbourhood_cells: np.ndarray, q: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Per cell and cycle: +1 hot, -1 cold, 0 neither, with BH at ``q`` within each cycle and
    tail; also the hot p-values. The hypotheses of a cycle are the neighbourhoods with at
    least one report (an empty neighbourhood can never be hot)."""
    p_hot, p_cold = hot_cold_p(sums, totals, area_cells=area_cells, neighbourhood_cells=neighbourhood_cells)
    states = np.zeros(np.shape(sums), dtype=np.int8)
    for t in range(np.shape(sums)[1]):
        occupied = sums[:, t] > 0
        hot = benjamini_hochberg(np.where(occupied, p_hot[:, t], np.nan), q)
        cold = benjamini_hochberg(np.where(occupied, p_cold[:, t], np.nan), q)
        states[hot, t] = 1
        states[cold & ~hot, t] = -1
    return states, p_hot


def gi_star_z(values: np.ndarray, sums: np.ndarray, *, area_cells: int,
              neighbourhood_cells: np.ndarray) -> np.ndarray:
    """Getis-Ord Gi* z-scores with binary weights (cell plus ring), over ``area_cells`` cells.

    ``values`` are the cells with reports; the other ``area_cells - len(values)`` cells of the
    area count as zeros. Normal-theory, so only descriptive on sparse counts (see module doc).
    """
    x = np.asarray(values, dtype=np.float64)
    n = float(area_cells)
    w = np.asarray(neighbourhood_cells, dtype=np.float64)
    mean = x.sum() / n
    sd = np.sqrt(max((x**2).sum() / n - mean**2, 0.0))
    if sd == 0 or n < 2:
        return np.zeros(x.shape)
    return (np.asarray(sums, dtype=np.float64) - mean * w) / (sd * np.sqrt((n * w - w**2) / (n - 1)))


def mann_kendall(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann–Kendall trend test on each row of ``series`` (cells × cycles): (z, two-sided p).

    S = Σ sign(x_j − x_i) over i < j, variance corrected for ties, continuity-corrected z, as in
    the original test (Mann 1945, Kendall 1975). Vectorised because a layer has thousands of
    cells; checked against pymannkendall in the tests.
    """
    x = np.asarray(series, dtype=np.float64)
    n = x.shape[1]
    i, j = np.triu_indices(n, k=1)
    s = np.sign(np.round(x[:, j] - x[:, i], 9)).sum(axis=1)
    ordered = np.sort(np.round(x, 9), axis=1)
    tie_term = np.zeros(x.shape[0])
    run = np.ones(x.shape[0])
    for col in range(1, n + 1):
        same = ordered[:, col] == ordered[:, col - 1] if col < n else np.zeros(x.shape[0], dtype=bool)
        ended = ~same
        tie_term += np.where(ended, run * (run - 1) * (2 * run + 5), 0.0)
        run = np.where(same, run + 1, 1.0)
    var = (n * (n - 1) * (2 * n + 5) - tie_term) / 18.0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(var), 0.0)
    return z, 2.0 * stats.norm.sf(np.abs(z))


# Forecast weights, tuned on bench/quality.py: the last cycles, most recent first, and the
# share given to the six ring cells (each) relative to the cell itself.
RECENT_WEIGHTS = (1.0, 0.85, 0.7, 0.55)
RING_WEIGHT = 0.5


def forecast_score(counts: np.ndarray, neighbours: np.ndarray, *,
                   recent_weights: tuple[float, ...] = RECENT_WEIGHTS,
                   ring_weight: float = RING_WEIGHT) -> np.ndarray:
    """Expected relative intensity next cycle, for ranking cells on the agenda.

    One cycle of counts per cell is mostly noise (a cell with 2 is rarely a place); a decayed
    sum over recent cycles, smoothed with the ring, tracks where incidents concentrate.
    Unitless; only the order matters.
    """
    counts = np.asarray(counts, dtype=np.float64)
    k = min(len(recent_weights), counts.shape[1])
    weights = np.asarray(recent_weights[:k])[::-1]
    recent = counts[:, -k:] @ weights
    ring = neighbourhood_sums(recent[:, None], neighbours)[:, 0] - recent
    return recent + ring_weight * ring
