"""Throughput of the events feed, end to end over HTTP against a real uvicorn.

    DATABASE_URL=... .venv/bin/python bench/events.py [--batches 7] [--size 10000] [--town 50000]

Needs DATABASE_URL in demo mode (``make bench BENCH=events`` starts a throwaway durable
PostGIS). Makes sure the demo town holds ``--town`` reports, starts uvicorn (one worker),
then POSTs ``--batches`` batches of ``--size`` rescue-service events each with the demo key,
one after the other, in four phases (with the 1-minute load average after each: on 2 shared
cores, anything above 2 means other work took turns with this one):

- fresh: every event new (inserts; GeoJSON, positions in WGS84, Swedish local times);
- replay: the same batches again (every event unchanged);
- update: the same events with a later time and another description (every event updated,
  with its history logged);
- fresh CSV: new events as CSV with SWEREF 99 TM positions;
- two at once: two integrations of the town (the demo one and one made for the run) each send
  new batches at the same time, against uvicorn with two workers: the aggregate rate (each
  integration's batches are applied one at a time; two systems' batches can share the cores).

Time per batch is from sending the request to having read the whole response (one result per
event) with the server's transaction committed. Prints median and p95 per phase and events/s
at the median, and a breakdown of the server's work for one fresh batch measured in-process.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import orjson
import shapely
from shapely.geometry import Polygon
from sqlalchemy import text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import geo  # noqa: E402
from app.config import get_settings  # noqa: E402
from app.db import get_engine  # noqa: E402
from app.integrations import feed  # noqa: E402
from app.integrations.service import authenticate_key, create_integration  # noqa: E402
from app.integrations.validation import validate  # noqa: E402
from app.reports.taxonomy import RESCUE_EVENT_TYPES  # noqa: E402
from app.timeutil import STOCKHOLM  # noqa: E402
from bench.machine import CpuMeter, describe, p95  # noqa: E402
from bench.post_load import free_port, start_server  # noqa: E402
from seeds.demo import BOUNDARY, DEMO_API_KEY  # noqa: E402
from seeds.loader import seed_up_to  # noqa: E402
from seeds.synthetic import CORE_BOX  # noqa: E402

URL = "/api/v1/integrations/events"


def make_events(n: int, *, run: str, batch: int, seed_: int) -> dict[str, list]:
    """``n`` believable call-outs in the town over the last 300 days, as columns."""
    rng = np.random.default_rng(seed_)
    lon = rng.uniform(CORE_BOX[0], CORE_BOX[2], 3 * n)
    lat = rng.uniform(CORE_BOX[1], CORE_BOX[3], 3 * n)
    inside = shapely.contains_xy(Polygon(BOUNDARY), lon, lat)
    lon, lat = lon[inside][:n], lat[inside][:n]
    now = dt.datetime.now(STOCKHOLM).replace(microsecond=0, tzinfo=None)
    starts = [now - dt.timedelta(seconds=int(s)) for s in rng.integers(3600, 300 * 86400, n)]
    types = [RESCUE_EVENT_TYPES[i][0] for i in rng.integers(0, len(RESCUE_EVENT_TYPES), n)]
    return {"external_id": [f"BENCH-{run}-{batch}-{i}" for i in range(n)], "event_type": types,
            "occurred_at": [s.isoformat() for s in starts], "lon": lon.tolist(), "lat": lat.tolist(),
            "description": [f"Larm {i}, utryckning med en enhet" for i in range(n)]}


def as_geojson(events: dict[str, list], *, shift_minutes: int = 0, note: str = "") -> bytes:
    shift = dt.timedelta(minutes=shift_minutes)
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
                 "properties": {"external_id": e, "event_type": t,
                                "occurred_at": (dt.datetime.fromisoformat(at) + shift).isoformat() if shift else at,
                                "description": d + note}}
                for e, t, at, x, y, d in zip(events["external_id"], events["event_type"], events["occurred_at"],
                                             events["lon"], events["lat"], events["description"])]
    return orjson.dumps({"type": "FeatureCollection", "features": features})


def as_csv(events: dict[str, list]) -> bytes:
    x, y = geo.wgs84_to_sweref_arrays(events["lon"], events["lat"])
    lines = ["external_id;event_type;occurred_at;x;y;crs;description"]
    lines += [f"{e};{t};{at};{xx:.2f};{yy:.2f};EPSG:3006;{d}"
              for e, t, at, xx, yy, d in zip(events["external_id"], events["event_type"], events["occurred_at"],
                                            x, y, events["description"])]
    return ("\n".join(lines) + "\n").encode()


def post(client: httpx.Client, body: bytes, content_type: str, *, key: str = DEMO_API_KEY) -> tuple[float, dict]:
    started = time.perf_counter()
    r = client.post(URL, content=body, headers={"X-API-Key": key, "Content-Type": content_type})
    data = r.json()
    elapsed = time.perf_counter() - started
    if r.status_code != 200:
        raise SystemExit(f"HTTP {r.status_code}: {r.text[:500]}")
    return elapsed, data["summary"]


def postmaster_pid() -> int:
    """The PostgreSQL server's main process (its backends are its children)."""
    with Session(get_engine()) as session:
        data = session.execute(text("SELECT setting FROM pg_settings WHERE name = 'data_directory'")).scalar_one()
    return int((Path(data) / "postmaster.pid").read_text().split()[0])


def cpu_line(meter: CpuMeter, batches: int) -> str:
    """CPU per batch since the meter's last reading, by process group."""
    spent = meter.lap()
    return "CPU per batch: " + ", ".join(f"{name} {seconds / batches * 1000:.0f} ms" for name, seconds in spent.items())


def phase(client: httpx.Client, name: str, bodies: list[bytes], content_type: str, expect: str, size: int,
          meter: CpuMeter) -> float:
    meter.lap()
    times = []
    for body in bodies:
        elapsed, summary = post(client, body, content_type)
        if summary[expect] != size:
            raise SystemExit(f"{name}: expected {size} {expect}, got {summary}")
        times.append(elapsed)
    median = statistics.median(times)
    print(f"{name:12s} {len(bodies)} batches of {size:,}: median {median * 1000:7.1f} ms, p95 {p95(times) * 1000:7.1f} ms"
          f"  -> {size / median:9,.0f} events/s (mean {size * len(times) / sum(times):,.0f}/s)"
          f"  load average {os.getloadavg()[0]:.1f}")
    print(f"{'':12s} {cpu_line(meter, len(bodies))}")
    return size / median


def second_integration(run: str) -> str:
    """A second integration of the demo town for this run (the demo one's organisation and
    rescue-service mapping); its key."""
    with Session(get_engine()) as session, session.begin():
        demo = authenticate_key(session, key=DEMO_API_KEY)
        _, key = create_integration(session, municipality_id=demo.municipality_id, organisation_id=demo.organisation_id,
                                    name=f"bench-{run}", initial_status=demo.initial_status, event_types=RESCUE_EVENT_TYPES)
    return key["key"]


def two_at_once(base_url: str, keys: list[str], bodies: list[list[bytes]], size: int, meter: CpuMeter) -> float:
    """Each key's batches sent one after the other, the keys at the same time; the aggregate rate."""
    def send(key: str, batches: list[bytes], times: list[float]) -> None:
        with httpx.Client(base_url=base_url, timeout=120) as client:
            for body in batches:
                elapsed, summary = post(client, body, "application/geo+json", key=key)
                if summary["created"] != size:
                    raise SystemExit(f"two at once: expected {size} created, got {summary}")
                times.append(elapsed)

    for i, key in enumerate(keys):  # warm both workers (imports, connections, caches), twice each
        with httpx.Client(base_url=base_url, timeout=120) as client:
            for w in range(2):
                post(client, as_geojson(make_events(200, run=f"warm{uuid.uuid4().hex[:6]}", batch=w, seed_=i)),
                     "application/geo+json", key=key)
    times: list[list[float]] = [[] for _ in keys]
    meter.lap()
    threads = [threading.Thread(target=send, args=(k, b, t)) for k, b, t in zip(keys, bodies, times)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    total = size * sum(len(b) for b in bodies)
    if sum(map(len, times)) * size != total:
        raise SystemExit("two at once: a sender failed (see above)")
    every = [x for t in times for x in t]
    print(f"{'two at once':12s} {len(keys)} x {len(bodies[0])} batches of {size:,}: {total:,} events in {elapsed:.2f} s"
          f"  -> {total / elapsed:9,.0f} events/s together (median batch {statistics.median(every) * 1000:.1f} ms)"
          f"  load average {os.getloadavg()[0]:.1f}")
    print(f"{'':12s} {cpu_line(meter, sum(map(len, bodies)))}")
    return total / elapsed


def breakdown(events: dict[str, list], size: int) -> None:
    """The server's stages for one batch, in-process (committed, like a request): new, then again."""
    body = as_geojson(events)
    settings = get_settings()
    for label in ("fresh", "replay"):
        stages = {}
        with Session(get_engine()) as session, feed.gc_paused():
            t = time.perf_counter()
            client = authenticate_key(session, key=DEMO_API_KEY)
            batch = feed.read_batch(body, content_type="application/geo+json", max_events=settings.feed_max_events)
            stages["read JSON"] = time.perf_counter() - t
            t = time.perf_counter()
            accepted, _ = validate(batch, rules=feed._rules(session, client, crs=None, settings=settings))
            stages["check"] = time.perf_counter() - t
            t = time.perf_counter()
            applied = feed._apply(session, client, accepted)
            stages["H3 + COPY + apply"] = time.perf_counter() - t
            t = time.perf_counter()
            feed._link(session, client, accepted, applied)
            stages["incident links"] = time.perf_counter() - t
            t = time.perf_counter()
            session.commit()
            stages["commit"] = time.perf_counter() - t
        print(f"in-process, one {label} batch of {size:,} (ms): "
              + ", ".join(f"{k} {v * 1000:.1f}" for k, v in stages.items())
              + f"; total {sum(stages.values()) * 1000:.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=7)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--town", type=int, default=50_000, help="reports in the demo town before the feed starts")
    args = ap.parse_args()
    have = seed_up_to(args.town)
    with Session(get_engine()) as session:
        fsync = session.execute(text("SHOW fsync")).scalar_one()
        pg = session.execute(text("SHOW server_version")).scalar_one()
    run = uuid.uuid4().hex[:6]
    events = [make_events(args.size, run=run, batch=b, seed_=b) for b in range(args.batches)]
    csv_events = [make_events(args.size, run=run + "c", batch=b, seed_=100 + b) for b in range(args.batches)]
    port = free_port()
    server = start_server(port, 1)
    print(f"machine: {describe()}; PostgreSQL {pg}, fsync={fsync}; uvicorn workers=1; "
          f"{max(have, args.town):,} reports in the town before")
    database = postmaster_pid()
    try:
        meter = CpuMeter({"server": server.pid, "database": database}, {"client": os.getpid()})
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            warm = make_events(200, run=run + "w", batch=0, seed_=999)
            post(client, as_geojson(warm), "application/geo+json")
            phase(client, "fresh", [as_geojson(e) for e in events], "application/geo+json", "created", args.size, meter)
            phase(client, "replay", [as_geojson(e) for e in events], "application/geo+json", "unchanged", args.size,
                  meter)
            phase(client, "update", [as_geojson(e, shift_minutes=5, note=" (uppdaterad)") for e in events],
                  "application/geo+json", "updated", args.size, meter)
            phase(client, "fresh CSV", [as_csv(e) for e in csv_events], "text/csv", "created", args.size, meter)
    finally:
        server.terminate()
        server.wait(10)
    keys = [DEMO_API_KEY, second_integration(run)]
    parallel = [[as_geojson(make_events(args.size, run=f"{run}p{k}", batch=b, seed_=200 + 10 * k + b))
                 for b in range(args.batches)] for k in range(len(keys))]
    port = free_port()
    server = start_server(port, 2)
    try:
        two_at_once(f"http://127.0.0.1:{port}", keys, parallel, args.size,
                    CpuMeter({"server": server.pid, "database": database}, {"client": os.getpid()}))
    finally:
        server.terminate()
        server.wait(10)
    breakdown(make_events(args.size, run=run + "b", batch=0, seed_=555), args.size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
