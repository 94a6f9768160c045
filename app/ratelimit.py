"""Per-client rate limits with the `limits` library (moving window, in process memory).

A client is its IPv4 address, or the /64 of its IPv6 address (what one household or phone
is given: it picks any address in it). Memory storage is per worker process: with N uvicorn
workers a client gets up to N times the limit. Behind a reverse proxy every request comes
from the proxy's address, so all clients would share one bucket: run uvicorn with
--proxy-headers and FORWARDED_ALLOW_IPS set to the proxy's address (the Docker image and
docker-compose.yml do), or set LAGESBILD_TRUST_FORWARDED_FOR=true so that the client address
is taken from X-Forwarded-For.
"""
from __future__ import annotations

import ipaddress
import time
from functools import lru_cache

from fastapi import Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from app.config import get_settings
from app.errors import RateLimited

_limiter = MovingWindowRateLimiter(MemoryStorage())


@lru_cache
def _parsed(limit: str):
    return parse(limit)


def client_address(request: Request) -> str:
    """The client's address; behind a trusted proxy, the entry that proxy appended to
    X-Forwarded-For (the rightmost), since everything left of it is what the client sent."""
    if get_settings().trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.client.host if request.client else "unknown"


def client_bucket(address: str) -> str:
    """Whom a rate limit counts for a client address: an IPv4 address as it is, an IPv6 address
    by its /64 network ("2001:db8:1:2::/64"; an IPv4-mapped one as the IPv4 address), anything
    that is not an address (a test client's name) as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def hit_or_raise(limit: str, bucket: str, request: Request, *extra: str) -> None:
    """Count one hit for this client in ``bucket``; 429 with Retry-After when over ``limit``."""
    item = _parsed(limit)
    keys = (bucket, client_bucket(client_address(request)), *extra)
    if not _limiter.hit(item, *keys):
        reset = _limiter.get_window_stats(item, *keys).reset_time
        retry = max(1, int(reset - time.time()))
        raise RateLimited(f"Too many requests; the limit is {limit}. Try again in {retry} s.",
                          headers={"Retry-After": str(retry)})


def reset_all() -> None:
    """Forget every counter (tests)."""
    _limiter.storage.reset()
