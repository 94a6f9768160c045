"""Tests run against a real PostGIS (DATABASE_URL, started by `make test`).

The schema is migrated once with Alembic and the demo base is loaded; each test then runs
inside a transaction that is rolled back, and the request's own commit/rollback become a
savepoint, so "a failed request leaves no rows" is observable and tests stay independent.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

if not os.environ.get("DATABASE_URL"):
    pytest.exit("DATABASE_URL is not set: run the suite with `make test` (it starts a throwaway PostGIS)", 2)
os.environ["LAGESBILD_ENV"] = "test"
os.environ.setdefault("LAGESBILD_ATTACHMENT_DIR", tempfile.mkdtemp(prefix="lagesbild-attachments-"))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app import ratelimit  # noqa: E402
from app.auth.models import User  # noqa: E402
from app.auth.service import create_token  # noqa: E402
from app.config import get_settings  # noqa: E402
from app.auth.deps import principal_cache  # noqa: E402
from app.db import get_engine, get_read_session, get_session, request_transaction  # noqa: E402
from app.main import app  # noqa: E402
from app.manage import migrate  # noqa: E402
from seeds.demo import load_demo_base  # noqa: E402

pytest_plugins = ["tests.live"]


@pytest.fixture(scope="session")
def engine():
    migrate()
    eng = get_engine()
    with Session(eng) as session, session.begin():
        load_demo_base(session)
    return eng


@pytest.fixture
def db(engine) -> Iterator[Session]:
    conn = engine.connect()
    outer = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        conn.close()


@pytest.fixture
def client(db) -> Iterator[TestClient]:
    def _session():
        with request_transaction(db):
            yield db

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_read_session] = _session
    ratelimit.reset_all()
    principal_cache.clear()  # a test's changes to users reach the tiles at once
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.dependency_overrides.clear()


@pytest.fixture
def auth(db):
    """auth('reporter') -> headers with a bearer token for that demo user."""

    def _headers(username: str) -> dict[str, str]:
        user = db.scalar(select(User).where(User.username == username))
        token, _ = create_token(user=user, settings=get_settings())
        return {"Authorization": f"Bearer {token}"}

    return _headers
