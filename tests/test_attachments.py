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


def _encoded(img: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def _send(client, auth, rid: str, data: bytes, name: str = "p.jpg", who: str = "reporter", key: str | None = None):
    headers = {**auth(who), **({"Idempotency-Key": key} if key else {})}
    return client.post(f"/api/v1/reports/{rid}/attachments", headers=headers,
                       files={"file": (name, data, "image/jpeg")})


def test_a_small_png_that_decodes_to_160_mb_is_413_before_it_is_decoded(client, auth, monkeypatch):
    """The security review's bomb: 154 kB of PNG, 6300x6300 RGBA (under the JPEG limit, so it
    was decoded at full size, +455 MB). A PNG is decoded at full size, so it has the lower limit."""
    from PIL import ImageFile

    loads = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self.size))
    rid = _report(client, auth)
    bomb = _encoded(Image.new("RGBA", (6300, 6300)), "PNG")
    assert len(bomb) < 200_000
    r = _send(client, auth, rid, bomb, "bomb.png")
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"].startswith("The photo has 6300x6300 pixels; the limit for a PNG is 16000000 pixels")
    assert loads == []  # refused on the header alone
    assert client.get(f"/api/v1/reports/{rid}", headers=auth("reporter")).json()["properties"]["attachments"] == []


def test_a_48_mp_phone_photo_is_decoded_at_half_size_and_stored_upright(client, auth, monkeypatch):
    """A phone's 8000x6000 JPEG, held sideways (EXIF orientation 6): libjpeg decodes it at half
    scale (never 48 MP in memory), and it is stored upright, 2560 px on the long side, without EXIF."""
    from PIL import JpegImagePlugin

    decoded = []
    load = JpegImagePlugin.JpegImageFile.load

    def spy(self):
        decoded.append((self.mode, self.size))
        return load(self)
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", spy)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (59.0, 22.0, 16.0)})
    rid = _report(client, auth)
    r = _send(client, auth, rid, _encoded(Image.new("RGB", (8000, 6000), (30, 90, 200)), "JPEG", exif=exif))
    assert r.status_code == 201, r.text
    assert decoded[0] == ("RGB", (4000, 3000))  # the first load decodes; later ones find the pixels there
    assert (r.json()["width"], r.json()["height"]) == (1920, 2560)
    stored = client.get(r.json()["href"], headers=auth("reporter")).content
    assert b"Exif" not in stored and Image.open(io.BytesIO(stored)).size == (1920, 2560)


def test_a_progressive_jpeg_over_the_full_size_limit_is_413(client, auth):
    """libjpeg keeps all of a progressive JPEG's coefficients in memory whatever the scale: it has
    the full-size limit, and the answer says what a camera's JPEG may have."""
    rid = _report(client, auth)
    r = _send(client, auth, rid, _encoded(Image.new("RGB", (6000, 3000)), "JPEG", progressive=True))
    assert r.status_code == 413
    assert r.json()["detail"].startswith("The photo has 6000x3000 pixels; the limit for a progressive JPEG is "
                                          "16000000 pixels (for a JPEG as a camera writes it: 70000000)")


def test_a_report_takes_a_limited_number_of_photos(client, auth, monkeypatch):
    """One report cannot fill the disk: past the limit a photo is refused with 409 and why;
    once a coordinator has removed one, there is room again."""
    monkeypatch.setattr(get_settings(), "attachment_max_per_report", 2)
    rid = _report(client, auth)
    photo = _encoded(Image.new("RGB", (64, 48), "green"), "JPEG")
    first, second = (_send(client, auth, rid, photo) for _ in range(2))
    assert first.status_code == second.status_code == 201
    third = _send(client, auth, rid, photo, who="est")
    assert third.status_code == 409 and third.headers["content-type"] == "application/problem+json"
    assert third.json()["detail"].startswith("The report already has 2 photos, the most one report may have (2)")
    assert third.json()["errors"] == [{"field": "file", "message": "at most 2 photos per report"}]
    report = client.get(f"/api/v1/reports/{rid}", headers=auth("reporter")).json()
    assert report["properties"]["attachments"] == [first.json()["href"], second.json()["href"]]
    assert client.delete(first.json()["href"], headers=auth("coordinator")).status_code == 204
    assert _send(client, auth, rid, photo).status_code == 201


def test_a_photo_waits_for_a_free_decoder_and_gets_503_if_none_comes(client, auth, monkeypatch):
    """Every decoder busy (here: held by the test) for longer than a photo may wait: 503 with
    Retry-After, nothing stored (not even its Idempotency-Key); once a decoder is free the same
    request stores the photo."""
    from contextlib import ExitStack

    from app.reports.images import Decoders

    settings = get_settings()
    monkeypatch.setattr(settings, "attachment_decode_wait_seconds", 0.2)
    rid = _report(client, auth)
    photo, key = _encoded(Image.new("RGB", (64, 48), "green"), "JPEG"), f"{uuid.uuid4()}:photo"
    with ExitStack() as held:
        for _ in range(settings.attachment_decoders):
            held.enter_context(Decoders(size=settings.attachment_decoders, wait_seconds=1).turn())
        r = _send(client, auth, rid, photo, key=key)
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "5"
    assert "no decoder came free within 0.2 s" in r.json()["detail"] and "not stored" in r.json()["detail"]
    assert client.get(f"/api/v1/reports/{rid}", headers=auth("reporter")).json()["properties"]["attachments"] == []
    again = _send(client, auth, rid, photo, key=key)
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
