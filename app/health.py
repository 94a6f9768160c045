"""Liveness and readiness probes (no login)."""
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.db import get_engine
from app.errors import problem

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable and has PostGIS")
def readyz() -> JSONResponse:
    try:
        with get_engine().connect() as conn:
            version = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
    except Exception as exc:  # any failure to reach the database means "not ready"
        return problem(503, "Not ready", f"Database not reachable: {type(exc).__name__}", type_slug="not-ready")
    return JSONResponse({"status": "ok", "postgis": version})
