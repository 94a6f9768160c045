"""The feed's foreign-key checks once per batch against PostgreSQL's per-row triggers, end to
end over HTTP, interleaved — what app/integrations/feed.py ``foreign_keys_checked_per_batch``
is worth.

    DATABASE_URL=... .venv/bin/python bench/feed_checks.py [--rounds 7] [--size 10000] [--town 50000]

Needs DATABASE_URL in demo mode as a superuser (``make bench BENCH=feed-checks`` starts a
throwaway durable PostGIS). Creates a login role that may write every table but not set
session_replication_role (so the feed falls back to the per-row triggers), starts two uvicorns
(one worker each), one connecting as the owner and one as that role, and sends them new
batches, then the same events changed, alternately: the same machine moments for both.
Prints medians, every batch, and the machine.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.events import as_geojson, make_events, post  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.post_load import free_port, start_server  # noqa: E402
from seeds.loader import seed_up_to  # noqa: E402

ROLE = "lagesbild_bench_row_checks"


def _connect(url: str, **kwargs) -> psycopg.Connection:
    """psycopg on a SQLAlchemy DATABASE_URL."""
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), **kwargs)


def may_switch(url: str) -> bool:
    """Whether this URL's role may switch the per-row checks off (what the feed asks)."""
    with _connect(url) as conn:
        return conn.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')").fetchone()[0]


def drop_role(url: str) -> None:
    with _connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
            conn.execute(f"DROP OWNED BY {ROLE}")
            conn.execute(f"DROP ROLE {ROLE}")


def row_checks_url(url: str) -> str:
    """DATABASE_URL for a role without the right to switch off the per-row checks (made anew)."""
    password = secrets.token_hex(16)
    drop_role(url)
    with _connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}'")
        conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {ROLE}")
        conn.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {ROLE}")
    return make_url(url).set(username=ROLE, password=password).render_as_string(hide_password=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--town", type=int, default=50_000, help="reports in the demo town before the feed starts")
    args = ap.parse_args()
    have = seed_up_to(args.town)
    owner = os.environ["DATABASE_URL"]
    urls = {"once per batch": owner, "per row (triggers)": row_checks_url(owner)}
    if [may_switch(url) for url in urls.values()] != [True, False]:
        drop_role(owner)
        raise SystemExit("DATABASE_URL's role must be a superuser (or have SET on session_replication_role)")
    ports = {name: free_port() for name in urls}
    servers: dict = {}
    run = uuid.uuid4().hex[:6]
    times: dict[tuple[str, str], list[float]] = {(n, p): [] for p in ("new", "changed") for n in urls}
    try:
        servers.update({name: start_server(ports[name], 1, database_url=url) for name, url in urls.items()})
        clients = {name: httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) for name, port in ports.items()}
        for name, client in clients.items():  # warm both
            post(client, as_geojson(make_events(200, run=f"{run}w{len(name)}", batch=0, seed_=999)), "application/geo+json")
        for r in range(args.rounds):
            order = list(urls) if r % 2 == 0 else list(reversed(urls))
            batches = {name: make_events(args.size, run=f"{run}{i}", batch=r, seed_=10 * r + i) for i, name in enumerate(order)}
            for phase, body in (("new", lambda e: as_geojson(e)),
                                ("changed", lambda e: as_geojson(e, shift_minutes=5, note=" (uppdaterad)"))):
                for name in order:
                    elapsed, summary = post(clients[name], body(batches[name]), "application/geo+json")
                    expected = "created" if phase == "new" else "updated"
                    if summary[expected] != args.size:
                        raise SystemExit(f"{name}, {phase}: expected {args.size} {expected}, got {summary}")
                    times[(name, phase)].append(elapsed)
        for client in clients.values():
            client.close()
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(10)
        drop_role(owner)  # a login role that may write everything is not left behind
    print(f"machine: {describe()}; {max(have, args.town):,} reports in the town before; {args.rounds} rounds of "
          f"{args.size:,}-event batches, alternating; load average {os.getloadavg()[0]:.1f}")
    for (name, phase), values in times.items():
        median = statistics.median(values)
        print(f"  {phase:8s} foreign keys checked {name:19s} median {median * 1000:6.1f} ms -> {args.size / median:7,.0f} "
              f"events/s   " + " ".join(f"{v * 1000:.0f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
