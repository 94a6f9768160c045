"""An Open311 reporting app sends reports in and follows them (GeoReport v2, JSON)."""
from __future__ import annotations

import datetime as dt
import uuid

import h3
import pytest
from geoalchemy2.shape import to_shape
from sqlalchemy import select, update

from app.integrations.models import Integration
from app.municipalities.models import Municipality, Organisation
from app.reports.models import Report
from seeds.demo import DEMO_API_KEY
from tests.factories import add_reports
from tests.helpers import SQUARE, report_count

V2 = "/open311/v2"
FORM = {"service_code": "klotter", "lat": str(SQUARE["lat"]), "long": str(SQUARE["lon"])}


def post(client, data: dict, **kw):
    return client.post(f"{V2}/requests.json", data=data, **kw)


def error_of(r) -> list[dict]:
    """The spec's error body: a JSON array of {code, description}, code = the HTTP status."""
    body = r.json()
    assert r.headers["content-type"] == "application/json; charset=utf-8", r.headers["content-type"]
    assert isinstance(body, list) and all(set(e) == {"code", "description"} for e in body)
    assert all(e["code"] == r.status_code for e in body)
    return body


def test_discovery_names_the_json_endpoint_and_how_to_get_a_key(client):
    r = client.get(f"{V2}/discovery.json")
    assert r.headers["content-type"] == "application/json; charset=utf-8"  # as the spec serves JSON
    doc = r.json()
    assert set(doc) == {"changeset", "contact", "key_service", "endpoints"}
    [endpoint] = doc["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2" and endpoint["formats"] == ["application/json"]
    assert endpoint["type"] == "production" and "api_key" in doc["key_service"]


def test_services_are_the_municipalitys_categories_in_swedish(client):
    services = client.get(f"{V2}/services.json").json()
    klotter = next(s for s in services if s["service_code"] == "klotter")
    assert klotter == {"service_code": "klotter", "service_name": "Klotter",
                       "description": "Klotter och tags på väggar, fasader, skyltar och fordon",
                       "metadata": True, "type": "realtime", "keywords": "Klotter, Skadegörelse, Graffiti",
                       "group": "Skadegörelse"}
    assert len(services) == 15
    assert {s["group"] for s in services} == {"Skadegörelse", "Miljö och nedskräpning", "Brand",
                                              "Ordning och otrygghet", "Brott", "Otrygg plats", "Övrigt"}
    assert client.get(f"{V2}/services.json", params={"jurisdiction_id": "0484"}).json() == services


def test_a_service_definition_asks_when_it_happened(client):
    definition = client.get(f"{V2}/services/klotter.json").json()
    assert definition["service_code"] == "klotter"
    assert [(a["code"], a["datatype"], a["required"], a["order"]) for a in definition["attributes"]] == [
        ("occurred_from", "datetime", False, 1), ("occurred_to", "datetime", False, 2)]
    missing = client.get(f"{V2}/services/nope.json")
    assert missing.status_code == 404 and "service_code 'nope' was not found" in error_of(missing)[0]["description"]


def test_an_anonymous_request_becomes_a_citizen_report(client, db):
    r = post(client, {**FORM, "description": "Klotter på busskuren", "address_string": "Fristadstorget",
                      "attribute[occurred_from]": "2026-01-20T22:00:00", "attribute[occurred_to]": "2026-01-21T06:30:00",
                      "email": "kalle@example.se", "first_name": "Kalle", "last_name": "Andersson",
                      "phone": "070-1234567", "device_id": "abc", "media_url": "http://example.se/x.jpg"})
    assert r.status_code == 200, r.text  # not 201: the Bloomington GeoReporter app takes only 200 as success
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    [answer] = r.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"} and answer["account_id"] is None
    assert answer["service_notice"].startswith("Tack! Rapporten är mottagen och granskas av kommunen.")
    report = db.get(Report, uuid.UUID(answer["service_request_id"]))
    assert report.status == "new" and report.source == "public" and report.reporter_id is None
    assert db.get(Organisation, report.organisation_id).kind == "medborgare"
    assert report.description == "Klotter på busskuren" and report.place_name == "Fristadstorget"
    point = to_shape(report.geom)
    assert (round(point.y, 6), round(point.x, 6)) == (SQUARE["lat"], SQUARE["lon"])
    assert report.occurred_from == dt.datetime(2026, 1, 20, 21, 0, tzinfo=dt.UTC)  # Swedish time, winter
    assert report.occurred_to == dt.datetime(2026, 1, 21, 5, 30, tzinfo=dt.UTC)
    stored = " ".join(str(v) for v in (report.description, report.place_name, report.moderation_note, report.source))
    assert "Kalle" not in stored and "example.se" not in stored and "070" not in stored


def test_with_an_api_key_the_request_is_a_citizen_report_through_that_integration(client, db):
    r = post(client, {**FORM, "service_code": "brand_container", "api_key": DEMO_API_KEY, "jurisdiction_id": "0484"})
    assert r.status_code == 200, r.text
    report = db.get(Report, uuid.UUID(r.json()[0]["service_request_id"]))
    # The integration's initial_status: the demo rescue service's reports arrive verified; a person's
    # report through the app (its source is not integration:, which is the call-outs' own).
    assert report.source == "open311:raddningstjanst" and report.status == "verified"
    assert r.json()[0]["service_notice"].startswith("Tack! Rapporten är mottagen och med i lägesbilden.")
    assert db.get(Organisation, report.organisation_id).kind == "raddningstjanst"
    wrong = post(client, {**FORM, "api_key": "not-a-key"})
    assert wrong.status_code == 403 and "API key is not valid" in error_of(wrong)[0]["description"]


@pytest.mark.parametrize("content_type, raw", [
    ("application/x-www-form-urlencoded", "Tagg på väggen vid Årbyskolan".encode()),  # curl -d, unescaped
    ("application/x-www-form-urlencoded; charset=UTF-8", b"Tagg p%C3%A5 v%C3%A4ggen vid %C3%85rbyskolan"),
    ("application/x-www-form-urlencoded; charset=ISO-8859-1", "Tagg på väggen vid Årbyskolan".encode("latin-1")),
    ("application/x-www-form-urlencoded", "Tagg på väggen vid Årbyskolan".encode("latin-1")),  # an old client
])
def test_swedish_letters_arrive_whole_however_the_form_is_encoded(client, db, content_type, raw):
    body = "&".join(f"{k}={v}" for k, v in FORM.items()).encode() + b"&description=" + raw
    r = client.post(f"{V2}/requests.json", content=body, headers={"Content-Type": content_type})
    assert r.status_code == 200, r.text
    assert db.get(Report, uuid.UUID(r.json()[0]["service_request_id"])).description == "Tagg på väggen vid Årbyskolan"


def test_percent_escapes_that_are_no_utf8_are_refused_not_stored_as_question_marks(client, db):
    body = "&".join(f"{k}={v}" for k, v in FORM.items()).encode() + b"&description=Tagg%ff%fe%80p"
    r = client.post(f"{V2}/requests.json", content=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "description" in r.text and "not valid UTF-8" in r.text


def test_a_form_body_in_pieces_is_read_whole_even_with_a_letter_split_between_them():
    """Bodies arrive in pieces; 'å' is two bytes, here one in each: still 'å', not two Latin-1 letters."""
    import asyncio
    import concurrent.futures

    from starlette.requests import Request

    from app.middleware import Utf8FormMiddleware

    pieces = [b"description=Tagg p\xc3", b"\xa5 v\xc3\xa4ggen"]
    seen = {}

    async def app(scope, receive, send):
        seen.update(await Request(scope, receive).form())

    async def receive():
        return {"type": "http.request", "body": pieces.pop(0), "more_body": bool(pieces)}

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"",
             "headers": [(b"content-type", b"application/x-www-form-urlencoded")]}
    # in a thread of its own: asyncio.run refuses to start where Playwright's browser tests left a loop running
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, Utf8FormMiddleware(app)(scope, receive, None)).result()
    assert seen == {"description": "Tagg på väggen"}


def test_a_phone_number_in_the_description_is_asked_about_first(client, db):
    before = report_count(db)
    r = post(client, {**FORM, "description": "Ring mig på 070-123 45 67"})
    assert r.status_code == 400 and "phone number" in error_of(r)[0]["description"]
    assert report_count(db) == before
    kept = post(client, {**FORM, "description": "Ring mig på 070-123 45 67", "confirm_personal_data": "true"})
    assert kept.status_code == 200


def test_a_phone_number_in_the_address_string_is_asked_about_too(client, db):
    before = report_count(db)
    r = post(client, {**FORM, "address_string": "Anna Svensson, tel 070-123 45 67"})
    assert r.status_code == 400 and "place seems to contain a phone number" in error_of(r)[0]["description"]
    assert report_count(db) == before


def test_anonymous_requests_share_the_public_rate_limit(client, db):
    client.post("/api/v1/public/reports", json={"category": "klotter", **SQUARE})
    codes = [post(client, FORM).status_code for _ in range(10)]
    assert codes == [200] * 9 + [429]
    limited = post(client, FORM)
    assert int(limited.headers["retry-after"]) >= 1 and error_of(limited)[0]["code"] == 429
    assert post(client, {**FORM, "api_key": DEMO_API_KEY}).status_code == 200  # keys are not rate-limited


@pytest.mark.parametrize("data, status, says", [
    ({"lat": FORM["lat"], "long": FORM["long"]}, 400, "service_code"),
    ({**FORM, "service_code": "pothole"}, 404, "service_code 'pothole' was not found"),
    ({"service_code": "klotter", "address_string": "Kungsgatan 1"}, 400, "does not geocode"),
    ({"service_code": "klotter", "lat": FORM["lat"]}, 400, "lat and long"),
    ({**FORM, "lat": "57.7089", "long": "11.9746"}, 400, "outside Eskilstuna"),
    ({**FORM, "lat": "north"}, 400, "lat"),
    ({**FORM, "attribute[colour]": "red"}, 400, "attribute[colour]"),
    ({**FORM, "attribute[occurred_from]": "yesterday"}, 400, "attribute[occurred_from]"),
    ({**FORM, "attribute[occurred_from]": "2026-01-21T06:00:00", "attribute[occurred_to]": "2026-01-20T06:00:00"},
     400, "before occurred_from"),
    ({**FORM, "description": "x" * 4001}, 400, "description: Text should have at most 4000 characters"),
    ({**FORM, "jurisdiction_id": "9999"}, 404, "jurisdiction_id '9999' was not found"),
    ({**FORM, "api_key": DEMO_API_KEY, "jurisdiction_id": "9999"}, 400, "belongs to jurisdiction_id 0484"),
])
def test_bad_requests_get_the_specs_error_format_and_store_nothing(client, db, data, status, says):
    before = report_count(db)
    r = post(client, data)
    assert r.status_code == status, r.text
    assert any(says in e["description"] for e in error_of(r)), r.text
    assert report_count(db) == before


def test_with_several_municipalities_the_jurisdiction_must_be_named(client, db):
    first = db.scalar(select(Municipality))
    db.add(Municipality(name="Grannby", code="0999", boundary=first.boundary, cycle_days=14,
                        cycle_anchor=first.cycle_anchor))
    db.flush()
    assert client.get(f"{V2}/services.json", params={"jurisdiction_id": "0999"}).json() == []  # no categories yet
    assert len(client.get(f"{V2}/services.json", params={"jurisdiction_id": "0484"}).json()) == 15
    r = client.get(f"{V2}/services.json")
    assert r.status_code == 400 and "jurisdiction_id is required" in error_of(r)[0]["description"]


def test_several_bad_fields_are_several_errors(client):
    r = post(client, {"service_code": "klotter", "lat": "north", "long": "east"})
    assert r.status_code == 400 and len(error_of(r)) == 2


def test_a_json_body_is_refused_in_the_specs_format(client, db):
    r = client.post(f"{V2}/requests.json", json=FORM)
    assert r.status_code == 400 and "x-www-form-urlencoded" in error_of(r)[0]["description"]


def test_unknown_open311_paths_answer_in_the_specs_format(client):
    r = client.get(f"{V2}/nothing-here.json")
    assert r.status_code == 404 and error_of(r)


@pytest.mark.parametrize("method, path", [("GET", "discovery.xml"), ("GET", "services.xml"),
                                          ("GET", "services/klotter.xml"), ("GET", "requests.xml"),
                                          ("POST", "requests.xml"), ("GET", f"requests/{uuid.uuid4()}.xml")])
def test_the_xml_format_is_answered_that_this_server_speaks_json(client, method, path):
    r = client.request(method, f"{V2}/{path}", data=FORM if method == "POST" else None)
    assert r.status_code == 404
    [error] = error_of(r)
    assert error["description"].startswith("this server speaks JSON only; use .json")
    assert path.replace(".xml", ".json") in error["description"]


def test_anyone_follows_a_request_by_id_without_its_private_details(client, db):
    rid = post(client, {**FORM, "description": "Kalle Andersson klottrade", "address_string": "Storgatan 3"}
               ).json()[0]["service_request_id"]
    [one] = client.get(f"{V2}/requests/{rid}.json").json()
    assert one["service_request_id"] == rid and one["status"] == "open" and one["service_code"] == "klotter"
    assert one["service_name"] == "Klotter" and one["agency_responsible"] == "Eskilstuna"
    assert one["description"] is None and one["address"] is None and one["media_url"] is None
    centre = h3.cell_to_latlng(h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 8))
    assert (one["lat"], one["long"]) == (round(centre[0], 6), round(centre[1], 6))
    assert (one["lat"], one["long"]) != (SQUARE["lat"], SQUARE["lon"])
    assert one["requested_datetime"].endswith(("+01:00", "+02:00")) and len(one["requested_datetime"]) == 25
    assert one["updated_datetime"] >= one["requested_datetime"]
    assert "Kalle" not in client.get(f"{V2}/requests/{rid}.json").text
    listed = client.get(f"{V2}/requests.json", params={"service_request_id": f"{rid},not-an-id"}).json()
    assert listed == [one]
    missing = client.get(f"{V2}/requests/{uuid.uuid4()}.json")
    assert missing.status_code == 404 and error_of(missing)


def test_listing_needs_an_api_key_and_shows_the_integrations_own_requests(client, db):
    r = client.get(f"{V2}/requests.json")
    assert r.status_code == 403 and "api_key" in error_of(r)[0]["description"]
    mine = post(client, {**FORM, "api_key": DEMO_API_KEY, "description": "Brand i container",
                         "address_string": "Resecentrum"}).json()[0]["service_request_id"]
    theirs = post(client, {**FORM, "description": "Medborgarens text"}).json()[0]["service_request_id"]
    listed = client.get(f"{V2}/requests.json", params={"api_key": DEMO_API_KEY}).json()
    assert [x["service_request_id"] for x in listed] == [mine]
    assert listed[0]["description"] == "Brand i container" and listed[0]["address"] == "Resecentrum"
    assert (listed[0]["lat"], listed[0]["long"]) == (SQUARE["lat"], SQUARE["lon"])
    [other] = client.get(f"{V2}/requests/{theirs}.json", params={"api_key": DEMO_API_KEY}).json()
    assert other["description"] is None  # not the key's own: no private details


def test_status_maps_open_and_closed_and_dates_filter(client, auth, db):
    # An app whose requests the coordinator checks first (the demo rescue service's arrive verified).
    db.execute(update(Integration).where(Integration.name == "raddningstjanst").values(initial_status="new"))
    key = {"api_key": DEMO_API_KEY}
    ids = [post(client, {**FORM, **key}).json()[0]["service_request_id"] for _ in range(3)]
    client.patch(f"/api/v1/reports/{ids[0]}", headers=auth("coordinator"), json={"status": "verified"})
    client.patch(f"/api/v1/reports/{ids[1]}", headers=auth("coordinator"), json={"status": "rejected"})
    old = add_reports(db, **SQUARE, at=dt.datetime.now(dt.UTC) - dt.timedelta(days=120))[0]
    old.source = "integration:raddningstjanst"
    db.flush()

    def listed(**params) -> dict[str, str]:
        r = client.get(f"{V2}/requests.json", params={**key, **params})
        assert r.status_code == 200, r.text
        return {x["service_request_id"]: x["status"] for x in r.json()}

    assert listed() == {ids[0]: "open", ids[1]: "closed", ids[2]: "open"}  # the last 90 days by default
    assert set(listed(status="open")) == {ids[0], ids[2]} and set(listed(status="closed")) == {ids[1]}
    assert set(listed(status="open,closed")) == set(ids)
    assert set(listed(status=["open", "closed"])) == set(ids)  # repeated, as apps build query strings too
    assert set(listed(service_code=["brand_container", "klotter"])) == set(ids)
    assert set(listed(service_code="brand_container")) == set() and set(listed(service_code="klotter")) == set(ids)
    now = dt.datetime.now(dt.UTC)
    long_ago = (now - dt.timedelta(days=130)).isoformat()
    assert set(listed(start_date=long_ago, end_date=(now - dt.timedelta(days=100)).isoformat())) == {str(old.id)}
    notes = {x["service_request_id"]: x["status_notes"] for x in client.get(
        f"{V2}/requests.json", params={**key, "service_request_id": [ids[0], ",".join(ids[1:])]}).json()}
    assert "Granskad" in notes[ids[0]] and "Inte godkänd" in notes[ids[1]] and "Mottagen" in notes[ids[2]]
    too_long = client.get(f"{V2}/requests.json", params={**key, "start_date": long_ago, "end_date": now.isoformat()})
    assert too_long.status_code == 400 and "90 days" in error_of(too_long)[0]["description"]
    bad_status = client.get(f"{V2}/requests.json", params={**key, "status": "pending"})
    assert bad_status.status_code == 400 and "open or closed" in error_of(bad_status)[0]["description"]
    bad_date = client.get(f"{V2}/requests.json", params={**key, "start_date": "last week"})
    assert bad_date.status_code == 400 and "start_date" in error_of(bad_date)[0]["description"]


def test_other_routes_keep_problem_json(client):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
