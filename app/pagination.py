"""Opaque keyset cursors and the page-size cap shared by every list endpoint."""
from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass

from app.errors import InvalidInput


@dataclass(frozen=True)
class Cursor:
    """Position after the last row of a page: (timestamp, id) of that row."""

    at: dt.datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = f"{self.at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            at, ident = raw.split("|")
            return cls(at=dt.datetime.fromisoformat(at), id=uuid.UUID(ident))
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("The cursor is not valid; use the 'next' link of the previous page",
                               errors=[{"field": "cursor", "message": "invalid cursor"}]) from None


def clamp_limit(limit: int | None, *, default: int, maximum: int) -> int:
    """The page size: the default when absent, never above the cap."""
    if limit is None:
        return default
    return max(1, min(limit, maximum))
