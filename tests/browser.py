"""Helpers for the browser tests: a phone, a desktop, logging in through the real form."""
from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select

from app.reports.models import Report
from tests.helpers import SQUARE

# A 390×844 phone (iPhone 12-15 class) standing on Fristadstorget with GPS accuracy of 12 m.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "sv-SE", "timezone_id": "Europe/Stockholm",
         "geolocation": {"latitude": SQUARE["lat"], "longitude": SQUARE["lon"], "accuracy": 12},
         "permissions": ["geolocation"]}
DESKTOP = {"viewport": {"width": 1440, "height": 900}, "locale": "sv-SE", "timezone_id": "Europe/Stockholm"}
MARK = "browsertest"


def marker() -> str:
    """A unique word to find this test's reports by their description."""
    return f"{MARK}-{uuid.uuid4().hex[:10]}"


class DialogWatch:
    """Fails the test if any alert/confirm/prompt opens (an executed script would open one)."""

    def __init__(self, page) -> None:
        self.opened: list[str] = []
        page.on("dialog", lambda d: (self.opened.append(d.message), d.dismiss()))


def login(page, username: str, password: str = "demo") -> None:
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-form button[type=submit]")


def reports_with(engine, text: str) -> list:
    with engine.connect() as conn:
        return conn.execute(select(Report.id, Report.source, Report.status, func.ST_X(Report.geom),
                                   func.ST_Y(Report.geom), Report.description, Report.reporter_id)
                            .where(Report.description.contains(text))).all()


def delete_test_reports(engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(Report).where(Report.description.contains(MARK)))
