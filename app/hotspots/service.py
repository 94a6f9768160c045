"""The situation picture for one municipality: cycles, the hotspot layer, the agenda, patterns.

Services take a session and validated arguments, raise domain errors and return plain data
that the router serialises. The statistics themselves are in :mod:`app.hotspots.analysis`.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

import h3
import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import InvalidInput, NotFound, require_known
from app.geo import Area
from app.hotspots import grid, patterns, queries
from app.hotspots.analysis import CellStats, analyse
from app.hotspots.cycles import Cycle, CycleGrid, observed_shares
from app.hotspots.queries import Selection
from app.municipalities.models import ORGANISATION_KINDS, Municipality, Organisation
from app.reports.models import Category, Report
from app.timeutil import STOCKHOLM, local_iso, utcnow

BASELINE_CYCLES = 6
TREND_CYCLES = 10  # cycles in the trend series, the current one included (ArcGIS-style ≥ 90 % rule)


@dataclass(frozen=True)
class Scope:
    """The municipality a request is about, with its cycle grid."""

    municipality: Municipality
    grid: CycleGrid


def get_scope(session: Session, *, municipality_id: int) -> Scope:
    """The caller's municipality and its cycle grid."""
    muni = session.get(Municipality, municipality_id)
    if muni is None:
        raise NotFound("Your municipality no longer exists")
    return Scope(municipality=muni, grid=CycleGrid(anchor=muni.cycle_anchor, days=muni.cycle_days))


def cycle_json(cycle: Cycle, *, current: Cycle | None = None) -> dict[str, Any]:
    """A cycle as the API shows it: id (first day), label, local start/end, first/last day."""
    out = {"id": cycle.id, "label": cycle.label, "start": local_iso(cycle.start), "end": local_iso(cycle.end),
           "first_day": cycle.first_day.isoformat(), "last_day": cycle.last_day.isoformat()}
    if current is not None:
        out["current"] = cycle.index == current.index
    return out


def list_cycles(scope: Scope, *, n: int, now: dt.datetime | None = None) -> dict[str, Any]:
    """The last ``n`` cycles up to the current one, newest first."""
    current = scope.grid.current(now)
    cycles = scope.grid.span(current, n)[::-1]
    return {"cycle_days": scope.grid.days, "anchor": scope.grid.anchor.isoformat(),
            "current": cycle_json(current), "previous": cycle_json(scope.grid.cycle(current.index - 1)),
            "cycles": [cycle_json(c, current=current) for c in cycles]}


def build_selection(session: Session, *, municipality_id: int, categories: list[str], groups: list[str],
                    organisation_kinds: list[str], statuses: list[str],
                    bbox: Area | None = None,
                    cells: list[str] | None = None) -> Selection:
    """Validate the filters against the municipality's vocabulary; 422 naming what is unknown."""
    category_ids = None
    if categories or groups:  # no query for the vocabulary when no category filter is given
        known = session.execute(select(Category.id, Category.code, Category.group_code)
                                .where(Category.municipality_id == municipality_id)).all()
        require_known("category", categories, {c.code for c in known})
        require_known("group", groups, {c.group_code for c in known})
        category_ids = tuple(sorted({c.id for c in known if c.code in categories or c.group_code in groups}))
    if organisation_kinds:
        require_known("organisation_kind", organisation_kinds, set(ORGANISATION_KINDS))
    return Selection(municipality_id=municipality_id, statuses=tuple(sorted(set(statuses))) or ("verified",),
                     category_ids=category_ids,
                     organisation_kinds=tuple(sorted(set(organisation_kinds))) or None,
                     cells=_cells_by_resolution(cells or []), bbox=bbox)


def parse_cell_ref(value: str) -> tuple[int, int]:
    """An H3 cell index of resolution 7-10 as (resolution, cell); 422 naming the field otherwise."""
    try:
        cell = grid.parse_cell(value)
    except ValueError as exc:
        raise InvalidInput(str(exc), errors=[{"field": "cell", "message": "not an H3 index"}]) from None
    res = h3.get_resolution(grid.cell_string(cell))
    if res not in queries.CELL_COLUMNS:
        raise InvalidInput(f"H3 cell {value} has resolution {res}; use resolutions 7-10",
                           errors=[{"field": "cell", "message": "resolution outside 7-10"}])
    return res, cell


def _cells_by_resolution(values: list[str]) -> dict[int, tuple[int, ...]]:
    out: dict[int, list[int]] = defaultdict(list)
    for value in values:
        res, cell = parse_cell_ref(value)
        out[res].append(cell)
    return {res: tuple(cells) for res, cells in out.items()}


def reporting_since(session: Session, *, municipality_id: int) -> dt.datetime | None:
    """When the municipality's reporting began: the end of its earliest occurrence window (any
    status; None before the first report). Cycles before it are no data, not zero reports:
    the baselines leave them out (:func:`app.hotspots.cycles.observed_shares`). The end, not
    the start, of the window: a report of a bike stolen "some time last year" says nothing
    about the cycles of last year; and it is one index descent (the start would read them all)."""
    return session.scalar(queries.first_report(municipality_id))


def cell_stats(session: Session, scope: Scope, *, cycle: Cycle, res: int, selection: Selection) -> CellStats:
    """Counts over the trend window ending with ``cycle`` and every per-cell statistic. The
    baseline is the last :data:`BASELINE_CYCLES` cycles since reporting began, each by its
    observed time; a running ``cycle`` is compared for the share of it that has passed."""
    cycles = scope.grid.span(cycle, TREND_CYCLES)
    cell_col = queries.CELL_COLUMNS[res].label("cell")
    query = queries.weighted_counts(selection, edges=[c.start for c in cycles] + [cycle.end], keys=[cell_col])
    rows = session.execute(query).all()
    area = grid.area_cells(scope.municipality.boundary.desc, res)  # hex (E)WKB as loaded: no re-encoding
    cells, counts = count_matrix(rows, TREND_CYCLES)
    exposure = observed_shares(cycles, since=reporting_since(session, municipality_id=scope.municipality.id))
    return analyse(cells, counts, area=area, baseline_cycles=BASELINE_CYCLES, exposure=exposure)


def count_matrix(rows: list[Any], n_periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of (cell, k, w) from :func:`queries.weighted_counts` as sorted unique cells and the
    cells × periods count matrix (reports, aoristic)."""
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty((0, n_periods))
    raw_cells, ks, weights = (np.array(col) for col in zip(*rows))
    cells, row_of = np.unique(raw_cells.astype(np.int64), return_inverse=True)
    counts = np.zeros((cells.size, n_periods))
    np.add.at(counts, (row_of, ks.astype(np.int64)), weights.astype(np.float64))
    return cells, counts


def shown(result: CellStats) -> np.ndarray:
    """Row indices of the cells the layer shows, best rank first: reports this or last cycle,
    or a trend class worth seeing (a 'historical' hotspot that went quiet, say). An empty
    cycle shows nothing."""
    if result.count.sum() <= 0:
        return np.empty(0, dtype=np.int64)
    keep = (result.count > 0) | (result.previous > 0) | (np.asarray(result.trend) != "none")
    rows = np.flatnonzero(keep)
    return rows[np.argsort(result.rank[rows], kind="stable")]


def cell_properties(result: CellStats, rows: np.ndarray) -> list[dict[str, Any]]:
    """Per-cell properties in API form (numbers rounded for people: 3 decimals on counts; None
    where there is no baseline to compare with)."""
    def col(values: np.ndarray, digits: int) -> list[float | None]:
        rounded = np.round(np.asarray(values, dtype=np.float64)[rows], digits)
        return [None if v != v else v for v in rounded.tolist()]  # NaN: not computed

    count, previous, baseline = col(result.count, 3), col(result.previous, 3), col(result.baseline, 3)
    change, change_vs_baseline = col(result.change, 3), col(result.change_vs_baseline, 3)
    p_increase, z = col(result.p_increase, 6), col(result.gi_star_z, 3)
    p_hot, trend_p = col(result.p_hot, 6), col(result.trend_p, 6)
    hot, increase = result.hot[rows].tolist(), result.increase[rows].tolist()
    streak, repeat = result.hot_streak[rows].tolist(), result.repeat[rows].tolist()
    out = []
    for i, row in enumerate(rows.tolist()):
        out.append({
            "h3": grid.cell_string(result.cells[row]), "rank": i + 1,
            "count": count[i], "previous": previous[i], "baseline": baseline[i],
            "change": change[i], "change_vs_baseline": change_vs_baseline[i],
            "p_increase": p_increase[i], "increase": increase[i],
            "hotspot": "hot" if hot[i] else "none", "p_hot": p_hot[i], "gi_star_z": z[i],
            "trend": result.trend[row], "trend_p": trend_p[i], "hot_streak": streak[i], "repeat": repeat[i],
        })
    return out


def get_layer(session: Session, scope: Scope, *, cycle: Cycle, res: int, selection: Selection,
              result: CellStats | None = None) -> dict[str, Any]:
    """The hotspot layer: an RFC 7946 FeatureCollection of H3 hexagons, best rank first (from
    ``result`` when the caller has the cell statistics already)."""
    result = result or cell_stats(session, scope, cycle=cycle, res=res, selection=selection)
    rows = shown(result)
    features = [
        {"type": "Feature", "id": props["h3"],
         "geometry": {"type": "Polygon", "coordinates": [grid.hexagon_ring(int(result.cells[row]))]},
         "properties": props}
        for row, props in zip(rows.tolist(), cell_properties(result, rows))
    ]
    return {"type": "FeatureCollection", "features": features, **layer_metadata(scope, cycle, res, selection, result)}


def layer_cycle_json(cycle: Cycle, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The cycle as a layer shows it: :func:`cycle_json` plus ``elapsed_share``, the share of
    the cycle's time that has passed (1 once it is over), and ``partial`` (still running: the
    counts are so far, and ``change``/``change_vs_baseline``/``p_increase`` compare them with
    the same share of the earlier cycles)."""
    share = cycle.elapsed_share(now)
    return {**cycle_json(cycle), "elapsed_share": round(share, 4), "partial": share < 1.0}


def layer_metadata(scope: Scope, cycle: Cycle, res: int, selection: Selection, result: CellStats) -> dict[str, Any]:
    """Foreign members of the layer: what it shows and how it was computed."""
    return {
        "cycle": layer_cycle_json(cycle), "resolution": res,
        "total": round(float(result.count.sum()), 3),
        "statuses": list(selection.statuses),
        "method": {"baseline_cycles": result.baseline_cycles, "baseline_exposure": round(result.baseline_exposure, 3),
                   "baseline_cycles_max": BASELINE_CYCLES, "trend_cycles": TREND_CYCLES, "fdr_q": 0.05,
                   "hotspot_test": "exact binomial tail of the k=1 neighbourhood total vs the municipality-wide "
                                   "rate, Benjamini-Hochberg", "increase_test": "exact conditional Poisson test "
                                   "of this cycle vs the baseline cycles since reporting began, each by its "
                                   "observed time (the running cycle by the share that has passed); none "
                                   "without a baseline cycle"},
        "generated_at": local_iso(utcnow()),
    }


def get_top(session: Session, scope: Scope, *, cycle: Cycle, res: int, selection: Selection, n: int,
            result: CellStats | None = None) -> dict[str, Any]:
    """The meeting agenda: the ``n`` best-ranked cells with what and who was reported there
    (from ``result`` when the caller has the cell statistics already: the same counts as its layer)."""
    result = result or cell_stats(session, scope, cycle=cycle, res=res, selection=selection)
    rows = shown(result)[:n]
    items = cell_properties(result, rows)
    details = _what_and_who(session, scope, cycle=cycle, res=res, selection=selection,
                            cells=[int(result.cells[r]) for r in rows])
    for item, row in zip(items, rows.tolist()):
        lat, lon = h3.cell_to_latlng(item["h3"])
        item["centre"] = [round(lon, 6), round(lat, 6)]
        item.update(details.get(int(result.cells[row]), {"categories": [], "organisations": []}))
    return {"cycle": layer_cycle_json(cycle), "resolution": res, "items": items}


def get_cell(session: Session, scope: Scope, *, cycle: Cycle, cell_ref: str, selection: Selection) -> dict[str, Any]:
    """One cell for the dashboard's detail panel: its counts over the trend window ending with
    ``cycle`` (oldest first, for the sparkline) and what and who was reported there this cycle."""
    res, cell = parse_cell_ref(cell_ref)
    cycles = scope.grid.span(cycle, TREND_CYCLES)
    narrowed = replace(selection, cells={res: (cell,)})
    query = queries.weighted_counts(narrowed, edges=[c.start for c in cycles] + [cycle.end],
                                    keys=[queries.CELL_COLUMNS[res].label("cell")])
    counts = np.zeros(len(cycles))
    for row in session.execute(query):
        counts[int(row.k)] += row.w
    details = _what_and_who(session, scope, cycle=cycle, res=res, selection=selection, cells=[cell])[cell]
    return {"h3": grid.cell_string(cell), "resolution": res, "cycle": cycle_json(cycle),
            "series": [{"cycle": c.id, "label": c.label, "count": round(float(n), 3)} for c, n in zip(cycles, counts)],
            **details}


def _what_and_who(session: Session, scope: Scope, *, cycle: Cycle, res: int, selection: Selection,
                  cells: list[int]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Per cell: categories and reporting organisations this cycle, largest first (top 3)."""
    if not cells:
        return {}
    narrowed = replace(selection, cells={res: tuple(cells)})
    query = queries.weighted_counts(narrowed, edges=[cycle.start, cycle.end],
                                    keys=[queries.CELL_COLUMNS[res].label("cell"), Report.category_id.label("category_id"),
                                          Report.organisation_id.label("organisation_id")])
    rows = session.execute(query).all()
    categories = {c.id: c for c in session.scalars(select(Category).where(Category.municipality_id == scope.municipality.id))}
    organisations = {o.id: o for o in session.scalars(select(Organisation).where(
        Organisation.municipality_id == scope.municipality.id))}
    by_cat: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    by_org: dict[int, dict[int | None, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        by_cat[r.cell][r.category_id] += r.w
        by_org[r.cell][r.organisation_id] += r.w
    out = {}
    for cell in cells:
        cats = sorted(by_cat[cell].items(), key=lambda kv: -kv[1])[:3]
        orgs = sorted(by_org[cell].items(), key=lambda kv: -kv[1])[:3]
        out[cell] = {
            "categories": [{"code": categories[c].code, "label": categories[c].label_sv,
                            "group": categories[c].group_code, "count": round(w, 3)} for c, w in cats],
            "organisations": [{"name": organisations[o].name if o in organisations else "okänd",
                               "kind": organisations[o].kind if o in organisations else "other",
                               "count": round(w, 3)} for o, w in orgs],
        }
    return out


def get_patterns(session: Session, *, selection: Selection, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """The weekday × hour matrix of reports between ``start`` and ``end`` (aware instants)."""
    instants_q, windows_q = queries.local_hour_rows(selection, lo=start, hi=end)
    instants = [(r.dow, r.hour, float(r.n)) for r in session.execute(instants_q)]
    windows = np.array(session.execute(windows_q).all(), dtype=np.float64).reshape(-1, 2)
    matrix = patterns.hour_of_week_matrix(instants, windows[:, 0], windows[:, 1],
                                          clip_from=_wall_clock(start), clip_to=_wall_clock(end))
    return {"matrix": np.round(matrix, 3).tolist(), "total": round(float(matrix.sum()), 3),
            "rows": ["måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"],
            "columns": list(range(24)), "start": local_iso(start), "end": local_iso(end),
            "statuses": list(selection.statuses)}


def _wall_clock(instant: dt.datetime) -> float:
    """Local wall-clock time as epoch seconds (Stockholm read as if UTC), as the SQL returns."""
    return instant.astimezone(STOCKHOLM).replace(tzinfo=dt.UTC).timestamp()


def boundary_geojson(scope: Scope) -> dict[str, Any] | None:
    """The municipality's outline as a GeoJSON geometry (WGS84), for maps."""
    if scope.municipality.boundary is None:
        return None
    return shapely.geometry.mapping(to_shape(scope.municipality.boundary))
