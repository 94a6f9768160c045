"""A citizen-reporting app with its own api_key (each app is an integration of the municipality):
its reports are citizens' reports — linked with the rescue service's call-outs like any person's —
it sends photos as the standard apps do, and nobody reads other people's reports through Open311."""
from __future__ import annotations

import datetime as dt
import io
import logging
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from app.auth.keys import key_digest
from app.config import get_settings
from app.integrations.models import ApiKey, Integration
from app.municipalities.models import Organisation
from app.reports.models import Attachment, Report
from tests.feeds import event, metres_east, post_events, results_by_id
from tests.helpers import SQUARE, report_count
from tests.test_attachments import GPS_IFD, _jpeg_with_gps
from tests.test_incidents import FIRE_AT, guard_report, props
from tests.test_open311 import FORM, V2, error_of, post

APP_KEY = "trygg-app-key"
FIRE = {**FORM, "service_code": "brand_container", "description": "Det brinner i containern",
        "attribute[occurred_from]": FIRE_AT.isoformat()}


@pytest.fixture
def app_key(db) -> str:
    """The municipality's citizen app 'tryggapp' (under its medborgare organisation), and its key."""
    citizens = db.scalar(select(Organisation).where(Organisation.kind == "medborgare"))
    app = Integration(municipality_id=citizens.municipality_id, organisation_id=citizens.id, name="tryggapp")
    db.add(app)
    db.flush()
    db.add(ApiKey(integration_id=app.id, key_sha256=key_digest(APP_KEY), prefix=APP_KEY[:8], label="test"))
    db.flush()
    return APP_KEY


def app_report(client, data: dict | None = None, **kw) -> str:
    r = post(client, {**FIRE, "api_key": APP_KEY, **(data or {})}, **kw)
    assert r.status_code == 200, r.text
    return r.json()[0]["service_request_id"]


def test_an_apps_report_joins_the_call_out_already_there(client, auth, db, app_key):
    fire = results_by_id(post_events(client, [event("RTJ-O1", at=FIRE_AT)]))["RTJ-O1"]
    rid = app_report(client, {"long": str(metres_east(SQUARE["lon"], SQUARE["lat"], 60))})
    assert props(client, auth, rid)["incident_of"] == fire["id"]  # the fire counts once
    assert props(client, auth, fire["id"])["linked_reports"] == [rid]
    assert db.get(Report, uuid.UUID(rid)).source == "open311:tryggapp"


def test_a_call_out_after_an_apps_report_takes_it_in(client, auth, app_key):
    rid = app_report(client)
    fire = results_by_id(post_events(client, [event("RTJ-O2", at=FIRE_AT + dt.timedelta(minutes=20))]))["RTJ-O2"]
    assert fire["linked_reports"] == [rid]
    assert props(client, auth, rid)["incident_of"] == fire["id"]


def test_an_apps_report_and_a_guards_are_never_an_incident_of_each_other(client, auth, app_key):
    guard = guard_report(client, auth)
    first = app_report(client)
    assert props(client, auth, first)["linked_reports"] == [] and props(client, auth, guard["id"])["incident_of"] is None
    second = app_report(client, {"description": "Containern brinner igen"})
    late_guard = guard_report(client, auth, at=FIRE_AT + dt.timedelta(minutes=5))
    assert late_guard["properties"]["incident_of"] is None
    assert props(client, auth, first)["incident_of"] is None and props(client, auth, second)["incident_of"] is None


def test_the_key_may_come_as_x_api_key_and_a_bad_one_is_refused(client, db, app_key):
    r = post(client, FIRE, headers={"X-API-Key": APP_KEY})
    assert r.status_code == 200, r.text
    assert db.get(Report, uuid.UUID(r.json()[0]["service_request_id"])).source == "open311:tryggapp"
    before = report_count(db)
    for bogus in ("not-a-key", "   x  "):
        wrong = post(client, FIRE, headers={"X-API-Key": bogus})
        assert wrong.status_code == 403 and "API key is not valid" in error_of(wrong)[0]["description"]
    assert report_count(db) == before
    # A key pasted with its line break still works, in the form and as a header.
    assert app_report(client, {"api_key": f" {APP_KEY}\n"})
    [mine] = client.get(f"{V2}/requests/{r.json()[0]['service_request_id']}.json",
                        headers={"X-API-Key": f"{APP_KEY} "}).json()
    assert mine["description"] == "Det brinner i containern"  # the app's own request, in full


def test_anonymous_reads_reach_citizens_reports_only(client, auth, db, app_key):
    guard = guard_report(client, auth)
    fire = results_by_id(post_events(client, [event("RTJ-O3", at=FIRE_AT)]))["RTJ-O3"]
    citizen = post(client, FORM).json()[0]["service_request_id"]
    through_app = app_report(client)
    for hidden in (guard["id"], fire["id"]):
        for key in ({}, {"api_key": APP_KEY}):
            r = client.get(f"{V2}/requests/{hidden}.json", params=key)
            assert r.status_code == 404 and f"No service request {hidden}" in error_of(r)[0]["description"]
    ids = ",".join([guard["id"], fire["id"], citizen, through_app])
    listed = client.get(f"{V2}/requests.json", params={"service_request_id": ids}).json()
    assert sorted(x["service_request_id"] for x in listed) == sorted([citizen, through_app])
    assert all(x["description"] is None and x["address"] is None for x in listed)
    # The app sees its own in full, anyone else's citizen report without its details.
    full = {x["service_request_id"]: x["description"] for x in client.get(
        f"{V2}/requests.json", params={"service_request_id": ids, "api_key": APP_KEY}).json()}
    assert full == {citizen: None, through_app: "Det brinner i containern"}
    own = client.get(f"{V2}/requests.json", params={"api_key": APP_KEY}).json()
    assert [x["service_request_id"] for x in own] == [through_app]


def _photo_stored(db, rid: str) -> bytes | None:
    attachment = db.scalar(select(Attachment).where(Attachment.report_id == uuid.UUID(rid)))
    return None if attachment is None else (Path(get_settings().attachment_dir) / attachment.path).read_bytes()


@pytest.mark.parametrize("key", [None, APP_KEY])
def test_a_photo_as_the_media_part_is_kept_without_exif(client, db, app_key, key):
    data = {**FORM, "description": "Klotter på skolan", **({"api_key": key} if key else {})}
    r = client.post(f"{V2}/requests.json", data=data, files={"media": ("IMG_0001.jpg", _jpeg_with_gps(), "image/jpeg")})
    assert r.status_code == 200, r.text
    [answer] = r.json()
    assert "Bilden" not in answer["service_notice"]
    stored = _photo_stored(db, answer["service_request_id"])
    image = Image.open(io.BytesIO(stored))
    assert image.size == (480, 640) and not image.getexif().get_ifd(GPS_IFD) and b"PhoneMaker" not in stored


@pytest.mark.parametrize("media", [("virus.jpg", b"MZ\x90\x00 not really a jpeg", "image/jpeg"),
                                   ("empty.jpg", b"", "image/jpeg")])
def test_a_photo_that_cannot_be_kept_costs_the_photo_not_the_report(client, db, media):
    before = report_count(db)
    r = client.post(f"{V2}/requests.json", data={**FORM, "description": "Klotter"}, files={"media": media})
    assert r.status_code == 200, r.text
    [answer] = r.json()
    assert answer["service_notice"].startswith("Tack! Rapporten är mottagen")
    assert "Bilden sparades inte" in answer["service_notice"]
    assert report_count(db) == before + 1 and _photo_stored(db, answer["service_request_id"]) is None
    assert db.get(Report, uuid.UUID(answer["service_request_id"])).description == "Klotter"


def test_a_photo_no_decoder_had_time_for_costs_the_photo_not_the_report(client, db, monkeypatch):
    from contextlib import ExitStack

    from app.reports.images import Decoders

    settings = get_settings()
    monkeypatch.setattr(settings, "attachment_decode_wait_seconds", 0.2)
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(photo, format="JPEG")
    with ExitStack() as held:  # every decoder busy with other uploads
        for _ in range(settings.attachment_decoders):
            held.enter_context(Decoders(size=settings.attachment_decoders, wait_seconds=1).turn())
        r = client.post(f"{V2}/requests.json", data={**FORM, "description": "Klotter"},
                        files={"media": ("IMG_0003.jpg", photo.getvalue(), "image/jpeg")})
    assert r.status_code == 200, r.text
    [answer] = r.json()
    assert "Bilden sparades inte" in answer["service_notice"]
    assert db.get(Report, uuid.UUID(answer["service_request_id"])).description == "Klotter"


def test_the_photo_is_decoded_before_the_report_is_filed_and_linked(client, db, monkeypatch):
    """Filing may link the report with a call-out and lock that until the request ends: a decode
    after it would hold up the feed's next batch for that call-out."""
    from app.integrations import open311

    before = report_count(db)
    seen: list[int] = []
    real = open311.clean_photo

    def spy(raw, *, settings):
        seen.append(report_count(db))
        return real(raw, settings=settings)

    monkeypatch.setattr(open311, "clean_photo", spy)
    photo = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(photo, format="JPEG")
    r = client.post(f"{V2}/requests.json", data=FORM, files={"media": ("IMG_0004.jpg", photo.getvalue(), "image/jpeg")})
    assert r.status_code == 200, r.text
    assert seen == [before] and report_count(db) == before + 1
    assert _photo_stored(db, r.json()[0]["service_request_id"]) is not None


def test_the_apps_personal_fields_are_accepted_and_neither_stored_nor_logged(client, db, caplog):
    personal = {"email": "kalle@example.se", "first_name": "Kalle", "last_name": "Anderzzon", "phone": "070-1234567",
                "deviceid": "DEV-4711", "device_id": "DEV-4711", "account_id": "ACC-4711", "address_id": "A-1",
                "media_url": "http://example.se/x.jpg"}
    with caplog.at_level(logging.DEBUG):
        r = client.post(f"{V2}/requests.json", data={**FORM, **personal},
                        files={"media": ("x.jpg", _jpeg_with_gps(), "image/jpeg")})
    assert r.status_code == 200, r.text
    report = db.get(Report, uuid.UUID(r.json()[0]["service_request_id"]))
    stored = " ".join(str(getattr(report, c.key)) for c in Report.__table__.columns)
    logged = caplog.text + " ".join(str(record.args) for record in caplog.records)
    for value in ("kalle", "Kalle", "Anderzzon", "070", "DEV-4711", "ACC-4711"):
        assert value not in stored and value not in logged, value


def test_an_open311_description_may_be_as_long_as_the_spec_allows(client, auth, db):
    long_text = "Klotter " * 499 + "slut"  # 3,996 characters
    named = f"Kalle Andersson såg det. {long_text}"[:4000]
    rid = post(client, {**FORM, "description": named}).json()[0]["service_request_id"]
    assert db.get(Report, uuid.UUID(rid)).description == named
    # The coordinator can take the name out of a description this long.
    r = client.patch(f"/api/v1/reports/{rid}", headers=auth("coordinator"), json={"description": named[16:]})
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["description"] == named[16:].strip()
    too_long = post(client, {**FORM, "description": "x" * 4001})
    assert too_long.status_code == 400
    assert "description: Text should have at most 4000 characters" in error_of(too_long)[0]["description"]
    ours = client.post("/api/v1/public/reports", json={"category": "klotter", **SQUARE, "description": long_text})
    assert ours.status_code == 422  # our own forms keep 2,000


def test_a_phones_photo_of_a_few_hundred_kilobytes_is_kept(client, db):
    rng = np.random.default_rng(7)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (600, 600, 3), dtype=np.uint8)).save(out, format="JPEG", quality=95)
    assert len(out.getvalue()) > 200_000
    r = client.post(f"{V2}/requests.json", data=FORM, files={"media": ("IMG_0002.jpg", out.getvalue(), "image/jpeg")})
    assert r.status_code == 200, r.text
    assert _photo_stored(db, r.json()[0]["service_request_id"]) is not None
