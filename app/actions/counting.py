"""Counts for places, reusing the hotspot engine's aoristic counting (:mod:`app.hotspots.queries`):
the place, the ring of cells around it and the whole municipality, per cycle."""
from __future__ import annotations

from dataclasses import dataclass, replace

import h3
import numpy as np
from sqlalchemy.orm import Session

from app.actions.models import Place
from app.hotspots import grid, queries, stats
from app.hotspots.cycles import Cycle, observed_shares
from app.hotspots.queries import Selection
from app.hotspots.service import BASELINE_CYCLES, Scope, build_selection, reporting_since

# The buffer ring around a place, in grid steps: about 300–350 m wide at res 9 and 10 (the
# usual displacement buffer in evaluations), one ring of the coarse cells at res 7 and 8.
RING_STEPS = {7: 1, 8: 1, 9: 1, 10: 3}


def place_selection(session: Session, *, scope: Scope, categories: list[str]) -> Selection:
    """Verified reports of the municipality, narrowed to ``categories`` (all when empty);
    422 for an unknown category."""
    return build_selection(session, municipality_id=scope.municipality.id, categories=categories, groups=[],
                           organisation_kinds=[], statuses=["verified"])


def ring_cells(cells: list[int], res: int) -> list[int]:
    """The cells within ``RING_STEPS[res]`` grid steps of the place, the place itself excluded."""
    own = {grid.cell_string(c) for c in cells}
    near: set[str] = set()
    for c in own:
        near.update(h3.grid_disk(c, RING_STEPS[res]))
    return sorted(h3.str_to_int(c) for c in near - own)


def _per_cycle(session: Session, selection: Selection, cycles: list[Cycle]) -> np.ndarray:
    query = queries.weighted_counts(selection, edges=[c.start for c in cycles] + [cycles[-1].end], keys=[])
    out = np.zeros(len(cycles))
    for row in session.execute(query):
        out[int(row.k)] += row.w
    return out


@dataclass(frozen=True)
class AreaCounts:
    """Reports per cycle (aoristic) in the place, its ring and the rest of the municipality."""

    cycles: list[Cycle]
    target: np.ndarray
    ring: np.ndarray
    rest: np.ndarray


def area_counts(session: Session, *, place: Place, cycles: list[Cycle], selection: Selection) -> AreaCounts:
    """Counts for consecutive ``cycles`` in three disjoint areas (three queries on the same
    aoristic counting as the hotspot layer)."""
    res = place.resolution
    target = _per_cycle(session, replace(selection, cells={res: tuple(place.cells)}), cycles)
    ring = _per_cycle(session, replace(selection, cells={res: tuple(ring_cells(place.cells, res))}), cycles)
    total = _per_cycle(session, replace(selection, cells={}), cycles)
    return AreaCounts(cycles=cycles, target=target, ring=ring, rest=np.maximum(total - target - ring, 0.0))


@dataclass(frozen=True)
class Baseline:
    """A place's mean count per cycle (None without a cycle since reporting began) and how many
    of the last :data:`BASELINE_CYCLES` full cycles it is over."""

    per_cycle: float | None
    cycles: int


def baseline(session: Session, *, scope: Scope, place: Place, selection: Selection) -> Baseline:
    """The place's mean count per cycle over the last ``BASELINE_CYCLES`` full cycles since the
    municipality's reporting began, each by its observed time (as the hotspot layer's baseline:
    cycles before the first report are no data, not zeros)."""
    current = scope.grid.current()
    cycles = scope.grid.span(scope.grid.cycle(current.index - 1), BASELINE_CYCLES)
    shares = observed_shares(cycles, since=reporting_since(session, municipality_id=scope.municipality.id))
    observed = [c for c, share in zip(cycles, shares) if share > 0]
    if not observed or shares.sum() < stats.MIN_BASELINE_EXPOSURE:  # less than half a cycle's worth of reporting
        return Baseline(per_cycle=None, cycles=0)
    counts = _per_cycle(session, replace(selection, cells={place.resolution: tuple(place.cells)}), observed)
    return Baseline(per_cycle=float(counts.sum() / shares.sum()), cycles=len(observed))
