"""The FastAPI application: routers, error handlers, middleware."""
from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from app import errors
from app.actions.router import router as actions_router
from app.auth.router import reading_keys as reading_keys_router, router as auth_router
from app.config import get_settings
from app.gis.exports_router import router as exports_router
from app.gis.ogc_router import router as ogc_router
from app.gis.tiles_router import MVT, router as tiles_router
from app.integrations import open311, open311_router
from app.health import router as health_router
from app.hotspots.router import router as hotspots_router
from app.pages import router as pages_router
from app.integrations.router import router as integrations_router
from app.static import mount_static
from app.middleware import (
    AccessLogMiddleware, AllowedHostsMiddleware, BodyLimitMiddleware, DefaultHeadersMiddleware, HeadMiddleware,
    NulQueryMiddleware, Utf8FormMiddleware,
)
from app.reports.public_router import router as public_router
from app.reports.router import router as reports_router
from app.responses import GZIP_MIN_BYTES


def create_app() -> FastAPI:
    """Build the app; settings are validated here, so a bad configuration stops start-up."""
    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = FastAPI(
        # /docs is served from our own origin (app.pages), not FastAPI's CDN copy of Swagger UI
        docs_url=None, redoc_url=None,
        title="Lägesbild",
        version="0.1.0",
        description="EST – Effektiv samordning för trygghet: reports, situation picture, follow-up. "
                    "Log in with POST /api/v1/auth/token; every route needs a bearer token unless it says otherwise.",
    )
    errors.install(app)
    errors.register_format(open311.PREFIX + "/", open311_router.error_response)
    app.add_middleware(Utf8FormMiddleware)  # inside the body limit, which counts the bytes as sent
    app.add_middleware(NulQueryMiddleware)
    app.add_middleware(BodyLimitMiddleware, default_limit=settings.body_max_bytes,
                       limits={"/attachments": settings.attachment_max_bytes + 64 * 1024,
                               # an Open311 app's report may carry its photo (the media part)
                               "/open311/v2/requests.json": settings.attachment_max_bytes + 64 * 1024,
                               "/integrations/events": settings.feed_body_max_bytes})
    app.add_middleware(DefaultHeadersMiddleware)
    # Pages, Leaflet and hotspot layers shrink 4-8x; level 5 costs a fraction of level 9's CPU.
    # Tiles are gzipped by their route (app.responses), Vary included: left alone here, or the
    # middleware would name Accept-Encoding in Vary a second time.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=5,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, MVT))
    app.add_middleware(HeadMiddleware)  # outside gzip (GET's headers), inside the access log (logs HEAD)
    if settings.allowed_host_names:  # outside everything but the access log, which logs the 400
        app.add_middleware(AllowedHostsMiddleware, hosts=settings.allowed_host_names)
    app.add_middleware(AccessLogMiddleware)
    # The tiles first: routes are matched in order, and a map asks for tiles by the dozen
    # (matching past the ~90 other routes cost each tile ~0.2 ms). No other path starts /tiles/.
    for router in (tiles_router, health_router, auth_router, reading_keys_router, reports_router, public_router,
                   hotspots_router, actions_router, pages_router, open311_router.router, ogc_router, exports_router,
                   integrations_router):
        app.include_router(router)
    mount_static(app)
    return app


app = create_app()
