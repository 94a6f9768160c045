"""The two-year lägesbild the law requires (lag 2023:196): the starting document for the
municipality's formal situation picture and action plan, over a chosen period of local days.

Four parts, each from one aggregated query over verified reports (aoristic counting from
:mod:`app.hotspots.queries`, so a report whose window spans a boundary is shared):

- counts per category group and area. The area is the res-7 H3 cell (about 5 km², 1.2 km
  across — the size of a district): equal-area, stable over the years (administrative
  districts get redrawn), joinable by the GIS unit on its index, and coarse enough that a cell
  is a part of town, not an address. The places the EST group has named are shown in the cell
  that holds them, so the analyst can read "Stationsområdet" instead of an index;
- trends per group: counts per calendar quarter (partial quarters at the ends are marked and
  compared as counts per day) with the Mann–Kendall test;
- the persistent hotspots: per res-9 cell, in how many full cycles of the period it was
  significantly hot (the same test as the meeting's layer, run on every cycle at once);
- the actions that ran in the period with their latest follow-up light.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import h3
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.actions import report
from app.actions.models import Action, Place
from app.actions.service import latest_lights
from app.auth.service import Principal
from app.errors import InvalidInput
from app.hotspots import grid, queries, stats, trend
from app.hotspots.analysis import hot_states
from app.hotspots.service import build_selection, count_matrix, get_scope
from app.reports.models import Category, Report
from app.reports.taxonomy import group_label
from app.timeutil import STOCKHOLM, local_today

AREA_RESOLUTION = 7
HOTSPOT_RESOLUTION = 9  # as the meeting's frozen layer
MAX_YEARS = 10
TOP_AREAS = 15
TOP_HOTSPOTS = 20
PERSISTENT_SHARE = 0.25  # hot in at least a quarter of the period's full cycles
MIN_HOT_CYCLES = 3


def period(start: dt.date | None, end: dt.date | None, *, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The period in local days, both inclusive; by default the two years up to today.
    422 when ``start`` is after ``end`` or the period is longer than ten years."""
    today = today or local_today()
    end = end or today
    start = start or _years_before(end, 2) + dt.timedelta(days=1)
    if start > end:
        raise InvalidInput(f"from ({start}) is after to ({end})", errors=[{"field": "from", "message": "after to"}])
    if start < _years_before(end, MAX_YEARS):
        raise InvalidInput(f"The period {start}–{end} is longer than {MAX_YEARS} years",
                           errors=[{"field": "from", "message": f"at most {MAX_YEARS} years before to"}])
    return start, end


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), STOCKHOLM)


def quarters(start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Calendar quarters overlapping [start, end], clipped to it: label, first/last day, days,
    whether the quarter is only partly in the period."""
    out = []
    q_first = dt.date(start.year, 3 * ((start.month - 1) // 3) + 1, 1)
    while q_first <= end:
        nxt = dt.date(q_first.year + (q_first.month == 10), (q_first.month + 2) % 12 + 1, 1)
        first, last = max(q_first, start), min(nxt - dt.timedelta(days=1), end)
        out.append({"label": f"K{(q_first.month - 1) // 3 + 1} {q_first.year}", "first_day": first,
                    "last_day": last, "days": (last - first).days + 1,
                    "partial": first != q_first or last != nxt - dt.timedelta(days=1)})
        q_first = nxt
    return out


def get_lagesbild(session: Session, *, principal: Principal, start: dt.date | None,
                  end: dt.date | None) -> dict[str, Any]:
    """Everything the lägesbild shows, as plain data for the renderer."""
    start, end = period(start, end)
    scope = get_scope(session, municipality_id=principal.municipality_id)
    selection = build_selection(session, municipality_id=principal.municipality_id, categories=[], groups=[],
                                organisation_kinds=[], statuses=["verified"])
    categories = {c.id: c for c in session.scalars(select(Category).where(
        Category.municipality_id == principal.municipality_id).order_by(Category.sort_order, Category.id))}
    groups = list(dict.fromkeys(c.group_code for c in categories.values()))
    periods = quarters(start, end)
    out = {"municipality": scope.municipality.name, "from": start.isoformat(), "to": end.isoformat(),
           "groups": [{"code": g, "label": group_label(g)} for g in groups]}
    out.update(_counts(session, selection, categories, groups, periods, principal.municipality_id))
    out["hotspots"] = _hotspots(session, scope, selection, start, end)
    out["actions"] = _actions(session, principal.municipality_id, start, end)
    return out


def _counts(session: Session, selection: queries.Selection, categories: dict[int, Category], groups: list[str],
            periods: list[dict[str, Any]], municipality_id: int) -> dict[str, Any]:
    """Counts per group × res-7 cell and per group × quarter, from one query."""
    edges = [_midnight(p["first_day"]) for p in periods] + [_midnight(periods[-1]["last_day"] + dt.timedelta(days=1))]
    query = queries.weighted_counts(selection, edges=edges, keys=[
        Report.category_id.label("category_id"), queries.CELL_COLUMNS[AREA_RESOLUTION].label("cell")])
    gi = {g: i for i, g in enumerate(groups)}
    by_cell: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(len(groups)))
    series = np.zeros((len(groups), len(periods)))
    for row in session.execute(query):
        g = gi[categories[row.category_id].group_code]
        by_cell[int(row.cell)][g] += row.w
        series[g, int(row.k)] += row.w
    names = _place_names(session, municipality_id)
    ranked = sorted(by_cell.items(), key=lambda kv: (-kv[1].sum(), kv[0]))
    areas = [{"h3": grid.cell_string(c), "places": names.get(c, []), "counts": np.round(v, 3).tolist(),
              "total": round(float(v.sum()), 3)} for c, v in ranked[:TOP_AREAS]]
    rest = sum((v for _, v in ranked[TOP_AREAS:]), np.zeros(len(groups)))
    # Quarters before the first report of any kind are before EST reporting began, not zeros:
    # they stay out of the trend test (else the start of reporting reads as an increase).
    first = stats.first_reporting(series.sum(axis=0))
    days = np.array([p["days"] for p in periods], dtype=np.float64)
    per_day = series[:, first:] / days[first:]
    n = per_day.shape[1]
    z, p = stats.mann_kendall(per_day) if n >= 3 else (np.zeros(len(groups)), np.ones(len(groups)))
    trends = [{"group": g, "counts": np.round(series[i], 3).tolist(), "total": round(float(series[i].sum()), 3),
               "mk_z": round(float(z[i]), 3), "mk_p": round(float(p[i]), 6),
               "direction": _direction(float(z[i]), float(p[i]), n)} for i, g in enumerate(groups)]
    return {"group_totals": np.round(series.sum(axis=1), 3).tolist(), "total": round(float(series.sum()), 3),
            "areas": areas, "areas_rest": {"cells": max(len(ranked) - TOP_AREAS, 0),
                                           "counts": np.round(rest, 3).tolist(), "total": round(float(rest.sum()), 3)},
            "first_reporting_quarter": first,
            "quarters": [{**q, "first_day": q["first_day"].isoformat(), "last_day": q["last_day"].isoformat()}
                         for q in periods], "trends": trends}


def _direction(z: float, p: float, n: int) -> str:
    if n < 3:
        return "för kort period"
    if p >= stats.ALPHA:
        return "ingen säker trend"
    return "ökande" if z > 0 else "minskande"


def _place_names(session: Session, municipality_id: int) -> dict[int, list[str]]:
    """Res-7 cell -> names of the places with a cell in it."""
    out: dict[int, set[str]] = defaultdict(set)
    for name, res, cells in session.execute(select(Place.name, Place.resolution, Place.cells)
                                            .where(Place.municipality_id == municipality_id)):
        for c in cells:
            parent = c if res == AREA_RESOLUTION else h3.str_to_int(h3.cell_to_parent(grid.cell_string(c),
                                                                                         AREA_RESOLUTION))
            out[parent].add(name)
    return {c: sorted(v) for c, v in out.items()}


def _hotspots(session: Session, scope, selection: queries.Selection, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Per res-9 cell, the full cycles of the period in which it was hot; the persistent ones
    (hot in at least a quarter of the cycles, and at least 3) ranked, plus a map layer."""
    g = scope.grid
    first = g.index_of_day(start) + (g.cycle(g.index_of_day(start)).first_day != start)
    last = g.index_of_day(end) - (g.cycle(g.index_of_day(end)).last_day != end)
    cycles = [g.cycle(i) for i in range(first, last + 1)]
    base = {"cycles": len(cycles), "resolution": HOTSPOT_RESOLUTION,
            "min_hot_cycles": max(MIN_HOT_CYCLES, int(np.ceil(PERSISTENT_SHARE * len(cycles)))),
            "items": [], "layer": None}
    if len(cycles) < 2:
        return base
    query = queries.weighted_counts(selection, edges=[c.start for c in cycles] + [cycles[-1].end],
                                    keys=[queries.CELL_COLUMNS[HOTSPOT_RESOLUTION].label("cell")])
    cells, counts = count_matrix(session.execute(query).all(), len(cycles))
    if cells.size == 0:
        return base
    area = grid.area_cells(scope.municipality.boundary.desc, HOTSPOT_RESOLUTION)
    sums, states, _ = hot_states(cells, counts, area=area)
    hot = states == 1
    n_hot = hot.sum(axis=1)
    z, p = stats.mann_kendall(sums)
    classes = trend.classify(states, z, p)
    persistent = n_hot >= base["min_hot_cycles"]
    order = [i for i in np.lexsort((cells, -counts.sum(axis=1), -n_hot)) if persistent[i]]
    base["items"] = [{"h3": grid.cell_string(cells[i]), "hot_cycles": int(n_hot[i]),
                      "longest_run": _longest_run(hot[i]), "total": round(float(counts[i].sum()), 3),
                      "last_hot": cycles[int(np.flatnonzero(hot[i])[-1])].label, "trend": classes[i]}
                     for i in order[:TOP_HOTSPOTS]]
    base["persistent_cells"] = int(persistent.sum())
    shown = np.flatnonzero(n_hot > 0)
    base["layer"] = {"features": [
        {"geometry": {"coordinates": [grid.hexagon_ring(int(cells[i]))]},
         "properties": {"count": float(counts[i].sum()), "hotspot": "hot" if persistent[i] else "none"}}
        for i in shown]}
    return base


def _longest_run(hot: np.ndarray) -> int:
    best = run = 0
    for h in hot.tolist():
        run = run + 1 if h else 0
        best = max(best, run)
    return best


def _actions(session: Session, municipality_id: int, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Actions whose start–due span overlaps the period, with their place and latest light."""
    rows = session.execute(select(Action, Place.name).join(Place, Place.id == Action.place_id).where(
        Action.municipality_id == municipality_id, Action.start_date <= end, Action.due_date >= start)
        .order_by(Action.start_date, Action.id)).all()
    lights = latest_lights(session, action_ids=[a.id for a, _ in rows])
    items = [{"id": a.id, "place": name, "what": a.what, "goal": a.goal, "kind": a.kind,
              "owner_organisation": a.owner_organisation, "start_date": a.start_date.isoformat(),
              "due_date": a.due_date.isoformat(), "status": a.status,
              "light": lights.get(a.id, {}).get("light")} for a, name in rows]
    summary = {k: sum(1 for i in items if i["light"] == k) for k in ("green", "yellow", "red")}
    summary["none"] = sum(1 for i in items if i["light"] is None)
    return {"items": items, "lights": summary}


def lagesbild_report(session: Session, *, principal: Principal, start: dt.date | None, end: dt.date | None,
                     as_pdf: bool) -> bytes | str:
    """The lägesbild as HTML, or as PDF rendered from the same HTML."""
    html = report.render_lagesbild_html(get_lagesbild(session, principal=principal, start=start, end=end))
    return report.render_pdf(html) if as_pdf else html
