"""Small helpers shared by the tests."""
from sqlalchemy import func, select

from app.reports.models import IdempotencyRecord, Report

# Fristadstorget, Eskilstuna: inside the demo boundary.
SQUARE = {"lat": 59.3712, "lon": 16.5098}


def report_count(db) -> int:
    return db.scalar(select(func.count()).select_from(Report))


def idempotency_count(db) -> int:
    return db.scalar(select(func.count()).select_from(IdempotencyRecord))
