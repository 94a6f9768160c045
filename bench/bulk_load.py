"""Benchmark of the bulk seed load: N synthetic reports through ``seeds.loader.seed``.

    .venv/bin/python bench/bulk_load.py --reports 1000000 --runs 3 [--keep]

Uses the database in DATABASE_URL (demo mode only, like ``python -m seeds``). Before each
run the report table is emptied (with the rows that hang off it: report events and
attachments) and a checkpoint is taken, so every run starts from the same fresh state
instead of paying for the previous run's dirty pages; ``--keep`` skips both and loads on
top of what is there. The rate is the loader's own: generation, H3 cells, COPY, index
and constraint rebuild and commit, end to end.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from app.db import get_engine  # noqa: E402
from bench.machine import cpu_model  # noqa: E402
from seeds.loader import seed  # noqa: E402

SERVER_SETTINGS = ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_level",
                   "shared_buffers", "max_wal_size", "max_parallel_maintenance_workers")


def server_settings() -> dict[str, str]:
    """The server settings that decide bulk-load speed, so results can be compared."""
    with get_engine().connect() as conn:
        return {name: conn.exec_driver_sql(f"SHOW {name}").scalar_one() for name in SERVER_SETTINGS}


def fresh_state() -> None:
    """Empty the report table (and its dependants), then checkpoint so no run pays for the last.

    The checkpoint needs superuser or pg_checkpoint; without it the run just starts less clean."""
    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE report, report_event, attachment"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        try:
            conn.execute(text("CHECKPOINT"))
        except Exception as exc:  # noqa: BLE001 - a missing privilege only makes runs noisier
            print(f"(no checkpoint: {exc.__class__.__name__})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=1_000_000, help="reports per run (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=3, help="number of runs (default 3)")
    parser.add_argument("--keep", action="store_true", help="do not empty the report table before each run")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generator (default 7)")
    args = parser.parse_args(argv)
    if args.reports < 1 or args.runs < 1:
        parser.error("--reports and --runs must be >= 1")
    if "DATABASE_URL" not in os.environ:
        parser.error("set DATABASE_URL to the (throwaway) database to load into")

    settings = server_settings()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; PostgreSQL {settings.pop('server_version')}; "
          + ", ".join(f"{k}={v}" for k, v in settings.items()))
    seed(0)  # the demo base, once, outside the timing
    rates = []
    for run in range(1, args.runs + 1):
        if not args.keep:
            fresh_state()
        rate = seed(args.reports, seed=args.seed, quiet=True)
        rates.append(rate)
        print(f"run {run}: {args.reports:,} reports at {rate:,.0f} reports/s ({args.reports / rate:.2f} s)")
    print(f"median: {statistics.median(rates):,.0f} reports/s over {args.runs} runs of {args.reports:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
