"""One incident, many sources: a rescue-service call-out and a guard's report of the same fire.

When reports arrive they are linked with reports from the other side: an integration's
event (the rescue service's system) on one side, a person's report (web, citizen) on the
other, with the same category group, at most :data:`MAX_METRES` apart and with occurrence
windows at most :data:`MAX_GAP` apart. The integration's event is the incident's primary
report; the others point to it with ``report.incident_of`` and are not counted again in the
situation picture. A person's report joins the nearest event (then the closest in time); an
event collects every matching report that is not linked yet. Rejected and duplicate reports
are never linked, nor reports found afterwards with a window longer than :data:`MAX_WINDOW`.

Links are made when a report arrives (a batch of events at once), not when it is changed
later; the coordinator can undo a link (:func:`unlink`), which is logged, and a report
taken out of an incident is never linked automatically again (also not with another
call-out of the same fire: the coordinator has judged it). Finding the pairs is pure array
work (:func:`match`): one query reads the other side's candidates for the batch's days,
NumPy pairs them by a grid key and day, and pyproj measures the few close pairs on the
ellipsoid — no index probe per arriving report.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import numpy as np
from pyproj import Geod
from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import Conflict
from app.reports.models import Category, Report, ReportEvent

MAX_METRES = 150.0
MAX_GAP_S = 3600  # MAX_GAP in seconds
MAX_GAP = dt.timedelta(seconds=MAX_GAP_S)
MAX_WINDOW = dt.timedelta(hours=24)
# The grid that pairs reports by hashing: keys of KEY_LON x KEY_LAT degrees, each at least
# MAX_METRES wide up to 77° N (0.006° of longitude is 239 m at 69° N, Sweden's northernmost;
# 0.0015° of latitude is 166 m), so a report's partners lie in its own key or the eight
# around it, on a UTC day that its window (± MAX_GAP) touches.
KEY_LON, KEY_LAT = 0.006, 0.0015
DAY_S = 86_400
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Side:
    """Reports of one side as arrays: ids, WGS84 degrees, occurrence window in Unix seconds,
    and the category group of each (as an integer code shared by both sides)."""

    ids: list[uuid.UUID]
    lon: np.ndarray
    lat: np.ndarray
    start: np.ndarray
    end: np.ndarray
    group: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def _keys(side: Side, *, spread: bool) -> tuple[np.ndarray, np.ndarray]:
    """(row, key) pairs: each report's grid key per day of its window; with ``spread`` also the
    eight neighbouring keys and the days within MAX_GAP (the side that looks for partners)."""
    kx = np.floor(side.lon / KEY_LON).astype(np.int64)
    ky = np.floor(side.lat / KEY_LAT).astype(np.int64)
    pad = MAX_GAP_S if spread else 0
    first = np.floor((side.start - pad) / DAY_S).astype(np.int64)
    days = np.floor((side.end + pad) / DAY_S).astype(np.int64) - first + 1
    rows = np.repeat(np.arange(len(side)), days)
    day = first[rows] + (np.arange(rows.size) - np.repeat(np.cumsum(days) - days, days))
    kx, ky = kx[rows], ky[rows]
    if spread:
        dx, dy = (a.ravel() for a in np.meshgrid([-1, 0, 1], [-1, 0, 1]))
        rows, day = np.repeat(rows, 9), np.repeat(day, 9)
        kx, ky = (np.repeat(kx, 9) + np.tile(dx, kx.size)), (np.repeat(ky, 9) + np.tile(dy, ky.size))
    # kx < 2^16 for |lon| <= 180, ky < 2^17 for |lat| <= 90, day < 2^20 (year 4840): one int64 key.
    return rows, ((kx + (1 << 15)) << 38) | ((ky + (1 << 17)) << 20) | day


def match(arrivals: Side, others: Side) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (arrival, other) pair of the same group within MAX_METRES and MAX_GAP: row indices
    into both sides, the distance (m, WGS84 ellipsoid) and the gap between the windows (s)."""
    empty = np.empty(0, dtype=np.int64)
    if not len(arrivals) or not len(others):
        return empty, empty, np.empty(0), np.empty(0)
    a_rows, a_keys = _keys(arrivals, spread=True)
    o_rows, o_keys = _keys(others, spread=False)
    order = np.argsort(o_keys, kind="stable")
    o_rows, o_keys = o_rows[order], o_keys[order]
    lo, hi = np.searchsorted(o_keys, a_keys, "left"), np.searchsorted(o_keys, a_keys, "right")
    hits = hi - lo
    a_idx = np.repeat(a_rows, hits)
    o_idx = o_rows[np.repeat(lo, hits) + (np.arange(hits.sum()) - np.repeat(np.cumsum(hits) - hits, hits))]
    pairs = np.unique(a_idx * len(others) + o_idx)  # a pair can meet in several keys and days
    a_idx, o_idx = pairs // len(others), pairs % len(others)
    gap = np.maximum.reduce([others.start[o_idx] - arrivals.end[a_idx], arrivals.start[a_idx] - others.end[o_idx],
                             np.zeros(len(a_idx))])
    keep = (arrivals.group[a_idx] == others.group[o_idx]) & (gap <= MAX_GAP_S)
    a_idx, o_idx, gap = a_idx[keep], o_idx[keep], gap[keep]
    if not len(a_idx):
        return empty, empty, np.empty(0), np.empty(0)
    _, _, metres = _GEOD.inv(arrivals.lon[a_idx], arrivals.lat[a_idx], others.lon[o_idx], others.lat[o_idx])
    metres = np.asarray(metres, dtype=np.float64).reshape(-1)
    near = metres <= MAX_METRES
    return a_idx[near], o_idx[near], metres[near], gap[near]


_OTHERS = """
SELECT o.id, ST_X(o.geom), ST_Y(o.geom), extract(epoch FROM o.occurred_from)::float8,
       extract(epoch FROM o.occurred_to)::float8, o.category_id
FROM report o
WHERE o.municipality_id = :municipality_id AND o.category_id = ANY(:category_ids) AND {side}
  AND o.status IN ('new', 'verified') AND o.incident_of IS NULL
  AND NOT EXISTS (SELECT 1 FROM report_event e WHERE e.report_id = o.id AND e.action = 'unlink')
  AND o.occurred_from BETWEEN :lo AND :hi AND o.occurred_to - o.occurred_from <= :max_window{bound}
"""
# The other side's candidates; each side's condition is written out so that the planner can use
# the partial index of people's reports (ix_report_people_category_occurred) for the events' side.
# The events' side has no index on occurred_from, so for it the bound on occurred_to that the
# other conditions imply (from >= lo, to - from <= max_window) is written out: a range of the
# occurrence index instead of a scan of the table (1,000,000 reports: 4.6 ms instead of 103 ms
# for each report submitted, the same rows).
_TO_BOUND = "\n  AND o.occurred_to BETWEEN :lo AND CAST(:hi AS timestamptz) + CAST(:max_window AS interval)"
OTHERS = {True: text(_OTHERS.format(side="o.source NOT LIKE 'integration:%'", bound="")),  # for arriving events
          False: text(_OTHERS.format(side="o.source LIKE 'integration:%'", bound=_TO_BOUND))}  # for people's reports

# The pairs were found in the statement's snapshot; the rows may have changed since. Each
# primary is locked FOR SHARE (it can be neither deleted nor moderated until this commits; one
# being changed is waited for and read again — so a person's report may wait for a feed batch
# that is updating its call-out), and only one still counted and not linked itself takes reports.
# The secondaries are locked in id order before they are updated (two batches linking the same
# people's reports would otherwise lock them in opposite orders and deadlock), and only those
# still counted and unlinked, read again after any wait, are linked.
LINK = text("""
WITH link AS (
    SELECT * FROM unnest(:secondary, :primary_id, :metres, :gap_s) AS l(secondary, primary_id, metres, gap_s)
), primaries AS (
    SELECT p.id FROM report p
    WHERE p.id = ANY(ARRAY(SELECT DISTINCT primary_id FROM link))
      AND p.status IN ('new', 'verified') AND p.incident_of IS NULL
    FOR SHARE
), secondaries AS (
    SELECT s.id FROM report s
    WHERE s.id = ANY(ARRAY(SELECT secondary FROM link)) AND s.status IN ('new', 'verified') AND s.incident_of IS NULL
    ORDER BY s.id
    FOR NO KEY UPDATE
), linked AS (
    UPDATE report s SET incident_of = l.primary_id
    FROM link l JOIN primaries p ON p.id = l.primary_id JOIN secondaries x ON x.id = l.secondary
    WHERE s.id = l.secondary AND s.incident_of IS NULL AND s.status IN ('new', 'verified')
    RETURNING s.id, l.primary_id, l.metres, l.gap_s
), logged AS (
    INSERT INTO report_event (report_id, action, changes)
    SELECT id, 'link', jsonb_build_object('incident_of', jsonb_build_array(NULL, primary_id::text),
                                          'metres', round(metres::numeric, 1), 'minutes_apart', round(gap_s / 60))
    FROM linked
)
SELECT id, primary_id FROM linked
""").bindparams(bindparam("secondary", type_=ARRAY(UUID(as_uuid=True))),
                bindparam("primary_id", type_=ARRAY(UUID(as_uuid=True))))


def link_arrivals(session: Session, *, municipality_id: int, pushed: bool, ids: list[uuid.UUID],
                  lon: np.ndarray, lat: np.ndarray, start: np.ndarray, end: np.ndarray,
                  category_id: np.ndarray, status: str) -> dict[uuid.UUID, uuid.UUID]:
    """Link arriving reports of one side (``pushed``: an integration's events, else people's
    reports) with the other side's; times in Unix seconds. Returns {linked report: primary}."""
    if not ids or status not in ("new", "verified"):
        return {}
    groups = dict(session.execute(select(Category.id, Category.group_code)
                                  .where(Category.municipality_id == municipality_id)).all())
    codes = {g: i for i, g in enumerate(sorted(set(groups.values())))}
    short = np.asarray(end) - np.asarray(start) <= MAX_WINDOW.total_seconds()
    if not short.any():
        return {}
    arrival_groups = {groups[int(c)] for c in np.asarray(category_id)[short]}
    utc = dt.timezone.utc
    rows = session.execute(OTHERS[pushed], {
        "municipality_id": municipality_id,
        "category_ids": [c for c, g in groups.items() if g in arrival_groups],
        "lo": dt.datetime.fromtimestamp(float(np.min(np.asarray(start)[short])), utc) - MAX_GAP - MAX_WINDOW,
        "hi": dt.datetime.fromtimestamp(float(np.max(np.asarray(end)[short])), utc) + MAX_GAP,
        "max_window": MAX_WINDOW}).all()
    if not rows:
        return {}
    o_ids, o_lon, o_lat, o_start, o_end, o_cat = zip(*rows)
    group_lut = np.full(max(groups) + 1, -1, dtype=np.int64)  # category id -> group code
    group_lut[list(groups)] = [codes[g] for g in groups.values()]

    def group_of(category_ids) -> np.ndarray:
        return group_lut[np.asarray(category_ids, dtype=np.int64)]

    keep = np.flatnonzero(short)
    arrivals = Side(ids=[ids[i] for i in keep], lon=np.asarray(lon, np.float64)[keep],
                    lat=np.asarray(lat, np.float64)[keep], start=np.asarray(start, np.float64)[keep],
                    end=np.asarray(end, np.float64)[keep], group=group_of(np.asarray(category_id)[keep]))
    others = Side(ids=list(o_ids), lon=np.array(o_lon), lat=np.array(o_lat), start=np.array(o_start),
                  end=np.array(o_end), group=group_of(np.array(o_cat)))
    a_idx, o_idx, metres, gap = match(arrivals, others)
    if not len(a_idx):
        return {}
    return _store(session, arrivals=arrivals, others=others, pushed=pushed, a_idx=a_idx, o_idx=o_idx,
                  metres=metres, gap=gap)


def _store(session: Session, *, arrivals: Side, others: Side, pushed: bool, a_idx: np.ndarray, o_idx: np.ndarray,
           metres: np.ndarray, gap: np.ndarray) -> dict[uuid.UUID, uuid.UUID]:
    """Keep each secondary's best pair (nearest, then closest in time) and write the links."""
    primary = [arrivals.ids[i] for i in a_idx] if pushed else [others.ids[i] for i in o_idx]
    secondary = [others.ids[i] for i in o_idx] if pushed else [arrivals.ids[i] for i in a_idx]
    best: dict[uuid.UUID, tuple] = {}
    for s, p, m, g in zip(secondary, primary, metres.tolist(), gap.tolist()):
        if s not in best or (m, g, p) < best[s][1:]:
            best[s] = (s, m, g, p)
    chosen = list(best.values())
    rows = session.execute(LINK, {"secondary": [c[0] for c in chosen], "primary_id": [c[3] for c in chosen],
                                  "metres": [c[1] for c in chosen], "gap_s": [c[2] for c in chosen]})
    links = dict(rows.all())
    for report in session.identity_map.values():  # keep loaded reports in step with the database
        if isinstance(report, Report) and report.id in links:
            set_committed_value(report, "incident_of", links[report.id])
    return links


def unlink(session: Session, *, report: Report, user_id: int) -> list[uuid.UUID]:
    """Undo a link: a linked report leaves its incident; for a primary report, every report
    linked to it does. Logged on each report that leaves ('unlink': it is not linked
    automatically again) and on the primary ('unlink_members': its linked reports before and
    after); returns the ids that were unlinked (409 if none)."""
    # The call-out first, then its reports — the order every unlink locks in, so two at once
    # (a report alone, and its whole incident) wait for each other instead of deadlocking — and
    # everything read again after the locks: the other may have unlinked some meanwhile.
    session.execute(select(Report.id).where(Report.id == (report.incident_of or report.id))
                    .with_for_update(key_share=True))
    session.refresh(report, with_for_update={"key_share": True})
    primary = report.incident_of or report.id
    linked = list(session.scalars(select(Report).where(Report.incident_of == primary)  # the incident, once
                                  .with_for_update(key_share=True).execution_options(populate_existing=True)))
    members = [report] if report.incident_of is not None else linked
    if not members:
        raise Conflict(f"Report {report.id} is not linked with another report")
    before = sorted(str(m.id) for m in linked)
    for member in members:
        session.add(ReportEvent(report_id=member.id, user_id=user_id, action="unlink",
                                changes={"incident_of": [str(member.incident_of), None]}))
        member.incident_of = None
    leaving = {str(m.id) for m in members}
    session.add(ReportEvent(report_id=primary, user_id=user_id, action="unlink_members",
                            changes={"linked_reports": [before, [i for i in before if i not in leaving]]}))
    session.flush()
    return [m.id for m in members]
