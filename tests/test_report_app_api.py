"""What the browser pages rely on: personal-data prompts, My reports, reports in a cell, the
cell detail, the translation files and the page shell."""
from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import h3
import pytest

from app.reports.personal_data import personal_data_kinds
from tests.factories import add_reports, cycle_back
from tests.helpers import SQUARE, report_count

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
SQUARE_R9 = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 9)


@pytest.mark.parametrize("text, kinds", [
    ("Såg 811218-9876 vid kiosken", ["personnummer"]),
    ("19811218-9876", ["personnummer"]),
    ("samordningsnummer 811278-9873", ["personnummer"]),
    ("811218-9875 (fel kontrollsiffra)", []),
    ("Ring 070-123 45 67", ["phone"]),
    ("tel 08-123 456 78", ["phone"]),
    ("+46 70 123 45 67", ["phone"]),
    ("sms 0701234567 eller 811218-9876", ["personnummer", "phone"]),
    ("Klotter på busskuren 2026-11-21 kl 22", []),
    ("Fristadstorget 12-14, 3 personer, buss 512", []),
    ("ordernummer 12345678901", []),
    # as phones and word processors write them: other dashes, dotted groups; and e-mail addresses
    ("ring 070–123 45 67", ["phone"]),
    ("ring 070\u20101234567", ["phone"]),
    ("ring 070.123.45.67", ["phone"]),
    ("pnr 19811218\u20109876", ["personnummer"]),
    ("pnr 811218—9876", ["personnummer"]),
    ("Bor här: kalle.andersson@gmail.com", ["email"]),
    ("möte 05.11.2026 kl 07.45, position 59.371234 16.509812", []),
    ("sprejat @ och tags på väggen", []),
])
def test_personal_data_is_recognised_without_false_alarms_on_ordinary_text(text, kinds):
    assert personal_data_kinds(text) == kinds


def test_a_phone_number_in_the_description_must_be_confirmed(client, auth, db):
    before = report_count(db)
    body = {"category": "klotter", **SQUARE, "description": "Ring vittnet på 070-123 45 67"}
    r = client.post("/api/v1/reports", json=body, headers=auth("reporter"))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith("/personal-data")
    assert "phone number" in problem["detail"] and "confirm_personal_data" in problem["detail"]
    assert "070" not in problem["detail"]  # the personal data itself is not echoed
    assert problem["errors"] == [{"field": "description", "message": "looks like personal data", "code": "phone"}]
    assert report_count(db) == before
    r = client.post("/api/v1/reports", json={**body, "confirm_personal_data": True}, headers=auth("reporter"))
    assert r.status_code == 201 and report_count(db) == before + 1


def test_a_place_that_names_someone_must_be_confirmed_too(client, auth, db):
    """The place is shown to the EST group and to GIS as the description is (an Open311 app
    fills it from its free-text address): the same question, naming the field."""
    before = report_count(db)
    body = {"category": "klotter", **SQUARE, "place": "Hos Anna, 811218-9876", "description": "Ring 070-123 45 67"}
    r = client.post("/api/v1/reports", json=body, headers=auth("reporter"))
    assert r.status_code == 422 and r.json()["type"].endswith("/personal-data")
    problem = r.json()
    assert problem["detail"].startswith("The description and the place seem to contain a personal identity number "
                                        "(personnummer) and a phone number")
    assert problem["errors"] == [{"field": "description", "message": "looks like personal data", "code": "phone"},
                                 {"field": "place", "message": "looks like personal data", "code": "personnummer"}]
    assert "9876" not in problem["detail"]
    only_place = client.post("/api/v1/reports", json={**body, "description": ""}, headers=auth("reporter"))
    assert only_place.status_code == 422 and only_place.json()["detail"].startswith("The place seems to contain")
    assert report_count(db) == before
    r = client.post("/api/v1/reports", json={**body, "confirm_personal_data": True}, headers=auth("reporter"))
    assert r.status_code == 201 and report_count(db) == before + 1


def test_citizens_get_the_same_question(client, db):
    body = {"category": "klotter", **SQUARE, "description": "Det var 811218-9876 som gjorde det"}
    r = client.post("/api/v1/public/reports", json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "personnummer"


def test_my_reports_lists_only_my_own(client, auth, db):
    mine = client.post("/api/v1/reports", json={"category": "klotter", **SQUARE}, headers=auth("est")).json()["id"]
    add_reports(db, **SQUARE, at=cycle_back(db, 0).start, n=3)  # someone else's
    r = client.get("/api/v1/reports", params={"mine": "true"}, headers=auth("est"))
    assert [f["id"] for f in r.json()["features"]] == [mine]
    assert client.get("/api/v1/reports", headers=auth("est")).json()["numberMatched"] >= 4


def test_reports_in_one_cell(client, auth, db):
    at = cycle_back(db, 0).start
    add_reports(db, **SQUARE, at=at, n=2)
    neighbour = next(c for c in h3.grid_ring(SQUARE_R9, 1)
                     if h3.cell_to_parent(c, 7) == h3.cell_to_parent(SQUARE_R9, 7))
    lat, lon = h3.cell_to_latlng(neighbour)
    add_reports(db, lat=lat, lon=lon, at=at, n=1)
    r = client.get("/api/v1/reports", params={"cell": SQUARE_R9}, headers=auth("est"))
    assert r.json()["numberMatched"] == 2
    assert {f["properties"]["h3_r9"] for f in r.json()["features"]} == {SQUARE_R9}
    coarse = h3.cell_to_parent(SQUARE_R9, 7)
    assert client.get("/api/v1/reports", params={"cell": coarse}, headers=auth("est")).json()["numberMatched"] == 3
    bad = client.get("/api/v1/reports", params={"cell": "not-a-cell"}, headers=auth("est"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cell"


def test_cell_detail_has_the_last_ten_cycles_and_what_was_reported(client, auth, db):
    add_reports(db, **SQUARE, at=cycle_back(db, 1).start + (cycle_back(db, 1).end - cycle_back(db, 1).start) / 2, n=4)
    add_reports(db, **SQUARE, at=cycle_back(db, 3).start, n=2, category="nedskrapning")
    r = client.get(f"/api/v1/hotspots/cells/{SQUARE_R9}", params={"cycle": "previous"}, headers=auth("est"))
    assert r.status_code == 200
    body = r.json()
    assert len(body["series"]) == 10 and body["series"][-1]["cycle"] == cycle_back(db, 1).id
    assert [s["count"] for s in body["series"]][-3:] == [2.0, 0.0, 4.0]
    assert body["categories"] == [{"code": "klotter", "label": "Klotter", "group": "skadegorelse", "count": 4.0}]
    assert client.get(f"/api/v1/hotspots/cells/{SQUARE_R9}", headers=auth("reporter")).status_code == 403
    assert client.get("/api/v1/hotspots/cells/zzz", headers=auth("est")).status_code == 422


def _keys_used() -> set[str]:
    keys: set[str] = set()
    for page in (FRONTEND / "pages").glob("*.html"):
        keys |= set(re.findall(r'data-i18n(?:-[a-z-]+)?="([\w.]+)"', page.read_text()))
    for script in (FRONTEND / "static" / "js").glob("*.js"):
        text = script.read_text()
        keys |= set(re.findall(r'\bt\("([\w.]+)"', text))
        keys |= set(re.findall(r'"data-i18n": "([\w.]+)"', text))
    return keys


def test_every_text_is_translated_in_both_languages():
    sv = json.loads((FRONTEND / "static" / "i18n" / "sv.json").read_text())
    en = json.loads((FRONTEND / "static" / "i18n" / "en.json").read_text())
    assert sv.keys() == en.keys()
    used = {k for k in _keys_used() if not k.endswith(".")}  # "trend." + p.trend: checked below
    assert len(used) > 60
    assert used - sv.keys() == set()
    for prefix, values in (("trend.", ["new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic",
                                       "oscillating", "historical", "none"]),
                           ("weekday.", [str(d) for d in range(7)])):
        assert {prefix + v for v in values} <= sv.keys()


def test_report_page_ships_its_config_and_allows_only_its_own_scripts(client):
    r = client.get("/report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    config = json.loads(re.search(r'<script type="application/json" id="config">(.*?)</script>', html).group(1))
    assert {c["code"] for c in config["categories"]} >= {"klotter", "brand_container"}
    assert config["municipality"] and len(config["centre"]) == 2
    inline = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    hashes = {"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in inline}
    assert len(inline) == 3 and all(h in r.headers["content-security-policy"] for h in hashes)
    assert "data-inline" not in html and "<!--i18n-->" not in html
    js_kb = sum(len(s.encode()) for s in inline) / 1024
    assert js_kb < 40, f"the report page's own JavaScript grew to {js_kb:.0f} kB"
