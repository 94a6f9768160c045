"""The two-year lägesbild (lag 2023:196) as HTML and PDF: counts per category group and area,
quarterly trends, persistent hotspots, actions with their follow-up lights; bad periods 422."""
from __future__ import annotations

import datetime as dt
import io
import re

import h3
import pytest
from pypdf import PdfReader

from app.actions import lagesbild
from app.timeutil import STOCKHOLM, utcnow
from tests.factories import add_reports, cycle_back
from tests.helpers import SQUARE
from tests.test_est_loop_api import action_body, make_place

ELSEWHERE = {"lat": 59.3850, "lon": 16.4700}  # about 3 km north-west of the square, another res-7 cell


@pytest.fixture
def period(client, auth, db) -> dict:
    for back in (2, 3, 4, 5):  # four reports at the square in four cycles: a persistent hotspot
        add_reports(db, **SQUARE, at=cycle_back(db, back).start + dt.timedelta(days=3, hours=21), n=4)
    add_reports(db, **ELSEWHERE, at=cycle_back(db, 8).start + dt.timedelta(days=1), n=3, category="brand_container")
    add_reports(db, **SQUARE, at=cycle_back(db, 20).start, n=2)  # before the period
    add_reports(db, **SQUARE, at=cycle_back(db, 3).start, n=5, status="new")  # unverified: not counted
    place = make_place(client, auth, name="Fristadstorget")
    start = cycle_back(db, 3).first_day.isoformat()
    action = client.post("/api/v1/actions", headers=auth("est"), json=action_body(
        place["id"], what="Klotterplank vid torget", start_date=start, due_date=start, status="done")).json()
    r = client.post(f"/api/v1/actions/{action['id']}/follow-ups", headers=auth("coordinator"),
                    json={"light": "green", "comment": "Klottret borta enligt gatukontoret"})
    assert r.status_code == 201, r.text
    return {"from": cycle_back(db, 12).first_day.isoformat(), "to": cycle_back(db, 1).last_day.isoformat()}


def _cells(html: str, label: str) -> list[str]:
    """The cells of the first table row starting with ``label``."""
    row = re.search(rf"<tr><td>{re.escape(label)}</td>(.*?)</tr>", html, re.S)
    assert row, label
    return re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)


def test_lagesbild_html_counts_trends_hotspots_and_actions(client, auth, period):
    r = client.get("/api/v1/lagesbild.html", params=period, headers=auth("gis"))
    assert r.status_code == 200, r.text
    html = r.text
    assert "Lägesbild – Eskilstuna" in html and f"{period['from']} – {period['to']}" in html
    assert "<strong>Antal rapporter (verifierade):</strong> 19" in html  # 16 klotter + 3 bränder; not the 2 before
    assert _cells(html, "Skadegörelse")[0] == "16" and _cells(html, "Brand")[0] == "3"
    square_r7 = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 7)
    area_row = re.search(rf"<tr><td>{square_r7}<br><span class=\"muted\">Fristadstorget</span>", html)
    assert area_row, "the square's district is labelled with the place the group named"
    quarters = re.findall(r"<th>(K[1-4] \d{4})\*?</th>", html)
    assert quarters
    trend_rows = re.findall(r"<tr><td>Skadegörelse</td>(.*?)</tr>", html, re.S)
    trend_cells = re.findall(r"<td[^>]*>(.*?)</td>", trend_rows[1], re.S)  # [0] is the group table
    values = trend_cells[:len(quarters)]  # "–" before the municipality's first report: not a zero
    assert sum(float(v.replace(",", ".")) for v in values if v != "–") == 16
    assert ("–" in values) == ("dessa kvartal ingår inte i trendtestet" in html)
    assert trend_cells[len(quarters)] in ("ökande", "minskande", "ingen säker trend", "för kort period")
    square_r9 = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 9)
    hot = re.search(rf"<tr><td>1</td><td>{square_r9}</td><td class=\"num\">(\d+)\s*</td>", html)
    assert hot and hot.group(1) == "4", "the square was hot in the four cycles with reports"
    assert "av periodens 12 hela cykler" in html and "<svg" in html
    assert "Klotterplank vid torget" in html and "Grön" in html and "grön 1, gul 0, röd 0" in html


def test_lagesbild_pdf_reads_back(client, auth, period):
    r = client.get("/api/v1/lagesbild.pdf", params=period, headers=auth("est"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages).split())
    for needle in ("Lägesbild", "Eskilstuna", "Per kategorigrupp", "Skadegörelse", "Utveckling per kvartal",
                   "Återkommande hot spots", "Klotterplank vid torget", "Grön", period["from"]):
        assert needle in text, needle


def test_lagesbild_defaults_to_the_last_two_years(client, auth):
    html = client.get("/api/v1/lagesbild.html", headers=auth("coordinator")).text
    today = utcnow().astimezone(STOCKHOLM).date()  # a local day, as the route means it
    assert f"{lagesbild.period(None, None, today=today)[0]} – {today}" in html
    assert lagesbild.period(None, None, today=dt.date(2026, 3, 1)) == (dt.date(2024, 3, 2), dt.date(2026, 3, 1))
    assert "Inga insatser under perioden." in html and "Inga återkommande hot spots." in html


@pytest.mark.parametrize("params, field", [
    ({"from": "2025-06-01", "to": "2025-01-01"}, "from"),
    ({"from": "2010-01-01", "to": "2025-01-01"}, "from"),
    ({"from": "2025-13-01"}, "from"),
    ({"to": "igår"}, "to"),
])
def test_lagesbild_bad_periods_are_problems(client, auth, params, field):
    r = client.get("/api/v1/lagesbild.html", params=params, headers=auth("est"))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text


def test_reporters_get_no_lagesbild(client, auth):
    assert client.get("/api/v1/lagesbild.pdf", headers=auth("reporter")).status_code == 403


def test_quarters_are_clipped_to_the_period():
    qs = lagesbild.quarters(dt.date(2025, 2, 15), dt.date(2025, 10, 1))
    assert [(q["label"], q["days"], q["partial"]) for q in qs] == [
        ("K1 2025", 45, True), ("K2 2025", 91, False), ("K3 2025", 92, False), ("K4 2025", 1, True)]
