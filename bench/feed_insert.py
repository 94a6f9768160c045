"""What inserting a feed batch into ``report`` costs, by schema variant — the data for deciding
whether the feed's 50,000 events/s is reachable by changing ``report``.

    DATABASE_URL=... .venv/bin/python bench/feed_insert.py [--rounds 9] [--town 50000]
    make bench BENCH=feed-insert

Needs DATABASE_URL in demo mode, migrated (``make bench`` starts a throwaway durable PostGIS).
Fills the demo town to ``--town`` reports, checks one 10,000-event batch as the feed does and
keeps the rows it would insert in a table; then makes one copy of the database per variant
(``CREATE DATABASE … TEMPLATE``), changes the copy's ``report`` as the variant says, and in
interleaved rounds times ``INSERT … SELECT`` of the same 10,000 rows into each, rolled back.
Last, the same rows as two halves on two connections at once. The "table of its own" variants
insert into a lean copy of ``report`` (the same columns and rows, no foreign keys) with only the
indexes named: what keeping integration events out of ``report`` would cost per batch. Each
table is vacuumed after each round, so that the rolled-back rows do not pile up. Prints medians,
every round, and the machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import bulkcopy  # noqa: E402
from app.config import get_settings  # noqa: E402
from app.db import get_engine  # noqa: E402
from app.integrations import feed  # noqa: E402
from app.integrations.service import IntegrationClient, authenticate_key  # noqa: E402
from app.integrations.validation import validate  # noqa: E402
from bench.events import as_geojson, make_events  # noqa: E402
from bench.machine import describe  # noqa: E402
from seeds.demo import DEMO_API_KEY  # noqa: E402
from seeds.loader import seed_up_to  # noqa: E402

NULL_FOREIGN_KEYS = ("fk_report_reporter_id_user", "fk_report_duplicate_of_report", "fk_report_incident_of_report",
                     "fk_report_moderated_by_user")
VARIANTS: dict[str, list[str]] = {
    "as it is": [],
    "without the 4 foreign keys NULL for an event": [f"ALTER TABLE report DROP CONSTRAINT {c}"
                                                      for c in NULL_FOREIGN_KEYS],
    "without any foreign key": ["""DO $$ DECLARE c text; BEGIN
        FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = 'report'::regclass AND contype = 'f' LOOP
            EXECUTE format('ALTER TABLE report DROP CONSTRAINT %I', c);
        END LOOP; END $$"""],
    "SP-GiST instead of GiST on the point": ["DROP INDEX idx_report_geom",
                                             "CREATE INDEX idx_report_geom ON report USING spgist (geom)"],
    "without the spatial index": ["DROP INDEX idx_report_geom"],
    "foreign keys checked once per batch (the feed)": [],
    "occurrence index without INCLUDE": [
        "DROP INDEX ix_report_municipality_occurred_to",
        "CREATE INDEX ix_report_municipality_occurred_to ON report (municipality_id, occurred_to)"],
    "table of its own: key and external id only": [],
    "table of its own: + point, time and H3 indexes": [
        "CREATE INDEX ON feed_events (municipality_id, occurred_to)", "CREATE INDEX ON feed_events (h3_r10)",
        "CREATE INDEX ON feed_events USING gist (geom)"],
}
# A variant named "table of its own…" first makes feed_events: report's columns and rows, a primary
# key and the unique external id, nothing else (its own statements then add indexes).
OWN_TABLE = ["CREATE TABLE feed_events (LIKE report INCLUDING DEFAULTS)",
             "INSERT INTO feed_events SELECT * FROM report",
             "ALTER TABLE feed_events ADD PRIMARY KEY (id)",
             "CREATE UNIQUE INDEX ON feed_events (municipality_id, source, external_id) WHERE external_id IS NOT NULL"]


def target(variant: str) -> str:
    return "feed_events" if variant.startswith("table of its own") else "report"

# Run before the INSERT in the same transaction, and timed with it: the feed's check of the
# batch's references (app/integrations/feed.py foreign_keys_checked_per_batch), with the
# demo rescue service's categories.
BEFORE_INSERT: dict[str, list[str]] = {
    "foreign keys checked once per batch (the feed)": [
        feed.REFERENCED.text.replace(":municipality_id", "%(m)s").replace(":organisation_id", "%(o)s")
        .replace(":category_ids", "%(categories)s"),
        "SET LOCAL session_replication_role = replica"],
}

# The feed's own INSERT (app/integrations/feed.py APPLY, "created"), from a plain table.
INSERT = """
INSERT INTO {table} (id, municipality_id, category_id, occurred_from, occurred_to, reported_at, geom,
                    h3_r7, h3_r8, h3_r9, h3_r10, description, organisation_id, source, external_id, event_type, status)
SELECT id, %(m)s, category_id, occurred_from, occurred_to, now(), geom, h3_r7, h3_r8, h3_r9, h3_r10, description,
       %(o)s, %(s)s, external_id, event_type, 'verified'
FROM bench_feed_rows WHERE idx %% %(parts)s = %(part)s ORDER BY h3_r10
"""


def keep_batch(size: int) -> IntegrationClient:
    """One batch of new events, checked as the feed checks it, kept in ``bench_feed_rows``."""
    body = as_geojson(make_events(size, run="insert", batch=0, seed_=5))
    with Session(get_engine()) as session:
        client = authenticate_key(session, key=DEMO_API_KEY)
        batch = feed.read_batch(body, content_type="application/geo+json", max_events=size)
        accepted, rejected = validate(batch, rules=feed._rules(session, client, crs=None, settings=get_settings()))
        assert not rejected, rejected
        conn = session.connection().connection.driver_connection
        conn.execute("DROP TABLE IF EXISTS bench_feed_rows")
        conn.execute(feed.STAGING.text.replace("TEMP TABLE IF NOT EXISTS feed_event", "TABLE bench_feed_rows")
                     .replace("ON COMMIT DELETE ROWS", ""))
        with conn.cursor() as cur, cur.copy(feed.COPY.replace("feed_event", "bench_feed_rows")) as copy:
            copy.write(bulkcopy.COPY_HEADER)
            copy.write(memoryview(feed._copy_rows(accepted)))
            copy.write(bulkcopy.COPY_TRAILER)
        session.commit()
    return client


def timed(conn: psycopg.Connection, params: dict, *, parts: int = 1, part: int = 0, before: list[str] = (),
          table: str = "report") -> float:
    started = time.perf_counter()
    for statement in before:
        conn.execute(statement, params)
    conn.execute(INSERT.format(table=table), {**params, "parts": parts, "part": part})
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--town", type=int, default=50_000, help="reports in the demo town")
    args = ap.parse_args()
    have = seed_up_to(args.town)
    client = keep_batch(args.size)
    get_engine().dispose()  # a template database must have no other sessions
    url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    server, source_db = url.rsplit("/", 1)
    copies = {name: f"bench_variant_{i}" for i, name in enumerate(VARIANTS)}
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        for name, db in copies.items():
            admin.execute(f"DROP DATABASE IF EXISTS {db}")
            admin.execute(f"CREATE DATABASE {db} TEMPLATE {source_db}")
            with psycopg.connect(f"{server}/{db}", autocommit=True) as conn:
                for statement in (OWN_TABLE if target(name) != "report" else []) + VARIANTS[name]:
                    conn.execute(statement)
                conn.execute(f"VACUUM ANALYZE {target(name)}")
    with psycopg.connect(url) as conn:
        categories = [row[0] for row in conn.execute("SELECT DISTINCT category_id FROM bench_feed_rows")]
    params = {"m": client.municipality_id, "o": client.organisation_id, "s": client.source, "categories": categories}
    conns = {name: psycopg.connect(f"{server}/{db}") for name, db in copies.items()}
    vacuums = {name: psycopg.connect(f"{server}/{db}", autocommit=True) for name, db in copies.items()}
    halves = [psycopg.connect(f"{server}/{copies['as it is']}") for _ in range(2)]
    times: dict[str, list[float]] = {name: [] for name in [*VARIANTS, "as it is, two halves at once"]}
    try:
        for _ in range(args.rounds):
            for name, conn in conns.items():
                times[name].append(timed(conn, params, before=BEFORE_INSERT.get(name, []), table=target(name)))
                conn.rollback()
                vacuums[name].execute(f"VACUUM {target(name)}")
            started = time.perf_counter()
            threads = [threading.Thread(target=timed, args=(conn, params), kwargs={"parts": 2, "part": i})
                       for i, conn in enumerate(halves)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            times["as it is, two halves at once"].append(time.perf_counter() - started)
            for conn in halves:
                conn.rollback()
            vacuums["as it is"].execute("VACUUM report")
    finally:
        for conn in [*conns.values(), *vacuums.values(), *halves]:
            conn.close()
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            for db in copies.values():
                admin.execute(f"DROP DATABASE IF EXISTS {db}")
    print(f"machine: {describe()}; {max(have, args.town):,} reports; {args.size:,} rows into report per statement, "
          f"rolled back; medians of {args.rounds} interleaved rounds; load average {os.getloadavg()[0]:.1f}")
    base = statistics.median(times["as it is"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:46s} {median * 1000:6.0f} ms  ({(base - median) * 1000:+5.0f} ms saved)   "
              + " ".join(f"{v * 1000:.0f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
