"""The events feed: an integration pushes up to 10,000 events per request; each becomes (or
updates) one report, idempotently by (integration, external_id).

Set-based, not per row: the batch is read and checked as arrays (:mod:`.parsing`,
:mod:`.validation`), written with one binary COPY into a temporary table, and applied by one
statement that classifies every item (created / updated / unchanged), inserts the new ones,
updates the changed ones and logs what changed in ``report_event``. New events are then
linked with guards' and others' reports of the same incident (:mod:`app.reports.incidents`).
Everything is in the request's transaction: an item is applied whole or not at all, and a
failed request stores nothing. Batches of one integration are applied one at a time (an
advisory lock), so the classification is exact even when a system retries in parallel.
"""
from __future__ import annotations

import gc
import logging
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import bulkcopy, geo
from app.config import Settings
from app.errors import Conflict, UnsupportedMediaType
from app.integrations import parsing
from app.integrations.service import IntegrationClient, duplicate_external_id, lock_external_ids, mapping_lookup
from app.integrations.validation import Events, Rules, validate
from app.municipalities.models import Municipality
from app.reports import incidents
from app.reports.schemas import is_unicode
from app.timeutil import utcnow

STATUSES = ("created", "updated", "unchanged", "rejected")
GONE = ("its report was deleted in Lägesbild while this batch was being applied, so nothing was stored for it; "
        "send it again to file it anew")
log = logging.getLogger("lagesbild.feed")

FIXED = {"idx": np.dtype(">i4"), "id": bulkcopy.UUID, "category_id": np.dtype(">i4"),
         "occurred_from": np.dtype(">i8"), "occurred_to": np.dtype(">i8"), "geom": bulkcopy.EWKB_POINT,
         **{f"h3_r{r}": np.dtype(">i8") for r in geo.H3_RESOLUTIONS}}
TEXT = ("external_id", "event_type", "description")

STAGING = text("""
CREATE TEMP TABLE IF NOT EXISTS feed_event (
    idx int, id uuid, category_id int, occurred_from timestamptz, occurred_to timestamptz,
    geom geometry(Point, 4326), h3_r7 bigint, h3_r8 bigint, h3_r9 bigint, h3_r10 bigint,
    external_id text, event_type text, description text
) ON COMMIT DELETE ROWS
""")
COPY = f"COPY feed_event ({', '.join((*FIXED, *TEXT))}) FROM STDIN (FORMAT BINARY)"

# An event type as the mapping matches it (app.integrations.service.normalise_event_type, in SQL:
# Unicode form, case, dashes U+2010-U+2015 and U+2212 as '-', and spacing): a respelled type is the
# same type.
TYPE_KEY = r"""regexp_replace(btrim(regexp_replace(regexp_replace(lower(normalize({0}, NFKC)),
    '[‐-―−]', '-', 'g'), '\s*([-/])\s*', '\1', 'g')), '\s+', ' ', 'g')"""

# One statement: classify against what is stored, insert the new, update the changed, log the changes.
APPLY = text("""
WITH cur AS (
    -- LIMIT 1 (the unique index allows no more) keeps this a probe of that index per event:
    -- cheaper than hashing every report of the source, which the planner would otherwise do.
    SELECT i.*, r.id AS report_id, r.category_id AS old_category_id, r.occurred_from AS old_from,
           r.occurred_to AS old_to, r.geom AS old_geom, r.description AS old_description,
           r.event_type AS old_event_type, r.description_edited AS description_kept
    FROM feed_event i LEFT JOIN LATERAL (
        SELECT * FROM report
        WHERE municipality_id = :municipality_id AND source = :source AND external_id = i.external_id LIMIT 1
    ) r ON true
), changed AS (
    -- What the source says changed. The category is ours, not the source's: it follows the
    -- mapping only when the event's type changes (not its spelling), so a replay after the
    -- coordinator re-mapped a type, or corrected one report's category, keeps the stored category.
    -- (The spelling is compared first: the normalising regular expressions cost ~30 µs an event,
    -- measured 555 -> 914 ms for a batch of 10,000 updates, and are needed only for a respelling.)
    -- Nor is the description the source's once the coordinator has rewritten it (to take personal
    -- data out, app.reports.service.update_report): what the source sends for it is not compared
    -- or written, so that sending the event again never brings the old text back.
    SELECT *, CASE WHEN old_event_type IS NOT DISTINCT FROM event_type THEN old_category_id
                   WHEN """ + TYPE_KEY.format("old_event_type") + """
                        IS DISTINCT FROM """ + TYPE_KEY.format("event_type") + """
                   THEN category_id ELSE old_category_id END AS new_category_id
    FROM cur
    WHERE report_id IS NOT NULL
      AND (old_from, old_to, old_geom, old_description, old_event_type)
          IS DISTINCT FROM (occurred_from, occurred_to, geom,
                            CASE WHEN description_kept THEN old_description ELSE description END, event_type)
), created AS (
    INSERT INTO report (id, municipality_id, category_id, occurred_from, occurred_to, reported_at, geom,
                        h3_r7, h3_r8, h3_r9, h3_r10, description, organisation_id, source, external_id,
                        event_type, status)
    SELECT id, :municipality_id, category_id, occurred_from, occurred_to, now(), geom,
           h3_r7, h3_r8, h3_r9, h3_r10, description, :organisation_id, :source, external_id, event_type, :status
    FROM cur WHERE report_id IS NULL
    ORDER BY h3_r10  -- neighbours in space go into neighbouring index pages (H3 order is hierarchical)
    -- No ON CONFLICT: the integration's lock (lock_external_ids) makes the classification above
    -- exact, and a speculative insertion per row cost a quarter of this INSERT (measured).
), updated AS (
    UPDATE report r
    -- A kept category is the row's own, read again here: if someone changed the report while this
    -- waited for it, theirs stays (only a category just mapped, and locked, is written from the batch)
    SET category_id = CASE WHEN c.new_category_id = c.old_category_id THEN r.category_id ELSE c.new_category_id END,
        occurred_from = c.occurred_from, occurred_to = c.occurred_to,
        geom = c.geom, h3_r7 = c.h3_r7, h3_r8 = c.h3_r8, h3_r9 = c.h3_r9, h3_r10 = c.h3_r10,
        -- (the row's own flag, read again: a rewrite that came in while this waited for the row stays)
        description = CASE WHEN r.description_edited THEN r.description ELSE c.description END,
        event_type = c.event_type, updated_at = now()
    -- = ANY(ARRAY(...)): probe the primary key for the changed rows instead of hashing the table
    FROM changed c WHERE r.id = ANY(ARRAY(SELECT report_id FROM changed)) AND r.id = c.report_id
    RETURNING r.id, r.description_edited AS description_kept  -- as read after the row's lock
), logged AS (
    INSERT INTO report_event (report_id, action, changes)
    SELECT c.report_id, 'feed_update', jsonb_strip_nulls(jsonb_build_object(
        'category_id', CASE WHEN c.old_category_id <> c.new_category_id
                            THEN jsonb_build_array(c.old_category_id, c.new_category_id) END,
        'event_type', CASE WHEN c.old_event_type IS DISTINCT FROM c.event_type
                           THEN jsonb_build_array(c.old_event_type, c.event_type) END,
        'occurred_from', CASE WHEN c.old_from <> c.occurred_from THEN jsonb_build_array(c.old_from, c.occurred_from) END,
        'occurred_to', CASE WHEN c.old_to <> c.occurred_to THEN jsonb_build_array(c.old_to, c.occurred_to) END,
        'position', CASE WHEN c.old_geom IS DISTINCT FROM c.geom
                         THEN jsonb_build_array(jsonb_build_array(ST_X(c.old_geom), ST_Y(c.old_geom)),
                                                jsonb_build_array(ST_X(c.geom), ST_Y(c.geom))) END,
        -- free text is not copied into the log (it may name people); that it changed is
        'description', CASE WHEN NOT u.description_kept AND c.old_description <> c.description THEN true END))
    FROM changed c JOIN updated u ON u.id = c.report_id  -- not for a report deleted while this waited for it
)
SELECT c.idx,
       CASE WHEN c.report_id IS NULL THEN 'created' WHEN u.id IS NOT NULL THEN 'updated'
            WHEN ch.report_id IS NOT NULL THEN 'gone' ELSE 'unchanged' END,
       coalesce(c.report_id, c.id)
FROM cur c LEFT JOIN updated u ON u.id = c.report_id LEFT JOIN changed ch ON ch.report_id = c.report_id
-- (created is not joined: a data-modifying CTE runs whether or not it is referenced)
""")


_gc_lock = threading.Lock()
_gc_pausers = 0


@contextmanager
def gc_paused():
    """No cyclic garbage collection while a batch is read and answered.

    A batch is ~200,000 small containers (the parsed JSON, then the results); creating them
    sets off full collections that walk every object of the process, which made reading a
    10,000-event batch three times slower (measured: 185 -> 57 ms). Nothing in a batch forms
    reference cycles, so reference counting frees it all anyway. Counted, so that concurrent
    batches re-enable collection only when the last one is done."""
    global _gc_pausers
    with _gc_lock:
        mine = _gc_pausers > 0 or gc.isenabled()  # not when someone else switched it off
        if mine:
            _gc_pausers += 1
            gc.disable()
    try:
        yield
    finally:
        if mine:
            with _gc_lock:
                _gc_pausers -= 1
                if _gc_pausers == 0:
                    gc.enable()


@lru_cache(maxsize=16)
def _boundary(wkb_hex: str) -> BaseGeometry:
    """The municipality's outline, prepared for fast point tests (cached by its WKB)."""
    geometry = shapely.from_wkb(wkb_hex)
    shapely.prepare(geometry)
    return geometry


def _rules(session: Session, client: IntegrationClient, *, crs: str | None, settings: Settings) -> Rules:
    name, boundary = session.execute(select(Municipality.name, Municipality.boundary)
                                     .where(Municipality.id == client.municipality_id)).one()
    return Rules(mapping=mapping_lookup(session, integration_id=client.integration_id),
                 boundary=_boundary(boundary.desc), municipality_name=name,
                 default_crs=geo.parse_crs(crs, default=geo.WGS84), now=utcnow(), skew_s=settings.clock_skew_seconds,
                 mapping_route=f"PUT /api/v1/integrations/{client.integration_id}/event-types")


def read_batch(body: bytes, *, content_type: str, max_events: int) -> parsing.RawBatch:
    """The body as a batch, by its media type: GeoJSON (JSON) or CSV; 415 otherwise."""
    media = content_type.split(";")[0].strip().lower()
    if media in ("application/json", "application/geo+json"):
        return parsing.read_geojson(body, max_events=max_events)
    if media == "text/csv":
        return parsing.read_csv(body, max_events=max_events)
    raise UnsupportedMediaType(f"Send the events as GeoJSON (Content-Type: application/geo+json or application/json) "
                               f"or CSV (text/csv); got {media or 'no content type'}")


def _copy_rows(events: Events) -> np.ndarray:
    """The accepted events as binary COPY rows for ``feed_event``, with new (UUIDv7) ids."""
    n = len(events)
    rows = bulkcopy.fixed_rows(FIXED, n, field_count=len(FIXED) + len(TEXT))
    rows["idx"] = events.index
    rows["id"] = bulkcopy.uuid7(np.full(n, int(time.time() * 1000)), np.random.default_rng())
    rows["category_id"] = events.category_id
    rows["occurred_from"] = events.occurred_from - bulkcopy.PG_EPOCH_US
    rows["occurred_to"] = events.occurred_to - bulkcopy.PG_EPOCH_US
    rows["geom"]["x"], rows["geom"]["y"] = events.lon, events.lat
    for res, cells in geo.h3_cells_vectorised(events.lat, events.lon).items():
        rows[f"h3_r{res}"] = cells
    texts = [bulkcopy.text_fields(values) for values in (events.external_id, events.event_type, events.description)]
    return bulkcopy.pack(rows, texts)


def _apply(session: Session, client: IntegrationClient, events: Events) -> list[tuple[int, str, Any]]:
    """Write the accepted events; (batch index, status, report id) for each."""
    if not len(events):
        return []
    lock_external_ids(session, integration_id=client.integration_id)
    session.execute(STAGING)
    session.execute(text("DELETE FROM feed_event"))  # empty unless an earlier batch in this transaction left rows
    conn = session.connection().connection.driver_connection
    with conn.cursor() as cur, cur.copy(COPY) as copy:
        copy.write(bulkcopy.COPY_HEADER)
        copy.write(memoryview(_copy_rows(events)))
        copy.write(bulkcopy.COPY_TRAILER)
    try:
        with foreign_keys_checked_per_batch(session, client, category_ids=np.unique(events.category_id).tolist()):
            return session.execute(APPLY, {"source": client.source, "municipality_id": client.municipality_id,
                                           "organisation_id": client.organisation_id,
                                           "status": client.initial_status}).all()
    except IntegrityError as exc:  # a duplicate cannot happen under the lock; if it does, nothing stays
        if not duplicate_external_id(exc):
            raise
        raise Conflict("Another request filed one of these events at the same moment; nothing of this batch was "
                       "stored, send it again") from exc


# What APPLY's rows refer to, locked once for the batch as each row's foreign-key trigger would
# lock it (FOR KEY SHARE: until we commit, nobody deletes the row or changes its key; others may
# still read and edit it). APPLY writes no other reference: reporter, moderator, duplicate and
# incident stay NULL, and a history row refers to the report APPLY has just updated (and locked).
# An updated event's category is its mapped one (among these) or the one the row has (APPLY
# reads it again as it updates the row, so a category deleted meanwhile is never written back).
REFERENCED = text("""
SELECT (SELECT count(*) FROM (SELECT FROM municipality WHERE id = :municipality_id FOR KEY SHARE) m) = 1
       AND (SELECT count(*) FROM (SELECT FROM organisation WHERE id = :organisation_id FOR KEY SHARE) o) = 1
       AND (SELECT count(*) FROM (SELECT FROM category WHERE id = ANY(:category_ids) FOR KEY SHARE) c)
           = cardinality(CAST(:category_ids AS int[]))
""")
# Whether this role may set session_replication_role (the privilege exists from PostgreSQL 15;
# before, only a superuser may).
MAY_SWITCH = {True: text("SELECT has_parameter_privilege('session_replication_role', 'SET')"),
              False: text("SELECT current_setting('is_superuser') = 'on'")}
_told_per_row = False


@contextmanager
def foreign_keys_checked_per_batch(session: Session, client: IntegrationClient, *, category_ids: list[int]):
    """Within the block, ``report``'s foreign keys are checked once for the batch, not per row.

    PostgreSQL checks a foreign key by a trigger per row: a lookup of the referenced row and a
    lock on it. For 10,000 events that was a third of the batch's write (measured in
    docs/performance.md). Here the referenced rows are looked up and locked the same way, once
    (:data:`REFERENCED`), and the per-row triggers are switched off for this transaction only
    (``SET LOCAL session_replication_role = replica``, which leaves unique indexes and checks on).
    The database role needs the right to set it (a superuser, or PostgreSQL 15's ``GRANT SET ON
    PARAMETER session_replication_role``); without it, or if a referenced row were missing, the
    triggers check each row as usual. Back on after the block; if the block fails, the
    transaction's end switches it back."""
    global _told_per_row
    server_version = session.connection().connection.driver_connection.info.server_version
    may_switch = session.scalar(MAY_SWITCH[server_version >= 150000])
    all_there = session.scalar(REFERENCED, {"municipality_id": client.municipality_id,
                                            "organisation_id": client.organisation_id, "category_ids": category_ids})
    if not (may_switch and all_there):
        if not may_switch and not _told_per_row:
            _told_per_row = True
            log.info("feed: foreign keys are checked row by row, which makes a batch about a third slower: the "
                     "database role may not set session_replication_role (GRANT SET ON PARAMETER "
                     "session_replication_role TO <the app's role>, PostgreSQL 15 or later)")
        yield
        return
    session.execute(text("SET LOCAL session_replication_role = replica"))
    yield
    session.execute(text("SET LOCAL session_replication_role = origin"))


def _link(session: Session, client: IntegrationClient, events: Events, applied: list[tuple[int, str, Any]]) -> dict:
    """Link the batch's new events with people's reports of the same incidents."""
    created = {i: report_id for i, status, report_id in applied if status == "created"}
    rows = np.flatnonzero(np.isin(events.index, np.fromiter(created, dtype=np.int64, count=len(created))))
    return incidents.link_arrivals(
        session, municipality_id=client.municipality_id, pushed=True, status=client.initial_status,
        ids=[created[int(events.index[r])] for r in rows], lon=events.lon[rows], lat=events.lat[rows],
        start=events.occurred_from[rows] / 1e6, end=events.occurred_to[rows] / 1e6, category_id=events.category_id[rows])


def ingest(session: Session, *, client: IntegrationClient, body: bytes, content_type: str, crs: str | None,
           settings: Settings, content_encoding: str | None = None) -> dict[str, Any]:
    """Apply a batch (the body as sent, gzipped when ``content_encoding`` says so); the
    response body: ``summary`` (count per status, and incident links made) and ``results``, one
    per item in the order sent. Logs the summary (counts only: no ids, no positions, no text)
    so that an operator sees what each push did."""
    started = time.perf_counter()
    body = parsing.decoded(body, encoding=content_encoding, max_bytes=settings.feed_body_max_bytes)
    with gc_paused():
        result = _ingest(session, client=client, body=body, content_type=content_type, crs=crs, settings=settings)
    summary = result["summary"]
    log.info("%s (integration %d): %d events, %s; %d linked; %.0f ms before commit", client.source,
             client.integration_id, summary["total"], ", ".join(f"{summary[s]} {s}" for s in STATUSES),
             summary["linked"], (time.perf_counter() - started) * 1000)
    return result


def _ingest(session: Session, *, client: IntegrationClient, body: bytes, content_type: str, crs: str | None,
            settings: Settings) -> dict[str, Any]:
    batch = read_batch(body, content_type=content_type, max_events=settings.feed_max_events)
    events, rejected = validate(batch, rules=_rules(session, client, crs=crs, settings=settings))
    applied = _apply(session, client, events)
    links = _link(session, client, events, applied)
    linked_to: dict[Any, list] = {}
    for secondary, primary in links.items():
        linked_to.setdefault(primary, []).append(secondary)
    raw_ids = batch.columns["external_id"]
    results: list[dict[str, Any]] = [{}] * batch.n
    for i, reason in rejected.items():
        results[i] = _result(i, raw_ids[i], "rejected", reason=reason)
    for i, status, report_id in applied:
        if status == "gone":  # changed, but its report was deleted while the batch waited for it
            results[i] = _result(i, raw_ids[i], "rejected", reason=GONE)
        else:
            results[i] = _result(i, raw_ids[i], status, report_id=report_id, linked=linked_to.get(report_id))
    statuses = [r["status"] for r in results]
    summary = {s: statuses.count(s) for s in STATUSES} | {"total": batch.n, "linked": len(links)}
    return {"summary": summary, "results": results}


def _result(index: int, external_id: Any, status: str, *, reason: str | None = None, report_id: Any = None,
            linked: list | None = None) -> dict[str, Any]:
    if type(external_id) is str and not is_unicode(external_id):
        external_id = external_id.encode("utf-8", "backslashreplace").decode()  # a lone surrogate, as \udc00
    out: dict[str, Any] = {"index": index,
                           "external_id": str(external_id) if type(external_id) in (str, int) else None,
                           "status": status}
    if report_id is not None:
        out["id"] = report_id
    if reason is not None:
        out["reason"] = reason
    if linked:
        out["linked_reports"] = linked
    return out
