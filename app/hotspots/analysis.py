"""From a cells × cycles count matrix to everything the meeting sees per cell (pure, no I/O)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.hotspots import grid, stats, trend

REPEAT_STREAK = 3  # hot in at least this many consecutive cycles up to now: a repeat place


@dataclass(frozen=True)
class CellStats:
    """Per-cell results, each an array aligned with ``cells`` (the cycle under study is the
    last column of the input). Counts are reports per cycle, possibly fractional.

    ``share`` is the observed share of the cycle under study (below 1 while it runs);
    ``change`` and ``change_vs_baseline`` compare its count with the previous cycle's and the
    baseline's for that same share. ``baseline_cycles`` is how many earlier cycles the baseline
    has (up to the requested number: fewer when reporting began later), ``baseline_exposure``
    their observed time in cycles; with none, ``baseline`` and ``p_increase`` are NaN."""

    cells: np.ndarray
    count: np.ndarray
    previous: np.ndarray
    baseline: np.ndarray
    change: np.ndarray
    change_vs_baseline: np.ndarray
    p_increase: np.ndarray
    increase: np.ndarray
    neighbourhood: np.ndarray
    p_hot: np.ndarray
    hot: np.ndarray
    gi_star_z: np.ndarray
    trend: list[str]
    trend_z: np.ndarray
    trend_p: np.ndarray
    hot_streak: np.ndarray
    score: np.ndarray
    rank: np.ndarray
    share: float = 1.0
    baseline_cycles: int = 0
    baseline_exposure: float = 0.0

    @property
    def repeat(self) -> np.ndarray:
        return self.hot_streak >= REPEAT_STREAK


def hot_states(cells: np.ndarray, counts: np.ndarray, *, area: np.ndarray, q: float = stats.ALPHA,
               neighbours: np.ndarray | None = None, universe: np.ndarray | None = None,
               disk: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell and cycle: the k=1 neighbourhood totals, the hot/cold state (+1/-1/0, exact
    binomial test with BH per cycle) and the hot p-values, for every column of ``counts``.

    Same inputs as :func:`analyse`; also used over a long series (the two-year lägesbild counts
    how many cycles each cell was hot) because it is vectorised over the cycles. ``neighbours``,
    ``universe`` (area ∪ cells) and ``disk`` (each cell's neighbourhood size in it) are derived
    from the cells when not given by a caller that already has them."""
    cells = np.asarray(cells, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.float64)
    universe = np.union1d(area, cells) if universe is None else universe
    neighbours = grid.neighbour_rows(cells) if neighbours is None else neighbours
    disk = grid.disk_sizes_in(cells, universe) if disk is None else disk
    sums = stats.neighbourhood_sums(counts, neighbours)
    states, p_hot = stats.hot_cold_states(sums, counts.sum(axis=0), area_cells=universe.size,
                                          neighbourhood_cells=disk, q=q)
    return sums, states, p_hot


def analyse(cells: np.ndarray, counts: np.ndarray, *, area: np.ndarray, baseline_cycles: int,
            q: float = stats.ALPHA, exposure: np.ndarray | None = None) -> CellStats:
    """All per-cell statistics for the last cycle of ``counts``.

    ``cells`` are sorted unique int64 H3 indices of one resolution with ``counts`` (n × T, oldest
    cycle first, T > baseline_cycles); ``area`` the sorted cells covering the municipality.
    The cycle totals are the column sums: the query behind ``counts`` covers the whole
    municipality. ``exposure`` (length T) is the observed share of each cycle
    (:func:`app.hotspots.cycles.observed_shares`: 0 before reporting began, below 1 for the
    cycle it began in and the running one); by default 1 from the first cycle with a report
    on (:func:`stats.first_reporting`). The baseline is the last ``baseline_cycles`` cycles
    before the one under study that were observed at all.
    """
    cells = np.asarray(cells, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.float64)
    n_cycles = counts.shape[1]
    if n_cycles <= baseline_cycles:
        raise ValueError(f"need more than {baseline_cycles} cycles, got {n_cycles}")
    if exposure is None:
        exposure = (np.arange(n_cycles) >= stats.first_reporting(counts.sum(axis=0))).astype(np.float64)
    universe = np.union1d(area, cells)
    neighbours = grid.neighbour_rows(cells)
    disk = grid.disk_sizes_in(cells, universe)
    sums, states, p_hot = hot_states(cells, counts, area=area, q=q, neighbours=neighbours, universe=universe,
                                     disk=disk)
    count, previous, share = counts[:, -1], counts[:, -2], float(exposure[-1])
    observed = np.flatnonzero(exposure[-1 - baseline_cycles:-1] > 0) + n_cycles - 1 - baseline_cycles
    if exposure[observed].sum() < stats.MIN_BASELINE_EXPOSURE:  # too little observed time: no baseline yet
        observed = observed[:0]
    baseline_exposure = float(exposure[observed].sum())
    baseline_total = counts[:, observed].sum(axis=1)
    baseline = baseline_total / baseline_exposure if baseline_exposure > 0 else np.full(count.shape, np.nan)
    p_increase = stats.increase_p(count, baseline_total, baseline_exposure, share)
    increase = stats.benjamini_hochberg(np.where(count > 0, p_increase, np.nan), q)
    trend_z, trend_p = stats.mann_kendall(sums)
    score = stats.forecast_score(counts, neighbours)
    order = np.lexsort((cells, -count, -score))
    rank = np.empty(cells.size, dtype=np.int64)
    rank[order] = np.arange(1, cells.size + 1)
    return CellStats(
        cells=cells, count=count, previous=previous, baseline=baseline,
        change=count - share * previous, change_vs_baseline=count - share * baseline,
        p_increase=p_increase, increase=increase, neighbourhood=sums[:, -1], p_hot=p_hot[:, -1],
        hot=states[:, -1] == 1,
        gi_star_z=stats.gi_star_z(count, sums[:, -1], area_cells=universe.size, neighbourhood_cells=disk),
        trend=trend.classify(states, trend_z, trend_p), trend_z=trend_z, trend_p=trend_p,
        hot_streak=trend.hot_streak(states), score=score, rank=rank,
        share=share, baseline_cycles=int(observed.size), baseline_exposure=baseline_exposure,
    )
