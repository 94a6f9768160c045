"""Photos: a real image only, within the limits, and nothing of the EXIF (GPS!) survives."""
import io
import uuid
from pathlib import Path

from PIL import Image

from app.config import get_settings
from tests.helpers import SQUARE

GPS_IFD = 0x8825


def _jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (640, 480), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"          # Make
    exif[0x0131] = "Camera 1.0"          # Software
    exif[0x0112] = 6                     # Orientation: rotate 90° when shown
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (59.0, 22.0, 16.0), 3: "E", 4: (16.0, 30.0, 35.0)})
    out = io.BytesIO()
    img.save(out, format="JPEG", exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)  # the fixture really has GPS
    return data


def _report(client, auth):
    return client.post("/api/v1/reports", headers=auth("reporter"), json={"category": "klotter", **SQUARE}).json()["id"]


def test_photo_is_stored_without_exif_and_upright(client, auth):
    rid = _report(client, auth)
    r = client.post(f"/api/v1/reports/{rid}/attachments", headers=auth("reporter"),
                    files={"file": ("IMG_0001.jpg", _jpeg_with_gps(), "image/jpeg")})
    assert r.status_code == 201, r.text
    meta = r.json()
    assert (meta["width"], meta["height"]) == (480, 640)  # orientation applied to the pixels
    stored = Path(get_settings().attachment_dir) / rid / f"{meta['id']}.jpg"
    data = stored.read_bytes()
    img = Image.open(io.BytesIO(data))
    assert len(img.getexif()) == 0 and "exif" not in img.info
    assert b"PhoneMaker" not in data and b"Exif" not in data
    served = client.get(meta["href"], headers=auth("reporter"))
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == "image/jpeg"
    # The report now lists its photo; other reporters cannot fetch it.
    assert client.get(f"/api/v1/reports/{rid}", headers=auth("est")).json()["properties"]["attachments"] == [meta["href"]]


def test_not_an_image_is_415(client, auth):
    rid = _report(client, auth)
    r = client.post(f"/api/v1/reports/{rid}/attachments", headers=auth("reporter"),
                    files={"file": ("virus.jpg", b"MZ\x90\x00 not really a jpeg", "image/jpeg")})
    assert r.status_code == 415 and "not an image" in r.json()["detail"]


def test_too_large_is_413(client, auth):
    rid = _report(client, auth)
    big = b"\xff\xd8" + b"0" * (get_settings().attachment_max_bytes + 10)
    r = client.post(f"/api/v1/reports/{rid}/attachments", headers=auth("reporter"),
                    files={"file": ("big.jpg", big, "image/jpeg")})
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


def test_photo_for_someone_elses_report_is_404(client, auth):
    rid = client.post("/api/v1/reports", headers=auth("est"), json={"category": "klotter", **SQUARE}).json()["id"]
    r = client.post(f"/api/v1/reports/{rid}/attachments", headers=auth("reporter"),
                    files={"file": ("a.jpg", _jpeg_with_gps(), "image/jpeg")})
    assert r.status_code == 404
    r = client.post(f"/api/v1/reports/{uuid.uuid4()}/attachments", headers=auth("est"),
                    files={"file": ("a.jpg", _jpeg_with_gps(), "image/jpeg")})
    assert r.status_code == 404


def test_jpeg_comment_does_not_survive(client, auth):
    rid = _report(client, auth)
    out = io.BytesIO()
    Image.new("RGB", (320, 240), "blue").save(out, format="JPEG", comment=b"Kalle Karlsson 19900101-1234")
    r = client.post(f"/api/v1/reports/{rid}/attachments", headers=auth("reporter"),
                    files={"file": ("c.jpg", out.getvalue(), "image/jpeg")})
    assert r.status_code == 201
    stored = client.get(r.json()["href"], headers=auth("reporter")).content
    assert b"Kalle" not in stored and b"19900101" not in stored


def test_decompression_bomb_is_413(client, auth):
    rid = _report(client, auth)
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, format="PNG")  # tiny file, 400 megapixels
    r = client.post(f"/api/v1/reports/{rid}/attachments", headers=auth("reporter"),
                    files={"file": ("bomb.png", out.getvalue(), "image/png")})
    assert r.status_code == 413 and "pixels" in r.json()["detail"]


def test_a_photo_sent_again_with_its_key_is_stored_once(client, auth):
    """A phone that did not get the answer sends the photo again with the same Idempotency-Key:
    the first answer comes back, not a second copy; the key with another photo is refused."""
    rid = _report(client, auth)
    key = {"Idempotency-Key": f"{uuid.uuid4()}:photo"}
    photo = _jpeg_with_gps()
    first = client.post(f"/api/v1/reports/{rid}/attachments", headers={**auth("reporter"), **key},
                        files={"file": ("p.jpg", photo, "image/jpeg")})
    again = client.post(f"/api/v1/reports/{rid}/attachments", headers={**auth("reporter"), **key},
                        files={"file": ("p.jpg", photo, "image/jpeg")})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.json()["href"]
    report = client.get(f"/api/v1/reports/{rid}", headers=auth("reporter")).json()
    assert report["properties"]["attachments"] == [first.json()["href"]]
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "green").save(out, format="JPEG")
    other = client.post(f"/api/v1/reports/{rid}/attachments", headers={**auth("reporter"), **key},
                        files={"file": ("q.jpg", out.getvalue(), "image/jpeg")})
    assert other.status_code == 422 and "different request" in other.json()["detail"]


def test_the_report_list_names_each_reports_photos(client, auth):
    """The list gives a report's photos as the single report does (the meeting map shows them);
    a reporter's list has only their own reports, so never another's photos."""
    with_photo, without = _report(client, auth), _report(client, auth)
    added = client.post(f"/api/v1/reports/{with_photo}/attachments", headers=auth("reporter"),
                        files={"file": ("p.jpg", _jpeg_with_gps(), "image/jpeg")})
    assert added.status_code == 201
    police = client.post("/api/v1/reports", headers=auth("est"), json={"category": "klotter", **SQUARE}).json()["id"]
    theirs = client.post(f"/api/v1/reports/{police}/attachments", headers=auth("est"),
                         files={"file": ("q.jpg", _jpeg_with_gps(), "image/jpeg")})
    assert theirs.status_code == 201
    mine = {f["id"]: f for f in client.get("/api/v1/reports", headers=auth("reporter")).json()["features"]}
    assert mine[with_photo]["properties"]["attachments"] == [added.json()["href"]]
    assert mine[without]["properties"]["attachments"] == []
    assert police not in mine
    assert client.get(theirs.json()["href"], headers=auth("reporter")).status_code == 404
    everyone = {f["id"]: f for f in client.get("/api/v1/reports", headers=auth("est")).json()["features"]}
    assert everyone[police]["properties"]["attachments"] == [theirs.json()["href"]]


def test_the_coordinator_removes_a_photo_that_shows_a_face(client, auth):
    """A photo shows a face: the coordinator removes it. The file is gone once the request has
    committed, the report no longer names it, and its history says which photo went, by whom."""
    rid = _report(client, auth)
    meta = client.post(f"/api/v1/reports/{rid}/attachments", headers=auth("reporter"),
                       files={"file": ("a.jpg", _jpeg_with_gps(), "image/jpeg")}).json()
    stored = Path(get_settings().attachment_dir) / rid / f"{meta['id']}.jpg"
    assert stored.stat().st_mode & 0o077 == 0 and stored.parent.stat().st_mode & 0o077 == 0  # the service's alone
    served = client.get(meta["href"], headers=auth("est"))
    assert served.headers["cache-control"] == "private, no-store"  # not kept in the meeting-room PC's cache
    for who in ("reporter", "est", "gis"):
        assert client.delete(meta["href"], headers=auth(who)).status_code == 403
    assert stored.exists()
    r = client.delete(meta["href"], headers=auth("coordinator"))
    assert r.status_code == 204, r.text
    assert not stored.exists()
    assert client.get(meta["href"], headers=auth("coordinator")).status_code == 404
    assert client.delete(meta["href"], headers=auth("coordinator")).status_code == 404
    assert client.get(f"/api/v1/reports/{rid}", headers=auth("est")).json()["properties"]["attachments"] == []
    history = client.get(f"/api/v1/reports/{rid}/history", headers=auth("coordinator")).json()
    assert [(h["action"], h["by"], h["changes"]) for h in history] == [
        ("photo_removed", "coordinator", {"attachment": meta["id"]})]


def test_a_photo_removal_that_fails_keeps_the_file(client, auth, db, monkeypatch):
    """The file goes only with a committed removal: a request that fails after the row was
    deleted leaves photo and row as they were."""
    from app.reports import attachments

    rid = _report(client, auth)
    meta = client.post(f"/api/v1/reports/{rid}/attachments", headers=auth("reporter"),
                       files={"file": ("a.jpg", _jpeg_with_gps(), "image/jpeg")}).json()
    stored = Path(get_settings().attachment_dir) / rid / f"{meta['id']}.jpg"
    original = attachments.on_commit

    def then_fail(session, hook):
        original(session, hook)
        raise RuntimeError("the database went away")
    monkeypatch.setattr(attachments, "on_commit", then_fail)
    assert client.delete(meta["href"], headers=auth("coordinator")).status_code == 500
    assert stored.exists()
    assert client.get(meta["href"], headers=auth("est")).status_code == 200
