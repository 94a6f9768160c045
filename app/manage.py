"""Operations: ``python -m app.manage prepare [--demo]``, ``banner`` and ``api-key``.

prepare: apply the Alembic migrations; with --demo, load the demo municipality and a
year of synthetic reports the first time (never again, so your own data is kept).
api-key: print a long-lived reading key for a user (QGIS, GDAL, FME send it as X-API-Key).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import get_engine
from app.reports.models import Report

ROOT = Path(__file__).resolve().parent.parent
DEMO_REPORTS = 30_000


def migrate() -> None:
    """alembic upgrade head, with the app's DATABASE_URL."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["configure_logging"] = False
    command.upgrade(cfg, "head")


def prepare(*, demo: bool) -> None:
    """Migrate; with ``demo``, seed the demo data once."""
    migrate()
    if not demo:
        return
    from seeds.loader import seed

    with Session(get_engine()) as session:
        has_reports = session.scalar(select(func.count()).select_from(select(Report.id).limit(1).subquery()))
    if has_reports:
        seed(0)  # the demo base is idempotent; reports are loaded only once
        print("demo data already loaded; keeping the existing reports")
        return
    print(f"loading the demo municipality and {DEMO_REPORTS:,} synthetic reports (once)...")
    seed(DEMO_REPORTS)


def banner(port: int) -> None:
    """What a person needs after `make run`: the URL and the demo logins."""
    from seeds.demo import DEMO_API_KEY, DEMO_PASSWORD, USERS

    if not get_settings().demo_mode:
        print(f"Lägesbild is starting on port {port}", flush=True)
        return
    print(f"""
Lägesbild is starting on http://127.0.0.1:{port}   (API docs: http://127.0.0.1:{port}/docs)
Demo logins (password '{DEMO_PASSWORD}'): {', '.join(f'{u} ({role})' for u, _, role, _ in USERS)}
Demo integration key (rescue service): {DEMO_API_KEY}
Stop with Ctrl-C; the data is kept for the next `make run`.
""", flush=True)


def api_key(*, username: str, days: int, label: str) -> str:
    """A new reading key for an active user (stored, listed and revocable like one made with
    POST /api/v1/reading-keys); it acts with that user's current role."""
    from app.auth.keys import create_reading_key
    from app.auth.models import User

    with Session(get_engine()) as session, session.begin():
        user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
        if user is None:
            raise SystemExit(f"no active user {username!r}")
        return create_reading_key(session, user_id=user.id, label=label, days=days, created_by=None)["key"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.manage")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="migrate (and load demo data once with --demo)")
    p.add_argument("--demo", action="store_true")
    b = sub.add_parser("banner", help="print the URL and demo logins")
    b.add_argument("--port", type=int, default=8000)
    sub.add_parser("migrate", help="alembic upgrade head")
    k = sub.add_parser("api-key", help="print a reading key for a user (acts with the user's role)")
    k.add_argument("--user", required=True, help="username, e.g. a service account 'gis-qgis' with role gis_reader")
    k.add_argument("--days", type=int, default=365, help="lifetime in days (default 365)")
    k.add_argument("--label", default="made with app.manage api-key", help="what uses it (shown in key lists)")
    args = parser.parse_args(argv)
    if args.cmd == "api-key" and not 1 <= args.days <= 730:
        parser.error("--days must be 1-730 (as for POST /api/v1/reading-keys)")
    if args.cmd == "prepare":
        prepare(demo=args.demo and get_settings().demo_mode)
    elif args.cmd == "migrate":
        migrate()
    elif args.cmd == "api-key":
        print(api_key(username=args.user, days=args.days, label=args.label))
    else:
        banner(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
