"""Measured follow-up over HTTP: before/after at the place against the rest of the town,
the displacement ring, the traffic light and the coordinator's confirmation."""
from __future__ import annotations

import datetime as dt

import h3
import pytest
from scipy import stats

from tests.factories import add_reports, cycle_back
from tests.helpers import SQUARE
from tests.test_est_loop_api import SQUARE_R9, action_body, make_place

PROBLEM = "application/problem+json"
RING_CELL = sorted(set(h3.grid_disk(SQUARE_R9, 1)) - {SQUARE_R9})[0]
RING_POINT = dict(zip(("lat", "lon"), h3.cell_to_latlng(RING_CELL)))
FAR_AWAY = {"lat": 59.40, "lon": 16.58}  # the rest of the municipality (control)


def fill(db, *, before: int, after: int, ring=(2, 2), control=(40, 40)) -> None:
    """Per cycle: ``before``/``after`` reports at the square in the 3 cycles before/after the
    start (the first day of the cycle 3 back), the ring and the control likewise."""
    for back in range(1, 7):
        phase = 1 if back <= 3 else 0
        at = cycle_back(db, back).start + dt.timedelta(days=4, hours=21)
        add_reports(db, **SQUARE, at=at, n=(before, after)[phase])
        add_reports(db, **RING_POINT, at=at, n=ring[phase])
        add_reports(db, **FAR_AWAY, at=at, n=control[phase])


def started_action(client, auth, **over) -> dict:
    place = make_place(client, auth)
    body = action_body(place["id"], **over)
    r = client.post("/api/v1/actions", json=body, headers=auth("est"))
    assert r.status_code == 201, r.text
    return r.json()


def test_a_done_action_with_a_real_drop_gets_a_green_proposal(client, auth, db):
    fill(db, before=8, after=1)
    start = cycle_back(db, 3).first_day.isoformat()
    action = started_action(client, auth, start_date=start, due_date=start, status="done", recurrence="one_off")
    r = client.get(f"/api/v1/actions/{action['id']}/follow-up", headers=auth("est"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cycles_used"] == 3 and body["after"][0]["id"] == start
    assert body["before"][-1]["id"] == cycle_back(db, 4).first_day.isoformat()
    assert body["counts"] == {"target": [24.0, 3.0], "ring": [6.0, 6.0], "control": [120.0, 120.0]}
    assert body["test"]["p_decrease"] == pytest.approx(
        stats.fisher_exact([[3, 24], [120, 120]], alternative="less").pvalue, rel=1e-5)
    assert body["rate_ratio"]["ratio"] == pytest.approx(0.125)
    assert body["wdd"]["wdd"] == pytest.approx(-21.0)
    assert body["displacement"]["p_increase"] > 0.05
    assert body["proposal"]["light"] == "green"
    assert len(body["series"]) == 6


def test_displacement_to_the_ring_makes_it_yellow(client, auth, db):
    fill(db, before=8, after=1, ring=(1, 9))
    start = cycle_back(db, 3).first_day.isoformat()
    action = started_action(client, auth, start_date=start, due_date=start, status="done")
    body = client.get(f"/api/v1/actions/{action['id']}/follow-up", headers=auth("gis")).json()
    assert body["proposal"]["light"] == "yellow" and "displacement" in body["proposal"]["reason"]
    # the same as a code and its numbers, for a page to word in its own language
    assert body["proposal"]["code"] == "displacement"
    assert body["proposal"]["values"] == {"p": round(body["test"]["p_decrease"], 3),
                                          "p_ring": round(body["displacement"]["p_increase"], 3)}
    assert body["wdq"] < 0


def test_not_done_is_red_and_the_coordinator_can_override_with_a_comment(client, auth, db):
    fill(db, before=8, after=1)
    start = cycle_back(db, 3).first_day.isoformat()
    action = started_action(client, auth, start_date=start, due_date=start, status="planned", recurrence="one_off")
    url = f"/api/v1/actions/{action['id']}/follow-ups"
    assert client.get(url[:-1], headers=auth("est")).json()["proposal"]["light"] == "red"
    r = client.post(url, json={"light": "yellow"}, headers=auth("coordinator"))
    assert r.status_code == 422 and "needs a comment" in r.json()["detail"]
    r = client.post(url, json={"light": "yellow", "comment": "Gjordes delvis, protokoll saknas"},
                    headers=auth("coordinator"))
    assert r.status_code == 201, r.text
    stored = r.json()
    assert (stored["proposed"], stored["light"], stored["overridden"]) == ("red", "yellow", True)
    confirmed = client.post(url, json={}, headers=auth("est")).json()
    assert (confirmed["light"], confirmed["overridden"]) == ("red", False)
    assert [f["light"] for f in client.get(url, headers=auth("gis")).json()] == ["yellow", "red"]
    log = client.get("/api/v1/audit?entity=follow_up", headers=auth("coordinator")).json()["items"]
    assert log[1]["changes"]["comment"] is True and "protokoll saknas" not in str(log)
    place = next(f for f in client.get("/api/v1/places", headers=auth("est")).json()["features"]
                 if f["id"] == action["place_id"])
    assert place["properties"]["latest_light"]["light"] == "red"


def test_later_follow_ups_show_whether_the_effect_lasted(client, auth, db):
    fill(db, before=8, after=1)
    start = cycle_back(db, 5).first_day.isoformat()  # 4 full cycles since; first 2 vs latest 2
    action = started_action(client, auth, start_date=start, due_date=start, status="done")
    first = client.get(f"/api/v1/actions/{action['id']}/follow-up?cycles=2", headers=auth("est")).json()
    latest = client.get(f"/api/v1/actions/{action['id']}/follow-up?cycles=2&window=latest", headers=auth("est")).json()
    assert [c["id"] for c in first["after"]] == [cycle_back(db, 5).first_day.isoformat(),
                                                 cycle_back(db, 4).first_day.isoformat()]
    assert [c["id"] for c in latest["after"]] == [cycle_back(db, 2).first_day.isoformat(),
                                                  cycle_back(db, 1).first_day.isoformat()]
    assert first["counts"]["target"][1] == 16.0 and latest["counts"]["target"][1] == 2.0


def test_an_empty_control_is_not_reported_as_no_reduction(client, auth, db):
    """A rare category (abandoned vehicles): 6 per cycle before, 1 per cycle after at the place,
    none anywhere else in the town. Was red "no reduction against the control (p = 1.000)"."""
    for back in range(1, 7):
        at = cycle_back(db, back).start + dt.timedelta(days=3, hours=22)
        add_reports(db, **SQUARE, at=at, n=1 if back <= 3 else 6, category="overgivet_fordon")
        add_reports(db, **FAR_AWAY, at=at, n=20)
    start = cycle_back(db, 3).first_day.isoformat()
    action = started_action(client, auth, start_date=start, due_date=start, status="done", recurrence="one_off",
                            categories=["overgivet_fordon"])
    body = client.get(f"/api/v1/actions/{action['id']}/follow-up", headers=auth("est")).json()
    assert body["counts"]["target"] == [18.0, 3.0] and body["counts"]["control"] == [0.0, 0.0]
    own = stats.binomtest(3, 21, 0.5, alternative="less").pvalue
    assert body["proposal"] == {"light": "yellow", "code": "no_control", "reason": body["proposal"]["reason"],
                                "values": {"t0": 18, "t1": 3, "p_own": round(own, 3)}}
    assert "cannot be compared with a control" in body["proposal"]["reason"]


def lit_until(db, back_last_lit: int) -> None:
    """6 reports per cycle at the square up to the cycle ``back_last_lit`` cycles back, none after;
    the rest of the town flat at 20 per cycle (10 cycles)."""
    for back in range(1, 11):
        at = cycle_back(db, back).start + dt.timedelta(days=3, hours=22)
        if back >= back_last_lit:
            add_reports(db, **SQUARE, at=at, n=6)
        add_reports(db, **FAR_AWAY, at=at, n=20)


def test_a_one_off_action_is_measured_after_it_was_carried_out(client, auth, db):
    """New lighting: started 7 cycles back, due (and done) at the end of the cycle 4 back; reports
    6 per cycle until the lights were up, none since. Was measured from the start (18 -> 18, red)."""
    lit_until(db, 4)
    start, due = cycle_back(db, 7).first_day, cycle_back(db, 4).last_day
    action = started_action(client, auth, start_date=start.isoformat(), due_date=due.isoformat(), status="done",
                            recurrence="one_off")
    body = client.get(f"/api/v1/actions/{action['id']}/follow-up", headers=auth("est")).json()
    assert body["effect_from"] == due.isoformat()
    assert [c["id"] for c in body["after"]] == [cycle_back(db, b).first_day.isoformat() for b in (3, 2, 1)]
    assert [c["id"] for c in body["before"]] == [cycle_back(db, b).first_day.isoformat() for b in (10, 9, 8)]
    assert body["counts"]["target"] == [18.0, 0.0] and body["proposal"]["light"] == "green"
    # a recurring action (regular work) still works from its start: the 3 cycles from then
    recurring = started_action(client, auth, start_date=start.isoformat(), due_date=due.isoformat(),
                               status="in_progress", recurrence="recurring")
    body = client.get(f"/api/v1/actions/{recurring['id']}/follow-up", headers=auth("est")).json()
    assert body["effect_from"] == start.isoformat() and body["after"][0]["id"] == start.isoformat()
    assert body["counts"]["target"] == [18.0, 18.0] and body["proposal"]["code"] == "no_reduction"


def test_an_action_within_its_planned_period_gets_no_light_yet(client, auth, db):
    """Started 3 cycles back, due in a month, in progress: not "red, not carried out" but no light
    yet (the numbers so far, from the start); it cannot be stored as a follow-up until then."""
    fill(db, before=8, after=8)
    start = cycle_back(db, 3).first_day.isoformat()
    due = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    action = started_action(client, auth, start_date=start, due_date=due, status="in_progress", recurrence="one_off")
    body = client.get(f"/api/v1/actions/{action['id']}/follow-up", headers=auth("est")).json()
    assert body["effect_from"] == start and body["counts"]["target"] == [24.0, 24.0]
    assert body["proposal"]["light"] is None and body["proposal"]["code"] == "not_yet_due"
    assert body["proposal"]["values"] == {"status": "in_progress", "due_date": due}
    r = client.post(f"/api/v1/actions/{action['id']}/follow-ups", json={"light": "green", "comment": "Bra"},
                    headers=auth("coordinator"))
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert "nothing to follow up yet" in r.json()["detail"]
    # once its due date has passed without it being done, it is red — the day after, at the
    # meeting that should record it, not a cycle later (no "after" window is needed for red)
    for due in (dt.date.today() - dt.timedelta(days=1), cycle_back(db, 2).last_day):
        client.patch(f"/api/v1/actions/{action['id']}", json={"due_date": due.isoformat()}, headers=auth("est"))
        r = client.get(f"/api/v1/actions/{action['id']}/follow-up", headers=auth("est"))
        assert r.status_code == 200, r.text
        late = r.json()["proposal"]
        assert (late["light"], late["code"], late["values"]["status"]) == ("red", "not_carried_out", "in_progress")


def test_a_follow_up_too_early_is_refused(client, auth, db):
    today = dt.date.today()
    future = started_action(client, auth, start_date=(today + dt.timedelta(days=5)).isoformat(),
                            due_date=(today + dt.timedelta(days=30)).isoformat())
    r = client.get(f"/api/v1/actions/{future['id']}/follow-up", headers=auth("est"))
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert "has not come yet" in r.json()["detail"]
    current = cycle_back(db, 0).first_day.isoformat()
    fresh = started_action(client, auth, start_date=current, due_date=(today + dt.timedelta(days=30)).isoformat())
    r = client.get(f"/api/v1/actions/{fresh['id']}/follow-up", headers=auth("est"))
    assert r.status_code == 422 and "No full cycle has passed" in r.json()["detail"]
    assert client.post(f"/api/v1/actions/{fresh['id']}/follow-ups", json={}, headers=auth("est")).status_code == 422
    # a one-off action is measured from its due date: no full cycle after it yet
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    done = started_action(client, auth, start_date=cycle_back(db, 4).first_day.isoformat(), due_date=yesterday,
                          status="done", recurrence="one_off")
    r = client.get(f"/api/v1/actions/{done['id']}/follow-up", headers=auth("est"))
    assert r.status_code == 422 and "No full cycle has passed since the due date" in r.json()["detail"]
    assert r.json()["errors"] == [{"field": "date", "message": "no full cycle after the due date yet"}]


def test_effect_for_any_place_and_date(client, auth, db):
    fill(db, before=8, after=1)
    place = make_place(client, auth)
    start = cycle_back(db, 3).first_day
    r = client.get(f"/api/v1/places/{place['id']}/effect?date={start + dt.timedelta(days=3)}&cycles=3",
                   headers=auth("gis"))
    assert r.status_code == 200, r.text
    body = r.json()
    # the start falls mid-cycle: that cycle is left out, two full cycles remain after it
    assert body["cycles_used"] == 2 and "proposal" not in body
    assert [c["id"] for c in body["before"]] == [cycle_back(db, 5).first_day.isoformat(),
                                                 cycle_back(db, 4).first_day.isoformat()]
    assert [c["id"] for c in body["after"]] == [cycle_back(db, 2).first_day.isoformat(),
                                                cycle_back(db, 1).first_day.isoformat()]
    ring = client.get(f"/api/v1/places/{place['id']}/effect?date={start}&control=ring", headers=auth("gis")).json()
    assert ring["counts"]["control"] == ring["counts"]["ring"] and ring["wdd"] is None
    r = client.get(f"/api/v1/places/{place['id']}/effect?date={start}&category=nope", headers=auth("gis"))
    assert r.status_code == 422 and "Unknown category" in r.json()["detail"]
