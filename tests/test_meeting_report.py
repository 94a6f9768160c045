"""The meeting report as HTML and as a real PDF (WeasyPrint), read back with pypdf and
rendered to PNG with poppler's pdftoppm (artifact in test-artifacts/)."""
from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess

import pytest
from pypdf import PdfReader

from tests.factories import add_reports, cycle_back
from tests.helpers import SQUARE
from tests.live import ARTIFACTS
from tests.test_est_loop_api import action_body, make_place


@pytest.fixture
def meeting(client, auth, db) -> dict:
    previous = cycle_back(db, 1)
    add_reports(db, **SQUARE, at=previous.start + dt.timedelta(days=2, hours=22), n=6)
    m = client.post("/api/v1/meetings", headers=auth("coordinator"), json={
        "cycle": "previous", "held_on": dt.date.today().isoformat(),
        "organisations": ["Eskilstuna kommun", "Polisen"], "minutes": "Klotter vid <torget> diskuterades."}).json()
    client.post(f"/api/v1/meetings/{m['id']}/start", headers=auth("coordinator"))
    place = make_place(client, auth)
    client.post("/api/v1/actions", headers=auth("est"), json=action_body(
        place["id"], meeting_id=m["id"], what="Väktarrond fredag–lördag", owner_organisation="Väktarbolaget"))
    start = cycle_back(db, 2).first_day.isoformat()
    done = client.post("/api/v1/actions", headers=auth("est"), json=action_body(
        place["id"], start_date=start, due_date=start, status="done")).json()
    client.post(f"/api/v1/actions/{done['id']}/follow-ups", headers=auth("coordinator"),
                json={"meeting_id": m["id"], "light": "green", "comment": "Klottret borta enligt gatukontoret"})
    return m


def test_meeting_report_html(client, auth, meeting):
    r = client.get(f"/api/v1/meetings/{meeting['id']}/report.html", headers=auth("gis"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "EST-möte – Eskilstuna" in html and "Eskilstuna kommun, Polisen" in html
    assert "&lt;torget&gt;" in html and "<torget>" not in html  # user text escaped
    assert "<svg" in html and "Väktarrond fredag–lördag" in html and "Väktarbolaget" in html
    assert "Grön" in html and "förslag:" in html  # overridden light shows the proposal
    assert client.get(f"/api/v1/meetings/{meeting['id']}/report.html", headers=auth("reporter")).status_code == 403


def test_meeting_report_words_the_follow_up_as_the_dashboard_does(client, auth, db, meeting):
    place = client.get("/api/v1/places", headers=auth("est")).json()["features"][0]
    client.post("/api/v1/actions", headers=auth("est"), json=action_body(
        place["id"], meeting_id=meeting["id"], what="Nattvandring", status="cancelled"))
    html = client.get(f"/api/v1/meetings/{meeting['id']}/report.html", headers=auth("est")).text
    follow_ups = html[html.index("<h2>Uppföljning</h2>"):]
    # what the action is, not its id; why the light was proposed, in Swedish with decimal commas
    assert "<td>Ta bort klotter inom 24 h</td>" in follow_ups
    assert "förslag: Gul" in follow_ups and "Förslaget gul:\ngenomförd, men kan inte jämföras med ett kontrollområde" in follow_ups
    assert "0 → 6 (p = 1,000 för en minskning" in follow_ups and "1.000" not in follow_ups
    assert "<td>1,000</td>" in follow_ups
    # a cancelled action is "avbruten", as on the map
    decisions = html[html.index("<h2>Nya insatser (beslut)</h2>"):html.index("<h2>Pågående insatser</h2>")]
    assert "<td>avbruten</td>" in decisions and "inställd" not in html


def test_meeting_report_pdf_has_the_content_and_renders(client, auth, meeting):
    r = client.get(f"/api/v1/meetings/{meeting['id']}/report.pdf", headers=auth("est"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(r.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 2
    # the page footer of the style sheet (it was escaped as text, and WeasyPrint dropped the rules)
    assert f"sida 1 av {len(reader.pages)}" in text
    for needle in ("EST-möte", "Eskilstuna", "Polisen", "Dagordning", "Väktarbolaget", "Uppföljning", "Grön",
                   "Klottret borta enligt gatukontoret"):
        assert needle in text, needle
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "meeting-report.pdf"
    pdf.write_bytes(r.content)
    assert shutil.which("pdftoppm"), "poppler-utils missing: scripts/os-deps.sh installs it"
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(pdf), str(ARTIFACTS / "meeting-report")],
                   check=True, timeout=60)
    pages = sorted(ARTIFACTS.glob("meeting-report-*.png"))
    assert pages and pages[0].stat().st_size > 2000


def test_an_old_meetings_report_lists_the_actions_open_at_that_meeting(client, auth, db):
    """Read months later, a meeting's report shows the actions under way at that meeting, as
    they stood then — not the ones opened since, nor today's statuses."""
    place = make_place(client, auth)
    before = client.post("/api/v1/actions", headers=auth("est"), json=action_body(
        place["id"], what="Belysning i gångtunneln", status="in_progress")).json()
    m = client.post("/api/v1/meetings", headers=auth("coordinator"), json={
        "cycle": "previous", "held_on": dt.date.today().isoformat()}).json()
    assert client.post(f"/api/v1/meetings/{m['id']}/start", headers=auth("coordinator")).status_code == 200
    client.post("/api/v1/actions", headers=auth("est"), json=action_body(place["id"], what="Nattvandring 2027"))
    client.patch(f"/api/v1/actions/{before['id']}", headers=auth("est"), json={"status": "done"})
    html = client.get(f"/api/v1/meetings/{m['id']}/report.html", headers=auth("est")).text
    under_way = html.split("<h2>Pågående insatser</h2>", 1)[1].split("<h2>", 1)[0]
    assert "Belysning i gångtunneln" in under_way and "Nattvandring 2027" not in under_way
    assert "pågår" in under_way and "genomförd" not in under_way  # its status then
    # the frozen list keeps which and how they stood, not their texts: a text corrected since is shown as now
    frozen = client.get(f"/api/v1/meetings/{m['id']}", headers=auth("gis")).json()["frozen_agenda"]["open_actions"]
    assert [(a["id"], a["status"]) for a in frozen] == [(before["id"], "in_progress")] and "what" not in frozen[0]
    client.patch(f"/api/v1/actions/{before['id']}", headers=auth("est"), json={"what": "Belysning (rättad)"})
    html = client.get(f"/api/v1/meetings/{m['id']}/report.html", headers=auth("est")).text
    assert "Belysning (rättad)" in html.split("<h2>Pågående insatser</h2>", 1)[1].split("<h2>", 1)[0]
