"""Single-report POST under concurrent load from a second process.

    DATABASE_URL=... .venv/bin/python bench/post_load.py [--clients 50] [--seconds 20] [--workers 2]

Starts uvicorn (its own process) against DATABASE_URL (migrated, with the demo base), then
drives it from this process with N concurrent clients in two phases:

- paced: each client submits one report every --interval seconds (field staff on phones);
  latency is measured from the moment a request was due, so a slow server cannot hide
  behind a slower sender (no coordinated omission);
- saturated: each client submits the next report as soon as the last is answered
  (the throughput ceiling; latency here is queueing: clients / throughput).

Afterwards every acknowledged (201) report id is looked up in the database: the
benchmark fails if a single one is missing. Prints p50/p95/p99 and the machine.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.reports.models import Report  # noqa: E402
from bench.machine import describe  # noqa: E402

# Points inside the demo town, cycled through by the clients.
POINTS = [(59.3712, 16.5098), (59.3680, 16.5063), (59.3575, 16.4830), (59.3745, 16.5135), (59.3830, 16.4930)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int, *, database_url: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "LAGESBILD_ENV": os.environ.get("LAGESBILD_ENV", "demo"), "LAGESBILD_DB_POOL_SIZE": "20",
           **({"DATABASE_URL": database_url} if database_url else {})}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--workers",
                             str(workers), "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env,
                            stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("uvicorn did not become ready")


async def client_loop(client, token, idx, deadline, interval, latencies, acked, failures):
    headers = {"Authorization": f"Bearer {token}"}
    due = time.perf_counter() + (interval * idx / 50 if interval else 0)
    n = 0
    while True:
        if interval:
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
        start = due if interval else time.perf_counter()
        if start >= deadline:
            return
        lat, lon = POINTS[(idx + n) % len(POINTS)]
        body = {"category": "klotter", "lat": lat, "lon": lon, "description": f"bench {idx}-{n}"}
        try:
            r = await client.post("/api/v1/reports", json=body,
                                  headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
            outcome = r.status_code
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        latencies.append(time.perf_counter() - start)
        if outcome == 201:
            acked.append(r.json()["id"])
        else:
            failures.append(outcome)
        n += 1
        due += interval


async def run_phase(base: str, token: str, clients: int, seconds: float, interval: float) -> dict:
    latencies: list[float] = []
    acked: list[str] = []
    failures: list = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(client_loop(client, token, i, deadline, interval, latencies, acked, failures)
                               for i in range(clients)))
        elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 2 else [float("nan")] * 99
    return {"requests": len(latencies), "acked": acked, "failures": failures, "rps": len(latencies) / elapsed,
            "p50": q[49] * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000}


def verify(engine, acked: list[str]) -> int:
    """How many acknowledged ids are missing from the database."""
    found = 0
    with engine.connect() as conn:
        for i in range(0, len(acked), 5000):
            ids = [uuid.UUID(a) for a in acked[i:i + 5000]]
            found += conn.scalar(select(func.count()).select_from(Report).where(Report.id.in_(ids)))
    return len(acked) - found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between a paced client's reports")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    args = ap.parse_args()
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("set DATABASE_URL (scripts/bench.sh does this)")
    engine = create_engine(url)
    with engine.connect() as conn:
        fsync = conn.execute(text("SHOW fsync")).scalar_one()
        pg = conn.execute(text("SHOW server_version")).scalar_one()
    port = free_port()
    server = start_server(port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        token = httpx.post(f"{base}/api/v1/auth/token", data={"username": "reporter", "password": "demo"}).json()[
            "access_token"]
        print(f"machine: {describe()}; PostgreSQL {pg}, fsync={fsync}; uvicorn workers={args.workers}")
        asyncio.run(run_phase(base, token, 5, 2, 0))  # warm-up: connections, pools, caches
        results = {}
        for name, interval in (("paced", args.interval), ("saturated", 0.0)):
            res = asyncio.run(run_phase(base, token, args.clients, args.seconds, interval))
            missing = verify(engine, res["acked"])
            results[name] = res
            print(f"{name:9s} clients={args.clients} interval={interval:.2f}s requests={res['requests']} "
                  f"ok={len(res['acked'])} failed={len(res['failures'])} throughput={res['rps']:.0f}/s "
                  f"p50={res['p50']:.1f}ms p95={res['p95']:.1f}ms p99={res['p99']:.1f}ms missing={missing}")
            if missing or res["failures"]:
                print(f"FAIL: {missing} acknowledged reports missing, failures: {res['failures'][:5]}")
                return 1
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
