"""ASGI middleware: a request-body size limit (413 as problem+json), UTF-8 for form bodies
and an access log without personal data (no query strings, no bodies, no client addresses)."""
from __future__ import annotations

import logging
import re
import time
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import caller, csp
from app.errors import UnsupportedMediaType, error_response, printable

access_log = logging.getLogger("lagesbild.access")


class BodyLimitMiddleware:
    """Refuse bodies over the limit: early from Content-Length, or while streaming.
    ``limits`` maps a path ending (``/attachments``) to its own limit."""

    def __init__(self, app: ASGIApp, *, default_limit: int, limits: dict[str, int]) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next((n for end, n in self.limits.items() if scope["path"].endswith(end)), self.default_limit)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            response = error_response(scope["path"], 413, "Payload too large",
                                      f"The request body is {int(length)} bytes; the limit here is {limit} bytes",
                                      type_slug="payload-too-large")
            await response(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"The request body exceeds the limit of {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


_NON_ASCII = re.compile(rb"[\x80-\xff]")


class HeadMiddleware:
    """HEAD answered as GET without the body (RFC 9110 §9.1: a server supports GET and HEAD),
    for monitoring (``curl -I``) and link checkers. Outside the gzip middleware, so the headers
    are GET's, Content-Encoding and Content-Length included. (The GET runs: a HEAD of an export
    costs what the export costs.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


class NulQueryMiddleware:
    """A NUL character (``%00``) in a query parameter is refused at once with 422 naming the
    parameter: PostgreSQL cannot hold one in text, and the database's error would name nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"%00" not in query and b"\x00" not in query:
            await self.app(scope, receive, send)
            return
        names = sorted({name for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
                        if "\x00" in name or "\x00" in value})
        if not names:  # (%00 escaped as %2500: a literal "%00" is fine)
            await self.app(scope, receive, send)
            return
        shown = [name.replace("\x00", "\\0") for name in names]
        # (the OGC API answers an invalid query parameter with 400, /req/core/query-param-invalid)
        status = 400 if scope["path"].startswith("/ogc") else 422
        response = error_response(scope["path"], status, "Invalid input",
                                  f"{', '.join(shown)}: a NUL character (%00) is not allowed in a value",
                                  type_slug="invalid-input",
                                  errors=[{"field": name, "message": "contains a NUL character"} for name in shown])
        await response(scope, receive, send)


class AllowedHostsMiddleware:
    """Only requests for the service's own host names are answered (``LAGESBILD_ALLOWED_HOSTS``):
    links in answers (OGC API ``next``, TileJSON, Open311 discovery) are built from the Host
    header, and a GIS client follows them with its key. Others get 400. A name may start with
    ``*.`` for any subdomain; the port is not compared. The health checks answer any host (a
    monitor asks by address; they hand out no links)."""

    HEALTH = frozenset({"/healthz", "/readyz"})

    def __init__(self, app: ASGIApp, *, hosts: list[str]) -> None:
        self.app = app
        self.exact = {h.lower() for h in hosts if not h.startswith("*.")}
        self.suffixes = tuple(h[1:].lower() for h in hosts if h.startswith("*."))

    def allows(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host  # [::1] has colons of its own
        name = name.lower().rstrip(".")
        return name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.HEALTH:
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if self.allows(host):
            await self.app(scope, receive, send)
            return
        response = error_response(scope["path"], 400, "Bad request",
                                  f"This service does not answer to the host name {printable(host)!r}; it answers to "
                                  f"{', '.join(sorted(self.exact) + ['*' + s for s in self.suffixes])} "
                                  "(LAGESBILD_ALLOWED_HOSTS)", type_slug="bad-request")
        await response(scope, receive, send)


class Utf8FormMiddleware:
    """Form bodies (``application/x-www-form-urlencoded``) with unescaped UTF-8 — what
    ``curl -d description='Klotter på väggen'`` and some reporting apps send — are read as
    UTF-8. Starlette decodes unescaped bytes as Latin-1 ('pÃ¥'); escaped ones (``%C3%A5``)
    as UTF-8. So when the whole body is valid UTF-8, every byte over 0x7F is escaped before
    the form is parsed. A body that is not (an old client's Latin-1), or that declares another
    charset, is left as it is — Starlette's Latin-1 reading is then the right one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _utf8_form(dict(scope["headers"]).get(b"content-type", b"")):
            await self.app(scope, receive, send)
            return
        whole = False

        async def whole_body() -> Message:
            # The body in one message (forms are small; the body limit outside counts it), read
            # when the app asks, so that its errors are the app's as before.
            nonlocal whole
            if whole:
                return await receive()
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return message
                body += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            whole = True
            return {"type": "http.request", "body": _escape_utf8(bytes(body)), "more_body": False}

        await self.app(scope, whole_body, send)


def _escape_utf8(body: bytes) -> bytes:
    """``body`` with each byte over 0x7F %-escaped, when it is valid UTF-8; else unchanged."""
    if not _NON_ASCII.search(body):
        return body
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    return _NON_ASCII.sub(lambda m: b"%%%02X" % m[0][0], body)


def _utf8_form(content_type: bytes) -> bool:
    media, *params = content_type.decode("latin-1").lower().split(";")
    charset = next((p.split("=", 1)[1].strip().strip('"') for p in params if p.strip().startswith("charset=")), "utf-8")
    return media.strip() == "application/x-www-form-urlencoded" and charset in ("utf-8", "utf8")


class DefaultHeadersMiddleware:
    """What an answer carries unless its route set it:

    - ``Cache-Control: private, no-store`` on the API (``/api/``, ``/ogc``, ``/open311``): kept by
      no cache — the browser's on a shared meeting-room PC, a proxy, QGIS's disk cache (a photo, a
      report, a PDF are personal data). Pages, static files and tiles set their own.
    - Everywhere, no MIME sniffing (a photo, a CSV or an error is never run as HTML or script),
      and a referrer cut to the origin for other sites (a tile server learns which service, not
      which page).
    - An HTML document without a policy of its own (the meeting report, the lägesbild): a
      Content-Security-Policy that runs no script, loads nothing from elsewhere and lets no other
      site frame it (:data:`app.csp.DOCUMENT`)."""

    PRIVATE_PREFIXES = ("/api/", "/ogc", "/open311/")
    PRIVATE = (b"cache-control", b"private, no-store")
    EVERYWHERE = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"strict-origin-when-cross-origin"))
    DOCUMENT_CSP = (b"content-security-policy", csp.DOCUMENT.encode())

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = [*self.EVERYWHERE, *([self.PRIVATE] if scope["path"].startswith(self.PRIVATE_PREFIXES) else [])]

        async def with_defaults(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                added = [(n, v) for n, v in defaults if n not in names]
                html = any(n.lower() == b"content-type" and v.lower().startswith(b"text/html") for n, v in headers)
                if html and self.DOCUMENT_CSP[0] not in names:
                    added.append(self.DOCUMENT_CSP)
                if added:
                    message = {**message, "headers": [*headers, *added]}
            await send(message)

        await self.app(scope, receive, with_defaults)


class AccessLogMiddleware:
    """One line per request: method, route path, status, milliseconds, and who asked
    (:mod:`app.caller`: a user's or an integration's id, ``-`` for nobody; never names, query
    values or bodies)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        holder, token = caller.begin()
        try:
            await self.app(scope, receive, capture)
        finally:
            caller.end(token)
            access_log.info("%s %s %d %.1fms %s", scope["method"], printable(scope["path"]), status,
                            (time.perf_counter() - start) * 1000, holder.get("who", "-"))



async def require_json(request: Request) -> None:
    """Route dependency: a JSON body must say so (415 otherwise, before the body is parsed)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise UnsupportedMediaType(f"Send the body as JSON with 'Content-Type: application/json' "
                                   f"(got {ctype or 'no content type'})")
