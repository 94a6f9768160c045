"""Small helpers shared by the tests."""
from sqlalchemy import func, select

from app.auth.keys import create_reading_key
from app.auth.models import User
from app.reports.models import IdempotencyRecord, Report

# Fristadstorget, Eskilstuna: inside the demo boundary.
SQUARE = {"lat": 59.3712, "lon": 16.5098}


def report_count(db) -> int:
    return db.scalar(select(func.count()).select_from(Report))


def idempotency_count(db) -> int:
    return db.scalar(select(func.count()).select_from(IdempotencyRecord))


def reading_key(db, username: str, *, days: int = 30) -> str:
    """A new reading key of a demo user (as POST /api/v1/reading-keys makes it)."""
    user_id = db.scalar(select(User.id).where(User.username == username))
    return create_reading_key(db, user_id=user_id, label="test", days=days, created_by=None)["key"]
