"""Report point tiles of older cycles: the town's points for a cycle months back, in process.

    DATABASE_URL=... .venv/bin/python bench/report_tiles.py [--town 1000000] [--long-share 0.03] [--runs 3]

Needs DATABASE_URL in demo mode (a database you may fill: it adds reports to the demo town
until it holds ``--town``, and with ``--long-share`` turns that share of them, once, into
weekend-long windows of 60 hours — the seeds make no window longer than 14 hours, so without it
the long windows' index, migration 0008, is empty). Then asks the app in process (no HTTP
server; an est_member's token) for three tiles over the town centre (z12, z13, z14) of the
previous cycle, one 6 cycles back and one 12 back, ``--runs`` times, and prints each tile's
median and the number of points it holds.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import mapbox_vector_tile  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.db import get_engine  # noqa: E402
from app.reports.models import LONG_WINDOW_SQL, Report  # noqa: E402
from bench.machine import describe  # noqa: E402
from seeds.loader import seed_up_to  # noqa: E402

TILES = ("12/2235/1203", "13/4471/2407", "14/8943/4814")  # over Eskilstuna's centre
CYCLES_BACK = (1, 6, 12)


def prepare(town: int, long_share: float) -> tuple[int, int]:
    """Fill the town to ``town`` reports and make ``long_share`` of them 60-hour windows (once)."""
    seed_up_to(town)
    with Session(get_engine()) as session, session.begin():
        long_now = session.scalar(text(f"SELECT count(*) FROM report WHERE occurred_to - occurred_from > {LONG_WINDOW_SQL}"))
        if long_share and not long_now:
            session.execute(text("UPDATE report SET occurred_from = occurred_to - interval '60 hours' "
                                 "WHERE source NOT LIKE 'integration:%' AND random() < :share"), {"share": long_share})
            long_now = session.scalar(text(f"SELECT count(*) FROM report WHERE occurred_to - occurred_from > "
                                           f"{LONG_WINDOW_SQL}"))
        total = session.scalar(select(func.count()).select_from(Report))
    with get_engine().connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE report"))
    return total, long_now


async def measure(runs: int) -> None:
    from app.main import app

    logging.disable(logging.INFO)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120) as c:
        token = (await c.post("/api/v1/auth/token", data={"username": "est", "password": "demo"})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        cycles = [cy["id"] for cy in (await c.get("/api/v1/cycles", headers=headers)).json()["cycles"]]  # newest first
        print(f"  {'cycle':>10} {'back':>4} " + " ".join(f"{t:>22}" for t in TILES))
        for back in CYCLES_BACK:
            cycle = cycles[back]
            cells = []
            for tile in TILES:
                times, points = [], 0
                for _ in range(runs):
                    started = time.perf_counter()
                    r = await c.get(f"/tiles/reports/{tile}.mvt", params={"cycle": cycle}, headers=headers)
                    times.append((time.perf_counter() - started) * 1000)
                    if r.status_code != 200:
                        raise SystemExit(f"{r.status_code} for {tile} of {cycle}: {r.text[:200]}")
                    points = len(mapbox_vector_tile.decode(r.content)["reports"]["features"])
                cells.append(f"{statistics.median(times):7.1f} ms {points:>6} pts")
            print(f"  {cycle:>10} {back:>4} " + " ".join(f"{cell:>22}" for cell in cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--town", type=int, default=1_000_000)
    parser.add_argument("--long-share", type=float, default=0.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    total, long_windows = prepare(args.town, args.long_share)
    print(f"machine: {describe()}; {total:,} reports, {long_windows:,} of them windows over a day")
    print(f"command: .venv/bin/python bench/report_tiles.py --town {args.town} --long-share {args.long_share} "
          f"--runs {args.runs}")
    asyncio.run(measure(args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
