"""What the browser is told about our answers: Swedish municipal networks block CDNs, so /docs
comes from our own origin; HTML runs only the scripts we name (Content-Security-Policy); nothing
is MIME-sniffed."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from app import csp


def _watch(page, base_url: str) -> tuple[list[str], list[str]]:
    """Requests to other origins, and what the Content-Security-Policy refused, as they happen."""
    elsewhere: list[str] = []
    refused: list[str] = []
    own = urlsplit(base_url).netloc
    page.on("request", lambda r: elsewhere.append(r.url)
            if urlsplit(r.url).netloc not in ("", own) and not r.url.startswith(("data:", "blob:")) else None)
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    return elsewhere, refused


def test_docs_lists_the_routes_from_our_own_origin_only(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    elsewhere, refused = _watch(page, live_server.url)
    try:
        response = page.goto(f"{live_server.url}/docs")
        assert "script-src 'self' 'sha256-" in response.headers["content-security-policy"]
        page.wait_for_selector("#operations-integrations-post_events_api_v1_integrations_events_post", timeout=20_000)
        assert page.locator(".opblock").count() > 50
        assert "Lägesbild" in page.locator(".title").first.inner_text()
    finally:
        context.close()
    assert elsewhere == [] and refused == []


def test_the_situation_map_draws_its_hexagons_under_its_own_policy(browser, live_server):
    context = browser.new_context(extra_http_headers=live_server.headers("est"))
    page = context.new_page()
    elsewhere, refused = _watch(page, live_server.url)
    try:
        response = page.goto(f"{live_server.url}/maps/situation.html?cycle=previous")
        assert response.status == 200
        policy = response.headers["content-security-policy"]
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        assert response.headers["cache-control"] == "private, no-store"
        page.wait_for_selector("path.leaflet-interactive", timeout=20_000)
        assert page.locator("path.leaflet-interactive").count() > 10
    finally:
        context.close()
    # the demo's tiles are OpenStreetMap's, which the policy allows (and this machine cannot reach)
    assert refused == [] and all(urlsplit(u).netloc == "tile.openstreetmap.org" for u in elsewhere)


def test_the_swagger_ui_files_are_served_and_the_cdn_is_not_named(client):
    html = client.get("/docs").text
    assert "cdn.jsdelivr.net" not in html and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/redoc").status_code == 404


@pytest.mark.parametrize("path,username", [
    ("/api/v1/reports", "est"), ("/api/v1/reports/00000000-0000-0000-0000-000000000000", "est"),
    ("/static/js/common.js", None), ("/healthz", None), ("/docs", None),
])
def test_nothing_is_mime_sniffed_and_the_referrer_is_the_origin_only(client, auth, path, username):
    r = client.get(path, headers=auth(username) if username else {})
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_the_printable_documents_run_no_script_and_are_framed_by_nobody(client, auth):
    r = client.get("/api/v1/lagesbild.html", headers=auth("est"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == csp.DOCUMENT
    assert "default-src 'none'" in csp.DOCUMENT and "frame-ancestors 'none'" in csp.DOCUMENT
    assert "<script" not in r.text  # so the policy takes nothing away from it
    # a page with policies of its own keeps them
    page = client.get("/report")
    assert "script-src 'self' 'sha256-" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "same-origin" and page.headers["x-content-type-options"] == "nosniff"
