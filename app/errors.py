"""One error table: domain errors carry their HTTP status; every error is RFC 9457 problem+json.

Services raise the subclasses of :class:`DomainError`; nothing else in the code base
builds an error response.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("lagesbild.errors")
# PostgreSQL gave up this transaction for another one's sake (deadlock detected, serialization
# failure): nothing was stored, and the same request sent again succeeds.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
RETRY_DETAIL = ("Another request changed the same reports at the same moment, and the database stopped this one to "
                "let the other finish; nothing was stored. Send it again.")
# What a request refers to (a place, an action, a note) was deleted or changed by another request
# between our reading it and our writing: a foreign key, a unique key or a row that is gone.
RACE_SQLSTATES = frozenset({"23503", "23505", "23P01"})
RACE_DETAIL = ("Another request changed or deleted what this one refers to at the same moment; nothing was stored. "
               "Read it again, and send this again if it still applies.")


def printable(path: str, limit: int = 300) -> str:
    """The path as one log line can hold it: a line break or NUL in it (``%0A``, ``%00``) escaped,
    so a request cannot write a line of its own into the log; cut to ``limit`` characters."""
    if not path.isprintable():
        path = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in path)
    return path if len(path) <= limit else path[:limit] + "…"


class DomainError(Exception):
    """Base of every error a client may see; ``status`` and ``title`` map it to HTTP."""

    status: int = 400
    title: str = "Bad request"
    type_slug: str = "bad-request"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers


class BadRequest(DomainError):
    """A request the server cannot interpret (OGC API: any invalid query parameter; an unknown CRS)."""

    status, title, type_slug = 400, "Bad request", "bad-request"


class InvalidInput(DomainError):
    status, title, type_slug = 422, "Invalid input", "invalid-input"


class PersonalDataSuspected(InvalidInput):
    """The text seems to hold a personnummer or phone number; the client may resend with a confirmation."""
    type_slug = "personal-data"


class NotFound(DomainError):
    status, title, type_slug = 404, "Not found", "not-found"


class Conflict(DomainError):
    status, title, type_slug = 409, "Conflict", "conflict"


class PreconditionFailed(DomainError):
    """The client's If-Match names a version that is no longer the stored one (someone else's
    change came in between): nothing was written."""

    status, title, type_slug = 412, "Precondition failed", "precondition-failed"


class Unauthenticated(DomainError):
    status, title, type_slug = 401, "Not authenticated", "unauthenticated"

    def __init__(self, detail: str, *, challenges: tuple[str, ...] = ("Bearer",)) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": ", ".join(challenges)})


class Forbidden(DomainError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class PayloadTooLarge(DomainError):
    status, title, type_slug = 413, "Payload too large", "payload-too-large"


class UnsupportedMediaType(DomainError):
    status, title, type_slug = 415, "Unsupported media type", "unsupported-media-type"


class RateLimited(DomainError):
    status, title, type_slug = 429, "Too many requests", "rate-limited"


def require_known(name: str, values: list[str] | tuple[str, ...], known: set[str]) -> None:
    """422 naming ``name`` and listing the known values when a filter value is not one of them
    (a typo must not quietly give an empty map or file)."""
    unknown = [v for v in values if v not in known]
    if unknown:
        raise InvalidInput(f"Unknown {name} {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}",
                           errors=[{"field": name, "message": f"unknown value {v!r}"} for v in unknown])


def problem(status: int, title: str, detail: str, *, type_slug: str, instance: str | None = None,
            errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    """An RFC 9457 problem document as a response."""
    body: dict[str, Any] = {
        "type": f"https://lagesbild.se/problems/{type_slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# A standard with an error body of its own (Open311 GeoReport v2: a JSON array of {code,
# description}) answers in it under its path prefix; which status an error has stays decided here.
ErrorFormat = Callable[[int, str, list[dict[str, Any]] | None, dict[str, str] | None], Response]
_formats: dict[str, ErrorFormat] = {}


def register_format(prefix: str, render: ErrorFormat) -> None:
    """Answer errors of requests under ``prefix`` with ``render(status, detail, errors, headers)``."""
    _formats[prefix] = render


def error_response(path: str, status: int, title: str, detail: str, *, type_slug: str,
                   errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> Response:
    """The error for a request to ``path``: problem+json, or the format registered for its prefix."""
    for prefix, render in _formats.items():
        if path.startswith(prefix):
            return render(status, detail, errors, headers)
    return problem(status, title, detail, type_slug=type_slug, instance=path, errors=errors, headers=headers)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'lat') -> 'lat'; ('query', 'limit') -> 'limit' (the part a client wrote)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "form", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def field_errors(raw: Any) -> list[dict[str, Any]]:
    """Pydantic's errors (``exc.errors()``) as our ``errors`` entries: field, message, type."""
    out = []
    for err in raw:
        msg = str(err.get("msg", "invalid value"))
        loc = err.get("loc", ())
        if err.get("type") == "json_invalid":
            # the location is ('body', <character position>): the error is the body's
            where = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
            msg = "Malformed JSON" + where + ": " + str(err.get("ctx", {}).get("error", "could not be parsed"))
            loc = ("body",)
        elif err.get("type") in ("too_long", "too_short") and isinstance(err.get("input"), str):
            # A length limit on validated text: pydantic words it for lists ("items after validation").
            bound = err.get("ctx", {}).get("max_length" if err["type"] == "too_long" else "min_length")
            msg = f"Text should have at {'most' if err['type'] == 'too_long' else 'least'} {bound} characters"
        out.append({"field": _field_path(loc), "message": msg, "type": err.get("type")})
    return out


def summarise(errors: list[dict[str, Any]], *, first: int = 5) -> str:
    """The first field errors as one ``detail`` line: 'lat: ...; category: ...'."""
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors[:first])


def _why(cause: Exception) -> str:
    if isinstance(cause, RecursionError):
        return "nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not UTF-8"
    return str(cause).split(";")[0]  # e.g. "Exceeds the limit (4300 digits) for integer string conversion"


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route allows on the request's path (Starlette's 405 names the first
    route's only, though one path has several: GET, PATCH and DELETE of a place); HEAD with GET."""
    routes = request.app.router.routes  # (routers included as a whole: asked through their own matches())
    methods = {method for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
               if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)}
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))


def _invalid_input_status(request: Request) -> int:
    """422 for invalid input, unless the route declares another status: the OGC API routes
    must answer an invalid query parameter with 400 (/req/core/query-param-invalid)."""
    return getattr(request.scope.get("route"), "invalid_input_status", 422)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into problem+json."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        status = _invalid_input_status(request) if isinstance(exc, InvalidInput) else exc.status
        return error_response(request.url.path, status, exc.title, exc.detail, type_slug=exc.type_slug,
                              errors=exc.errors, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = field_errors(exc.errors())
        return error_response(request.url.path, _invalid_input_status(request), "Invalid input", summarise(errors),
                              type_slug="invalid-input", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Not authenticated",
                  413: "Payload too large", 415: "Unsupported media type", 429: "Too many requests"}
        slugs = {413: "payload-too-large", 415: "unsupported-media-type", 429: "rate-limited"}
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 400 and isinstance(exc.__cause__, (RecursionError, ValueError)):
            # FastAPI's "error parsing the body" for JSON that json.loads gives up on: answered
            # like any other malformed JSON, saying why
            return error_response(request.url.path, _invalid_input_status(request), "Invalid input",
                                  f"Malformed JSON: {_why(exc.__cause__)}",
                                  type_slug="invalid-input", errors=[{"field": "body", "message": "malformed JSON"}])
        headers = getattr(exc, "headers", None)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No resource at {request.url.path}"
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):  # (a mount's own 405 as it is)
            detail = f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}"
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return error_response(request.url.path, exc.status_code, titles.get(exc.status_code, "Error"), detail,
                              type_slug=slugs.get(exc.status_code, f"http-{exc.status_code}"), headers=headers)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: Exception) -> Response:
        # A value PostgreSQL cannot take (say, out of range): bad input, and nothing was stored.
        return error_response(request.url.path, 422, "Invalid input", "A value in the request cannot be used by the "
                              "database (a number out of range, or a character it cannot hold); nothing was changed",
                              type_slug="invalid-input")

    @app.exception_handler(IntegrityError)
    @app.exception_handler(StaleDataError)
    async def _race(request: Request, exc: Exception) -> Response:
        # The checks before a write (does the place exist? is the note free?) passed, and another
        # request then deleted or took it before we wrote: a conflict, not a server failure.
        # Any other integrity error (a check constraint) is a defect of ours, still a 500.
        sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
        if isinstance(exc, StaleDataError) or sqlstate in RACE_SQLSTATES:
            log.warning("%s on %s %s: changed meanwhile by another request, rolled back", type(exc).__name__,
                        request.method, printable(request.url.path))
            return error_response(request.url.path, 409, "Conflict", RACE_DETAIL, type_slug="conflict")
        return await _unexpected(request, exc)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(request: Request, exc: Exception) -> Response:
        if getattr(getattr(exc, "orig", None), "sqlstate", None) in RETRYABLE_SQLSTATES:
            log.warning("%s on %s %s: rolled back, the client may retry", type(exc.orig).__name__, request.method,
                        printable(request.url.path))
            return error_response(request.url.path, 409, "Conflict", RETRY_DETAIL, type_slug="conflict",
                                  headers={"Retry-After": "1"})
        log.error("database unavailable on %s %s: %s", request.method, printable(request.url.path), type(exc).__name__)
        return error_response(request.url.path, 503, "Service unavailable",
                              "The database is not reachable right now; nothing was stored. Please retry shortly.",
                              type_slug="database-unavailable", headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, printable(request.url.path))
        return error_response(request.url.path, 500, "Internal server error",
                              "The server failed to handle this request; nothing was stored. "
                              "The error is logged; please try again or contact the administrator.",
                              type_slug="internal")
