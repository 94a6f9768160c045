"""PostgreSQL binary COPY, encoded with NumPy: the fast write path of the seeds and the events feed.

Binary input spares the server parsing text (timestamps, hex EWKB, numbers), and building a
batch as one byte buffer spares the client a Python step per row and field. A row is its
field count (int16), then each field as its size (int32, -1 for NULL) and its bytes.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# UUID as two big-endian 64-bit halves, as :func:`uuid7` makes them.
UUID = np.dtype((">u8", 2))
# The file header (signature, no flags, no extension), the end marker, a NULL field.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
NULL_FIELD = b"\xff\xff\xff\xff"
PG_EPOCH_S = 946_684_800  # 2000-01-01 UTC, from where binary timestamps count microseconds
PG_EPOCH_US = PG_EPOCH_S * 1_000_000
# A point as little-endian EWKB with SRID: what the geometry type's binary input accepts.
EWKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")])
EWKB_POINT_WITH_SRID = 0x20000001  # geometry type 1 (point) with the flag saying an SRID follows


def uuid7(unix_ms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """UUIDv7 (RFC 9562) for the given Unix milliseconds, as (n, 2) uint64: high and low halves.

    Time-ordered ids turn primary-key inserts into appends at the right edge of the index
    instead of random writes all over it; the 74 random bits keep ids unique across loads."""
    n = len(unix_ms)
    high = (unix_ms.astype(np.uint64) << 16) | 0x7000 | rng.integers(0, 1 << 12, n, dtype=np.uint64)
    low = (1 << 63) | rng.integers(0, 1 << 62, n, dtype=np.uint64)
    return np.stack([high, low], axis=1)


def row_dtype(fixed: dict[str, np.dtype]) -> np.dtype:
    """The fixed-width front of a row: the field count, then each fixed column with its size."""
    return np.dtype([("field_count", ">i2"), *[part for name, dtype in fixed.items()
                                              for part in ((f"{name} size", ">i4"), (name, dtype))]])


def fixed_rows(fixed: dict[str, np.dtype], n: int, *, field_count: int) -> np.ndarray:
    """``n`` zeroed fixed row parts with the field count and sizes filled in (and EWKB point
    headers in WGS84 for columns of type :data:`EWKB_POINT`)."""
    rows = np.zeros(n, row_dtype(fixed))
    rows["field_count"] = field_count
    for name, dtype in fixed.items():
        rows[f"{name} size"] = dtype.itemsize
        if dtype == EWKB_POINT:
            rows[name]["order"], rows[name]["type"], rows[name]["srid"] = 1, EWKB_POINT_WITH_SRID, 4326
    return rows


def text_fields(values: Sequence[str | None]) -> tuple[np.ndarray, bytes]:
    """A text column as (sizes, concatenated UTF-8): size -1 is NULL."""
    if None in values:
        encoded = [b"" if v is None else v.encode() for v in values]
        sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        sizes[[i for i, v in enumerate(values) if v is None]] = -1
    else:
        encoded = [v.encode() for v in values]
        sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    return sizes, b"".join(encoded)


def pack(fixed: np.ndarray, texts: Sequence[tuple[np.ndarray, bytes]]) -> np.ndarray:
    """Rows as one binary COPY buffer (without header and trailer): each row is its fixed part
    (from :func:`fixed_rows`) followed by the text columns (from :func:`text_fields`), in order."""
    n = len(fixed)
    front = fixed.view(np.uint8).reshape(n, -1)
    width = front.shape[1]
    payloads = [np.maximum(sizes, 0) for sizes, _ in texts]
    row_bytes = width + sum(4 + p for p in payloads) if texts else np.full(n, width)
    starts = np.cumsum(row_bytes) - row_bytes
    out = np.empty(int(row_bytes.sum()), dtype=np.uint8)
    out[(starts[:, None] + np.arange(width)).ravel()] = front.ravel()
    at = starts + width
    for (sizes, blob), payload in zip(texts, payloads):
        out[(at[:, None] + np.arange(4)).ravel()] = sizes.astype(">i4").view(np.uint8)
        total = int(payload.sum())
        if total:
            # Byte k of the blob goes to its row's field start plus its offset within the field.
            blob_starts = np.cumsum(payload) - payload
            out[np.repeat(at + 4 - blob_starts, payload) + np.arange(total)] = np.frombuffer(blob, np.uint8)
        at = at + 4 + payload
    return out
