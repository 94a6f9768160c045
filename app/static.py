"""Browser assets served from this service's own origin, never from a CDN.

Municipal networks often block CDNs and printed situation maps must open offline, so Leaflet
is installed from the npm registry at set-up time (`make deps` -> frontend/node_modules) and
served here. The directories are resolved from the repository root, not the working directory.
"""
from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

FRONTEND_DIR = Path(__file__).resolve().parent.parent / "frontend"
LEAFLET_DIR = FRONTEND_DIR / "node_modules" / "leaflet" / "dist"
OWN_STATIC_DIR = FRONTEND_DIR / "static"
LEAFLET_URL = "/static/vendor/leaflet"
# npm packages the pages use: URL under /static/vendor -> their dist folder in node_modules.
VENDOR = {"leaflet": LEAFLET_DIR,
          "markercluster": FRONTEND_DIR / "node_modules" / "leaflet.markercluster" / "dist",
          "swagger-ui": FRONTEND_DIR / "node_modules" / "swagger-ui-dist"}

log = logging.getLogger(__name__)


def mount_static(app: FastAPI) -> None:
    """Mount the npm packages at /static/vendor/<name> and frontend/static at /static.

    A missing package is logged, not raised: the API itself does not need it, only the pages
    do, and that should not keep report intake from starting.
    """
    for name, directory in VENDOR.items():
        if directory.is_dir():
            app.mount(f"/static/vendor/{name}", StaticFiles(directory=directory), name=f"vendor-{name}")
        else:
            log.error("%s is not installed at %s: run `make deps` (npm ci in frontend/); "
                      "the map pages will not load until then", name, directory)
    if OWN_STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=OWN_STATIC_DIR), name="static")


def inline_leaflet(html: str) -> str:
    """The page with Leaflet's script and stylesheet embedded instead of linked, so a saved
    copy (the meeting minutes) opens anywhere, offline, without this service.

    Raises FileNotFoundError when Leaflet is not installed (see :func:`mount_static`)."""
    script = (LEAFLET_DIR / "leaflet.js").read_text(encoding="utf-8").replace("</script", "<\\/script")
    style = (LEAFLET_DIR / "leaflet.css").read_text(encoding="utf-8").replace("</style", "<\\/style")
    html = html.replace(f'<script src="{LEAFLET_URL}/leaflet.js"></script>', f"<script>{script}</script>", 1)
    return html.replace(f'<link rel="stylesheet" href="{LEAFLET_URL}/leaflet.css"/>', f"<style>{style}</style>", 1)
