"""Operations: ``python -m app.manage prepare [--demo]``, ``banner``, ``api-key`` and the
operator's set-up of a real kommun: ``municipality``, ``organisation``, ``user``, ``integration``,
and ``list`` to see what is set up.

prepare: apply the Alembic migrations; with --demo, load the demo municipality and a
year of synthetic reports the first time (never again, so your own data is kept).
api-key: print a long-lived reading key for a user (QGIS, GDAL, FME send it as X-API-Key).
municipality, organisation, user, integration, list: see README "First set-up". Each is one
transaction (nothing half-made); a refusal is a message on stderr and exit code 1. Passwords
and keys are printed once, on stdout, and never logged.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.auth import users
from app.auth.models import ROLES
from app.config import get_settings
from app.db import get_engine
from app.errors import DomainError, InvalidInput, NotFound
from app.integrations.models import INITIAL_STATUSES
from app.integrations.service import create_integration
from app.municipalities import service as municipalities
from app.municipalities.boundary import read_boundary
from app.municipalities.models import ORGANISATION_KINDS
from app.municipalities.overview import overview
from app.reports.models import Report
from app.reports.taxonomy import RESCUE_EVENT_TYPES
from app.timeutil import STOCKHOLM, local_today

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
            raise NotFound(f"No active user {username!r}")
        return create_reading_key(session, user_id=user.id, label=label, days=days, created_by=None)["key"]


@contextmanager
def _transaction() -> Iterator[Session]:
    """One command's transaction: committed when the block ends, rolled back on any error; the
    objects stay readable afterwards for the summary that is printed."""
    with Session(get_engine(), expire_on_commit=False) as session, session.begin():
        yield session


def setup_municipality(args: argparse.Namespace) -> None:
    """``municipality``: the kommun with its boundary, categories and its two organisations."""
    boundary = read_boundary(args.boundary, layer=args.layer, where=args.where)
    anchor = args.cycle_anchor or municipalities.default_cycle_anchor(local_today())
    with _transaction() as session:
        muni = municipalities.create_municipality(session, code=args.code, name=args.name, boundary=boundary,
                                                  cycle_anchor=anchor, cycle_days=args.cycle_days,
                                                  kommun_name=args.kommun_organisation)
        orgs = municipalities.list_organisations(session, municipality_id=muni.id)
    lon0, lat0, lon1, lat1 = boundary.bounds
    print(f"Created {muni.name} ({muni.code}): boundary of {len(boundary.geoms)} polygon(s), lon {lon0:.4f} to "
          f"{lon1:.4f}, lat {lat0:.4f} to {lat1:.4f} (WGS84); the standard EST categories; organisations "
          + ", ".join(f"'{o.name}' ({o.kind})" for o in orgs) + ".")
    print(f"EST cycles of {muni.cycle_days} days, one starting {anchor:%A} {anchor} (the meeting day) and every "
          f"{muni.cycle_days} days before and after.")


def setup_organisation(args: argparse.Namespace) -> None:
    """``organisation``: another organisation whose staff report."""
    with _transaction() as session:
        muni = municipalities.get_municipality(session, code=args.municipality)
        org = municipalities.create_organisation(session, municipality_id=muni.id, name=args.name, kind=args.kind)
    print(f"Created organisation '{org.name}' ({org.kind}) in {muni.name} ({muni.code}).")


def setup_user(args: argparse.Namespace) -> None:
    """``user``: a new user with a password shown once; or deactivate, activate, new password."""
    new = not (args.deactivate or args.activate or args.reset_password)
    missing = [f"--{a}" for a in ("municipality", "organisation", "role") if new and not getattr(args, a)]
    if missing:
        raise InvalidInput(f"A new user needs {', '.join(missing)} (or give --deactivate, --activate or "
                           "--reset-password for an existing one)")
    password = _password(args) if new or args.reset_password else None
    with _transaction() as session:
        if args.deactivate or args.activate:
            users.set_active(session, username=args.username, active=args.activate)
            print(f"User {args.username} is now {'active' if args.activate else 'deactivated'}.")
            return
        if args.reset_password:
            user, revoked = users.set_password(session, username=args.username, password=password)
            print(f"New password set for {user.username}" + ("" if user.active else " (still deactivated)") +
                  f"; {revoked} reading key{'s' * (revoked != 1)} revoked.")
        else:
            muni = municipalities.get_municipality(session, code=args.municipality)
            org = municipalities.get_organisation(session, municipality_id=muni.id, name=args.organisation)
            user = users.create_user(session, organisation_id=org.id, username=args.username, role=args.role,
                                     password=password, display_name=args.display_name)
            print(f"Created user {user.username} ({user.role}) in '{org.name}', {muni.name} ({muni.code}).")
    if not args.password_stdin:
        print("Password (shown once; give it to the user by a safe channel):")
        print(password)


def _password(args: argparse.Namespace) -> str:
    """The password from stdin's first line with --password-stdin, else a generated one."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return users.new_password()


def setup_integration(args: argparse.Namespace) -> None:
    """``integration``: a system that pushes events, its first key (shown once), its mapping."""
    with _transaction() as session:
        muni = municipalities.get_municipality(session, code=args.municipality)
        org = municipalities.get_organisation(session, municipality_id=muni.id, name=args.organisation)
        integration, key = create_integration(
            session, municipality_id=muni.id, organisation_id=org.id, name=args.name,
            initial_status=args.initial_status, event_types=RESCUE_EVENT_TYPES if args.rescue_service_mapping else None)
    mapped = f"{len(RESCUE_EVENT_TYPES)} typical rescue-service event types mapped" if args.rescue_service_mapping \
        else "no event types mapped yet"
    print(f"Created integration {integration.name} for '{org.name}', {muni.name} ({muni.code}): new reports start "
          f"as {integration.initial_status}; {mapped}. The coordinator manages its keys and mapping on the meeting "
          "map (Integrationer).")
    print("API key (shown once; the system sends it as X-API-Key):")
    print(key["key"])


def show_overview(args: argparse.Namespace) -> None:
    """``list``: each kommun (or one) with its organisations, users and integrations."""
    with _transaction() as session:
        found = overview(session, code=args.municipality)
    if not found:
        print("No municipality is set up yet (python -m app.manage municipality ...).")
    for m in found:
        print(f"{m.name} ({m.code}): {m.reports:,} reports; EST cycles of {m.cycle_days} days, one starting "
              f"{m.cycle_anchor:%A} {m.cycle_anchor}")
        print("  organisations:")
        for name, kind, n in m.organisations:
            print(f"    {name} ({kind}): {n} user{'s' * (n != 1)}")
        print("  users:" + ("" if m.users else " none yet"))
        for u in m.users:
            shown = f" ({u.display_name})" if u.display_name else ""
            keys = f", {_keys(u.reading_keys, u.key_last_used)} for GIS programs" if u.reading_keys else ""
            print(f"    {u.username}{shown} (user:{u.id}): {u.role}, {u.organisation}"
                  + ("" if u.active else ", deactivated") + keys)
        print("  integrations:" + ("" if m.integrations else " none"))
        for i in m.integrations:
            print(f"    {i.name} ({i.organisation}; integration:{i.id}): {'on' if i.active else 'switched off'}, "
                  "new reports start as "
                  f"{i.initial_status}; {_keys(i.keys, i.key_last_used)}; {i.mapped_types} event "
                  f"type{'s' * (i.mapped_types != 1)} mapped")


def _keys(n: int, last_used: dt.datetime | None) -> str:
    used = f"last used {last_used.astimezone(STOCKHOLM):%Y-%m-%d %H:%M}" if last_used else "never used"
    return f"{n} key{'s' * (n != 1)} ({used})"


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {value!r}") from None


def _parser() -> argparse.ArgumentParser:
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
    m = sub.add_parser("municipality", help="set up a kommun: boundary, EST categories, its organisations")
    m.add_argument("--code", required=True, help="kommunkod, four digits (Nyköping: 0480)")
    m.add_argument("--name", required=True, help="the municipality's name, e.g. Nyköping")
    m.add_argument("--boundary", required=True, type=Path,
                   help="a GIS file GDAL reads (GeoPackage, Shapefile, GeoJSON) with the boundary polygon(s) and a CRS")
    m.add_argument("--layer", help="the file's layer with the boundary (needed when it has several)")
    m.add_argument("--where", help="only these features, OGR SQL: \"kommunkod = '0480'\"")
    m.add_argument("--cycle-anchor", type=_date,
                   help="a meeting day, YYYY-MM-DD: the first day of an EST cycle (default: the coming Wednesday)")
    m.add_argument("--cycle-days", type=int, default=14, help="cycle length in days (default 14)")
    m.add_argument("--kommun-organisation",
                   help="the kommun's organisation name when '<name>s kommun' is wrong (e.g. 'Falu kommun')")
    o = sub.add_parser("organisation", help="add an organisation whose staff report")
    o.add_argument("--municipality", required=True, help="kommunkod")
    o.add_argument("--name", required=True)
    o.add_argument("--kind", required=True, help=", ".join(ORGANISATION_KINDS))
    u = sub.add_parser("user", help="add a user (password printed once); or --deactivate/--activate/--reset-password")
    u.add_argument("--username", required=True)
    u.add_argument("--municipality", help="kommunkod (new users)")
    u.add_argument("--organisation", help="the organisation's exact name (new users)")
    u.add_argument("--role", help=", ".join(ROLES) + " (new users)")
    u.add_argument("--display-name", default="")
    u.add_argument("--password-stdin", action="store_true",
                   help="read the password from stdin's first line instead of generating one")
    action = u.add_mutually_exclusive_group()
    action.add_argument("--deactivate", action="store_true", help="switch the user off (logins, tokens, keys refused)")
    action.add_argument("--activate", action="store_true", help="switch a deactivated user on again")
    action.add_argument("--reset-password", action="store_true", help="a new password (generated, or --password-stdin)")
    i = sub.add_parser("integration", help="add a system that pushes events; prints its API key once")
    i.add_argument("--municipality", required=True, help="kommunkod")
    i.add_argument("--organisation", required=True, help="the organisation its reports are filed under (exact name)")
    i.add_argument("--name", required=True, help="short name; its reports' source is integration:<name>")
    i.add_argument("--initial-status", default="new", help=" or ".join(INITIAL_STATUSES) +
                   " (default new; verified for confirmed call-outs such as the rescue service's)")
    i.add_argument("--rescue-service-mapping", action="store_true",
                   help="map the typical rescue-service event types (Brand i container, ...) to the categories")
    ls = sub.add_parser("list", help="what is set up: each kommun with its organisations, users and integrations")
    ls.add_argument("--municipality", help="only this kommunkod")
    return parser


COMMANDS = {"municipality": setup_municipality, "organisation": setup_organisation, "user": setup_user,
            "integration": setup_integration, "list": show_overview}


def main(argv: list[str] | None = None) -> int:
    """Run one command; 1 with a message on stderr when it is refused (nothing was changed)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.cmd == "api-key" and not 1 <= args.days <= 730:
        parser.error("--days must be 1-730 (as for POST /api/v1/reading-keys)")
    try:
        if args.cmd == "prepare":
            prepare(demo=args.demo and get_settings().demo_mode)
        elif args.cmd == "migrate":
            migrate()
        elif args.cmd == "api-key":
            print(api_key(username=args.user, days=args.days, label=args.label))
        elif args.cmd in COMMANDS:
            COMMANDS[args.cmd](args)
            sys.stdout.flush()  # here, so that a reader gone early (`list | head`) is handled below
        else:
            banner(args.port)
    except DomainError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    except IntegrityError as exc:  # a concurrent set-up took the name first; rolled back
        print(f"error: conflicts with existing data ({type(exc.orig).__name__}); nothing was changed", file=sys.stderr)
        return 1
    except OperationalError as exc:
        print(f"error: the database is not reachable ({type(exc.orig).__name__}); nothing was changed", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader of the output went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        if args.cmd == "list":  # `list | head`: the reader has what it wanted
            return 0
        print("error: the output was cut off before it was all written; what was made is stored, but a password or "
              "key printed once may be lost: reset the password, or make a new key", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
