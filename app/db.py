"""Engine, sessions and the one owner of the transaction: the request's session dependency."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Annotated

import annotated_types
from fastapi import Depends
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from app.config import get_settings
from app.errors import NotFound

log = logging.getLogger("lagesbild.db")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every table; constraint names are deterministic for Alembic."""

    metadata = MetaData(naming_convention=NAMING)


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine (pooled psycopg 3 connections)."""
    settings = get_settings()
    return create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=0,  # no overflow: opening and closing connections under load costs more than waiting
        pool_pre_ping=True,
        hide_parameters=True,  # report texts and usernames never reach an error log
        # No JIT: the hotspot query's cost estimate crosses jit_above_cost, and compiling it
        # took ~550 ms of a 650 ms layer (measured, bench/hotspots.py); our queries are short.
        connect_args={"options": "-c jit=off"},
    )


@lru_cache
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@lru_cache
def _read_session_factory() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine().execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


@contextmanager
def request_transaction(session: Session) -> Iterator[Session]:
    """Commit when the block succeeds; on any error roll back and undo outside side effects."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        session.info.pop("on_commit", None)
        for hook in session.info.pop("on_rollback", []):
            hook()
        raise
    finally:
        session.info.pop("on_rollback", None)
    for hook in session.info.pop("on_commit", []):
        try:
            hook()
        except Exception:  # committed: the request succeeded; what is left outside is logged
            log.exception("after the commit, a clean-up outside the database failed")


def on_rollback(session: Session, hook: Callable[[], None]) -> None:
    """Undo a side effect outside the database (a written file) if the request fails."""
    session.info.setdefault("on_rollback", []).append(hook)


def on_commit(session: Session, hook: Callable[[], None]) -> None:
    """Do something outside the database (remove a deleted photo's file) once the request's
    transaction has committed: never for a request that fails."""
    session.info.setdefault("on_commit", []).append(hook)


def get_session() -> Iterator[Session]:
    """A session per request: commits when the handler returns, rolls back on any error.

    Services only flush; this is the single place a request's work is committed, so a
    failed request leaves no partial rows.
    """
    session = _session_factory()()
    try:
        with request_transaction(session):
            yield session
    finally:
        session.close()


async def get_read_session() -> AsyncIterator[Session]:
    """A session for a read-only route whose every statement stands alone (the hotspot vector
    tiles): in autocommit, so a statement is one round trip (no BEGIN, no COMMIT), the
    connection is taken from the pool at the first statement, and neither opening nor closing
    the session does I/O, so it needs no worker thread (async). Never for writes: nothing is
    rolled back if the request fails."""
    session = _read_session_factory()()
    try:
        yield session
    finally:
        session.close()


# Our serial ids are PostgreSQL integers: an id outside that range is refused where it is read
# (a body field, a query or path parameter: 422 naming it), not by the database with a generic error.
RowId = Annotated[int, annotated_types.Interval(ge=-(2**31), le=2**31 - 1)]

SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
# For streamed responses (exports): the session stays open until the last byte has been sent.
StreamSessionDep = Annotated[Session, Depends(get_session, scope="request")]


def in_municipality(session: Session, model: type, row_id: object, *, municipality_id: int):
    """The row of ``model`` with this id if it belongs to the municipality, else None: the one
    place where "not yours" and "not there" are made the same answer (no probing other tenants)."""
    row = session.get(model, row_id)
    return row if row is not None and row.municipality_id == municipality_id else None


def in_municipality_or_404(session: Session, model: type, row_id: object, *, municipality_id: int, what: str):
    """:func:`in_municipality`, with 404 "No <what> <id> in your municipality" when it is None."""
    row = in_municipality(session, model, row_id, municipality_id=municipality_id)
    if row is None:
        raise NotFound(f"No {what} {row_id} in your municipality")
    return row
