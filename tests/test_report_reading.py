"""Reading reports: reporters see their own, the EST group sees the municipality; GeoJSON
with numberMatched and next links; the filters a meeting uses."""
import uuid

import pytest

from tests.helpers import SQUARE

STATION = {"lat": 59.3680, "lon": 16.5063}


@pytest.fixture
def sample(client, auth):
    """Five reports: three by the guard (reporter), two by the police (est)."""
    made = []
    for who, cat, pos, when in [
        ("reporter", "klotter", SQUARE, "2026-11-02T12:00:00+01:00"),
        ("reporter", "skadegorelse", SQUARE, "2026-11-09T23:00:00+01:00"),
        ("reporter", "klotter", STATION, "2026-11-16T08:00:00+01:00"),
        ("est", "narkotika", STATION, "2026-11-10T20:00:00+01:00"),
        ("est", "klotter", SQUARE, "2026-11-17T21:00:00+01:00"),
    ]:
        r = client.post("/api/v1/reports", headers=auth(who),
                        json={"category": cat, **pos, "occurred_from": when})
        assert r.status_code == 201
        made.append(r.json()["id"])
    return made


def _ids(collection):
    return {f["id"] for f in collection["features"]}


def test_reporter_sees_only_own_reports(client, auth, sample):
    mine = client.get("/api/v1/reports", headers=auth("reporter")).json()
    assert _ids(mine) == set(sample[:3])
    assert all(f["properties"]["mine"] for f in mine["features"])
    other = client.get(f"/api/v1/reports/{sample[3]}", headers=auth("reporter"))
    assert other.status_code == 404  # not "forbidden": existence is not revealed


def test_est_member_sees_all_as_geojson(client, auth, sample):
    r = client.get("/api/v1/reports", headers=auth("est"))
    assert r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert set(sample) <= _ids(body)
    assert body["numberMatched"] >= 5 and body["numberReturned"] == len(body["features"])
    lon, lat = body["features"][0]["geometry"]["coordinates"]
    assert 16 < lon < 17 and 59 < lat < 60  # RFC 7946 order: [lon, lat]


def test_pages_follow_next_links_without_gaps(client, auth, sample):
    seen, url, pages = [], "/api/v1/reports?limit=2", 0
    while url:
        body = client.get(url, headers=auth("est")).json()
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
        pages += 1
    assert len(seen) == len(set(seen)) == body["numberMatched"]
    assert set(sample) <= set(seen) and pages >= 3


def test_limit_is_capped(client, auth, sample):
    body = client.get("/api/v1/reports?limit=100000", headers=auth("est")).json()
    assert body["numberReturned"] <= 1000


def test_filters(client, auth, sample):
    def ids(query):
        return _ids(client.get(f"/api/v1/reports?{query}", headers=auth("est")).json())

    assert ids("category=narkotika") == {sample[3]}
    typo = client.get("/api/v1/reports?category=klotter,narkotka", headers=auth("est"))
    assert typo.status_code == 422 and "Unknown category 'narkotka'; known: " in typo.json()["detail"]
    for query in ("statuss=verified", "categroy=klotter", "bboxx=16.5,59.3,16.6,59.4"):  # not silently everything
        unknown = client.get(f"/api/v1/reports?{query}", headers=auth("est"))
        assert unknown.status_code == 422 and "Unknown query parameter(s) " + query.split("=")[0] in unknown.json()[
            "detail"]
    assert ids("category=klotter,narkotika") == {sample[0], sample[2], sample[3], sample[4]}
    # each filter repeated, or comma-separated, or both (README): every value counts, not the last
    assert ids("category=klotter&category=narkotika") == ids("category=klotter,narkotika")
    assert ids("category=skadegorelse&category=klotter,narkotika") == set(sample)
    assert ids("group=brott&group=skadegorelse") == set(sample)
    assert ids("organisation_kind=polis&organisation_kind=kommun") == ids("organisation_kind=polis,kommun")
    assert ids("status=verified&status=new") == ids("status=new,verified") >= set(sample)
    bad_repeat = client.get("/api/v1/reports?status=new&status=maybe", headers=auth("est"))
    assert bad_repeat.status_code == 422 and "status: unknown value(s) maybe" in bad_repeat.json()["detail"]
    # a category group, as the hotspot layer filters: klotter and skadegörelse are "skadegorelse"
    assert ids("group=skadegorelse") == {sample[0], sample[1], sample[2], sample[4]}
    assert ids("group=brott,skadegorelse") == set(sample)
    bad_group = client.get("/api/v1/reports?group=stold", headers=auth("est"))
    assert bad_group.status_code == 422 and "Unknown group 'stold'" in bad_group.json()["detail"]
    # The station, not the square (bbox = minLon,minLat,maxLon,maxLat).
    assert ids("bbox=16.505,59.367,16.507,59.369") == {sample[2], sample[3]}
    # Occurrence overlaps [start, end): the week of 9-15 November.
    assert ids("start=2026-11-09T00:00:00&end=2026-11-16T00:00:00") == {sample[1], sample[3]}
    assert ids("organisation_kind=polis") == {sample[3], sample[4]}
    assert ids("status=new") >= set(sample)
    assert ids("status=verified") & set(sample) == set()


def test_window_overlapping_the_range_is_included(client, auth):
    r = client.post("/api/v1/reports", headers=auth("reporter"),
                    json={"category": "klotter", **SQUARE, "occurred_from": "2026-11-08T22:00:00+01:00",
                          "occurred_to": "2026-11-09T06:00:00+01:00"})
    rid = r.json()["id"]
    q = "start=2026-11-09T00:00:00%2B01:00&end=2026-11-10T00:00:00%2B01:00"
    assert rid in _ids(client.get(f"/api/v1/reports?{q}", headers=auth("reporter")).json())


def test_unknown_report_is_404(client, auth):
    r = client.get(f"/api/v1/reports/{uuid.uuid4()}", headers=auth("est"))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_categories_are_the_est_list(client, auth):
    cats = client.get("/api/v1/categories", headers=auth("reporter")).json()
    codes = [c["code"] for c in cats]
    assert codes[:3] == ["skadegorelse", "klotter", "nedskrapning"]
    assert {"brand_container", "otrygg_samling", "narkotika", "otrygg_plats", "overgivet_fordon", "ovrigt"} <= set(codes)
    klotter = next(c for c in cats if c["code"] == "klotter")
    assert klotter["label_sv"] == "Klotter" and klotter["label_en"] == "Graffiti"
    assert klotter["colour"].startswith("#") and klotter["group"] == "skadegorelse"
