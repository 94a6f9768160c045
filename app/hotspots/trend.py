"""Emerging-hotspot classes over a series of cycles, in the vocabulary of ArcGIS Pro's
Emerging Hot Spot Analysis, which municipal GIS analysts already know.

Input per cell: the hot/cold state of each cycle (oldest first, the cycle under study last:
+1 significantly hot, -1 significantly cold, 0 neither) and the Mann–Kendall trend of its
neighbourhood counts. "Most" means at least 90 % of the cycles, as in ArcGIS.
"""
from __future__ import annotations

import math

import numpy as np

from app.hotspots.stats import ALPHA

TREND_CLASSES = ("new", "consecutive", "intensifying", "persistent", "diminishing",
                 "sporadic", "oscillating", "historical", "none")
MOST = 0.9


def classify(states: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray,
             *, alpha: float = ALPHA) -> list[str]:
    """One class per row of ``states`` (cells × cycles); see :func:`classify_one`."""
    return [classify_one(row, z, p, alpha=alpha) for row, z, p in zip(states, trend_z, trend_p)]


def classify_one(states: np.ndarray, trend_z: float, trend_p: float, *, alpha: float = ALPHA) -> str:
    """The emerging-hotspot class of one cell.

    - historical: not hot now, but hot in most cycles;
    - intensifying / persistent / diminishing: hot now and in most cycles, with a significant
      upward / no / downward trend;
    - new: hot now for the first time;
    - consecutive: one unbroken run of at least two hot cycles up to now, never hot before;
    - oscillating: hot now, cold at some earlier cycle;
    - sporadic: hot now, on and off before, never cold;
    - none: anything else.
    """
    hot = np.asarray(states) == 1
    n = hot.size
    most = hot.sum() >= math.ceil(MOST * n)
    if not hot[-1]:
        return "historical" if most else "none"
    if most:
        if trend_p < alpha:
            return "intensifying" if trend_z > 0 else "diminishing"
        return "persistent"
    earlier = hot[:-1]
    if not earlier.any():
        return "new"
    run = n - _last_false(hot) - 1
    if run >= 2 and not hot[: n - run].any():
        return "consecutive"
    if (np.asarray(states) == -1).any():
        return "oscillating"
    return "sporadic"


def hot_streak(states: np.ndarray) -> np.ndarray:
    """Length of the unbroken run of hot cycles ending with the latest, per row."""
    hot = np.asarray(states) == 1
    n = hot.shape[1]
    not_hot = ~hot[:, ::-1]
    return np.where(not_hot.any(axis=1), not_hot.argmax(axis=1), n)


def _last_false(hot: np.ndarray) -> int:
    idx = np.flatnonzero(~hot)
    return int(idx[-1]) if idx.size else -1
