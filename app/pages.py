"""The browser pages: /report (field reporting PWA), /dashboard (the meeting map), the service
worker and the web app manifest. Same origin as the API; no front-end build step.

A page is an HTML file in frontend/pages. Before it is served, the stylesheets and scripts
marked ``data-inline`` and both translation files are written into it, so the reporting form
needs one round trip to become usable on a slow mobile connection; Leaflet stays a separate,
cacheable file. The inline scripts are allowed by their SHA-256 in the Content-Security-Policy,
so an injected script would not run even if some text were ever rendered as HTML.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from geoalchemy2.shape import to_shape

from app import csp
from app.actions.router import WRITE_ROLES as LOOP_WRITE_ROLES
from app.auth.deps import SettingsDep
from app.auth.service import ALL_REPORTS_ROLES, MODERATOR_ROLES
from app.config import Settings
from app.csp import script_hash
from app.db import SessionDep
from app.errors import DomainError
from app.hotspots import service as hotspots
from app.municipalities.models import ORGANISATION_KINDS
from app.municipalities.service import resolve_public_municipality
from app.reports import service as reports
from app.reports.router import category_read
from app.static import FRONTEND_DIR, VENDOR
from app.timeutil import utcnow

router = APIRouter(include_in_schema=False)
PAGES = FRONTEND_DIR / "pages"
STATIC = FRONTEND_DIR / "static"
I18N = STATIC / "i18n"
SWEDEN = (62.0, 15.0)
PHOTO_MAX_SIDE = 1600  # px; a resized phone photo is ~200-400 kB instead of 3-5 MB
log = logging.getLogger(__name__)

_INLINE_CSS = re.compile(r'<link rel="stylesheet" href="(/static/[\w/.-]+\.css)" data-inline>')
_RELATIVE_URL = re.compile(r"url\((?!['\"]?(?:/|#|data:|https?:))['\"]?([^)'\"]+)['\"]?\)")
_INLINE_JS = re.compile(r'<script src="(/static/[\w/.-]+\.js)" data-inline></script>')


@dataclass(frozen=True)
class Page:
    html: str
    script_hashes: tuple[str, ...]


def _json_for_html(data: Any) -> str:
    """JSON that is safe inside <script type="application/json">."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def _asset_mtimes() -> tuple[float, ...]:
    return tuple(p.stat().st_mtime for p in sorted([*PAGES.glob("*.html"), *STATIC.rglob("*.*")]))


@lru_cache(maxsize=8)
def _assemble(name: str, _mtimes: tuple[float, ...]) -> Page:
    """The page with its marked assets inlined (cached until a file under frontend/ changes)."""
    html = (PAGES / name).read_text(encoding="utf-8")
    html = _INLINE_CSS.sub(lambda m: "<style>" + _stylesheet(m.group(1)) + "</style>", html)
    scripts: list[str] = []

    def script(m: re.Match) -> str:
        body = _static_file(m.group(1)).read_text(encoding="utf-8").replace("</script", "<\\/script")
        scripts.append(body)
        return "<script>" + body + "</script>"

    html = _INLINE_JS.sub(script, html)
    dicts = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(I18N.glob("*.json"))}
    html = html.replace("<!--i18n-->", _json_for_html(dicts), 1)
    return Page(html=html, script_hashes=tuple(script_hash(s) for s in scripts))


def _static_file(url: str) -> Path:
    """The file behind a /static URL: an npm package's dist (/static/vendor/<name>/...) or frontend/static."""
    rest = url.removeprefix("/static/")
    if rest.startswith("vendor/"):
        _, name, inner = rest.split("/", 2)
        return VENDOR[name] / inner
    return STATIC / rest


def _stylesheet(url: str) -> str:
    """A stylesheet's text for inlining, its relative url(...) made absolute (Leaflet's images)."""
    base = url.rsplit("/", 1)[0]
    text = _static_file(url).read_text(encoding="utf-8").replace("</style", "<\\/style")
    return _RELATIVE_URL.sub(lambda m: f"url({base}/{m.group(1)})", text)


def asset_version() -> str:
    """Changes whenever a page or static file changes: names the service worker's cache."""
    return hashlib.sha256(repr(_asset_mtimes()).encode()).hexdigest()[:12]


def _csp(page: Page, settings: Settings) -> str:
    return csp.policy(scripts=page.script_hashes, images=csp.tile_origin(settings.map_tile_url),
                      extra=("worker-src 'self'", "manifest-src 'self'"))


def _page_config(session, settings: Settings) -> dict[str, Any]:
    """What the page needs before its first request: map start, tiles, the public categories."""
    config: dict[str, Any] = {"centre": list(SWEDEN), "zoom": 5, "categories": [],
                              "tileUrl": settings.map_tile_url, "tileAttribution": settings.map_tile_attribution,
                              "photoMaxSide": PHOTO_MAX_SIDE, "organisationKinds": list(ORGANISATION_KINDS),
                              # who may see the situation picture and report points (the API enforces it)
                              "analystRoles": sorted(ALL_REPORTS_ROLES), "pointRoles": sorted(ALL_REPORTS_ROLES),
                              "loopWriteRoles": sorted(LOOP_WRITE_ROLES),
                              "keyAdminRoles": sorted(MODERATOR_ROLES),  # list and revoke everyone's reading keys
                              "unlinkRoles": sorted(MODERATOR_ROLES),  # undo an incident link
                              "integrationRoles": sorted(MODERATOR_ROLES)}  # integrations, their keys and mappings
    try:
        muni = resolve_public_municipality(session, code=None)
    except DomainError:
        return config  # no or several municipalities: the page asks after login
    centre = to_shape(muni.boundary).centroid
    current = hotspots.get_scope(session, municipality_id=muni.id).grid.current()
    config.update(centre=[round(centre.y, 6), round(centre.x, 6)], zoom=13, municipality=muni.code,
                  municipalityName=muni.name,
                  # the dashboard opens on the cycle the meeting looks at (the page decides again)
                  meetingCycle="previous" if utcnow() < current.start + (current.end - current.start) / 2
                  else "current",
                  categories=[category_read(c).model_dump()
                              for c in reports.list_categories(session, municipality_id=muni.id)])
    return config


def _serve(name: str, session, settings: Settings) -> HTMLResponse:
    page = _assemble(name, _asset_mtimes())
    html = page.html.replace("<!--config-->", _json_for_html(_page_config(session, settings)), 1)
    return HTMLResponse(html, headers={"Content-Security-Policy": _csp(page, settings),
                                       "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                                       "Referrer-Policy": "same-origin"})


@router.get("/")
def index() -> RedirectResponse:
    return RedirectResponse("/report", status_code=307)


@router.get("/report", response_class=HTMLResponse)
def report_page(session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    return _serve("report.html", session, settings)


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    return _serve("dashboard.html", session, settings)


@router.get("/sw.js")
def service_worker() -> Response:
    """The service worker, from the site root so that its scope covers /report."""
    body = (STATIC / "js" / "sw.js").read_text(encoding="utf-8").replace("__VERSION__", asset_version(), 1)
    return Response(body, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@router.get("/manifest.webmanifest")
def manifest() -> Response:
    return Response((STATIC / "manifest.webmanifest").read_bytes(), media_type="application/manifest+json",
                    headers={"Cache-Control": "public, max-age=3600"})


# --- the API's own documentation (Swagger UI) -------------------------------------------------

SWAGGER_UI = "/static/vendor/swagger-ui"


@lru_cache(maxsize=1)
def _api_docs() -> tuple[str, str]:
    """/docs as FastAPI writes it, but with Swagger UI from our own /static (municipal networks
    often block CDNs, and no third party's script runs on this origin), and its Content-Security-Policy."""
    html = get_swagger_ui_html(
        # no OAuth2 redirect page: the API logs in with the password flow, which needs none
        openapi_url="/openapi.json", title="Lägesbild – API", oauth2_redirect_url=None,
        swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js", swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
        swagger_favicon_url="/static/icons/icon.svg",
        # no validator badge: it would send the API description to validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None}).body.decode()
    return html, csp.policy(scripts=csp.inline_script_hashes(html))


@router.get("/docs", response_class=HTMLResponse)
def api_docs() -> HTMLResponse:
    html, policy = _api_docs()
    return HTMLResponse(html, headers={"Content-Security-Policy": policy, "Cache-Control": "no-cache"})

