"""The operator sets up a real kommun with `python -m app.manage`: the municipality from the GIS
unit's boundary file, its organisations, users who then log in, and the rescue service's
integration whose key and mapping the feed accepts. The commands commit through their own
sessions, so the `setup` fixture removes what they made (list it before `client`)."""
from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import warnings

import numpy as np
import pyogrio.raw
import pytest
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import Point, Polygon, box
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.auth.models import ReadingKey, User
from app.geo import sweref_to_wgs84, wgs84_to_sweref
from app.integrations.models import ApiKey, Integration
from app.manage import ROOT, main
from app.municipalities.models import Municipality, Organisation
from app.municipalities.service import default_cycle_anchor, kommun_organisation_name
from app.reports.models import Category, Report
from app.reports.taxonomy import CATEGORIES, RESCUE_EVENT_TYPES
from tests.feeds import URL, event, results_by_id

CODE = "0480"
NYKOPING = (17.0086, 58.7530)  # lon, lat: Stora torget
E0, N0 = wgs84_to_sweref(*NYKOPING)


def remove_municipality(engine, code: str) -> None:
    """Delete what the commands made for ``code`` (users and integrations first: their
    organisation is RESTRICT)."""
    with Session(engine) as session, session.begin():
        muni_id = session.scalar(select(Municipality.id).where(Municipality.code == code))
        if muni_id is None:
            return
        orgs = select(Organisation.id).where(Organisation.municipality_id == muni_id)
        session.execute(delete(Integration).where(Integration.municipality_id == muni_id))
        session.execute(delete(User).where(User.organisation_id.in_(orgs)))
        session.execute(delete(Municipality).where(Municipality.id == muni_id))


@pytest.fixture
def setup(engine, tmp_path):
    """Runs the commands; afterwards removes municipality 0480 and everything in it."""
    remove_municipality(engine, CODE)
    yield tmp_path
    remove_municipality(engine, CODE)


def run(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    """main(argv) as the operator runs it: exit code, stdout, stderr."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_layer(path, geoms, *, crs: str | None, driver: str = "GPKG", geometry_type: str = "Polygon") -> str:
    """A layer of ``geoms`` (in ``crs``, or none declared) with one attribute, as GDAL writes it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided")  # on purpose, when crs is None
        pyogrio.raw.write(str(path), geometry=np.asarray(shapely.to_wkb(geoms), dtype=object),
                          field_data=[np.arange(len(geoms), dtype=np.int32)], fields=["nr"], driver=driver,
                          geometry_type=geometry_type, crs=crs)
    return str(path)


def sweref_box(dx0: float, dy0: float, dx1: float, dy1: float) -> Polygon:
    """A rectangle in SWEREF 99 TM, in metres from Nyköping's square."""
    return box(E0 + dx0, N0 + dy0, E0 + dx1, N0 + dy1)


def make_nykoping(capsys, directory, *extra: str) -> tuple[int, str, str]:
    """Nyköping from a GeoPackage in EPSG:3006: two overlapping parts of the town and an island."""
    gpkg = write_layer(directory / "kommun.gpkg", [sweref_box(-6000, -4000, 1000, 4000),
                                                   sweref_box(0, -4000, 6000, 4000),
                                                   sweref_box(8000, -9000, 9000, -8000)], crs="EPSG:3006")
    return run(capsys, "municipality", "--code", CODE, "--name", "Nyköping", "--boundary", gpkg, *extra)


def test_a_kommun_is_set_up_from_a_geopackage_in_sweref_99_tm(setup, capsys, client, db):
    code, out, err = make_nykoping(capsys, setup, "--cycle-anchor", "2027-01-13")
    assert code == 0, err
    assert "Created Nyköping (0480)" in out and "'Nyköpings kommun' (kommun)" in out and "Wednesday 2027-01-13" in out

    muni = db.scalar(select(Municipality).where(Municipality.code == CODE))
    assert (muni.name, muni.cycle_days, muni.cycle_anchor) == ("Nyköping", 14, dt.date(2027, 1, 13))
    boundary = to_shape(muni.boundary)
    assert boundary.geom_type == "MultiPolygon" and boundary.is_valid
    assert len(boundary.geoms) == 2  # the overlapping parts of town are one polygon, the island another
    # Stored in WGS84: the town's south-west corner, 6 km west and 4 km south of the square.
    lon0, lat0, _, lat1 = boundary.bounds
    west_lon, south_lat = sweref_to_wgs84(E0 - 6000, N0 - 4000)
    assert abs(lon0 - west_lon) < 1e-4 and abs(lat0 - sweref_to_wgs84(E0 + 9000, N0 - 9000)[1]) < 1e-4
    assert 58.66 < lat0 < south_lat < NYKOPING[1] < lat1 < 58.80 and 16.89 < lon0 < 16.91
    assert boundary.contains(Point(NYKOPING)) and not boundary.contains(Point(sweref_to_wgs84(E0 + 7000, N0)))

    orgs = dict(db.execute(select(Organisation.name, Organisation.kind)
                           .where(Organisation.municipality_id == muni.id)).all())
    assert orgs == {"Nyköpings kommun": "kommun", "Medborgare": "medborgare"}
    codes = db.scalars(select(Category.code).where(Category.municipality_id == muni.id)
                       .order_by(Category.sort_order)).all()
    assert codes == [c[0] for c in CATEGORIES]

    # A citizen of Nyköping reports anonymously: filed under its Medborgare, in its categories.
    r = client.post("/api/v1/public/reports", json={"category": "klotter", "lon": NYKOPING[0], "lat": NYKOPING[1],
                                                     "municipality": CODE})
    assert r.status_code == 201, r.text
    filed_under = db.scalar(select(Organisation.kind).join(Report, Report.organisation_id == Organisation.id)
                            .where(Report.id == r.json()["id"]))
    assert filed_under == "medborgare"
    far = client.post("/api/v1/public/reports", json={"category": "klotter", "lon": 16.51, "lat": 59.37,
                                                       "municipality": CODE})
    assert far.status_code == 422  # Eskilstuna's square is outside Nyköping


def test_the_cycle_anchor_defaults_to_the_coming_wednesday(setup, capsys, db):
    assert default_cycle_anchor(dt.date(2027, 1, 11)) == dt.date(2027, 1, 13)  # Monday -> Wednesday
    assert default_cycle_anchor(dt.date(2027, 1, 13)) == dt.date(2027, 1, 13)  # a Wednesday is its own
    assert default_cycle_anchor(dt.date(2027, 1, 14)) == dt.date(2027, 1, 20)
    code, _, err = make_nykoping(capsys, setup, "--cycle-days", "7")
    assert code == 0, err
    muni = db.scalar(select(Municipality).where(Municipality.code == CODE))
    assert muni.cycle_anchor.weekday() == 2 and 0 <= (muni.cycle_anchor - dt.date.today()).days <= 7
    assert muni.cycle_days == 7


def test_the_kommun_organisation_is_named_in_the_genitive():
    assert kommun_organisation_name("Nyköping") == "Nyköpings kommun"
    assert kommun_organisation_name("Eskilstuna") == "Eskilstuna kommun"
    assert kommun_organisation_name("Strängnäs") == "Strängnäs kommun"


def test_boundary_files_that_cannot_be_a_kommun_are_refused(setup, capsys, db):
    polygon = [sweref_box(-1000, -1000, 1000, 1000)]
    cases = {
        "no CRS": (write_layer(setup / "nocrs.shp", polygon, crs=None, driver="ESRI Shapefile"),
                   "does not say which coordinate reference system"),
        "points": (write_layer(setup / "points.gpkg", [Point(E0, N0)], crs="EPSG:3006", geometry_type="Point"),
                   "must be polygons; " + str(setup / "points.gpkg") + " (layer 'points') holds Point"),
        # SWEREF 99 TM metres declared as WGS84 degrees: nowhere near Sweden.
        "wrong CRS": (write_layer(setup / "wrong.gpkg", polygon, crs="EPSG:4326"), "reaches outside Sweden"),
        "missing": (str(setup / "nothing.gpkg"), "Cannot open"),
    }
    for what, (path, message) in cases.items():
        code, out, err = run(capsys, "municipality", "--code", CODE, "--name", "Nyköping", "--boundary", path)
        assert code == 1 and message in err and "Traceback" not in err and out == "", what
    assert db.scalar(select(Municipality.id).where(Municipality.code == CODE)) is None

    taken, _, err = run(capsys, "municipality", "--code", "0484", "--name", "Eskilstuna", "--boundary",
                        write_layer(setup / "ok.gpkg", polygon, crs="EPSG:3006"))
    assert taken == 1 and "Kommunkod 0484 is already set up (as Eskilstuna)" in err
    assert len(db.scalars(select(Municipality).where(Municipality.code == "0484")).all()) == 1


def test_users_log_in_with_the_printed_password_and_can_be_switched_off(setup, capsys, monkeypatch, client, db):
    assert make_nykoping(capsys, setup)[0] == 0
    code, out, err = run(capsys, "organisation", "--municipality", CODE, "--name",
                         "Polisen, lokalpolisområde Nyköping", "--kind", "polis")
    assert code == 0 and "Created organisation 'Polisen, lokalpolisområde Nyköping' (polis)" in out, err
    code, out, err = run(capsys, "user", "--municipality", CODE, "--organisation", "Nyköpings kommun",
                         "--username", "anna.s", "--role", "coordinator", "--display-name", "Anna S")
    assert code == 0, err
    password = out.strip().splitlines()[-1]
    assert "shown once" in out and len(password) >= 16
    stored = db.scalar(select(User).where(User.username == "anna.s"))
    assert stored.password_hash.startswith("$argon2id$") and password not in stored.password_hash

    def login(pw: str):
        return client.post("/api/v1/auth/token", data={"username": "anna.s", "password": pw})

    r = login(password)
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    categories = client.get("/api/v1/categories", headers=headers)
    assert [c["code"] for c in categories.json()] == [c[0] for c in CATEGORIES]  # Nyköping's own list

    code, key, err = run(capsys, "api-key", "--user", "anna.s", "--days", "730")  # as a stolen token could
    assert code == 0 and key.startswith("lbr_"), err
    code, out, err = run(capsys, "user", "--username", "anna.s", "--reset-password", "--password-stdin",
                         stdin="ett nytt lösenord\n", monkeypatch=monkeypatch)
    assert code == 0 and "ett nytt" not in out, err
    assert out.strip() == "New password set for anna.s; 1 reading key revoked."
    revoked = client.get("/ogc/collections/reports/items", headers={"X-API-Key": key.strip()})
    assert revoked.status_code == 401 and "revoked at" in revoked.json()["detail"]
    db.expire_all()  # the test's session outlives its requests: forget the user it loaded at the login
    assert login(password).status_code == 401 and login("ett nytt lösenord").status_code == 200
    before_reset = client.get("/api/v1/categories", headers=headers)  # a token of the old password: refused
    assert before_reset.status_code == 401 and "password was changed" in before_reset.json()["detail"]
    headers = {"Authorization": f"Bearer {login('ett nytt lösenord').json()['access_token']}"}
    assert client.get("/api/v1/categories", headers=headers).status_code == 200

    code, out, err = run(capsys, "user", "--username", "anna.s", "--deactivate")
    assert code == 0 and "deactivated" in out, err
    db.expire_all()
    assert login("ett nytt lösenord").status_code == 401
    assert client.get("/api/v1/categories", headers=headers).status_code == 401  # her token stops too
    assert run(capsys, "user", "--username", "anna.s", "--activate")[0] == 0
    db.expire_all()
    assert login("ett nytt lösenord").status_code == 200


def test_user_and_organisation_mistakes_are_messages_not_tracebacks(setup, capsys, monkeypatch, db):
    assert make_nykoping(capsys, setup)[0] == 0
    new_user = ["user", "--municipality", CODE, "--organisation", "Nyköpings kommun", "--username", "bo.k"]
    cases = [
        (["organisation", "--municipality", "9999", "--name", "X", "--kind", "polis"],
         "No municipality with kommunkod '9999' (there are: 0480 Nyköping, 0484 Eskilstuna)"),
        (["organisation", "--municipality", CODE, "--name", "X", "--kind", "police"],
         "Unknown organisation kind 'police'; use one of kommun, polis"),
        (["organisation", "--municipality", CODE, "--name", "Nyköpings kommun", "--kind", "kommun"],
         "already has an organisation 'Nyköpings kommun'"),
        (["user", "--municipality", CODE, "--organisation", "Polisen", "--username", "bo.k", "--role", "reporter"],
         "No organisation 'Polisen' in this municipality (there are: Medborgare, Nyköpings kommun)"),
        ([*new_user, "--role", "admin"], "Unknown role 'admin'; use one of reporter, est_member, coordinator"),
        (["user", "--municipality", CODE, "--organisation", "Nyköpings kommun", "--username", "coordinator",
          "--role", "reporter"], "The username 'coordinator' is taken"),
        (["user", "--username", "bo.k", "--role", "reporter"], "A new user needs --municipality, --organisation"),
        (["user", "--username", "nobody", "--deactivate"], "No user 'nobody'"),
        (["api-key", "--user", "nobody"], "No active user 'nobody'"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert code == 1 and message in err and "Traceback" not in err and out == "", argv
    code, out, err = run(capsys, *new_user, "--role", "reporter", "--password-stdin", stdin="kort\n",
                         monkeypatch=monkeypatch)
    assert code == 1 and "at least 10 characters" in err and out == ""
    assert db.scalar(select(User).where(User.username == "bo.k")) is None
    orgs = db.scalars(select(Organisation.name).join(Municipality).where(Municipality.code == CODE)).all()
    assert sorted(orgs) == ["Medborgare", "Nyköpings kommun"]


def test_the_rescue_service_integration_key_and_mapping_work(setup, capsys, client, db):
    assert make_nykoping(capsys, setup)[0] == 0
    assert run(capsys, "organisation", "--municipality", CODE, "--name", "Räddningstjänsten Sörmland",
               "--kind", "raddningstjanst")[0] == 0
    integration = ["integration", "--municipality", CODE, "--organisation", "Räddningstjänsten Sörmland",
                   "--name", "raddningstjanst"]
    code, out, err = run(capsys, *integration, "--initial-status", "verified", "--rescue-service-mapping")
    assert code == 0, err
    assert f"{len(RESCUE_EVENT_TYPES)} typical rescue-service event types mapped" in out
    key = out.strip().splitlines()[-1]
    assert key.startswith("lgb_") and len(key) > 40

    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    outside = sweref_to_wgs84(E0 + 7000, N0)  # between the town and the island
    body = {"type": "FeatureCollection", "features": [
        event("SÖR-1", event_type="Brand i bil", at=now, lon=NYKOPING[0], lat=NYKOPING[1]),
        event("SÖR-2", event_type="brand ute - Övrigt", at=now, lon=NYKOPING[0], lat=NYKOPING[1]),
        event("SÖR-3", event_type="Brand i container", at=now, lon=outside[0], lat=outside[1]),
        event("SÖR-4", event_type="Trafikolycka", at=now, lon=NYKOPING[0], lat=NYKOPING[1])]}
    results = results_by_id(client.post(URL, json=body, headers={"X-API-Key": key}))
    assert results["SÖR-1"]["status"] == results["SÖR-2"]["status"] == "created"
    assert results["SÖR-3"]["status"] == "rejected" and results["SÖR-4"]["status"] == "rejected"
    assert "Trafikolycka" in results["SÖR-4"]["reason"]
    # Nyköping's coordinator sees them filed under the mapped categories, verified.
    rows = client.get("/api/v1/reports", headers=_coordinator_of_nykoping(capsys, client))
    assert rows.status_code == 200, rows.text
    got = {f["properties"]["event_type"]: f["properties"] for f in rows.json()["features"]}
    assert set(got) == {"Brand i bil", "brand ute - Övrigt"}
    assert got["Brand i bil"]["category"] == "brand_fordon" and got["brand ute - Övrigt"]["category"] == "brand_mark"
    assert {p["status"] for p in got.values()} == {"verified"}
    assert {p["source"] for p in got.values()} == {"integration:raddningstjanst"}

    again, out, err = run(capsys, *integration)
    assert again == 1 and "already has an integration 'raddningstjanst'" in err and out == ""
    bad, _, err = run(capsys, *integration[:-1], "Räddningstjänst Sörmland")
    assert bad == 1 and "lower-case letters" in err


def test_the_operator_lists_what_is_set_up(setup, capsys, engine):
    assert make_nykoping(capsys, setup)[0] == 0
    assert run(capsys, "organisation", "--municipality", CODE, "--name", "Räddningstjänsten Sörmland",
               "--kind", "raddningstjanst")[0] == 0
    assert run(capsys, "integration", "--municipality", CODE, "--organisation", "Räddningstjänsten Sörmland",
               "--name", "raddningstjanst", "--initial-status", "verified", "--rescue-service-mapping")[0] == 0
    assert run(capsys, "user", "--municipality", CODE, "--organisation", "Nyköpings kommun", "--username",
               "samordnare.nykoping", "--role", "coordinator", "--display-name", "Anna S")[0] == 0
    assert run(capsys, "user", "--username", "samordnare.nykoping", "--deactivate")[0] == 0
    # The key was used last at 22:30 Swedish time.
    with Session(engine) as session, session.begin():
        session.execute(update(ApiKey).where(ApiKey.integration_id == select(Integration.id).where(
            Integration.name == "raddningstjanst", Integration.municipality_id == select(Municipality.id).where(
                Municipality.code == CODE).scalar_subquery()).scalar_subquery())
            .values(last_used_at=dt.datetime(2027, 1, 13, 21, 30, tzinfo=dt.UTC)))
    with Session(engine) as session, session.begin():  # two reading keys, one revoked (not counted)
        user_id = session.scalar(select(User.id).where(User.username == "samordnare.nykoping"))
        for revoked in (None, dt.datetime(2027, 1, 1, tzinfo=dt.UTC)):
            session.add(ReadingKey(user_id=user_id, key_sha256=os.urandom(32).hex(), prefix="lbr_test", label="QGIS",
                                   expires_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC), revoked_at=revoked))
    code, out, err = run(capsys, "list", "--municipality", CODE)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Nyköping (0480): 0 reports; EST cycles of 14 days, one starting Wednesday")
    assert "    Räddningstjänsten Sörmland (raddningstjanst): 0 users" in lines
    assert "    Nyköpings kommun (kommun): 1 user" in lines
    # with the ids the access log names them by
    assert (f"    samordnare.nykoping (Anna S) (user:{user_id}): coordinator, Nyköpings kommun, deactivated, 1 key "
            "(never used) for GIS programs") in lines
    used = next(line for line in lines if line.startswith("    raddningstjanst "))
    with Session(engine) as session:
        integration_id = session.scalar(select(Integration.id).join(Municipality).where(Municipality.code == CODE))
    assert used.startswith(f"    raddningstjanst (Räddningstjänsten Sörmland; integration:{integration_id}): on, new "
                           "reports start as verified; 1 key (last used 2027-01-13 22:30)")  # Swedish time
    assert used.endswith(f"; {len(RESCUE_EVENT_TYPES)} event types mapped")
    assert "lgb_" not in out and "password" not in out.lower()
    unknown, out, err = run(capsys, "list", "--municipality", "0999")
    assert unknown == 1 and out == "" and "No municipality with kommunkod '0999' (there are: " in err
    assert "0480 Nyköping" in err


def _coordinator_of_nykoping(capsys, client) -> dict[str, str]:
    code, out, err = run(capsys, "user", "--municipality", CODE, "--organisation", "Nyköpings kommun",
                         "--username", "samordnare.nykoping", "--role", "coordinator")
    assert code == 0, err
    r = client.post("/api/v1/auth/token", data={"username": "samordnare.nykoping",
                                                "password": out.strip().splitlines()[-1]})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_the_commands_run_in_production_mode(setup):
    """The Docker image's default: LAGESBILD_ENV=production, where the demo data are refused."""
    gpkg = write_layer(setup / "kommun.gpkg", [sweref_box(-3000, -3000, 3000, 3000)], crs="EPSG:3006")
    env = {**os.environ, "LAGESBILD_ENV": "production", "LAGESBILD_SECRET_KEY": "x" * 40}
    done = subprocess.run([sys.executable, "-m", "app.manage", "municipality", "--code", CODE, "--name", "Nyköping",
                           "--boundary", gpkg], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Created Nyköping (0480)" in done.stdout
    # `list | head` on a long list: the reader goes away early; no traceback, exit code 0.
    piped = subprocess.run(["bash", "-o", "pipefail", "-c", f"'{sys.executable}' -m app.manage list | true"],
                           env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    # A password printed once must not vanish silently into a closed pipe.
    lost = subprocess.run(["bash", "-o", "pipefail", "-c", f"'{sys.executable}' -m app.manage user --municipality "
                           f"{CODE} --organisation 'Nyköpings kommun' --username piped.user --role est_member | true"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert lost.returncode == 1 and "cut off" in lost.stderr and "reset the password" in lost.stderr
