"""Photo decoding without a server: every mode ends as an RGB JPEG, and the decoders are bounded."""
import io
import threading

import pytest
from PIL import Image

from app.errors import InvalidInput
from app.reports.images import WAITING_PER_DECODER, Decoders, DecodersBusy, clean_image


def _clean(data: bytes, *, max_side: int = 100):
    return clean_image(data, max_bytes=10 << 20, max_pixels=70_000_000, max_full_pixels=16_000_000,
                       max_side=max_side, decoders=Decoders(size=2, wait_seconds=1))


def _encoded(img: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize("mode, fmt", [("P", "PNG"), ("1", "PNG"), ("I;16", "PNG"), ("LA", "PNG"), ("RGBA", "PNG"),
                                       ("L", "PNG"), ("RGBA", "WEBP"), ("CMYK", "JPEG"), ("L", "JPEG")])
def test_every_kind_of_picture_is_stored_as_an_rgb_jpeg_within_the_side(mode, fmt):
    clean = _clean(_encoded(Image.new(mode, (300, 200)), fmt))
    stored = Image.open(io.BytesIO(clean.data))
    assert (stored.format, stored.mode, stored.size) == ("JPEG", "RGB", (100, 67))
    assert (clean.width, clean.height) == (100, 67)


def test_a_png_with_exif_orientation_is_stored_upright():
    exif = Image.Exif()
    exif[0x0112] = 8
    clean = _clean(_encoded(Image.new("RGBA", (300, 200), "red"), "PNG", exif=exif))
    assert (clean.width, clean.height) == (67, 100)


def test_a_webp_has_half_the_full_size_limit():
    with pytest.raises(Exception) as refused:
        _clean(_encoded(Image.new("RGB", (3000, 3000)), "WEBP", lossless=True))
    assert refused.value.status == 413
    assert refused.value.detail.startswith("The photo has 3000x3000 pixels; the limit for a WebP is 8000000 pixels")


def test_a_jpeg_needing_more_than_libjpegs_cap_is_refused_not_decoded(monkeypatch):
    """JPEGMEM caps what libjpeg holds for a progressive or multi-scan JPEG (a crafted one can
    need it within the pixel limits); over the cap the photo is 422, the process unharmed."""
    import os

    assert os.environ["JPEGMEM"] == "100m"
    photo = _encoded(Image.new("RGB", (2000, 2000)), "JPEG", progressive=True, subsampling=0)
    monkeypatch.setenv("JPEGMEM", "1m")
    with pytest.raises(InvalidInput) as refused:
        _clean(photo)
    assert refused.value.detail.startswith("The image could not be decoded")
    monkeypatch.setenv("JPEGMEM", "100m")
    assert _clean(photo).width == 100


def test_a_corrupt_photo_gives_its_decoder_back():
    """A photo that fails to decode (422) does not keep its decoder: both are free afterwards."""
    truncated = _encoded(Image.new("RGB", (400, 300), "blue"), "PNG")[:200]
    with pytest.raises(InvalidInput):
        _clean(truncated)
    decoders = Decoders(size=2, wait_seconds=0.01)
    with decoders.turn(), decoders.turn():
        pass


def test_only_a_few_photos_wait_for_a_decoder_the_next_gets_503_at_once():
    """With one decoder busy, WAITING_PER_DECODER uploads wait (each holds a thread of the
    threadpool); the next one is answered 503 at once instead of taking another thread."""
    patient = Decoders(size=1, wait_seconds=30)
    probe = Decoders(size=1, wait_seconds=0.05)
    done = []

    def upload():
        with patient.turn():
            done.append(1)

    with patient.turn():
        waiting = [threading.Thread(target=upload) for _ in range(WAITING_PER_DECODER)]
        for thread in waiting:
            thread.start()
        for _ in range(200):  # until all of them wait (a probe meanwhile times out after 0.05 s)
            with pytest.raises(DecodersBusy) as busy:
                with probe.turn():
                    pass
            if "already waiting" in busy.value.detail:
                break
        assert busy.value.detail.startswith(
            f"The server is processing other photos ({WAITING_PER_DECODER} other photos are already waiting)")
        assert busy.value.status == 503 and busy.value.headers == {"Retry-After": "5"}
    for thread in waiting:
        thread.join(10)
    assert len(done) == WAITING_PER_DECODER
