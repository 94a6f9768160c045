"""Token response (OAuth2 password flow)."""
from pydantic import BaseModel, Field

from app.reports.schemas import Text


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str


class ReadingKeyCreate(BaseModel):
    """A reading key for a GIS program (QGIS, GDAL, FME): it acts with your role, on the
    read-only GIS routes only (/ogc, /tiles, /api/v1/exports)."""

    label: Text = Field(min_length=1, max_length=100, description="what uses it, e.g. 'QGIS på GIS-enheten'")
    days: int = Field(365, ge=1, le=730, description="lifetime in days (1-730, default 365)")


class ReadingKeyRead(BaseModel):
    id: int
    user: str | None
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    label: str
    created_at: str
    expires_at: str
    last_used_at: str | None
    revoked_at: str | None
    active: bool


class ReadingKeyCreated(ReadingKeyRead):
    key: str = Field(description="the key itself: shown once, stored only as its SHA-256")
