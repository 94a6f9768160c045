"""Content-Security-Policy for the HTML this service serves: which scripts may run (ours, named
by their SHA-256), and that nothing is loaded from elsewhere but the configured map tiles."""
from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

# An inline script (not a <script src=...>): its text is what the browser hashes.
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def script_hash(text: str) -> str:
    """The CSP source that allows exactly this inline script."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def inline_script_hashes(html: str) -> list[str]:
    return [script_hash(body) for body in _INLINE_SCRIPT.findall(html) if body.strip()]


def tile_origin(url: str | None) -> str:
    """The origin of a tile URL template, as a CSP source ('{s}' subdomains as '*')."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}" if parts.scheme and parts.netloc else ""


def policy(*, scripts: list[str] | tuple[str, ...] = (), images: str = "", extra: tuple[str, ...] = ()) -> str:
    """A policy: our own files, the inline scripts named, images also from ``images`` (an
    origin); no plug-ins, no <base>, no framing by other sites, forms only to ourselves."""
    return "; ".join([
        "default-src 'self'", f"script-src 'self' {' '.join(scripts)}".strip(),
        "style-src 'self' 'unsafe-inline'", f"img-src 'self' data: blob: {images}".strip(),
        "connect-src 'self'", *extra, "object-src 'none'",
        "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'",
    ])


# An HTML document with no policy of its own (the meeting report, the lägesbild): no script at all.
DOCUMENT = "; ".join(["default-src 'none'", "style-src 'unsafe-inline'", "img-src 'self' data:",
                      "base-uri 'none'", "frame-ancestors 'none'", "form-action 'none'"])
