"""The EST meeting map in a real (headless Chromium) desktop browser: /dashboard."""
from __future__ import annotations

import datetime as dt
import re

import h3
import httpx
import pytest
from sqlalchemy import update

from app.auth.models import ReadingKey
from app.integrations.models import ApiKey
from app.reports.models import Category, Report
from seeds.demo import DEMO_API_KEY
from tests.browser import (
    DESKTOP, DialogWatch, assert_shown_as_text, delete_test_reports, login, marker, post_markup_report,
)
from tests.feeds import event, metres_east
from tests.helpers import SQUARE


@pytest.fixture
def desktop(browser, live_server):
    contexts = []

    def _open(username: str):
        context = browser.new_context(**DESKTOP)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{live_server.url}/dashboard")
        login(page, username)
        return page

    yield _open
    for c in contexts:
        c.close()
    delete_test_reports(live_server.engine)


def layer(page) -> dict:
    return page.evaluate("({...document.querySelector('#map').dataset})")


def test_meeting_map_shows_the_hotspots_and_a_cell_in_detail(desktop, live_server, artifacts):
    page = desktop("est")
    page.wait_for_selector("body[data-layer-ready]")
    shown = layer(page)
    api = httpx.get(f"{live_server.url}/api/v1/hotspots", params={"cycle": shown["layerCycle"], "res": shown["layerRes"]},
                    headers=live_server.headers("est")).json()
    assert int(shown["layerCells"]) == len(api["features"]) > 0
    assert page.locator("path.hex").count() == len(api["features"])
    page.wait_for_selector("#agenda li:nth-child(10) .agenda-item")  # the agenda follows the layer
    assert page.locator("#agenda li").count() == 10

    page.locator("#agenda .agenda-item").first.click()
    page.wait_for_selector("#heat td.heat-cell")
    detail = page.inner_text("#detail")
    top = api["features"][0]["properties"]
    assert page.get_attribute("#detail", "data-h3") == top["h3"]
    assert "Plats 1 på dagordningen" in detail and "Denna cykel" in detail
    assert page.locator("#heat td.heat-cell").count() == 7 * 24
    assert page.locator("#sparkline polyline").count() == 1
    assert page.locator("#sparkline circle").count() == 10
    page.wait_for_selector("#cell-reports li")  # an est_member sees the reports in it (loaded after the matrix)
    assert page.locator("#cell-reports li .when").count() > 0
    page.screenshot(path=artifacts / "dashboard.png")


def test_cycle_switch_changes_the_layer(desktop):
    page = desktop("coordinator")
    page.wait_for_selector("body[data-layer-ready]")
    before = layer(page)
    options = page.eval_on_selector_all("#cycle option", "els => els.map(e => e.value)")
    page.select_option("#cycle", options[3])
    page.wait_for_function(f"document.body.dataset.layerReady === '{options[3]}'")
    after = layer(page)
    assert before["layerCycle"] in options[:2] and after["layerCycle"] == options[3]
    assert (after["layerCells"], after["layerTotal"]) != (before["layerCells"], before["layerTotal"])
    assert options[3][:4] in page.inner_text("#layer-status") or "v." in page.inner_text("#layer-status")

    page.check("#compare")
    page.wait_for_selector("path.hex-previous")
    assert "Förra cykelns hotspots" in page.inner_text("#legend")


def test_the_running_cycle_says_its_comparison_is_for_the_time_that_has_passed(desktop, live_server):
    """The running cycle's layer compares with the same share of the earlier cycles; the legend
    says how much of the cycle has passed, in the API's own number. A finished cycle does not."""
    page = desktop("est")
    page.wait_for_selector("body[data-layer-ready]")
    current, previous = page.eval_on_selector_all("#cycle option", "els => els.slice(0, 2).map(e => e.value)")
    for cycle in (previous, current):  # the map opens on either, by the day
        page.select_option("#cycle", cycle)
        page.wait_for_function(f"document.body.dataset.layerReady === '{cycle}'")
        legend = page.inner_text("#legend")
        if cycle == previous:
            assert "Pågående cykel" not in legend
    share = httpx.get(f"{live_server.url}/api/v1/hotspots", params={"cycle": "current"},
                      headers=live_server.headers("est")).json()["cycle"]["elapsed_share"]
    shown = re.search(r"Pågående cykel: (\d+) % av cykeln har gått; jämförelsen med förra cykeln och baslinjen "
                      r"gäller samma andel", legend)
    assert shown and abs(int(shown[1]) - 100 * share) <= 1, legend


@pytest.mark.parametrize("days_in, opens_on", [(0.1, "previous"), (3, "previous"), (8, "current"), (13.9, "current")])
def test_the_map_opens_on_the_cycle_the_meeting_looks_at(browser, live_server, days_in, opens_on):
    """On meeting day a new cycle has just begun: the map opens on the one before, until the
    new one is half over (the browser's clock set to that day)."""
    cycles = httpx.get(f"{live_server.url}/api/v1/cycles", params={"n": 3}, headers=live_server.headers("est")).json()
    current, previous = cycles["cycles"][0], cycles["cycles"][1]
    moment = dt.datetime.fromisoformat(current["start"]) + dt.timedelta(days=days_in)
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        page.clock.install(time=moment)
        page.goto(f"{live_server.url}/dashboard")
        login(page, "est")
        page.wait_for_selector("body[data-layer-ready]")
        expected = {"current": current, "previous": previous}[opens_on]
        assert layer(page)["layerCycle"] == expected["id"] == page.input_value("#cycle")
    finally:
        context.close()


def test_colour_modes_and_filters(desktop):
    page = desktop("est")
    page.wait_for_selector("body[data-layer-ready]")
    all_total = float(layer(page)["layerTotal"])
    page.select_option("#colour-by", "significance")
    assert "Intensifierande" in page.inner_text("#legend")
    page.select_option("#colour-by", "change")
    assert "Oförändrat" in page.inner_text("#legend")
    # a change of exactly +3 or -3 is in the outer classes, on both sides alike, as the legend says
    assert "Ökat med 3 eller mer" in page.inner_text("#legend") and "Minskat med 3 eller mer" in page.inner_text("#legend")
    page.select_option("#group", "brand")
    page.wait_for_function(f"Number(document.querySelector('#map').dataset.layerTotal) < {all_total}")


def test_in_english_the_agenda_names_categories_in_english(desktop):
    from app.reports.taxonomy import CATEGORIES

    page = desktop("est")
    page.wait_for_selector("#agenda li .agenda-item")
    swedish = page.eval_on_selector_all("#agenda .agenda-item strong", "els => els.map(e => e.textContent).join('|')")
    page.click('[data-lang="en"]')
    page.wait_for_function("""swedish => [...document.querySelectorAll('#agenda .agenda-item strong')]
                                          .map(e => e.textContent).join('|') !== swedish""", arg=swedish)
    shown = page.eval_on_selector_all("#agenda .agenda-item strong", "els => els.map(e => e.textContent)")
    english = {label_en for _, _, label_en, *_ in CATEGORIES}
    assert shown and all(label in english or re.fullmatch(r"[0-9a-f]{15}", label) for label in shown), shown


def test_resolution_follows_zoom(desktop):
    page = desktop("est")
    page.wait_for_selector("body[data-layer-ready]")
    assert layer(page)["layerRes"] == "9"
    page.click(".leaflet-control-zoom-out")
    page.wait_for_function("document.querySelector('#map').dataset.layerRes === '8'")
    page.click(".leaflet-control-zoom-out")
    page.wait_for_function("document.querySelector('#map').dataset.layerRes === '7'")
    cells_at_7 = int(layer(page)["layerCells"])
    for _ in range(4):
        page.click(".leaflet-control-zoom-in")
        page.wait_for_timeout(400)
    page.wait_for_function("document.querySelector('#map').dataset.layerRes === '10'")
    assert int(layer(page)["layerCells"]) > cells_at_7


def test_points_only_for_roles_that_may_see_them(desktop, live_server):
    page = desktop("est")
    page.wait_for_selector("body[data-layer-ready]")
    page.check("#points")
    page.wait_for_function("Number(document.querySelector('#map').dataset.points) > 0")
    assert page.locator(".marker-cluster, path.report-point").count() > 0

    reporter = desktop("reporter")
    reporter.wait_for_selector("#no-access", state="visible")
    assert reporter.is_hidden("#workspace") and reporter.is_hidden("#points-toggle")
    r = httpx.get(f"{live_server.url}/api/v1/hotspots", headers=live_server.headers("reporter"))
    assert r.status_code == 403


def test_a_cells_report_list_follows_the_maps_filters(desktop, live_server):
    """With the map filtered to one category group, a cell lists the reports its count is made of."""
    word = marker()
    ids = []
    for category, text in (("klotter", f"Tagg {word}"), ("nedskrapning", f"Skräp {word}")):
        r = httpx.post(f"{live_server.url}/api/v1/reports", headers=live_server.headers("reporter"),
                       json={"category": category, **SQUARE, "description": text})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    with live_server.engine.begin() as conn:
        conn.execute(update(Report).where(Report.id.in_(ids)).values(status="verified"))
    current = httpx.get(f"{live_server.url}/api/v1/cycles/current", headers=live_server.headers("est")).json()
    cell = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 9)
    page = desktop("est")
    page.goto(f"{live_server.url}/dashboard#cycle={current['id']}&cell={cell}")
    page.wait_for_selector(f"#cell-reports li:has-text('Tagg {word}')")
    litter = page.locator("#cell-reports li", has_text=f"Skräp {word}")
    assert litter.count() == 1
    page.select_option("#group", "miljo")
    page.wait_for_function("performance.getEntriesByType('resource').some(e => e.name.includes('/api/v1/reports?')"
                           " && e.name.includes('group=miljo'))")
    page.wait_for_selector(f"#cell-reports li:has-text('Tagg {word}')", state="detached")
    litter.wait_for()  # the list as the filtered map counts it
    assert page.locator("#cell-reports li", has_text=f"Tagg {word}").count() == 0


def test_a_reports_photo_is_shown_in_the_cells_list_on_request(desktop, live_server):
    """The photo needs the login, so it is fetched with it (an <img src> alone would be refused)."""
    import io

    from PIL import Image

    word = marker()
    made = httpx.post(f"{live_server.url}/api/v1/reports", headers=live_server.headers("reporter"),
                      json={"category": "klotter", **SQUARE, "description": f"Med foto {word}"})
    assert made.status_code == 201, made.text
    out = io.BytesIO()
    Image.new("RGB", (200, 120), (200, 40, 40)).save(out, format="JPEG")
    photo = httpx.post(f"{live_server.url}/api/v1/reports/{made.json()['id']}/attachments",
                       headers=live_server.headers("reporter"), files={"file": ("p.jpg", out.getvalue(), "image/jpeg")})
    assert photo.status_code == 201, photo.text
    with live_server.engine.begin() as conn:
        conn.execute(update(Report).where(Report.id == made.json()["id"]).values(status="verified"))
    current = httpx.get(f"{live_server.url}/api/v1/cycles/current", headers=live_server.headers("est")).json()
    cell = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 9)
    page = desktop("est")
    page.goto(f"{live_server.url}/dashboard#cycle={current['id']}&cell={cell}")
    item = page.locator("#cell-reports li", has_text=f"Med foto {word}")
    item.locator("button.show-photos").click()
    image = item.locator("img.report-photo")
    image.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [200, 120]


def test_report_text_in_the_cell_list_is_text_not_html(desktop, live_server):
    word, evil = post_markup_report(live_server)
    # Verified and in the current cycle, so the hexagon on the square lists it.
    with live_server.engine.begin() as conn:
        conn.execute(update(Report).where(Report.description == evil).values(status="verified"))
    cell = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], 9)
    page = desktop("est")
    dialogs = DialogWatch(page)
    current = httpx.get(f"{live_server.url}/api/v1/cycles/current", headers=live_server.headers("est")).json()
    page.goto(f"{live_server.url}/dashboard#cycle={current['id']}&cell={cell}")  # a link to one cell, as in the minutes
    assert_shown_as_text(page, dialogs, item_selector=f"#cell-reports li:has-text('{word}')", scope="#detail",
                         evil=evil)


def test_an_incident_of_two_sources_is_shown_as_one_and_the_coordinator_undoes_the_link(desktop, live_server,
                                                                                       artifacts):
    word = marker()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    r = httpx.post(f"{live_server.url}/api/v1/integrations/events", headers={"X-API-Key": DEMO_API_KEY},
                   json={"type": "FeatureCollection", "features": [
                       event(word, at=now - dt.timedelta(minutes=2), description=f"Containerbrand {word}")]})
    fire = r.json()["results"][0]
    assert fire["status"] == "created", r.text
    guard = httpx.post(f"{live_server.url}/api/v1/reports", headers=live_server.headers("reporter"),
                       json={"category": "brand_container", "lat": SQUARE["lat"],
                             "lon": metres_east(SQUARE["lon"], SQUARE["lat"], 30),
                             "occurred_from": (now - dt.timedelta(minutes=1)).isoformat(),
                             "description": f"Det brinner i containern {word}"}).json()
    assert guard["properties"]["incident_of"] == fire["id"]

    def open_cell(username: str):
        page = desktop(username)
        page.wait_for_selector("body[data-layer-ready]")
        cell = h3.latlng_to_cell(SQUARE["lat"], SQUARE["lon"], int(layer(page)["layerRes"]))
        page.evaluate(f"location.hash = 'cell={cell}'")
        page.wait_for_selector(f"#cell-reports > li[data-report-id='{fire['id']}']")
        return page

    est = open_cell("est")  # the meeting sees one incident: the guard's report under the call-out
    call_out = est.locator(f"#cell-reports > li[data-report-id='{fire['id']}']")
    assert "Samma händelse, räknas en gång" in call_out.inner_text()
    assert call_out.locator(f".incident-members li[data-report-id='{guard['id']}']").count() == 1
    assert est.locator(f"#cell-reports > li[data-report-id='{guard['id']}']").count() == 0
    assert est.locator("#cell-reports button.unlink").count() == 0  # only the coordinator undoes links

    page = open_cell("coordinator")
    page.locator(f"#cell-reports > li[data-report-id='{fire['id']}']").scroll_into_view_if_needed()
    page.locator("#detail").screenshot(path=artifacts / "dashboard-incident.png")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f".incident-members li[data-report-id='{guard['id']}'] button.unlink").click()
    page.wait_for_selector(f"#cell-reports > li[data-report-id='{guard['id']}']")  # on its own again
    assert "Samma händelse" not in page.inner_text(f"#cell-reports > li[data-report-id='{fire['id']}']")
    stored = httpx.get(f"{live_server.url}/api/v1/reports/{guard['id']}", headers=live_server.headers("coordinator"))
    assert stored.json()["properties"]["incident_of"] is None
    history = httpx.get(f"{live_server.url}/api/v1/reports/{guard['id']}/history",
                        headers=live_server.headers("coordinator")).json()
    assert history[-1]["action"] == "unlink" and history[-1]["by"] == "coordinator"


def rescue_service(live_server) -> tuple[str, str]:
    """The demo rescue service's event-type mapping URL and its panel on the meeting map."""
    [rescue] = [i for i in httpx.get(f"{live_server.url}/api/v1/integrations",
                                     headers=live_server.headers("coordinator")).json()
                if i["name"] == "raddningstjanst"]
    return (f"{live_server.url}/api/v1/integrations/{rescue['id']}/event-types",
            f"details.integration[data-integration-id='{rescue['id']}']")


def test_the_coordinator_maps_an_event_type_and_rotates_a_key_of_the_rescue_service(desktop, live_server, artifacts):
    events_url = f"{live_server.url}/api/v1/integrations/events"
    coordinator = live_server.headers("coordinator")
    mapping_url, panel = rescue_service(live_server)
    before = httpx.get(mapping_url, headers=coordinator).json()
    word = marker()

    def push(key: str, event_type: str) -> httpx.Response:
        return httpx.post(events_url, headers={"X-API-Key": key}, json={"type": "FeatureCollection", "features": [
            event(f"{word}-{event_type}", event_type=event_type, description=word,
                  at=dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1))]})

    assert push(DEMO_API_KEY, "Brand i elskåp").json()["results"][0]["status"] == "rejected"  # not mapped yet
    est = desktop("est")
    est.wait_for_selector("body[data-layer-ready]")
    assert est.is_hidden("#integrations-box")  # only the coordinator manages integrations

    page = desktop("coordinator")
    page.locator(f"{panel} summary").click()
    rows = page.locator(f"{panel} .mapping-table tbody tr")
    rows.nth(len(before) - 1).wait_for()
    assert rows.count() == len(before)
    assert rows.first.locator("input").input_value() == before[0]["event_type"]
    try:
        page.click(f"{panel} .add-type")
        rows.last.locator("input").fill("Brand i elskåp")
        page.click(f"{panel} .save-mapping")  # no category chosen yet: refused, the row marked, nothing changed
        page.locator(f"{panel} .mapping-table tbody tr.invalid").wait_for()
        assert "Fyll i händelsetyp och kategori" in page.inner_text(f"{panel} .mapping .error")
        rows.last.locator("select").select_option("brand_byggnad")
        rows.last.locator("input").fill("brand i CONTAINER")  # the same type as an existing row: the server refuses
        page.click(f"{panel} .save-mapping")
        page.locator(f"{panel} .mapping .error", has_text="Kopplingen sparades inte").wait_for()
        assert "is the same type as 'Brand i container'" in page.inner_text(f"{panel} .mapping .error")
        assert rows.last.get_attribute("class") == "invalid"
        assert len(httpx.get(mapping_url, headers=coordinator).json()) == len(before)
        rows.last.locator("input").fill("Brand i elskåp")
        rows.last.locator("select").select_option("brand_byggnad")
        page.click(f"{panel} .save-mapping")
        page.locator(".mapping .status", has_text=f"Kopplingen är sparad ({len(before) + 1} st)").wait_for()
        pushed = push(DEMO_API_KEY, "Brand i elskåp").json()["results"][0]
        assert pushed["status"] == "created", (pushed, httpx.get(mapping_url, headers=coordinator).json())

        page.fill(f"{panel} .key-label", "produktion 2026")
        page.click(f"{panel} .create-key")
        key = page.locator(f"{panel} .key-value")
        key.wait_for()
        new_key = key.input_value()
        assert push(new_key, "Brand i container").status_code == 200  # the system switched over
        item = page.locator(f"{panel} li.key", has_text="produktion 2026")
        assert new_key[:8] in item.inner_text() and new_key not in item.inner_text()
        page.locator(panel).screenshot(path=artifacts / "integrations.png")
        page.once("dialog", lambda dialog: dialog.accept())
        item.locator("button.revoke").click()
        page.locator(f"{panel} li.key.inactive",
                     has_text="produktion 2026").wait_for()
        assert push(new_key, "Brand i container").status_code == 401
    finally:
        httpx.put(mapping_url, headers=coordinator,
                  json=[{"event_type": m["event_type"], "category": m["category"]} for m in before])
        with live_server.engine.begin() as conn:
            conn.execute(ApiKey.__table__.delete().where(ApiKey.label == "produktion 2026"))


def test_an_event_type_of_a_switched_off_category_asks_for_a_new_one_and_is_not_remapped(desktop, live_server):
    """A category switched off after it was mapped is not offered: the row must not show (and
    save) the list's first category in its place."""
    coordinator = live_server.headers("coordinator")
    mapping_url, panel = rescue_service(live_server)
    before = httpx.get(mapping_url, headers=coordinator).json()
    grass = next(n for n, m in enumerate(before) if m["event_type"] == "Gräsbrand")
    assert before[grass]["category"] == "brand_mark"
    switch = update(Category).where(Category.code == "brand_mark")
    with live_server.engine.begin() as conn:
        conn.execute(switch.values(active=False))
    try:
        page = desktop("coordinator")
        page.locator(f"{panel} summary").click()
        row = page.locator(f"{panel} .mapping-table tbody tr").nth(grass)
        row.wait_for()
        assert row.locator("input").input_value() == "Gräsbrand"
        assert row.locator("select").input_value() == ""  # "Välj kategori", not Skadegörelse
        assert row.get_attribute("class") == "invalid"
        page.click(f"{panel} .save-mapping")
        page.locator(f"{panel} .mapping .error", has_text="Fyll i händelsetyp och kategori").wait_for()
        assert httpx.get(mapping_url, headers=coordinator).json() == before
    finally:
        with live_server.engine.begin() as conn:
            conn.execute(switch.values(active=True))


def test_a_mapping_the_server_cannot_store_is_not_blamed_on_rows(desktop, live_server):
    """A refusal that names no rows (the database away, say) does not speak of marked rows."""
    mapping_url, panel = rescue_service(live_server)
    page = desktop("coordinator")
    page.route(mapping_url, lambda route: route.fulfill(
        status=503, content_type="application/problem+json",
        body='{"status": 503, "detail": "The database is not reachable right now; nothing was stored."}')
        if route.request.method == "PUT" else route.continue_())
    page.locator(f"{panel} summary").click()
    page.locator(f"{panel} .mapping-table tbody tr").first.wait_for()
    page.click(f"{panel} .save-mapping")
    error = page.locator(f"{panel} .mapping .error", has_text="sparades inte")
    error.wait_for()
    assert error.inner_text() == "Kopplingen sparades inte: The database is not reachable right now; nothing was stored."
    assert page.locator(f"{panel} .mapping-table tr.invalid").count() == 0


def test_a_refused_switch_goes_back_to_what_is_stored(desktop, live_server):
    """Switching an integration off fails (the database away, say): the box shows it still on."""
    mapping_url, panel = rescue_service(live_server)
    page = desktop("coordinator")
    page.route(mapping_url.removesuffix("/event-types"), lambda route: route.fulfill(
        status=503, content_type="application/problem+json",
        body='{"status": 503, "detail": "The database is not reachable right now; nothing was stored."}')
        if route.request.method == "PATCH" else route.continue_())
    page.locator(f"{panel} summary").click()
    page.uncheck(f"{panel} input.active")
    page.locator(f"{panel} .integration-error", has_text="not reachable").wait_for()
    assert page.is_checked(f"{panel} input.active") and "aktiv" in page.inner_text(f"{panel} summary")


def test_print_view_is_one_a4_landscape_page(desktop, artifacts):
    page = desktop("est")
    page.wait_for_selector("body[data-layer-ready]")
    page.emulate_media(media="print")
    assert page.is_visible("#print-title") and "Lägesbild" in page.inner_text("#print-title")
    assert page.is_hidden(".controls") and page.is_visible("#legend")
    pdf = page.pdf(format="A4", landscape=True, print_background=True)
    (artifacts / "dashboard-print.pdf").write_bytes(pdf)
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1


def test_a_gis_engineer_makes_a_reading_key_for_qgis_and_revokes_it(desktop, live_server):
    page = desktop("gis")
    page.wait_for_selector("#keys li")
    page.fill("#key-label", "QGIS på GIS-enheten")
    page.click("#create-key")
    page.wait_for_selector("#key-new:not([hidden])")
    key = page.input_value("#key-value")
    try:
        assert key.startswith("lbr_")
        ogc = f"{live_server.url}/ogc/collections/reports/items?limit=1"
        assert httpx.get(ogc, headers={"X-API-Key": key}).status_code == 200  # what QGIS will send
        item = page.locator("#keys li.key", has_text="QGIS på GIS-enheten")
        item.wait_for()
        assert key[:8] in item.inner_text() and key not in page.inner_text("#keys")  # listed by prefix only
        page.once("dialog", lambda dialog: dialog.accept())
        item.locator("button.revoke").click()
        page.locator("#keys li.key.inactive", has_text="återkallad").wait_for()
        assert httpx.get(ogc, headers={"X-API-Key": key}).status_code == 401
    finally:
        with live_server.engine.begin() as conn:
            conn.execute(ReadingKey.__table__.delete().where(ReadingKey.label == "QGIS på GIS-enheten"))
