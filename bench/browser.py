"""Browser speed of the two pages, in Debian's headless Chromium (Playwright over CDP).

    .venv/bin/python bench/browser.py [--reports 1000000] [--runs 7] [--workers 2]

Needs DATABASE_URL in demo mode (`make bench BENCH=browser` starts a throwaway durable PostGIS).
Loads the demo municipality with ``--reports`` reports over the last year (the seeds generator,
as `make seed`), starts uvicorn, then measures, each run in a fresh browser context (empty
HTTP cache, no service worker) unless it says warm:

* dashboard: navigation start -> the hotspot layer drawn (the page's 'layer-ready' mark), for
  a logged-in est_member, no network throttling (the meeting room's network);
* report form on Chrome DevTools' "Slow 4G" profile (562.5 ms latency, 180 kB/s down,
  84.4 kB/s up): navigation start -> 'form-interactive' (category buttons rendered and
  wired), cold and warm (second visit, served by the service worker);
* the JavaScript /report ships: its own inline scripts and Leaflet, raw and gzip-compressed.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from app.db import get_engine  # noqa: E402
from app.reports.models import Report  # noqa: E402
from bench.machine import describe, p95  # noqa: E402
from bench.post_load import free_port, start_server  # noqa: E402
from seeds.loader import seed  # noqa: E402

SLOW_4G = {"offline": False, "latency": 562.5, "downloadThroughput": 180_000, "uploadThroughput": 84_375}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def token(base: str, username: str) -> dict:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": "demo"})
    r.raise_for_status()
    body = r.json()
    return {"username": username, "token": body["access_token"], "role": body["role"],
            "expiresAt": 4_102_444_800_000}


def mark(page, name: str, timeout: float = 30_000) -> float:
    """Milliseconds from navigation start to the page's performance mark ``name``."""
    page.wait_for_function("n => performance.getEntriesByName(n).length > 0", arg=name, timeout=timeout)
    return page.evaluate("n => performance.getEntriesByName(n)[0].startTime", name)


def with_auth(context, auth: dict) -> None:
    """The login a returning user has: the token in localStorage before the page runs."""
    context.add_init_script(f"localStorage.setItem('lb.auth', {json.dumps(json.dumps(auth))});")


def dashboard_runs(browser, base: str, auth: dict, runs: int) -> dict[str, list[float]]:
    """Per run: layer drawn, and where the time went (scripts, the layer request, drawing)."""
    out: dict[str, list[float]] = {"ready": [], "scripts": [], "request": [], "draw": [], "cells": []}
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        with_auth(context, auth)
        page = context.new_page()
        page.goto(f"{base}/dashboard")
        out["ready"].append(mark(page, "layer-ready"))
        t = page.evaluate("""() => {
            const r = performance.getEntriesByType('resource').find(e => e.name.includes('/api/v1/hotspots?'));
            return {scripts: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
                    request: r.responseEnd - r.startTime,
                    draw: performance.getEntriesByName('layer-ready')[0].startTime
                          - performance.getEntriesByName('layer-data')[0].startTime,
                    cells: Number(document.querySelector('#map').dataset.layerCells)}; }""")
        for key, value in t.items():
            out[key].append(value)
        context.close()
    return out


def report_runs(browser, base: str, auth: dict, runs: int) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    for _ in range(runs):
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        with_auth(context, auth)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_4G)
        page.goto(f"{base}/report", wait_until="commit")
        cold.append(mark(page, "form-interactive"))
        page.click('#categories [data-code="klotter"]')  # interactive means this works now
        page.wait_for_selector('#categories [data-code="klotter"][aria-checked="true"]')
        page.evaluate("navigator.serviceWorker.ready")
        page.goto(f"{base}/report", wait_until="commit")
        warm.append(mark(page, "form-interactive"))
        context.close()
    return cold, warm


def shipped_js(base: str) -> dict:
    html = httpx.get(f"{base}/report").text
    inline = "".join(re.findall(r"<script>(.*?)</script>", html, flags=re.S)).encode()
    leaflet = httpx.get(f"{base}/static/vendor/leaflet/leaflet.js").content
    return {"own_raw": len(inline), "own_gzip": len(gzip.compress(inline, 5)),
            "leaflet_raw": len(leaflet), "leaflet_gzip": len(gzip.compress(leaflet, 5)),
            "page_gzip": len(gzip.compress(html.encode(), 5))}


def line(name: str, values: list[float], target: str) -> str:
    return f"{name:<46} median {statistics.median(values):7.0f} ms   p95 {p95(values):7.0f} ms   target {target}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    args = ap.parse_args()

    engine = get_engine()
    with engine.connect() as conn:
        have = conn.scalar(select(func.count()).select_from(Report))
    if have < args.reports:
        print(f"loading {args.reports - have:,} reports over the last year ...", flush=True)
        seed(args.reports - have, seed=11, days=364, quiet=True)
    with engine.connect() as conn:
        have = conn.scalar(select(func.count()).select_from(Report))

    port = free_port()
    server = start_server(port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        est, reporter = token(base, "est"), token(base, "reporter")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            dashboard_runs(browser, base, est, 1)  # warm the server's caches once
            dash = dashboard_runs(browser, base, est, args.runs)
            cold, warm = report_runs(browser, base, reporter, args.runs)
            version = browser.version
            browser.close()
        js = shipped_js(base)
    finally:
        server.terminate()
        server.wait(10)

    print(f"machine: {describe()}; Chromium {version}; uvicorn workers={args.workers}; "
          f"{have:,} reports in the database; {args.runs} runs")
    print(line("dashboard: navigation -> hotspot layer drawn", dash["ready"], "< 1500 ms"))
    print(f"  of which (medians): HTML + scripts {statistics.median(dash['scripts']):.0f} ms, layer request "
          f"{statistics.median(dash['request']):.0f} ms, drawing {statistics.median(dash['draw']):.0f} ms "
          f"for {statistics.median(dash['cells']):,.0f} hexagons")
    print(line("report form, Slow 4G, cold: -> interactive", cold, "< 1000 ms"))
    print(line("report form, Slow 4G, warm (service worker)", warm, "< 1000 ms"))
    print(f"JavaScript for /report: own {js['own_raw'] / 1024:.1f} kB ({js['own_gzip'] / 1024:.1f} kB gzip, inline), "
          f"Leaflet {js['leaflet_raw'] / 1024:.1f} kB ({js['leaflet_gzip'] / 1024:.1f} kB gzip, async, cached); "
          f"whole page {js['page_gzip'] / 1024:.1f} kB gzip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
