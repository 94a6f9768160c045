"""One incident, many sources: the rescue service's call-out and a guard's report of the same
fire are linked, counted once in the hotspot layer, and the coordinator can undo the link."""
import datetime as dt
import uuid

import numpy as np
import pytest
from sqlalchemy import text

from app.reports import incidents
from tests.factories import add_reports, cycle_back, fill_a_year_for_the_planner
from tests.feeds import event, metres_east, post_events, results_by_id
from tests.helpers import SQUARE

FIRE_AT = dt.datetime(2026, 11, 20, 22, 15, tzinfo=dt.UTC)


def guard_report(client, auth, *, at=FIRE_AT, lon=SQUARE["lon"], category="brand_container", until=None) -> dict:
    body = {"category": category, "lat": SQUARE["lat"], "lon": lon, "occurred_from": at.isoformat(),
            "description": "Brinnande container vid entrén"}
    if until:
        body["occurred_to"] = until.isoformat()
    r = client.post("/api/v1/reports", headers=auth("reporter"), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def props(client, auth, report_id) -> dict:
    return client.get(f"/api/v1/reports/{report_id}", headers=auth("coordinator")).json()["properties"]


def test_a_call_out_after_the_guards_report_links_them(client, auth):
    guard = guard_report(client, auth)
    assert guard["properties"]["incident_of"] is None
    near = metres_east(SQUARE["lon"], SQUARE["lat"], 120)
    r = post_events(client, [event("RTJ-100", lon=near, at=FIRE_AT - dt.timedelta(minutes=50))])
    assert r.json()["summary"]["linked"] == 1
    fire = results_by_id(r)["RTJ-100"]
    assert fire["linked_reports"] == [guard["id"]]
    assert props(client, auth, guard["id"])["incident_of"] == fire["id"]
    assert props(client, auth, fire["id"])["linked_reports"] == [guard["id"]]
    history = client.get(f"/api/v1/reports/{guard['id']}/history", headers=auth("coordinator")).json()
    assert history[-1]["action"] == "link" and history[-1]["changes"]["incident_of"] == [None, fire["id"]]
    assert 119 <= history[-1]["changes"]["metres"] <= 121 and history[-1]["changes"]["minutes_apart"] == 50


def test_a_guards_report_after_the_call_out_links_to_it(client, auth):
    fire = results_by_id(post_events(client, [event("RTJ-200", at=FIRE_AT)]))["RTJ-200"]
    guard = guard_report(client, auth, at=FIRE_AT + dt.timedelta(minutes=30),
                         lon=metres_east(SQUARE["lon"], SQUARE["lat"], 80))
    assert guard["properties"]["incident_of"] == fire["id"]
    assert props(client, auth, fire["id"])["linked_reports"] == [guard["id"]]
    mine = client.get(f"/api/v1/reports/{guard['id']}", headers=auth("reporter")).json()["properties"]
    assert mine["incident_of"] == fire["id"]  # the guard sees the link on their own report


def test_the_guard_joins_the_nearest_of_two_call_outs(client, auth):
    r = results_by_id(post_events(client, [
        event("FAR", lon=metres_east(SQUARE["lon"], SQUARE["lat"], 140)),
        event("NEAR", lon=metres_east(SQUARE["lon"], SQUARE["lat"], 40))]))
    guard = guard_report(client, auth)
    assert guard["properties"]["incident_of"] == r["NEAR"]["id"]


@pytest.mark.parametrize("what,kwargs", [
    ("too far", {"lon": metres_east(SQUARE["lon"], SQUARE["lat"], 160)}),
    ("too long before", {"at": FIRE_AT - dt.timedelta(minutes=61)}),
    ("too long after", {"at": FIRE_AT + dt.timedelta(minutes=61)}),
    ("another category group", {"category": "klotter"}),
    ("a window over a day", {"at": FIRE_AT - dt.timedelta(hours=30), "until": FIRE_AT}),
])
def test_what_is_not_the_same_incident_is_not_linked(client, auth, what, kwargs):
    fire = results_by_id(post_events(client, [event(f"RTJ-{what}", at=FIRE_AT)]))[f"RTJ-{what}"]
    guard = guard_report(client, auth, **kwargs)
    assert guard["properties"]["incident_of"] is None, what
    assert props(client, auth, fire["id"])["linked_reports"] == []


def test_a_window_overlapping_the_call_out_is_linked(client, auth):
    fire = results_by_id(post_events(client, [event("RTJ-300", at=FIRE_AT)]))["RTJ-300"]
    found = guard_report(client, auth, at=FIRE_AT - dt.timedelta(hours=6), until=FIRE_AT + dt.timedelta(hours=3))
    assert found["properties"]["incident_of"] == fire["id"]


def test_two_call_outs_of_the_same_system_are_never_linked(client, auth):
    r = post_events(client, [event("RTJ-401"), event("RTJ-402")])
    assert r.json()["summary"]["linked"] == 0
    assert all(props(client, auth, x["id"])["incident_of"] is None for x in r.json()["results"])


def layer_count(client, auth, cycle) -> float:
    r = client.get("/api/v1/hotspots", headers=auth("est"), params={"cycle": cycle.id, "res": 9})
    assert r.status_code == 200, r.text
    return r.json()["total"]


def test_linked_reports_count_once_in_the_hotspot_layer_until_unlinked(client, auth, db):
    cycle = cycle_back(db, 1)
    at = cycle.start + dt.timedelta(days=3, hours=20)
    guard = guard_report(client, auth, at=at)
    client.patch(f"/api/v1/reports/{guard['id']}", headers=auth("coordinator"), json={"status": "verified"})
    assert layer_count(client, auth, cycle) == 1
    fire = results_by_id(post_events(client, [event("RTJ-500", at=at + dt.timedelta(minutes=5))]))["RTJ-500"]
    assert fire["linked_reports"] == [guard["id"]]
    assert layer_count(client, auth, cycle) == 1  # two reports, one incident
    r = client.delete(f"/api/v1/reports/{guard['id']}/incident", headers=auth("coordinator"))
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["incident_of"] is None
    assert layer_count(client, auth, cycle) == 2
    history = client.get(f"/api/v1/reports/{guard['id']}/history", headers=auth("coordinator")).json()
    assert (history[-1]["action"], history[-1]["by"]) == ("unlink", "coordinator")
    primary = client.get(f"/api/v1/reports/{fire['id']}/history", headers=auth("coordinator")).json()
    assert primary[-1]["action"] == "unlink_members" and primary[-1]["changes"]["linked_reports"] == [[guard["id"]], []]
    assert history[-1]["changes"]["incident_of"] == [fire["id"], None]
    assert client.delete(f"/api/v1/reports/{guard['id']}/incident", headers=auth("coordinator")).status_code == 409
    # A replay of the call-out does not link them again.
    post_events(client, [event("RTJ-500", at=at + dt.timedelta(minutes=5))])
    assert props(client, auth, guard["id"])["incident_of"] is None


def test_unlinking_the_call_out_releases_every_linked_report(client, auth):
    guards = [guard_report(client, auth), guard_report(client, auth, at=FIRE_AT + dt.timedelta(minutes=10))]
    fire = results_by_id(post_events(client, [event("RTJ-600", at=FIRE_AT)]))["RTJ-600"]
    assert sorted(fire["linked_reports"]) == sorted(g["id"] for g in guards)
    r = client.delete(f"/api/v1/reports/{fire['id']}/incident", headers=auth("coordinator"))
    assert r.status_code == 200 and r.json()["properties"]["linked_reports"] == []
    assert all(props(client, auth, g["id"])["incident_of"] is None for g in guards)
    history = client.get(f"/api/v1/reports/{fire['id']}/history", headers=auth("coordinator")).json()
    assert history[-1]["action"] == "unlink_members" and history[-1]["by"] == "coordinator"
    assert history[-1]["changes"]["linked_reports"] == [sorted(g["id"] for g in guards), []]
    # A second call-out of the same fire does not take them back: the coordinator has judged them.
    second = results_by_id(post_events(client, [event("RTJ-601", at=FIRE_AT + dt.timedelta(minutes=10))]))["RTJ-601"]
    assert second["status"] == "created" and "linked_reports" not in second
    assert all(props(client, auth, g["id"])["incident_of"] is None for g in guards)
    # A guard who reports the fire afterwards is linked as usual.
    late = guard_report(client, auth, at=FIRE_AT + dt.timedelta(minutes=20))
    assert props(client, auth, late["id"])["incident_of"] in (fire["id"], second["id"])


@pytest.mark.parametrize("who", ["est", "reporter", "gis"])
def test_only_the_coordinator_unlinks(client, auth, who):
    guard = guard_report(client, auth)
    post_events(client, [event("RTJ-700")])
    r = client.delete(f"/api/v1/reports/{guard['id']}/incident", headers=auth(who))
    assert r.status_code == 403
    assert props(client, auth, guard["id"])["incident_of"] is not None


def side(points, *, group=0):
    """A Side of reports at (lon, lat, start_s, end_s)."""
    lon, lat, start, end = (np.array(c, dtype=np.float64) for c in zip(*points))
    return incidents.Side(ids=[uuid.uuid4() for _ in points], lon=lon, lat=lat, start=start, end=end,
                          group=np.full(len(points), group))


def test_matching_across_grid_keys_and_days_without_a_database():
    # Just west of a grid line and just before midnight UTC; partners just across both.
    lon0 = 16.5 - 1e-7
    lat0 = 59.37 - 1e-7
    midnight = 1_763_683_200.0  # 2025-11-21T00:00:00Z
    arrivals = side([(lon0, lat0, midnight - 60, midnight - 60)])
    others = side([
        (metres_east(lon0, lat0, 149), lat0 + 0.0001, midnight + 59 * 60, midnight + 59 * 60),   # 149+ m, 60 min
        (metres_east(lon0, lat0, 151), lat0, midnight, midnight),                                 # 151 m: too far
        (lon0, lat0, midnight + 62 * 60, midnight + 90 * 60),                                     # 62 min apart
        (lon0, lat0, midnight - 3 * 3600, midnight + 3600),                                       # window over it
    ])
    a_idx, o_idx, metres, gap = incidents.match(arrivals, others)
    assert sorted(o_idx.tolist()) == [0, 3]
    assert all(a == 0 for a in a_idx)
    assert max(metres) <= incidents.MAX_METRES and set(gap.tolist()) == {59 * 60 + 60, 0}
    assert len(incidents.match(arrivals, side([(lon0, lat0, midnight, midnight)], group=1))[0]) == 0


def test_a_submitted_report_finds_events_by_a_range_of_the_occurrence_index(db):
    """The events a person's report may join are read as a range of occurred_to (bounded by the
    window limit), not by scanning the municipality's reports: one submit, one small read."""
    now = dt.datetime.now(dt.UTC)
    params = {"municipality_id": 1, "category_ids": [1, 2], "lo": now - incidents.MAX_GAP - incidents.MAX_WINDOW,
              "hi": now + incidents.MAX_GAP, "max_window": incidents.MAX_WINDOW}
    add_reports(db, **SQUARE, at=now)
    fill_a_year_for_the_planner(db, source="integration:raddningstjanst")  # a year of call-outs
    plan = list(db.scalars(text("EXPLAIN " + incidents.OTHERS[False].text), params))
    scans = [line for line in plan if " on report " in line]
    assert scans and "ix_report_municipality_occurred_to" in scans[0], plan  # the reports, by that index
    assert not any("Seq Scan on report " in line for line in plan), plan
    index_cond = next(line for line in plan if "Index Cond" in line)
    assert "occurred_to >=" in index_cond and "occurred_to <=" in index_cond, plan
