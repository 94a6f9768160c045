"""Photo handling: accept real images only, re-encode them without any metadata, in bounded memory.

Re-encoding the pixels (rather than deleting EXIF tags) guarantees that GPS position,
camera serial numbers, thumbnails and XMP are gone. The orientation tag is applied to the
pixels first so that the photo still shows the right way up.

A small file can describe a huge image, so memory is bounded three ways (numbers measured in
docs/performance.md): a baseline JPEG (what phone cameras write) is decoded by libjpeg at 1/2,
1/4 or 1/8 scale, just large enough for the stored size, so a 50 MP photo never exists at full
size; a PNG, WebP or progressive JPEG must be decoded at full size and has a lower pixel limit;
and a process decodes only a few photos at once (:class:`Decoders`).
"""
from __future__ import annotations

import ctypes
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from threading import BoundedSemaphore, Lock

from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import DomainError, InvalidInput, PayloadTooLarge, UnsupportedMediaType

# MPO: the multi-picture JPEG many phones write.
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP"}
# Decoded at reduced scale (Pillow's draft) unless progressive.
SCALED_FORMATS = {"JPEG", "MPO"}
# Modes Pillow shrinks as they are; the others (palette, 1-bit, 16-bit, with alpha) become RGB
# first, as before (alpha dropped). Shrinking them first would not save memory: Pillow shrinks an
# image with alpha through a premultiplied copy of the same size as an RGB one (4 bytes a pixel).
SHRUNK_AS_THEY_ARE = {"L", "RGB", "CMYK"}
# A WebP decode holds libwebp's two canvases besides Pillow's image: about twice a PNG's bytes
# per pixel (16 instead of 8), so it has half the pixel limit of the other full-size decodes.
WEBP_SHARE = 2
# Uploads that may wait for a decoder, per decoder: beyond them the answer is 503 at once, so that
# waiting uploads cannot hold all of the threadpool's threads (and with them every other request).
WAITING_PER_DECODER = 4
RETRY_AFTER_SECONDS = 5
# libjpeg's cap (JPEGMEM; 100m = 100 MB) for what a progressive or multi-scan JPEG makes it keep:
# every DCT coefficient of the whole image, 2 bytes per pixel and colour channel, before any
# scaling. 16 MP (the full-size limit) at full colour resolution needs 96 MB.
JPEGMEM = "100m"


def _jpeg_memory_bounded() -> None:
    """libjpeg's cap for one decode (JPEGMEM, read at each decode; a crafted JPEG needing more
    fails to decode: 422). Set once at import; what an operator has set in the environment wins."""
    os.environ.setdefault("JPEGMEM", JPEGMEM)


def _malloc_trim():
    """glibc's malloc_trim, or None (another C library: its allocator, its behaviour)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # (TypeError: Windows has no CDLL(None))
        return None


_jpeg_memory_bounded()
_TRIM = _malloc_trim()


def _give_back_memory() -> None:
    """After a decode, hand the memory it freed back to the system. glibc keeps freed blocks in
    per-thread arenas (up to 8 per core) for their own thread: ten uploads of a 16 MP PNG, two
    decoded at a time, left a server at +500 MB (docs/performance.md). malloc_trim(0) returns
    every arena's free memory, once per photo; a process-wide lower mmap threshold did the same
    but made all large NumPy work of the server (the hotspot layer, the feed) ~3.7x slower."""
    if _TRIM is not None:
        _TRIM(0)


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    width: int
    height: int
    content_type: str = "image/jpeg"


class DecodersBusy(DomainError):
    """Every photo decoder of this process stayed busy for as long as an upload may wait: the
    photo was not stored, and the same request sent again in a few seconds will be."""

    status, title, type_slug = 503, "Service unavailable", "decoders-busy"


_SEMAPHORES: dict[int, tuple[BoundedSemaphore, BoundedSemaphore]] = {}
_SEMAPHORES_LOCK = Lock()


def _semaphores(size: int) -> tuple[BoundedSemaphore, BoundedSemaphore]:
    """(admitted, decoding) for ``size`` decoders, one pair per process (the settings are read
    once); made under a lock, so that two first uploads at once share one pair."""
    with _SEMAPHORES_LOCK:
        if size not in _SEMAPHORES:
            _SEMAPHORES[size] = BoundedSemaphore(size * (1 + WAITING_PER_DECODER)), BoundedSemaphore(size)
        return _SEMAPHORES[size]


@dataclass(frozen=True)
class Decoders:
    """At most ``size`` photos of this process are decoded at once (each may take ~130 MB for a
    moment); an upload waits at most ``wait_seconds`` (s) for its turn, and at most
    ``size`` × WAITING_PER_DECODER uploads wait. Uploads run in the threadpool, so a wait blocks a thread."""

    size: int
    wait_seconds: float

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold one decoder for the block; 503 (:class:`DecodersBusy`) when none comes in time."""
        admitted, decoding = _semaphores(self.size)
        if not admitted.acquire(blocking=False):
            raise self._busy(f"{self.size * WAITING_PER_DECODER} other photos are already waiting")
        try:
            if not decoding.acquire(timeout=self.wait_seconds):
                raise self._busy(f"no decoder came free within {self.wait_seconds:g} s")
            try:
                yield
            finally:
                _give_back_memory()
                decoding.release()
        finally:
            admitted.release()

    def _busy(self, why: str) -> DecodersBusy:
        return DecodersBusy(f"The server is processing other photos ({why}); this one was not stored. "
                            f"Send it again in {RETRY_AFTER_SECONDS} seconds.",
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def clean_image(raw: bytes, *, max_bytes: int, max_pixels: int, max_full_pixels: int, max_side: int,
                decoders: Decoders) -> CleanImage:
    """Validate an uploaded photo and return it as a metadata-free JPEG (longest side <= max_side px).

    ``max_pixels`` bounds a baseline JPEG (decoded at reduced scale), ``max_full_pixels`` a PNG or
    progressive JPEG (decoded at full size; a WebP: half of it). The decoding and re-encoding
    run in one of the ``decoders``; the checks of the header before them do not need one."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The photo is {len(raw)} bytes; the limit is {max_bytes} bytes")
    if not raw:
        raise InvalidInput("The uploaded file is empty", errors=[{"field": "file", "message": "empty"}])
    try:
        img = Image.open(io.BytesIO(raw))  # reads the header only
    except Image.DecompressionBombError:
        raise PayloadTooLarge(f"The photo has too many pixels; the limit is {max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError):
        raise UnsupportedMediaType("The file is not an image; send a JPEG, PNG or WebP photo") from None
    with img:
        _check_size(img, max_pixels=max_pixels, max_full_pixels=max_full_pixels)
        with decoders.turn():
            try:
                photo = _decode(img, max_side=max_side)
            except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
                raise InvalidInput(f"The image could not be decoded: {exc}",
                                   errors=[{"field": "file", "message": "corrupt image"}]) from None
            photo.info.clear()  # JPEG comments, ICC and XMP would otherwise be written again
            out = io.BytesIO()
            photo.save(out, format="JPEG", quality=85, optimize=True)  # no exif= argument: none is written
            return CleanImage(data=out.getvalue(), width=photo.width, height=photo.height)


def _check_size(img: Image.Image, *, max_pixels: int, max_full_pixels: int) -> None:
    """415 for a format we do not take, 413 for more pixels than its decoding may have."""
    fmt = img.format
    if fmt not in ACCEPTED_FORMATS:
        raise UnsupportedMediaType(f"Image format {fmt} is not accepted; send JPEG, PNG or WebP")
    width, height = img.size
    if fmt in SCALED_FORMATS and not img.info.get("progressive"):
        if width * height > max_pixels:
            raise PayloadTooLarge(f"The photo has {width}x{height} pixels; the limit is {max_pixels} pixels")
        return
    limit = max_full_pixels // WEBP_SHARE if fmt == "WEBP" else max_full_pixels
    if width * height > limit:
        kind = "progressive JPEG" if fmt in SCALED_FORMATS else fmt.replace("WEBP", "WebP")
        raise PayloadTooLarge(f"The photo has {width}x{height} pixels; the limit for a {kind} is {limit} pixels "
                              f"(for a JPEG as a camera writes it: {max_pixels}). Send the camera's JPEG, "
                              f"or a smaller picture")


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` (px) scaled down, never up, to at most ``max_side`` on its longest side (rounded down)."""
    width, height = size
    longest = max(width, height)
    if longest <= max_side:
        return size
    return max(1, width * max_side // longest), max(1, height * max_side // longest)


def _decode(img: Image.Image, *, max_side: int) -> Image.Image:
    """The photo's pixels as RGB, upright, at most ``max_side`` px on the longest side.

    A JPEG is decoded at the smallest DCT scale that still gives at least that size (draft; a
    no-op for other formats). The image is shrunk before any copy is made of it, except that a
    mode Pillow cannot shrink as it is becomes RGB first (and ``img`` is closed then, so that
    the shrinking never has two full-size images beside it); the orientation is applied after."""
    img.draft("RGB", _fit(img.size, max_side))
    img.load()
    pixels = img
    if img.mode not in SHRUNK_AS_THEY_ARE:
        pixels = img.convert("RGB")
        img.close()
    pixels.thumbnail((max_side, max_side))
    return ImageOps.exif_transpose(pixels).convert("RGB")
