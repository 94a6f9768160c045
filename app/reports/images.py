"""Photo handling: accept real images only, re-encode them without any metadata.

Re-encoding the pixels (rather than deleting EXIF tags) guarantees that GPS position,
camera serial numbers, thumbnails and XMP are gone. The orientation tag is applied to the
pixels first so that the photo still shows the right way up.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from app.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

# MPO: the multi-picture JPEG many phones write.
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP"}


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    width: int
    height: int
    content_type: str = "image/jpeg"


def clean_image(raw: bytes, *, max_bytes: int, max_pixels: int, max_side: int) -> CleanImage:
    """Validate an uploaded photo and return it as a metadata-free JPEG (longest side <= max_side px)."""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The photo is {len(raw)} bytes; the limit is {max_bytes} bytes")
    if not raw:
        raise InvalidInput("The uploaded file is empty", errors=[{"field": "file", "message": "empty"}])
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            fmt = probe.format
            width, height = probe.size
    except Image.DecompressionBombError:
        raise PayloadTooLarge(f"The photo has too many pixels; the limit is {max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError):
        raise UnsupportedMediaType("The file is not an image; send a JPEG, PNG or WebP photo") from None
    if fmt not in ACCEPTED_FORMATS:
        raise UnsupportedMediaType(f"Image format {fmt} is not accepted; send JPEG, PNG or WebP")
    if width * height > max_pixels:
        raise PayloadTooLarge(f"The photo has {width}x{height} pixels; the limit is {max_pixels} pixels")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            img = img.convert("RGB")
            img.thumbnail((max_side, max_side))
            img.info.clear()  # JPEG comments, ICC and XMP would otherwise be written again
            out = io.BytesIO()
            img.save(out, format="JPEG", quality=85, optimize=True)  # no exif= argument: none is written
            return CleanImage(data=out.getvalue(), width=img.width, height=img.height)
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise InvalidInput(f"The image could not be decoded: {exc}",
                           errors=[{"field": "file", "message": "corrupt image"}]) from None
