"""Load the demo base and N synthetic reports (used by ``python -m seeds`` and ``make run``)."""
from __future__ import annotations

import sys
import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tqdm import tqdm

from app.auth.models import User
from app.db import get_engine
from app.municipalities.models import Organisation
from app.reports.models import Category, Report
from app.timeutil import utcnow
from seeds.bulk import foreign_keys_checked_after, indexes_rebuilt_after
from seeds.demo import load_demo_base
from seeds.synthetic import Lookups, copy_rows, generate

# From this many rows on, building the indexes and checking the foreign keys once after COPY
# beats doing both per row...
BULK_THRESHOLD = 50_000
# ...unless the table already holds far more rows, which the rebuild would go through again:
# measured on 2 cores, a rebuild costs ~6 us per row in the table, per-row upkeep ~45 us per new row.
BULK_MIN_SHARE = 0.15
USER_FOR_KIND = {"vaktare": "reporter", "polis": "est", "kommun": "coordinator"}


def lookups(session: Session, municipality_id: int) -> Lookups:
    """Ids of the demo municipality's categories, organisations and users."""
    cats = dict(session.execute(select(Category.code, Category.id).where(Category.municipality_id == municipality_id)).all())
    orgs = dict(session.execute(select(Organisation.kind, Organisation.id)
                                .where(Organisation.municipality_id == municipality_id)).all())
    users = dict(session.execute(select(User.username, User.id)).all())
    return Lookups(municipality_id=municipality_id, category_ids=cats, organisation_ids=orgs,
                   user_ids={kind: users.get(name) for kind, name in USER_FOR_KIND.items()})


def rebuild_pays_off(conn, n_new: int) -> bool:
    """Whether dropping indexes and foreign keys for the load and restoring them after is the
    cheaper way to add ``n_new`` reports, given the planner's estimate of the rows already there."""
    existing = conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'report'::regclass").fetchone()[0]
    return n_new >= max(BULK_THRESHOLD, BULK_MIN_SHARE * max(existing, 0))


def seed(n_reports: int, *, seed: int = 7, days: int = 364, quiet: bool = False) -> float:
    """Ensure the demo base, then add ``n_reports`` synthetic reports in one transaction.

    Returns rows/s of the load, end to end: generation through commit."""
    engine = get_engine()
    with Session(engine) as session, session.begin():
        muni = load_demo_base(session)
        ids = lookups(session, muni.id)
    if n_reports <= 0:
        return 0.0
    started = time.perf_counter()
    data = generate(n_reports, lookups=ids, now=utcnow(), days=days, seed=seed)
    raw = engine.raw_connection()
    conn = raw.driver_connection
    try:
        with tqdm(total=n_reports, unit="reports", desc="COPY", file=sys.stderr, disable=quiet,
                  unit_scale=True) as bar:
            if rebuild_pays_off(conn, n_reports):
                with foreign_keys_checked_after(conn, "report"), indexes_rebuilt_after(conn, "report"):
                    copy_rows(conn, data, lookups=ids, progress=bar.update)
                    bar.set_description("indexes and foreign keys")
            else:
                copy_rows(conn, data, lookups=ids, progress=bar.update)
        conn.commit()
    finally:
        raw.close()
    elapsed = time.perf_counter() - started
    # Vacuumed as well as analysed, so the hotspot counts' index-only scans skip the table.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) report")
    return n_reports / elapsed


def seed_up_to(n_reports: int, **options) -> int:
    """Ensure the demo base and at least ``n_reports`` reports in the database (the missing
    ones added by :func:`seed` with ``options``); returns how many there were before."""
    seed(0, quiet=True)
    with Session(get_engine()) as session:
        have = session.scalar(select(func.count()).select_from(Report))
    if have < n_reports:
        seed(n_reports - have, **{"quiet": True, **options})
    return have
