"""The EST loop over HTTP: places, cause analysis, actions, safety walks, roles, the audit log."""
from __future__ import annotations

import datetime as dt
import re

import h3
from sqlalchemy import func, select

from app.actions.models import Action, AuditEntry, Place
from app.geo import wgs84_to_sweref

from tests.factories import add_reports, cycle_back, reporting_began
from tests.helpers import SQUARE

PROBLEM = "application/problem+json"
SQUARE_R9 = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 9)


def make_place(client, auth, cells=None, name="Fristadstorget", user="est") -> dict:
    r = client.post("/api/v1/places", json={"name": name, "cells": cells or [SQUARE_R9]}, headers=auth(user))
    assert r.status_code == 201, r.text
    return r.json()


def action_body(place_id: int, **over) -> dict:
    body = {"place_id": place_id, "what": "Ta bort klotter inom 24 h", "goal": "Från 2 till ≤ 1 klotter per cykel "
            "till mars", "kind": "situational", "owner_organisation": "Gatukontoret", "owner_contact": "gata@example.se",
            "start_date": "2026-11-02", "due_date": "2026-12-31", "recurrence": "recurring"}
    body.update(over)
    return body


def audit_count(db) -> int:
    return db.scalar(select(func.count()).select_from(AuditEntry))


def test_hotspot_cells_become_a_place_with_its_cause_analysis(client, auth):
    ring = sorted(set(h3.grid_disk(SQUARE_R9, 1)) - {SQUARE_R9})[:2]
    place = make_place(client, auth, cells=[SQUARE_R9, *ring])
    assert place["resolution"] == 9 and len(place["cells"]) == 3
    assert place["geometry"]["type"] == "MultiPolygon"
    situation = client.post(f"/api/v1/places/{place['id']}/analysis", headers=auth("est"),
                            json={"kind": "situation", "text": "Mörkt vid busskuren efter 22, trasig belysning"})
    assert situation.status_code == 201 and situation.json()["author"] == "est"
    hypothesis = client.post(f"/api/v1/places/{place['id']}/analysis", headers=auth("coordinator"),
                             json={"kind": "hypothesis", "text": "Klottret sker när torget är obevakat",
                                   "test_plan": "Väktarrond 22-02 i två cykler, jämför antal"})
    hid = hypothesis.json()["id"]
    r = client.patch(f"/api/v1/analysis/{hid}", headers=auth("est"), json={"result": "Färre klotter under ronderna"})
    assert r.json()["result"] == "Färre klotter under ronderna"
    got = client.get(f"/api/v1/places/{place['id']}", headers=auth("gis")).json()
    assert [(n["kind"], n["author"]) for n in got["analysis"]] == [("situation", "est"), ("hypothesis", "coordinator")]
    assert got["analysis"][1]["test_plan"].startswith("Väktarrond")


def test_a_drawn_polygon_in_sweref_becomes_a_place(client, auth):
    x, y = wgs84_to_sweref(SQUARE["lon"], SQUARE["lat"])
    ring = [[x - 150, y - 100], [x + 150, y - 100], [x + 150, y + 100], [x - 150, y + 100], [x - 150, y - 100]]
    r = client.post("/api/v1/places", headers=auth("est"), json={
        "name": "Torget ritat", "crs": "EPSG:3006", "geometry": {"type": "Polygon", "coordinates": [ring]}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["source"] == "polygon" and body["resolution"] == 10 and len(body["cells"]) >= 3
    assert h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 10) in body["cells"]
    lon0, lat0 = body["geometry"]["coordinates"][0][0][0]
    assert abs(lon0 - 16.5) < 0.05 and abs(lat0 - 59.37) < 0.05  # stored in WGS84


def test_bad_places_are_refused_and_store_nothing(client, auth, db):
    before = (db.scalar(select(func.count()).select_from(Place)), audit_count(db))
    cases = [
        ({"name": "Tom", "cells": []}, "at least one H3 cell"),
        ({"name": "Ingen"}, "at least one H3 cell"),
        ({"name": "Fel", "cells": ["not-a-cell"]}, "not an H3 cell"),
        ({"name": "Grov", "cells": [h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 6)]}, "resolution 6"),
        ({"name": "Blandat", "cells": [SQUARE_R9, h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 8)]},
         "one resolution"),
        ({"name": "Göteborg", "cells": [h3.latlng_to_cell(57.7089, 11.9746, 9)]}, "outside Eskilstuna"),
        ({"name": "Linje", "geometry": {"type": "LineString", "coordinates": [[16.5, 59.37], [16.51, 59.37]]}},
         "Polygon or MultiPolygon"),
        ({"name": "Självkorsande", "geometry": {"type": "Polygon", "coordinates": [
            [[16.50, 59.37], [16.51, 59.38], [16.51, 59.37], [16.50, 59.38], [16.50, 59.37]]]}}, "not valid"),
        ({"name": "Lista", "geometry": {"type": ["Polygon"], "coordinates": []}}, "Polygon or MultiPolygon"),
        ({"name": "Objekt", "geometry": {"type": "Polygon", "coordinates": {}}}, "coordinates malformed"),
        ({"name": "Tal", "cells": ["-1"]}, "not an H3 cell"),
        # the whole of Sweden: refused from its extent, before minutes spent listing ~30 million cells
        ({"name": "Sverige", "geometry": {"type": "Polygon", "coordinates": [
            [[11.0, 55.0], [24.0, 55.0], [24.0, 69.0], [11.0, 69.0], [11.0, 55.0]]]}}, "a place is part of the"),
        # a degree square over the town: refused from its area (~10,000 res-9 cells)
        ({"name": "Länet", "geometry": {"type": "Polygon", "coordinates": [
            [[16.0, 59.0], [17.0, 59.0], [17.0, 60.0], [16.0, 60.0], [16.0, 59.0]]]}}, "cells; at most 2000"),
    ]
    for body, needle in cases:
        r = client.post("/api/v1/places", json=body, headers=auth("est"))
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == PROBLEM
        assert needle in r.json()["detail"], (needle, r.json()["detail"])
    assert (db.scalar(select(func.count()).select_from(Place)), audit_count(db)) == before


def _square(x: float, y: float, half: float, *, clockwise: bool = False) -> list[list[float]]:
    ring = [[x - half, y - half], [x + half, y - half], [x + half, y + half], [x - half, y + half], [x - half, y - half]]
    return ring[::-1] if clockwise else ring


def test_a_drawn_place_is_measured_whichever_way_its_rings_run(client, auth):
    """The area estimate that refuses huge places early must not depend on ring orientation
    (RFC 7946 only recommends one; QGIS and shapely write holes either way)."""
    x, y = wgs84_to_sweref(SQUARE["lon"], SQUARE["lat"])
    # a 6.5 km square around a 4.7 km hole, both rings anticlockwise: ~1,800 cells, allowed
    ring = {"type": "Polygon", "coordinates": [_square(x, y, 3250), _square(x, y, 2350)]}
    r = client.post("/api/v1/places", headers=auth("est"), json={"name": "Ringen", "crs": "EPSG:3006", "geometry": ring})
    assert r.status_code == 201, r.text
    assert 1500 < len(r.json()["cells"]) <= 2000
    # two 20 km squares running opposite ways: refused from the area, before listing ~70,000 cells
    pair = {"type": "MultiPolygon", "coordinates": [[_square(x - 15_000, y, 10_000)],
                                                    [_square(x + 15_000, y, 10_000, clockwise=True)]]}
    r = client.post("/api/v1/places", headers=auth("est"), json={"name": "Par", "crs": "EPSG:3006", "geometry": pair})
    assert r.status_code == 422 and "the place covers about" in r.json()["detail"], r.text
    # ... and says about how many: h3 lists 70,783 (cells here are ~0.75 of the world average)
    about = int(re.search(r"covers about ([\d,]+) cells", r.json()["detail"])[1].replace(",", ""))
    assert abs(about - 70_783) < 0.05 * 70_783, about


def test_an_action_shows_the_baseline_that_makes_its_goal_concrete(client, auth, db):
    reporting_began(db)
    for back in range(1, 7):  # 2 reports per cycle over the 6 full cycles
        add_reports(db, **SQUARE, at=cycle_back(db, back).start + dt.timedelta(days=3, hours=20), n=2)
    add_reports(db, **SQUARE, at=cycle_back(db, 1).start + dt.timedelta(days=3), n=1, category="brand_container")
    place = make_place(client, auth)
    note = client.post(f"/api/v1/places/{place['id']}/analysis", headers=auth("est"),
                       json={"kind": "target_victim", "text": "Busskuren är lätt att klottra på"}).json()
    r = client.post("/api/v1/actions", headers=auth("est"),
                    json=action_body(place["id"], causes=[note["id"]], categories=["klotter"]))
    assert r.status_code == 201, r.text
    action = r.json()
    assert action["baseline"] == {"per_cycle": 2.0, "cycles": 6}
    assert action["causes"] == [note["id"]] and action["status"] == "planned"
    everything = client.post("/api/v1/actions", headers=auth("est"), json=action_body(place["id"])).json()
    assert everything["baseline"]["per_cycle"] == round(13 / 6, 3)  # all categories: the fire counts too


def test_a_new_municipalitys_baseline_is_over_the_cycles_since_its_first_report(client, auth, db):
    """Reporting began 2 full cycles ago (at the start): 4 reports per cycle at the place since.
    The baseline is 4 over 2 cycles, not 8/6 with four cycles of zeros before the first report."""
    for back in (1, 2):
        add_reports(db, **SQUARE, at=cycle_back(db, back).start + dt.timedelta(seconds=1), n=4)
    place = make_place(client, auth)
    assert client.get(f"/api/v1/places/{place['id']}", headers=auth("est")).json()["baseline"] == {
        "per_cycle": 4.0, "cycles": 2}
    action = client.post("/api/v1/actions", headers=auth("est"), json=action_body(place["id"])).json()
    assert action["baseline"] == {"per_cycle": 4.0, "cycles": 2}
    assert client.get(f"/api/v1/actions/{action['id']}", headers=auth("est")).json()["baseline"]["cycles"] == 2


def test_before_a_full_cycle_of_reporting_an_action_has_no_baseline(client, auth, db):
    add_reports(db, **SQUARE, at=cycle_back(db, 0).start + dt.timedelta(hours=1), n=3)
    place = make_place(client, auth)
    assert client.get(f"/api/v1/places/{place['id']}", headers=auth("est")).json()["baseline"] == {
        "per_cycle": None, "cycles": 0}
    action = client.post("/api/v1/actions", headers=auth("est"), json=action_body(place["id"]))
    assert action.status_code == 201 and action.json()["baseline"] == {"per_cycle": None, "cycles": 0}


def test_bad_actions_get_a_clear_problem(client, auth, db):
    place = make_place(client, auth)
    other = make_place(client, auth, name="Annan")
    foreign_note = client.post(f"/api/v1/places/{other['id']}/analysis", headers=auth("est"),
                               json={"kind": "offender", "text": "Samma grupp varje fredag"}).json()
    before = (db.scalar(select(func.count()).select_from(Action)), audit_count(db))
    no_owner = {k: v for k, v in action_body(place["id"]).items() if k != "owner_organisation"}
    cases = [
        (action_body(place["id"], start_date="2026-12-01", due_date="2026-11-01"),
         "due_date 2026-11-01 is before start_date 2026-12-01"),
        (no_owner, "owner_organisation"),
        (action_body(place["id"], owner_organisation="   "), "needs an owner organisation"),
        (action_body(place["id"], kind="magic"), "kind"),
        (action_body(place["id"], causes=[foreign_note["id"]]), f"are not notes of place {place['id']}"),
        (action_body(place["id"], categories=["unicorns"]), "Unknown category 'unicorns'"),
        (action_body(999999), "No place 999999"),
    ]
    for body, needle in cases:
        r = client.post("/api/v1/actions", json=body, headers=auth("est"))
        assert r.status_code in (404, 422), (body, r.text)
        assert r.headers["content-type"] == PROBLEM
        assert needle in r.json()["detail"], (needle, r.json()["detail"])
    assert (db.scalar(select(func.count()).select_from(Action)), audit_count(db)) == before
    action = client.post("/api/v1/actions", json=action_body(place["id"]), headers=auth("est")).json()
    r = client.patch(f"/api/v1/actions/{action['id']}", json={"due_date": "2026-10-01"}, headers=auth("est"))
    assert r.status_code == 422 and "before start_date" in r.json()["detail"]


def test_every_change_is_in_the_audit_log_for_the_coordinator(client, auth):
    place = make_place(client, auth)
    action = client.post("/api/v1/actions", json=action_body(place["id"]), headers=auth("est")).json()
    client.patch(f"/api/v1/actions/{action['id']}", json={"status": "in_progress"}, headers=auth("coordinator"))
    client.patch(f"/api/v1/places/{place['id']}", json={"name": "Fristadstorget norra"}, headers=auth("est"))
    client.delete(f"/api/v1/actions/{action['id']}", headers=auth("est"))
    log = client.get("/api/v1/audit", headers=auth("coordinator"))
    assert log.status_code == 200
    items = log.json()["items"]
    got = [(i["entity"], i["operation"], i["user"]) for i in items[:5]]
    assert got == [("action", "delete", "est"), ("place", "update", "est"), ("action", "update", "coordinator"),
                   ("action", "create", "est"), ("place", "create", "est")]
    assert items[2]["changes"] == {"status": ["planned", "in_progress"]}
    assert items[1]["changes"] == {"name": True}  # renamed; what it is called is the place's own
    assert items[3]["changes"]["owner_organisation"] == [None, "Gatukontoret"]
    only = client.get(f"/api/v1/audit?entity=place&entity_id={place['id']}", headers=auth("coordinator")).json()
    assert [i["operation"] for i in only["items"]] == ["update", "create"]
    for user in ("est", "gis", "reporter"):
        assert client.get("/api/v1/audit", headers=auth(user)).status_code == 403


def test_changed_causes_and_cascaded_deletes_are_audited(client, auth, db):
    place = make_place(client, auth)
    notes = [client.post(f"/api/v1/places/{place['id']}/analysis", headers=auth("est"),
                         json={"kind": "situation", "text": text}).json()["id"] for text in ("Mörkt", "Skymd entré")]
    start = cycle_back(db, 3).first_day.isoformat()
    action = client.post("/api/v1/actions", headers=auth("est"), json=action_body(
        place["id"], causes=[notes[0]], start_date=start, due_date=start, status="done")).json()
    r = client.patch(f"/api/v1/actions/{action['id']}", json={"causes": notes}, headers=auth("est"))
    assert r.status_code == 200 and r.json()["causes"] == notes
    update = client.get(f"/api/v1/audit?entity=action&entity_id={action['id']}", headers=auth("coordinator")
                        ).json()["items"][0]
    assert update["operation"] == "update" and update["changes"] == {"causes": [[notes[0]], notes]}
    follow_up = client.post(f"/api/v1/actions/{action['id']}/follow-ups", headers=auth("coordinator"), json={}).json()
    assert client.delete(f"/api/v1/actions/{action['id']}", headers=auth("est")).status_code == 204
    assert client.delete(f"/api/v1/places/{place['id']}", headers=auth("est")).status_code == 204
    items = client.get("/api/v1/audit?limit=5", headers=auth("coordinator")).json()["items"]
    assert [(i["entity"], i["entity_id"], i["operation"]) for i in items] == [
        ("place", place["id"], "delete"), ("analysis_note", notes[1], "delete"), ("analysis_note", notes[0], "delete"),
        ("action", action["id"], "delete"), ("follow_up", follow_up["id"], "delete")]
    assert items[1]["changes"]["text"] is True  # that it went, not what it said
    assert "Skymd entré" not in str(items)
    assert items[4]["changes"]["light"] == [follow_up["light"], None]


def test_roles(client, auth):
    place = make_place(client, auth, user="coordinator")
    assert client.get("/api/v1/places", headers=auth("gis")).status_code == 200
    r = client.post("/api/v1/places", json={"name": "X", "cells": [SQUARE_R9]}, headers=auth("gis"))
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    assert client.post("/api/v1/actions", json=action_body(place["id"]), headers=auth("gis")).status_code == 403
    for path in ("/api/v1/places", f"/api/v1/places/{place['id']}", "/api/v1/actions", "/api/v1/meetings"):
        assert client.get(path, headers=auth("reporter")).status_code == 403, path
    assert client.post("/api/v1/places", json={"name": "X", "cells": [SQUARE_R9]}).status_code == 401


def test_places_for_the_map_carry_open_actions(client, auth):
    place = make_place(client, auth)
    a = client.post("/api/v1/actions", json=action_body(place["id"]), headers=auth("est")).json()
    done = client.post("/api/v1/actions", json=action_body(place["id"], status="done"), headers=auth("est")).json()
    fc = client.get("/api/v1/places", headers=auth("est"))
    assert fc.headers["content-type"].startswith("application/geo+json")
    feature = next(f for f in fc.json()["features"] if f["id"] == place["id"])
    assert [x["id"] for x in feature["properties"]["open_actions"]] == [a["id"]]
    assert feature["properties"]["actions"] == 2 and done["status"] == "done"
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert client.delete(f"/api/v1/places/{place['id']}", headers=auth("est")).status_code == 409


def test_a_safety_walk_is_a_numbered_list_of_remarks(client, auth):
    r = client.post("/api/v1/safety-walks", headers=auth("est"), json={
        "title": "Trygghetsvandring Årby", "walked_on": "2026-10-14",
        "remarks": [{"text": "Trasig belysning gångtunneln", "lat": 59.362, "lon": 16.47,
                     "owner_organisation": "Gatukontoret", "fix_by": "2026-11-01"},
                    {"text": "Buskar skymmer gångvägen", "lat": 59.363, "lon": 16.472,
                     "owner_organisation": "Parkförvaltningen"}]})
    assert r.status_code == 201, r.text
    walk = r.json()
    assert [(m["number"], m["owner_organisation"]) for m in walk["remarks"]] == [(1, "Gatukontoret"),
                                                                                 (2, "Parkförvaltningen")]
    assert walk["remarks"][0]["point"] == [16.47, 59.362]
    fixed = client.patch(f"/api/v1/safety-walks/{walk['id']}/remarks/1", json={"fixed_on": "2026-10-20"},
                         headers=auth("coordinator")).json()
    assert fixed["remarks"][0]["fixed_on"] == "2026-10-20"
    (logged,) = client.get("/api/v1/audit?entity=safety_walk", headers=auth("coordinator")).json()["items"]
    assert [m["text"] for m in logged["changes"]["remarks"][1]] == ["(text not logged)"] * 2  # may name people
    assert logged["changes"]["remarks"][1][0]["owner_organisation"] == "Gatukontoret"
    bad = client.post("/api/v1/safety-walks", headers=auth("est"), json={
        "title": "X", "walked_on": "2026-10-14", "remarks": [{"text": "Y", "lat": 59.36, "lon": 16.47,
                                                              "owner_organisation": "Z", "fix_by": "2026-10-01"}]})
    assert bad.status_code == 422 and "before the walk" in bad.json()["detail"]


def test_a_deleted_cause_analysis_note_leaves_no_personal_data_in_the_audit_log(client, auth):
    """Someone wrote a personnummer into an offender note; deleting the note removes it: the
    audit log keeps who created and deleted the note, never its text (nor a walk remark's)."""
    place = make_place(client, auth)
    body = {"kind": "offender", "text": "Kalle 811218-9876 langar här"}
    asked = client.post(f"/api/v1/places/{place['id']}/analysis", headers=auth("est"), json=body)
    assert asked.status_code == 422 and asked.json()["type"].endswith("/personal-data")  # asked first
    assert asked.json()["errors"] == [{"field": "text", "message": "looks like personal data", "code": "personnummer"}]
    note = client.post(f"/api/v1/places/{place['id']}/analysis", headers=auth("est"),
                       json={**body, "confirm_personal_data": True})
    assert note.status_code == 201, note.text
    assert client.delete(f"/api/v1/analysis/{note.json()['id']}", headers=auth("est")).status_code == 204
    log = client.get("/api/v1/audit?entity=analysis_note", headers=auth("coordinator")).json()["items"]
    assert [(e["operation"], e["changes"].get("text")) for e in log[:2]] == [("delete", True), ("create", True)]
    assert log[0]["changes"]["kind"] == ["offender", None]
    assert "811218" not in str(log)


def test_a_safety_walk_remark_with_a_phone_number_is_asked_about_and_confirmed_with_the_walk(client, auth):
    walk = {"title": "Trygghetsvandring Årby", "walked_on": "2026-10-14", "remarks": [
        {"text": "Trasig belysning", "lat": 59.362, "lon": 16.47, "owner_organisation": "Gatukontoret"},
        {"text": "Fastighetsvärden nås på 070-123 45 67", "lat": 59.363, "lon": 16.472, "owner_organisation": "Bostaden"}]}
    r = client.post("/api/v1/safety-walks", headers=auth("est"), json=walk)
    assert r.status_code == 422 and r.json()["errors"] == [
        {"field": "remarks.1.text", "message": "looks like personal data", "code": "phone"}]
    r = client.post("/api/v1/safety-walks", headers=auth("est"), json={**walk, "confirm_personal_data": True})
    assert r.status_code == 201 and r.json()["remarks"][1]["text"].endswith("070-123 45 67")
