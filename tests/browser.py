"""Helpers for the browser tests: a phone, a desktop, logging in through the real form."""
from __future__ import annotations

import secrets
import string

import httpx
from sqlalchemy import delete, func, select

from app.reports.models import Report
from tests.helpers import SQUARE

# A 390×844 phone (iPhone 12-15 class) standing on Fristadstorget with GPS accuracy of 12 m.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "sv-SE", "timezone_id": "Europe/Stockholm",
         "geolocation": {"latitude": SQUARE["lat"], "longitude": SQUARE["lon"], "accuracy": 12},
         "permissions": ["geolocation"]}
DESKTOP = {"viewport": {"width": 1440, "height": 900}, "locale": "sv-SE", "timezone_id": "Europe/Stockholm"}
# The pages' Content-Security-Policy would stop an injected onerror= by itself; the tests switch
# it off so that "rendered as text, never as HTML" is tested on its own (and can fail). The
# policy is checked separately on the response headers.
for _profile in (PHONE, DESKTOP):
    _profile["bypass_csp"] = True
MARK = "browsertest"


def marker() -> str:
    """A unique word to find this test's reports by their description. Letters only: hex
    digits made one description in ~450 look like a phone number ('browsertest-0712345678'),
    and such a report or event is refused as personal data, which failed tests now and then."""
    return f"{MARK}-{''.join(secrets.choice(string.ascii_lowercase) for _ in range(12))}"


class DialogWatch:
    """Fails the test if any alert/confirm/prompt opens (an executed script would open one)."""

    def __init__(self, page) -> None:
        self.opened: list[str] = []
        page.on("dialog", lambda d: (self.opened.append(d.message), d.dismiss()))


def post_markup_report(live_server) -> tuple[str, str]:
    """A reporter's report whose description is markup with a script in it: (word, description)."""
    word = marker()
    evil = f"<img src=x onerror=alert(1)> {word}"
    r = httpx.post(f"{live_server.url}/api/v1/reports", headers=live_server.headers("reporter"),
                   json={"category": "klotter", **SQUARE, "description": evil})
    assert r.status_code == 201
    return word, evil


def assert_shown_as_text(page, dialogs: DialogWatch, *, item_selector: str, scope: str, evil: str) -> None:
    """The description appears literally, no <img> was made from it and no script ran."""
    item = page.wait_for_selector(item_selector)
    assert evil in item.inner_text()
    assert page.locator(f"{scope} img").count() == 0
    page.wait_for_timeout(300)
    assert dialogs.opened == []


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
