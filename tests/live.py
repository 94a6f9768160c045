"""A live Lägesbild for tests that drive real clients (Chromium, GDAL's OGC client, httpx over TCP).

The per-test savepoint session in conftest cannot be seen by another process, so real clients
get their own database on the same throwaway PostGIS: migrated with Alembic, the demo base and
LIVE_REPORTS synthetic reports loaded (the same generator as `make run`), and uvicorn serving
it over TCP. Tests that add rows there clean up after themselves or use rows nobody else counts.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parent.parent
LIVE_REPORTS = 8_000
LIVE_DB = "lagesbild_live"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class LiveServer:
    """A running server: its base URL and an engine on the database it serves."""
    url: str
    engine: Engine
    database_url: str

    def token(self, username: str, password: str = "demo") -> str:
        """A bearer token for a demo user, through the real login route."""
        r = httpx.post(f"{self.url}/api/v1/auth/token", data={"username": username, "password": password})
        r.raise_for_status()
        return r.json()["access_token"]

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username)}"}


def _create_live_database(base_url: str) -> str:
    url = make_url(base_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{LIVE_DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{LIVE_DB}"'))
    admin.dispose()
    return url.set(database=LIVE_DB).render_as_string(hide_password=False)


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def start_server(env: dict[str, str], port: int) -> subprocess.Popen:
    """uvicorn on 127.0.0.1:port with the given environment; waits for /readyz."""
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port),
                             "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    pytest.fail("uvicorn did not become ready within 30 s")


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """The demo municipality with LIVE_REPORTS reports, served over TCP for the whole session."""
    database_url = _create_live_database(os.environ["DATABASE_URL"])
    env = {**os.environ, "DATABASE_URL": database_url, "LAGESBILD_ENV": "test",
           # Real clients log in many times from one address; the login limit is tested elsewhere.
           "LAGESBILD_LOGIN_RATE_LIMIT": "1000/minute", "LAGESBILD_LOGIN_CLIENT_RATE_LIMIT": "1000/minute",
           "LAGESBILD_PUBLIC_RATE_LIMIT": "1000/minute"}
    _run(["-m", "app.manage", "migrate"], env)
    _run(["-m", "seeds", "--reports", str(LIVE_REPORTS)], env)
    port = free_port()
    proc = start_server(env, port)
    engine = create_engine(database_url)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", engine=engine, database_url=database_url)
    finally:
        proc.terminate()
        proc.wait(10)
        engine.dispose()


# What these machines need to run Debian's Chromium headless (see the issue); Playwright drives it
# over CDP, so no browser is downloaded.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = ROOT / "test-artifacts"


def chromium_path() -> str:
    """Debian's Chromium (installed by scripts/os-deps.sh)."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("chromium is not installed: run scripts/os-deps.sh (make test does)")
    return path


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session; each test opens its own context (own storage)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (kept after the run; CI can upload the folder)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
