"""Typed settings, one class per concern, validated at start-up.

Values come from environment variables (prefix ``LAGESBILD_`` except ``DATABASE_URL``).
Fail closed: without ``LAGESBILD_ENV`` the environment is ``production``, which refuses to
start without a real ``LAGESBILD_SECRET_KEY`` and refuses the demo logins. ``make run``,
``make test`` and ``make bench`` say which environment they are.
"""
from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SAFE_ENVIRONMENTS = {"dev", "demo", "test"}
MIN_SECRET_CHARS = 32
# The signing key of dev/demo/test when LAGESBILD_SECRET_KEY is not set: random, made once per
# checkout (so tokens survive a restart of `make run`, and its workers and the tests' servers agree).
SECRET_FILE = Path(__file__).resolve().parent.parent / ".local" / "secret_key"
# Published in this repository's history as the development secret: never a key.
PUBLISHED_SECRETS = frozenset({"dev-only-secret-change-me-0123456789abcdef"})
_MAKE_SECRET = "e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`"
# The demo data's password (every demo user) and the rescue service's key (seeds/demo.py): known
# to anyone, so refused at login and key authentication outside demo mode.
DEMO_PASSWORD = "demo"
DEMO_API_KEY = "demo-rescue-key"


class Settings(BaseSettings):
    """All settings of the service; see README "Configuration"."""

    model_config = SettingsConfigDict(env_prefix="LAGESBILD_", extra="ignore")

    env: Literal["dev", "demo", "test", "production"] = "production"
    database_url: str = Field(
        "postgresql+psycopg://lagesbild@127.0.0.1:54329/lagesbild",
        validation_alias="DATABASE_URL",
    )
    db_pool_size: int = 20

    secret_key: str = ""  # required in production; in dev/demo/test the checkout's SECRET_FILE when empty
    token_minutes: int = 12 * 60

    attachment_dir: Path = Path("var/attachments")
    attachment_max_bytes: int = 10 * 1024 * 1024
    # A JPEG as cameras write it (baseline) is decoded at 1/2, 1/4 or 1/8 scale: 70 MP takes a 64 MP
    # phone's photo. A PNG, WebP (half of it) or progressive JPEG is decoded at full size: 16 MP takes a
    # 12 MP photo or a 5K screen capture, and a decode then holds ~130 MB at most (docs/performance.md).
    attachment_max_pixels: int = 70_000_000
    attachment_max_full_pixels: int = 16_000_000
    attachment_max_side: int = 2560
    attachment_max_per_report: int = Field(10, ge=1)
    # Photos decoded at once per process (the others wait up to attachment_decode_wait_seconds, then 503).
    attachment_decoders: int = Field(2, ge=1)
    attachment_decode_wait_seconds: float = Field(20, gt=0)
    body_max_bytes: int = 64 * 1024
    clock_skew_seconds: int = 300
    # The events feed (POST /api/v1/integrations/events): events per batch, and the body size.
    feed_max_events: int = 10_000
    feed_body_max_bytes: int = 32 * 1024 * 1024

    list_default_limit: int = 100
    list_max_limit: int = 1000
    # OGC API items: GIS clients page through whole layers, so the cap is higher.
    ogc_default_limit: int = 100
    ogc_max_limit: int = 10_000
    export_batch_rows: int = 10_000  # rows per server-side cursor fetch in exports (memory per request)

    # Hotspot vector tiles: seconds a token's user (role, municipality, active) is reused without
    # asking the database; a role change or deactivation reaches tiles within this time. 0: every tile asks.
    tile_auth_cache_seconds: float = 5

    public_rate_limit: str = "10/minute"
    login_rate_limit: str = "20/minute"  # per client and username
    login_client_rate_limit: str = "60/minute"  # per client, whatever the username
    trust_forwarded_for: bool = False
    # Host names the service answers to, comma-separated ('*.' for subdomains); '*' = any (links in
    # answers are built from the request's Host header, so set it in production).
    allowed_hosts: str = "*"

    # Open311 GeoReport v2 discovery: who to contact, how an app gets an api_key.
    open311_contact: str = "The municipality's EST coordinator (samordnare för EST)"
    open311_key_service: str = ("An app asks the municipality's EST coordinator for an api_key: each app is an "
                                "integration with its own key, stored hashed and revocable")

    # Basemap for maps; empty = no tiles (the maps stay readable: outline and hexagons only).
    map_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_tile_attribution: str = "© OpenStreetMap contributors"

    @property
    def allowed_host_names(self) -> list[str] | None:
        """The host names to answer to, as the Host header names them (lower case, without a
        port or a final dot, an IPv6 address in brackets); None for any."""
        names = [_host_name(h) for h in self.allowed_hosts.split(",") if h.strip()]
        return None if not names or "*" in names else names

    @property
    def demo_mode(self) -> bool:
        """Demo logins and the demo integration key exist only in these environments."""
        return self.env in SAFE_ENVIRONMENTS

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> "Settings":
        if self.secret_key in PUBLISHED_SECRETS:
            raise ValueError("LAGESBILD_SECRET_KEY is the development secret published with the source code; "
                             f"set a random value of at least {MIN_SECRET_CHARS} characters, {_MAKE_SECRET}")
        if self.env not in SAFE_ENVIRONMENTS:
            if len(self.secret_key) < MIN_SECRET_CHARS:
                raise ValueError(
                    f"LAGESBILD_SECRET_KEY must be set to a random value of at least {MIN_SECRET_CHARS} characters "
                    f"in production, {_MAKE_SECRET}. LAGESBILD_ENV is '{self.env}' (also when it is not set; "
                    "LAGESBILD_ENV=demo for a demo installation, as `make run` sets it)"
                )
        elif not self.secret_key:
            self.secret_key = checkout_secret(SECRET_FILE)
        return self


def checkout_secret(path: Path) -> str:
    """The signing key of a dev/demo/test checkout: read from ``path``, made there first when
    missing (256 random bits as hex, mode 0600). Written to a file of its own and linked into
    place, so that processes starting at once (uvicorn's workers) all read the same complete key."""
    try:
        if not path.exists():
            _make_secret_file(path)
        key = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"Cannot keep the signing key in {path} ({exc.strerror}); set LAGESBILD_SECRET_KEY "
                         f"to a random value of at least {MIN_SECRET_CHARS} characters, {_MAKE_SECRET}") from None
    if len(key) < MIN_SECRET_CHARS:
        raise ValueError(f"{path} does not hold a signing key of at least {MIN_SECRET_CHARS} characters: "
                         "delete it (a new one is made; logins end) or set LAGESBILD_SECRET_KEY")
    return key


def _make_secret_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        os.link(temporary, path)  # fails when another process was first: its key is the one
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)


def _host_name(entry: str) -> str:
    """'Lagesbild.Example.se.:8443' -> 'lagesbild.example.se'; '::1' -> '[::1]'."""
    name = entry.strip().lower()
    if name.count(":") > 1 and not name.startswith("["):  # a bare IPv6 address
        return f"[{name}]"
    if name.startswith("["):
        return name[:name.index("]") + 1]
    return name.split(":", 1)[0].rstrip(".")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
