"""The rescue service's system pushes its call-outs: batches upsert idempotently by external_id,
every item gets its own result, and a bad item never spoils the rest."""
import datetime as dt
import gzip
import logging
import uuid

import orjson
import pytest
from geoalchemy2.shape import to_shape
from psycopg.errors import LockNotAvailable
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from app.geo import sweref_to_wgs84, wgs84_to_sweref
from app.integrations.models import ApiKey, EventTypeMapping, Integration
from app.integrations.service import key_digest, normalise_event_type
from app.municipalities.models import Municipality, Organisation
from app.reports.models import Category, Report, ReportEvent
from tests.feeds import KEY, URL, event, post_events, results_by_id
from tests.helpers import SQUARE, report_count

PROBLEM = "application/problem+json"


def feed_reports(db) -> int:
    return db.scalar(select(func.count()).select_from(Report).where(Report.source == "integration:raddningstjanst"))


def test_a_batch_files_reports_the_est_group_sees(client, auth, db):
    r = post_events(client, [event("RTJ-1", description="Container vid skolan"),
                             event("RTJ-2", event_type="Brand i fordon", at="2026-11-20T23:05:00")])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"] == {"created": 2, "updated": 0, "unchanged": 0, "rejected": 0, "total": 2, "linked": 0}
    first, second = body["results"]
    assert (first["index"], first["external_id"], first["status"]) == (0, "RTJ-1", "created")
    feature = client.get(f"/api/v1/reports/{first['id']}", headers=auth("est")).json()
    props = feature["properties"]
    assert props["category"] == "brand_container" and props["event_type"] == "Brand i container"
    assert props["source"] == "integration:raddningstjanst" and props["organisation_kind"] == "raddningstjanst"
    assert props["status"] == "verified"  # the demo rescue service's call-outs arrive verified
    assert props["description"] == "Container vid skolan"
    assert props["occurred_from"] == props["occurred_to"] == "2026-11-20T22:15:00+01:00"
    assert feature["geometry"]["coordinates"] == [SQUARE["lon"], SQUARE["lat"]]
    other = client.get(f"/api/v1/reports/{second['id']}", headers=auth("est")).json()["properties"]
    assert other["category"] == "brand_fordon"
    assert other["occurred_from"] == "2026-11-20T23:05:00+01:00"  # no offset: Swedish local time


def test_each_batch_is_logged_with_its_counts_and_nothing_of_its_content(client, caplog):
    caplog.set_level(logging.INFO, logger="lagesbild.feed")
    post_events(client, [event("RTJ-LOG-1", description="Brand hos Anna Svensson"),
                         event("RTJ-LOG-2", event_type="Okänd larmtyp")])
    [line] = [r.getMessage() for r in caplog.records if r.name == "lagesbild.feed"]
    assert line.startswith("integration:raddningstjanst (integration ")
    assert "2 events, 1 created, 0 updated, 0 unchanged, 1 rejected; 0 linked" in line
    assert not any(secret in line for secret in ("RTJ-LOG", "Anna", "Okänd", str(SQUARE["lon"])))


def test_replaying_a_batch_changes_nothing(client, db):
    batch = [event("RTJ-1"), event("RTJ-2", event_type="Gräsbrand")]
    first = results_by_id(post_events(client, batch))
    before = report_count(db)
    again = post_events(client, batch)
    assert again.json()["summary"]["unchanged"] == 2 and again.json()["summary"]["created"] == 0
    assert {k: (v["status"], v["id"]) for k, v in results_by_id(again).items()} == {
        k: ("unchanged", v["id"]) for k, v in first.items()}
    assert report_count(db) == before
    assert db.scalar(select(func.count()).select_from(ReportEvent).where(ReportEvent.action == "feed_update")) == 0


def test_the_results_come_gzipped_when_the_client_takes_gzip(client):
    batch = [event(f"GZ-{i}") for i in range(30)]  # 30 results: over 1 kB of JSON
    zipped = post_events(client, batch, headers={"Accept-Encoding": "gzip"})
    plain = post_events(client, batch, headers={"Accept-Encoding": "identity"})
    assert zipped.headers.get("content-encoding") == "gzip" and "content-encoding" not in plain.headers
    assert "Accept-Encoding" in zipped.headers["vary"] and "Accept-Encoding" in plain.headers["vary"]
    assert zipped.json()["summary"]["created"] == 30 and plain.json()["summary"]["unchanged"] == 30
    assert [r["id"] for r in zipped.json()["results"]] == [r["id"] for r in plain.json()["results"]]
    with client.stream("POST", URL, json={"type": "FeatureCollection", "features": batch},
                       headers={**KEY, "Accept-Encoding": "gzip"}) as raw:
        header = b"".join(raw.iter_raw())[:10]
    assert header[:2] == b"\x1f\x8b" and header[8] == 4  # XFL 4: the fastest level, ours (the middleware's: 0)


def test_an_external_id_of_the_wrong_kind_says_so(client):
    features = [event(value) for value in (4713.5, True, ["a"], {"a": 1})] + [event("", description="x")]
    features.append(event(4714))  # an integer is fine
    results = post_events(client, features).json()["results"]
    reasons = [r.get("reason", r["status"]) for r in results]
    assert "must be a string or an integer, not a number with a fraction" in reasons[0]
    assert "must be a string or an integer, not true or false" in reasons[1]
    assert "not a list" in reasons[2] and "not an object" in reasons[3]
    assert "external_id is missing" in reasons[4]
    assert reasons[5] == "created" and results[5]["external_id"] == "4714"
    assert results[1]["external_id"] is None  # not echoed as 'True'


@pytest.mark.parametrize("crs,accepted", [
    ({"type": "EPSG", "properties": {"code": 3006}}, True),  # the pre-2008 form some tools still write
    ({"type": "EPSG", "properties": {"code": "3006"}}, True),
    ({"type": "name", "properties": {"name": "EPSG:3006"}}, True),
    ({"type": "link", "properties": {"href": "http://example.org/crs"}}, False),
    (3006, False),
])
def test_the_collections_crs_member_is_read_or_refused_never_ignored(client, crs, accepted):
    e, n = wgs84_to_sweref(SQUARE["lon"], SQUARE["lat"])
    r = post_events(client, [event("CRS-MEMBER", lon=e, lat=n)], crs=crs)
    if accepted:
        assert r.status_code == 200 and r.json()["summary"]["created"] == 1, r.text
    else:
        assert r.status_code == 422 and "crs" in r.json()["detail"] and "not understood" in r.json()["detail"]


def test_a_gzipped_batch_is_read_as_sent(client, db):
    """A system may gzip its batch (Content-Encoding: gzip): ~10 times fewer bytes to send."""
    batch = orjson.dumps({"type": "FeatureCollection", "features": [event(f"GZIN-{i}") for i in range(200)]})
    zipped = gzip.compress(batch)
    assert len(zipped) * 10 < len(batch)
    r = client.post(URL, content=zipped, headers={**KEY, "Content-Type": "application/geo+json",
                                                   "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.json()["summary"]["created"] == 200
    again = client.post(URL, content=batch, headers={**KEY, "Content-Type": "application/geo+json"})
    assert again.json()["summary"]["unchanged"] == 200  # the same events, whichever way they came
    half = len(batch) // 2  # a gzip file of two members, as `cat a.gz b.gz` makes (RFC 1952)
    two = gzip.compress(batch[:half]) + gzip.compress(batch[half:])
    r = client.post(URL, content=two, headers={**KEY, "Content-Type": "application/geo+json", "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json()["summary"]["unchanged"] == 200, r.text


@pytest.mark.parametrize("body,encoding,status,needle", [
    (gzip.compress(b" " * (32 * 1024 * 1024 + 1)), "gzip", 413, "once unzipped"),  # 32 kB that inflate past the limit
    (gzip.compress(b"", mtime=0) * (8 * 1024 * 1024 // 20 + 1), "gzip", 413, "gzipped body is at most 8,388,608"),
    (gzip.compress(b'{"type": "FeatureCollection", "features": []}')[:-6], "gzip", 400, "cut short"),
    (b'{"type": "FeatureCollection", "features": []}', "gzip", 400, "not valid gzip"),
    (b'{"type": "FeatureCollection", "features": []}', "br", 415, "Content-Encoding 'br' is not supported"),
])
def test_a_body_whose_encoding_cannot_be_undone_is_refused(client, db, body, encoding, status, needle):
    before = report_count(db)
    r = client.post(URL, content=body, headers={**KEY, "Content-Type": "application/geo+json",
                                                 "Content-Encoding": encoding})
    assert r.status_code == status and r.headers["content-type"] == PROBLEM
    assert needle in r.json()["detail"]
    assert report_count(db) == before


def test_overlapping_batches_never_duplicate(client, db):
    before = feed_reports(db)
    post_events(client, [event("RTJ-1"), event("RTJ-2"), event("RTJ-3")])
    second = results_by_id(post_events(client, [event("RTJ-2"), event("RTJ-3"), event("RTJ-4")]))
    assert {k: v["status"] for k, v in second.items()} == {"RTJ-2": "unchanged", "RTJ-3": "unchanged",
                                                           "RTJ-4": "created"}
    assert feed_reports(db) == before + 4


def _locked_against_deletion(engine, table: str, row_id: int) -> bool:
    """Whether another transaction now fails to lock the row as a deletion would (FOR UPDATE),
    while it may still lock it for an edit that keeps its key (FOR NO KEY UPDATE)."""
    with engine.connect() as other:
        other.execute(text(f"SELECT 1 FROM {table} WHERE id = :i FOR NO KEY UPDATE NOWAIT"), {"i": row_id})
        other.rollback()
        try:
            other.execute(text(f"SELECT 1 FROM {table} WHERE id = :i FOR UPDATE NOWAIT"), {"i": row_id})
        except OperationalError as exc:
            assert isinstance(exc.orig, LockNotAvailable), exc
            return True
        finally:
            other.rollback()
        return False


def _rescue_integration(db) -> Integration:
    return db.scalar(select(Integration).where(Integration.name == "raddningstjanst"))


def test_until_a_batch_commits_what_its_reports_refer_to_cannot_be_deleted(client, db, engine):
    integration = _rescue_integration(db)
    container, vehicle = (db.scalar(select(Category.id).where(Category.code == code))
                          for code in ("brand_container", "brand_fordon"))
    unused = db.scalar(select(Category.id).where(Category.code == "klotter"))
    results_by_id(post_events(client, [event("RTJ-L1"), event("RTJ-L2", event_type="Brand i fordon")]))
    # The test's transaction is the request's, still open: the batch's references are locked as
    # PostgreSQL's foreign-key checks lock them, whether checked per row or once for the batch.
    for table, row_id in [("municipality", integration.municipality_id), ("organisation", integration.organisation_id),
                          ("category", container), ("category", vehicle)]:
        assert _locked_against_deletion(engine, table, row_id), (table, row_id)
    assert not _locked_against_deletion(engine, "category", unused)
    assert db.scalar(text("SHOW session_replication_role")) == "origin"  # foreign keys checked again after the batch


def test_report_tables_have_no_triggers_or_rules_that_the_feed_would_switch_off(db):
    """The feed writes with session_replication_role = replica (foreign keys checked once per
    batch, app.integrations.feed.foreign_keys_checked_per_batch), which silences every ordinary
    trigger and rule on the tables it writes. If one is ever added (an audit log, NOTIFY), that
    function must switch it back on or give up the batch check: this test says so."""
    tables = ("report", "report_event")
    triggers = db.execute(text("SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
                               "WHERE NOT tgisinternal AND tgrelid::regclass::text = ANY(:t)"), {"t": list(tables)}).all()
    rules = db.execute(text("SELECT tablename, rulename FROM pg_rules WHERE tablename = ANY(:t)"), {"t": list(tables)}).all()
    assert triggers == [] and rules == [], "see app.integrations.feed.foreign_keys_checked_per_batch"


def test_without_the_right_to_batch_the_checks_the_feed_checks_each_row(client, db, caplog, monkeypatch):
    """A database role that may not set session_replication_role (not a superuser, no GRANT SET
    ON PARAMETER) gets the same results, checked by PostgreSQL's per-row triggers, and a log line
    saying how to make it faster."""
    from app.integrations import feed

    monkeypatch.setattr(feed, "_told_per_row", False)
    caplog.set_level(logging.INFO, logger="lagesbild.feed")
    batch = [event("RTJ-P1"), event("RTJ-P2", event_type="Brand i fordon")]
    db.execute(text("DROP TABLE IF EXISTS pg_temp.feed_event"))  # the pooled connection's, made by the owner
    db.execute(text("CREATE ROLE lagesbild_feed_plain NOLOGIN"))  # rolled back with the test
    db.execute(text("GRANT ALL ON ALL TABLES IN SCHEMA public TO lagesbild_feed_plain"))
    db.execute(text("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO lagesbild_feed_plain"))
    db.execute(text("SET LOCAL ROLE lagesbild_feed_plain"))
    assert db.scalar(text("SELECT has_parameter_privilege('session_replication_role', 'SET')")) is False
    plain = results_by_id(post_events(client, batch))
    assert {k: v["status"] for k, v in plain.items()} == {"RTJ-P1": "created", "RTJ-P2": "created"}
    assert any("checked row by row" in r.getMessage() and "GRANT SET ON PARAMETER" in r.getMessage()
               for r in caplog.records)
    db.execute(text("RESET ROLE"))
    caplog.clear()
    again = results_by_id(post_events(client, batch + [event("RTJ-P3")]))
    assert {k: (v["status"], v.get("id")) for k, v in again.items()} == {
        "RTJ-P1": ("unchanged", plain["RTJ-P1"]["id"]), "RTJ-P2": ("unchanged", plain["RTJ-P2"]["id"]),
        "RTJ-P3": ("created", again["RTJ-P3"]["id"])}
    assert not any("row by row" in r.getMessage() for r in caplog.records)


def test_a_changed_event_updates_its_report_and_keeps_the_history(client, auth, db):
    created = results_by_id(post_events(client, [event("RTJ-7", description="Brand i container")]))["RTJ-7"]
    moved_lon = SQUARE["lon"] + 0.001
    changed = post_events(client, [event("RTJ-7", event_type="Brand i byggnad", at="2026-11-20T22:40:00+01:00",
                                         lon=moved_lon, description="Spridning till förråd")])
    result = results_by_id(changed)["RTJ-7"]
    assert (result["status"], result["id"]) == ("updated", created["id"])
    props = client.get(f"/api/v1/reports/{created['id']}", headers=auth("est")).json()["properties"]
    assert props["category"] == "brand_byggnad" and props["description"] == "Spridning till förråd"
    assert props["occurred_from"] == "2026-11-20T22:40:00+01:00"
    history = client.get(f"/api/v1/reports/{created['id']}/history", headers=auth("coordinator"))
    assert history.status_code == 200, history.text
    (entry,) = history.json()
    assert entry["action"] == "feed_update" and entry["by"] is None
    changes = entry["changes"]
    assert changes["event_type"] == ["Brand i container", "Brand i byggnad"]
    assert changes["occurred_from"] == ["2026-11-20T22:15:00+01:00", "2026-11-20T22:40:00+01:00"]  # Swedish time
    assert changes["category"] == ["brand_container", "brand_byggnad"]
    assert changes["position"] == [[SQUARE["lon"], SQUARE["lat"]], [moved_lon, SQUARE["lat"]]]
    assert changes["description"] is True  # that it changed; free text is not copied into the log
    assert len(changes["category_id"]) == 2
    assert client.get(f"/api/v1/reports/{created['id']}/history", headers=auth("est")).status_code == 403


def test_a_description_the_coordinator_rewrote_is_never_brought_back_by_the_feed(client, auth):
    """Personal data taken out of a call-out's text stays out: sending the event again is unchanged,
    and a real change of the event applies everything else the source sends but not its text."""
    sent = event("RTJ-GDPR", description="Anna Svensson på Storgatan 5 sågs tända på containern")
    created = results_by_id(post_events(client, [sent]))["RTJ-GDPR"]
    rewritten = "En person sågs tända på containern"
    r = client.patch(f"/api/v1/reports/{created['id']}", json={"description": rewritten}, headers=auth("coordinator"))
    assert r.status_code == 200, r.text

    again = results_by_id(post_events(client, [sent]))["RTJ-GDPR"]
    assert again["status"] == "unchanged"
    later = event("RTJ-GDPR", at="2026-11-20T22:45:00+01:00", description="Anna Svensson igen, nu med bensin")
    changed = results_by_id(post_events(client, [later]))["RTJ-GDPR"]
    assert changed["status"] == "updated"

    props = client.get(f"/api/v1/reports/{created['id']}", headers=auth("est")).json()["properties"]
    assert props["description"] == rewritten
    assert props["occurred_from"] == "2026-11-20T22:45:00+01:00"
    history = client.get(f"/api/v1/reports/{created['id']}/history", headers=auth("coordinator")).json()
    assert [e["action"] for e in history] == ["moderate", "feed_update"]
    assert "description" not in history[1]["changes"] and "occurred_from" in history[1]["changes"]


def test_each_bad_item_is_rejected_with_its_reason_and_the_rest_applied(client, db):
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    batch = [
        event("OK-1"),
        event("BAD-TIME", at="igår kväll"),
        event("BAD-PLACE", lon=11.9746, lat=57.7089),  # Göteborg
        event("BAD-RANGE", lon=200.0, lat=59.37),
        event("BAD-SWAPPED", lon=SQUARE["lat"], lat=SQUARE["lon"]),
        event("BAD-SWEREF", lon=100.0, lat=200.0, crs="EPSG:3006"),
        event("BAD-TYPE", event_type="Trafikolycka"),
        event("TWICE"), event("TWICE"),
        event(None),
        event("BAD-FUTURE", at=future),
        event("BAD-ORDER", at=None, occurred_from="2026-11-20T22:00:00", occurred_to="2026-11-20T21:00:00"),
        event("BAD-CRS", crs="EPSG:9999"),
        {"type": "Feature", "geometry": None, "properties": {"external_id": "BAD-GEOM", "event_type": "Gräsbrand",
                                                            "occurred_at": "2026-11-20T22:15:00"}},
        "not a feature",
    ]
    before = report_count(db)
    r = post_events(client, batch)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 14, "total": 15, "linked": 0}
    assert report_count(db) == before + 1
    results = body["results"]
    assert [x["index"] for x in results] == list(range(15))
    reason = {x["external_id"] if x["external_id"] is not None else f"#{x['index']}": x.get("reason", "")
              for x in results}
    assert "not an ISO 8601 time" in reason["BAD-TIME"]
    assert "outside Eskilstuna's boundary" in reason["BAD-PLACE"]
    assert "out of range for WGS84" in reason["BAD-RANGE"]
    assert "looks like [lat, lon]" in reason["BAD-SWAPPED"]
    assert "outside SWEREF 99 TM's area" in reason["BAD-SWEREF"]
    assert "'Trafikolycka' is not mapped" in reason["BAD-TYPE"] and "/event-types" in reason["BAD-TYPE"]
    assert "appears 2 times in this batch" in reason["TWICE"]
    assert [x["status"] for x in results if x["external_id"] == "TWICE"] == ["rejected", "rejected"]
    assert "external_id is missing" in reason["#9"]
    assert "in the future" in reason["BAD-FUTURE"]
    assert "before occurred_from" in reason["BAD-ORDER"]
    assert "crs 'EPSG:9999' is not supported" in reason["BAD-CRS"]
    assert "geometry must be a GeoJSON Point" in reason["BAD-GEOM"]
    assert "not a GeoJSON Feature" in reason["#14"]
    assert all(x["status"] == "rejected" for x in results[1:])


def test_an_item_whose_crs_is_a_list_or_object_is_rejected_alone(client, db):
    before = report_count(db)
    body = results_by_id(post_events(client, [event("OK-1"), event("CRS-LIST", crs=["EPSG:3006"]),
                                              event("CRS-OBJECT", crs={"name": "EPSG:3006"}),
                                              event("CRS-HUGE", crs=["EPSG:3006"] * 100_000)]))
    assert body["OK-1"]["status"] == "created"
    assert "crs ['EPSG:3006'] is not supported" in body["CRS-LIST"]["reason"]
    assert "is not supported" in body["CRS-OBJECT"]["reason"]
    assert "crs ['EPSG:3006', 'EPSG:3006'," in body["CRS-HUGE"]["reason"]
    assert len(body["CRS-HUGE"]["reason"]) < 200  # its value is cut, not sent back a megabyte long
    assert report_count(db) == before + 1


def test_a_rejected_update_leaves_the_stored_event_as_it_was(client, auth):
    created = results_by_id(post_events(client, [event("RTJ-9")]))["RTJ-9"]
    bad = results_by_id(post_events(client, [event("RTJ-9", at="not a time", description="ändrad")]))["RTJ-9"]
    assert bad["status"] == "rejected"
    props = client.get(f"/api/v1/reports/{created['id']}", headers=auth("est")).json()["properties"]
    assert props["occurred_from"] == "2026-11-20T22:15:00+01:00" and props["description"] == ""


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "guess"}])
def test_a_missing_or_unknown_key_is_401(client, headers):
    r = client.post(URL, json={"type": "FeatureCollection", "features": [event("X")]}, headers=headers)
    assert r.status_code == 401 and r.headers["content-type"] == PROBLEM
    assert "API key" in r.json()["detail"]


def test_a_batch_over_ten_thousand_events_is_413(client, db):
    before = report_count(db)
    r = post_events(client, [{}] * 10_001)
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM
    assert "at most 10,000 events" in r.json()["detail"] and "10,001" in r.json()["detail"]
    assert report_count(db) == before


@pytest.mark.parametrize("body,ctype,status,needle", [
    (b"{not json", "application/json", 422, "Malformed JSON"),
    (b'{"type": "Feature"}', "application/geo+json", 422, "FeatureCollection"),
    (b"<events/>", "application/xml", 415, "text/csv"),
    ("external_id;event_type\nA;Gräsbrand\n".encode(), "text/csv", 422, "lacks x, y, occurred_at"),
    ("external_id;event_type\nå".encode("latin-1"), "text/csv", 422, "UTF-8"),
])
def test_a_body_that_cannot_be_read_is_refused_whole(client, body, ctype, status, needle):
    r = client.post(URL, content=body, headers={**KEY, "Content-Type": ctype})
    assert r.status_code == status and r.headers["content-type"] == PROBLEM
    assert needle in r.json()["detail"]


def test_csv_with_semicolons_decimal_commas_and_sweref(client, auth, db):
    x, y = wgs84_to_sweref(SQUARE["lon"], SQUARE["lat"])
    x_sv, y_sv = f"{x:.2f}".replace(".", ","), f"{y:.2f}".replace(".", ",")  # as Excel writes in Swedish
    csv = ("\ufeffexternal_id;event_type;occurred_from;occurred_to;x;y;crs;description\n"
           f"CSV-1;Brand i papperskorg;2026-11-20T21:00:00;2026-11-20T21:30:00;{x:.2f};{y:.2f};EPSG:3006;\"Brand; papperskorg\"\n"
           f"CSV-2;Gräsbrand;2026-11-20T12:00:00+01:00;;{x_sv};{y_sv};EPSG:3006;\n")
    r = client.post(URL, content=csv.encode(), headers={**KEY, "Content-Type": "text/csv; charset=utf-8"})
    results = results_by_id(r)
    assert results["CSV-1"]["status"] == "created" and results["CSV-2"]["status"] == "created", r.json()
    feature = client.get(f"/api/v1/reports/{results['CSV-1']['id']}", headers=auth("est")).json()
    lon, lat = feature["geometry"]["coordinates"]
    assert lon == pytest.approx(SQUARE["lon"], abs=1e-6) and lat == pytest.approx(SQUARE["lat"], abs=1e-6)
    props = feature["properties"]
    assert (props["occurred_from"], props["occurred_to"]) == ("2026-11-20T21:00:00+01:00", "2026-11-20T21:30:00+01:00")
    assert props["description"] == "Brand; papperskorg" and props["category"] == "brand_container"


def test_csv_with_commas_and_lon_lat(client):
    csv = ("external_id,event_type,occurred_at,lon,lat\n"
           f"C-1,Brand i bil,2026-11-20T22:15:00Z,{SQUARE['lon']},{SQUARE['lat']}\n"
           "C-2,Brand i bil,2026-11-20T22:15:00Z,sexton,59.37\n")
    results = results_by_id(client.post(URL, content=csv.encode(), headers={**KEY, "Content-Type": "text/csv"}))
    assert results["C-1"]["status"] == "created"
    assert results["C-2"]["status"] == "rejected" and "'sexton' is not a number" in results["C-2"]["reason"]


def test_one_over_long_csv_field_rejects_its_event_alone(client):
    """Over the csv module's own field limit (131,072 characters), as in GeoJSON: that event only."""
    csv = ("external_id,event_type,occurred_at,lon,lat,description\n"
           f"LONG-1,Brand i bil,2026-11-20T22:15:00Z,{SQUARE['lon']},{SQUARE['lat']},{'x' * 200_000}\n"
           f"LONG-2,Brand i bil,2026-11-20T22:15:00Z,{SQUARE['lon']},{SQUARE['lat']},kort\n")
    results = results_by_id(client.post(URL, content=csv.encode(), headers={**KEY, "Content-Type": "text/csv"}))
    assert results["LONG-1"]["status"] == "rejected" and "description must be at most" in results["LONG-1"]["reason"]
    assert results["LONG-2"]["status"] == "created"


@pytest.mark.parametrize("where", ["feature", "collection", "query"])
def test_positions_in_sweref99tm(client, db, where):
    x, y = 585_610.0, 6_581_999.0
    feature = event("SW-1", lon=x, lat=y, crs="EPSG:3006" if where == "feature" else None)
    extra = {"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3006"}}} if where == "collection" else {}
    r = client.post(URL + ("?crs=EPSG:3006" if where == "query" else ""),
                    json={"type": "FeatureCollection", "features": [feature], **extra}, headers=KEY)
    result = results_by_id(r)["SW-1"]
    assert result["status"] == "created", result
    point = to_shape(db.get(Report, uuid.UUID(result["id"])).geom)
    lon, lat = sweref_to_wgs84(x, y)
    assert point.x == pytest.approx(lon, abs=1e-9) and point.y == pytest.approx(lat, abs=1e-9)


def test_numeric_external_ids_and_the_feature_id(client):
    features = [event(4711), {**event(None), "id": "F-9"}]
    results = post_events(client, features).json()["results"]
    assert [(x["external_id"], x["status"]) for x in results] == [("4711", "created"), ("F-9", "created")]


def test_swedish_local_times_across_the_clock_changes_match_python():
    from app.timeutil import stockholm_wall_to_utc_us, to_utc

    epoch = dt.datetime(1970, 1, 1)
    walls = [dt.datetime(2026, 3, 29, 0, 0) + dt.timedelta(minutes=15 * k) for k in range(20)]  # spring forward
    walls += [dt.datetime(2026, 10, 25, 0, 0) + dt.timedelta(minutes=15 * k) for k in range(20)]  # fall back
    walls += [dt.datetime(2026, 1, 15, 12, 0), dt.datetime(2026, 7, 1, 23, 59, 59, 999_999)]
    wall_us = [(w - epoch) // dt.timedelta(microseconds=1) for w in walls]
    expected = [(to_utc(w) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1) for w in walls]
    assert stockholm_wall_to_utc_us(wall_us).tolist() == expected
    hour = 3600 * 10**6
    assert expected[10] == wall_us[10] - hour  # 02:30 on 29 March does not exist: read as winter time
    assert expected[30] == wall_us[30] - 2 * hour  # 02:30 on 25 October happens twice: the first is meant


def test_a_description_with_personal_data_is_rejected_unless_confirmed(client, auth):
    results = results_by_id(post_events(client, [
        event("PD-1", description="Anmälare 19121212-1212 på plats"),
        event("PD-2", description="Ring vakten 070-123 45 67", confirm_personal_data=True),
        event("PD-3", description="Larm 4711, en enhet")]))
    assert results["PD-1"]["status"] == "rejected" and "personnummer" in results["PD-1"]["reason"]
    assert "confirm_personal_data" in results["PD-1"]["reason"]
    assert results["PD-2"]["status"] == "created" and results["PD-3"]["status"] == "created"


def test_same_named_integrations_of_two_municipalities_keep_their_events_apart(client, db):
    """A regional rescue service is set up in each municipality it serves, under the same name:
    the same call-out number in both is two events, each filed in its own municipality."""
    first = db.scalar(select(Municipality).where(Municipality.code == "0484"))
    other = Municipality(name="Grannby", code="0999", boundary=first.boundary, cycle_days=14,
                         cycle_anchor=first.cycle_anchor)
    db.add(other)
    db.flush()
    org = Organisation(municipality_id=other.id, name="Räddningstjänsten Grannby", kind="raddningstjanst")
    fire = Category(municipality_id=other.id, code="brand", label_sv="Brand", label_en="Fire", group_code="brand",
                    colour="#d7301f", icon="🔥", sort_order=0)
    db.add_all([org, fire])
    db.flush()
    rescue = Integration(municipality_id=other.id, organisation_id=org.id, name="raddningstjanst")
    db.add(rescue)
    db.flush()
    db.add_all([ApiKey(integration_id=rescue.id, key_sha256=key_digest("grannby-key"), prefix="grannby", label="t"),
                EventTypeMapping(integration_id=rescue.id, type_key=normalise_event_type("Brand i container"),
                                 event_type="Brand i container", category_id=fire.id)])
    db.flush()
    here = results_by_id(post_events(client, [event("RT-1", description="Eskilstuna")]))["RT-1"]
    there = results_by_id(post_events(client, [event("RT-1", description="Grannby")],
                                      headers={"X-API-Key": "grannby-key"}))["RT-1"]
    assert here["status"] == there["status"] == "created" and here["id"] != there["id"]
    stored = dict(db.execute(select(Report.municipality_id, Report.description)
                             .where(Report.external_id == "RT-1")).all())
    assert stored == {first.id: "Eskilstuna", other.id: "Grannby"}
    again = results_by_id(post_events(client, [event("RT-1", description="Grannby")],
                                      headers={"X-API-Key": "grannby-key"}))["RT-1"]
    assert again["status"] == "unchanged" and again["id"] == there["id"]


def test_times_in_the_usual_shapes_are_read_at_once_exactly_as_one_by_one():
    """A batch whose times are all 2026-11-20T22:15:00, ...Z or ...+01:00 is read as arrays;
    the values must be exactly what reading each alone gives, and any other shape, or an
    invalid date, sends the whole batch down the one-by-one path (which words the reasons)."""
    import random

    from app.integrations.validation import _instant_us, _instants_at_once

    rng = random.Random(5)
    values = []
    for _ in range(5_000):
        t = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=rng.randrange(0, 130 * 365 * 86_400))
        values.append(t.isoformat() + rng.choice(["", "Z", "+01:00", "+02:00", "-05:30", "+00:00", "+13:45"]))
    values += ["2024-02-29T23:59:59", "2026-03-29T02:30:00", "2026-10-25T02:30:00"]  # leap day, clock changes
    at_once, local = _instants_at_once(tuple(values))
    one_by_one = [_instant_us(v) for v in values]
    assert at_once.tolist() == [us for us, _ in one_by_one]
    assert local.tolist() == [is_local for _, is_local in one_by_one]
    for odd in ["2026-02-29T10:00:00", "2026-11-20T24:00:00", "2101-01-01T00:00:00", "1969-12-31T23:59:59",
                "2026-11-20T22:15:00+24:00", "2026-11-20 22:15:00", "2026-11-20T22:15:00.5", "2026-11-20T22:15",
                "2026-11-20T22:15:00\x00", "2026-11-20T22:15:0x", 1_795_212_900]:
        assert _instants_at_once(("2026-11-20T22:15:00", odd)) is None, odd


def test_a_batch_of_usual_times_has_the_same_results_as_a_mixed_one(client, db):
    """The same events, once with times all in one shape (read at once) and once mixed with a
    window (read one by one), are stored at the same instants; a Swedish time without an
    offset is Swedish time on both paths, summer and winter."""
    times = ["2026-07-01T12:00:00", "2026-11-20T22:15:00", "2026-11-20T21:15:00Z", "2026-11-20T22:15:00+01:00"]
    run = uuid.uuid4().hex[:6]
    first = results_by_id(post_events(client, [event(f"{run}-A{i}", at=t) for i, t in enumerate(times)]))
    mixed = [event(f"{run}-B{i}", at=t) for i, t in enumerate(times)]
    mixed.append(event(f"{run}-B-window", at=None, occurred_from="2026-11-20T21:00:00", occurred_to="2026-11-20T21:30:00"))
    second = results_by_id(post_events(client, mixed))
    stored = {r.external_id: r.occurred_from for r in db.scalars(select(Report).where(Report.external_id.like(f"{run}-%")))}
    expected = [dt.datetime(2026, 7, 1, 10, tzinfo=dt.UTC)] + [dt.datetime(2026, 11, 20, 21, 15, tzinfo=dt.UTC)] * 3
    assert [stored[f"{run}-A{i}"] for i in range(4)] == expected
    assert [stored[f"{run}-B{i}"] for i in range(4)] == expected
    assert all(r["status"] == "created" for r in [*first.values(), *second.values()])


def test_a_lone_surrogate_in_one_event_rejects_that_event_not_the_batch(client, db):
    """JSON may escape half of a surrogate pair ("\\ud800"): valid JSON, not storable text. The
    events that carry one are rejected with the reason; the others are applied."""
    import json

    from tests.feeds import KEY, URL

    features = [event("SUR-ok"), event("SUR-desc", description="Brand \ud800 i container"),
                event("SUR-\udc00-id"), event("SUR-type", event_type="Brand i \ud83d")]
    body = json.dumps({"type": "FeatureCollection", "features": features})  # ensure_ascii: the escapes as sent
    r = client.post(URL, content=body, headers={**KEY, "Content-Type": "application/geo+json"})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["created", "rejected", "rejected", "rejected"]
    assert "lone surrogate" in results[1]["reason"] and "printable" in results[2]["reason"]
    assert "not mapped" in results[3]["reason"]
    assert results[2]["external_id"] == "SUR-\\udc00-id"  # shown escaped: the answer is UTF-8
    broken = client.post(URL, content=body[:-3], headers={**KEY, "Content-Type": "application/geo+json"})
    assert broken.status_code == 422 and "Malformed JSON" in broken.json()["detail"]
