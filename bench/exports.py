"""Benchmark of the exports: 1,000,000 reports as CSV, GeoJSON and GeoPackage through the real
server, with its time and peak memory, to show the rows are never in memory at once.

    .venv/bin/python bench/exports.py [--reports 1000000] [--runs 3] [--formats csv,geojson,gpkg]

Needs DATABASE_URL in demo mode (``make bench BENCH=exports`` starts a throwaway durable PostGIS
and loads the reports once). Per format and run: a fresh uvicorn (one worker) is started, warmed
up with a small export, and its resident memory noted; then the whole export is downloaded over
HTTP with a reading key (httpx, streamed to nowhere) and the server's peak resident memory
(VmHWM) read from /proc. Growth = peak − warmed-up. For contrast, ``--naive`` measures what
building the same GeoJSON in memory at once (the list route's way, all rows) takes.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.auth.models import User  # noqa: E402
from app.auth.keys import create_reading_key  # noqa: E402
from app.config import get_settings  # noqa: E402
from app.db import get_engine  # noqa: E402
from app.municipalities.models import Municipality  # noqa: E402
from app.reports.models import Report  # noqa: E402
from bench.machine import describe  # noqa: E402
from bench.post_load import free_port, start_server  # noqa: E402
from seeds.demo import MUNICIPALITY_CODE  # noqa: E402
from seeds.loader import seed  # noqa: E402

MB = 1024 * 1024


def demo_reports() -> int:
    """Reports of the demo municipality (the one the gis user exports)."""
    with Session(get_engine()) as session:
        return session.scalar(select(func.count()).select_from(Report).join(Municipality).where(
            Municipality.code == MUNICIPALITY_CODE)) or 0


def ensure_reports(n: int) -> int:
    """At least ``n`` reports in the demo municipality (loaded once); returns how many there are."""
    have = demo_reports()
    if have < n:
        print(f"loading {n - have:,} reports", file=sys.stderr)
        seed(n - have, quiet=True)
        with get_engine().begin() as conn:
            conn.execute(text("ANALYZE report"))
    return demo_reports()


def reading_key() -> str:
    with Session(get_engine()) as session:
        user = session.scalar(select(User).where(User.username == "gis"))
        key = create_reading_key(session, user_id=user.id, label="bench/exports.py", days=1, created_by=None)["key"]
        session.commit()
        return key


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak since start) of a process, in kB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, value = line.split(":")
            out[name] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (less sensitive to a busy machine than wall time)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_export(fmt: str, key: str, crs: str) -> dict:
    """A fresh server, warmed up; then the full export, timed, and the server's memory."""
    port = free_port()
    proc = start_server(port, workers=1)  # one process: its /proc memory is the server's
    try:
        url = f"http://127.0.0.1:{port}/api/v1/exports/reports.{fmt}"
        # Uncompressed, as curl and GDAL ask by default (a browser asking for gzip gets it from
        # the app's GZip middleware, which adds its own CPU time).
        headers = {"X-API-Key": key, "Accept-Encoding": "identity"}
        httpx.get(url, headers=headers, params={"crs": crs, "bbox": "16.50,59.37,16.51,59.38"}, timeout=60)
        warm = memory_kb(proc.pid)["VmRSS"]
        cpu = cpu_seconds(proc.pid)
        started = time.perf_counter()
        first_byte, size = None, 0
        with httpx.stream("GET", url, headers=headers, params={"crs": crs}, timeout=600) as r:
            r.raise_for_status()
            for chunk in r.iter_raw(1 << 20):
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                size += len(chunk)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(proc.pid) - cpu
        peak = memory_kb(proc.pid)["VmHWM"]
    finally:
        proc.terminate()
        proc.wait(10)
    return {"seconds": seconds, "cpu_s": cpu, "first_byte_s": first_byte, "bytes": size, "warm_mb": warm / 1024,
            "peak_mb": peak / 1024, "growth_mb": (peak - warm) / 1024}


def naive_geojson_peak(n: int) -> dict:
    """Peak memory of a fresh process that builds the whole FeatureCollection at once (all rows
    fetched, every feature as a dict, one orjson document): what streaming avoids."""
    code = f"""
import resource, time, orjson
from sqlalchemy import select
from sqlalchemy.orm import Session
from app.auth.models import User
from app.auth.service import create_token, get_principal
from app.config import get_settings
from app.db import get_engine
from app.reports import service
with Session(get_engine()) as s:
    token, _ = create_token(user=s.scalar(select(User).where(User.username == 'gis')), settings=get_settings())
    p = get_principal(s, token=token, settings=get_settings())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    features, matched, _ = service.list_reports(s, principal=p, flt=service.ReportFilter(), limit={n}, cursor=None)
    body = orjson.dumps({{"type": "FeatureCollection", "features": features}})
    print(len(features), len(body), before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - t)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=os.environ, capture_output=True, text=True,
                         check=True).stdout.split()
    rows, size, before, peak, seconds = int(out[0]), int(out[1]), int(out[2]), int(out[3]), float(out[4])
    return {"rows": rows, "bytes": size, "warm_mb": before / 1024, "peak_mb": peak / 1024,
            "growth_mb": (peak - before) / 1024, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--formats", default="csv,geojson,gpkg")
    parser.add_argument("--crs", default="EPSG:3006")
    parser.add_argument("--naive", action="store_true", help="also build the GeoJSON in memory at once")
    args = parser.parse_args(argv)
    total = ensure_reports(args.reports)
    key = reading_key()
    with get_engine().connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
    print(f"machine: {describe()}; PostgreSQL {version}; {total:,} reports; batch "
          f"{get_settings().export_batch_rows:,} rows")
    print(f"command: .venv/bin/python bench/exports.py --reports {args.reports} --runs {args.runs} "
          f"--formats {args.formats} --crs {args.crs}{' --naive' if args.naive else ''}")
    print(f"\n{'format':<9}{'rows':>11}{'size':>10}{'time p50':>10}{'rows/s':>11}{'server CPU':>12}{'1st byte':>10}"
          f"{'warm RSS':>10}{'peak RSS':>10}{'growth':>9}   (runs: time s / growth MB)")
    for fmt in args.formats.split(","):
        runs = [one_export(fmt, key, args.crs) for _ in range(args.runs)]
        t = statistics.median(r["seconds"] for r in runs)
        print(f"{fmt:<9}{total:>11,}{statistics.median(r['bytes'] for r in runs) / MB:>8.0f}MB{t:>9.1f}s"
              f"{total / t:>11,.0f}{statistics.median(r['cpu_s'] for r in runs):>11.1f}s"
              f"{statistics.median(r['first_byte_s'] for r in runs):>9.2f}s"
              f"{statistics.median(r['warm_mb'] for r in runs):>8.0f}MB"
              f"{statistics.median(r['peak_mb'] for r in runs):>8.0f}MB"
              f"{statistics.median(r['growth_mb'] for r in runs):>7.0f}MB   "
              + ", ".join(f"{r['seconds']:.1f}/{r['growth_mb']:.0f}" for r in runs), flush=True)
    if args.naive:
        r = naive_geojson_peak(total)
        print(f"\nin memory at once (all rows as features, one orjson document, no HTTP): {r['rows']:,} rows, "
              f"{r['bytes'] / MB:.0f} MB, {r['seconds']:.1f} s, peak RSS {r['peak_mb']:.0f} MB "
              f"(growth {r['growth_mb']:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
