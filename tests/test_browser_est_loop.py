"""The EST loop from the meeting map: a place from selected hexagons, an action, a follow-up."""
from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy import delete, func, select

from app.actions.models import Action, AnalysisNote, FollowUp, Meeting, Place
from tests.browser import DESKTOP, login, marker


@pytest.fixture
def est_page(browser, live_server):
    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    page.goto(f"{live_server.url}/dashboard")
    login(page, "est")
    page.wait_for_selector("body[data-layer-ready]")
    yield page
    context.close()
    with live_server.engine.begin() as conn:
        ids = select(Place.id).where(Place.name.like("Testplats %"))
        conn.execute(delete(Action).where(Action.place_id.in_(ids)))
        conn.execute(delete(Place).where(Place.name.like("Testplats %")))


def free_cycle(page, live_server) -> str:
    """A past cycle of the map's list that has no meeting yet (the tests create one in it)."""
    with live_server.engine.connect() as conn:
        taken = {d.isoformat() for d in conn.scalars(select(Meeting.cycle))}
    options = page.eval_on_selector_all("#cycle option", "els => els.map(e => e.value)")
    return next(c for c in options[2:] if c not in taken)


def stored_minutes(live_server, meeting_id: int) -> str:
    with live_server.engine.connect() as conn:
        return conn.scalar(select(Meeting.minutes).where(Meeting.id == meeting_id))


def test_place_action_and_follow_up_from_the_map(est_page, live_server, artifacts):
    page = est_page
    page.click("#select-cells")
    picked = [page.locator("path.hex").nth(i) for i in (0, 1)]
    for path in picked:
        path.dispatch_event("click")
    assert page.inner_text("#place-selected").startswith("2 celler markerade")
    assert page.locator("path.picked").count() == 2
    name = f"Testplats {marker()}"
    page.fill("#place-name", name)
    page.click("#create-place")
    page.wait_for_selector(f"#place-panel h3:has-text('{name}')")
    with live_server.engine.connect() as conn:
        place = conn.execute(select(Place.id, Place.cells, Place.resolution).where(Place.name == name)).one()
    assert len(place.cells) == 2 and place.resolution == 9
    assert page.locator(f"#places button:has-text('{name}')").count() == 1

    # the cause analysis, written where the place is discussed
    page.select_option("#place-panel .note-form [name=kind]", "hypothesis")
    page.fill("#place-panel .note-form [name=text]", "Mörkret vid gångtunneln drar dit grupper")
    page.click("#place-panel .note-form button[type=submit]")
    page.wait_for_selector("#place-panel .notes li:has-text('Hypotes: Mörkret vid gångtunneln')")
    with live_server.engine.connect() as conn:
        assert conn.scalar(select(AnalysisNote.kind).where(AnalysisNote.place_id == place.id)) == "hypothesis"

    assert "Utgångsläge:" in page.inner_text("#action-form .baseline")
    start = dt.date.today() - dt.timedelta(days=70)  # five cycles ago: there is an "after" to measure
    form = page.locator("#action-form")
    form.locator("[name=what]").fill("Bättre belysning och röjning av buskage")
    form.locator("[name=goal]").fill("Från 12 till högst 6 rapporter per cykel till mars")
    form.locator("[name=owner_organisation]").fill("Kommunens gatuenhet")
    form.locator("[name=start_date]").fill(start.isoformat())
    form.locator("[name=due_date]").fill((start + dt.timedelta(days=14)).isoformat())
    form.locator("[name=status]").select_option("done")
    form.locator("button[type=submit]").click()
    item = page.wait_for_selector("#place-panel li[data-action]")
    assert "Kommunens gatuenhet" in item.inner_text() and "genomförd" in item.inner_text()
    with live_server.engine.connect() as conn:
        action = conn.execute(select(Action.id, Action.owner_organisation, Action.status)
                              .where(Action.place_id == place.id)).one()
    assert (action.owner_organisation, action.status) == ("Kommunens gatuenhet", "done")
    # the status changes where the meeting decides it
    page.select_option("#place-panel li[data-action] .action-status", "in_progress")
    page.wait_for_selector("#place-panel li[data-action] .hint:has-text('pågår')")
    with live_server.engine.connect() as conn:
        assert conn.scalar(select(Action.status).where(Action.id == action.id)) == "in_progress"
    page.select_option("#place-panel li[data-action] .action-status", "done")
    page.wait_for_selector("#place-panel li[data-action] .hint:has-text('genomförd')")

    page.click("#place-panel .follow-up-button")
    proposal = page.wait_for_selector("#place-panel .proposal")
    proposed = page.eval_on_selector("#place-panel .light-choice", "s => s.value")
    assert proposed in ("green", "yellow", "red") and "Förslag" in proposal.inner_text()
    why = page.inner_text("#place-panel .proposal .hint")  # why, in Swedish (the API's code and numbers)
    assert re.search(r"kontrollområdet|genomförd|förflyttning|för få rapporter", why) and "control" not in why, why
    assert page.get_attribute("#place-panel .light-choice", "aria-label") == "Bedömning"
    other = next(light for light in ("green", "yellow", "red") if light != proposed)
    page.select_option("#place-panel .light-choice", other)  # overriding the proposal needs a comment
    page.click("#place-panel .confirm button.primary")
    refusal = page.wait_for_selector("#place-panel .confirm .error:not(:empty)")
    assert refusal.inner_text() == "Att välja en annan färg än förslaget kräver en kommentar om varför."
    page.select_option("#place-panel .light-choice", proposed)
    page.click("#place-panel .confirm button.primary")
    page.wait_for_selector("#place-panel .saved")
    with live_server.engine.connect() as conn:
        stored = conn.execute(select(FollowUp.light, FollowUp.proposed).where(FollowUp.action_id == action.id)).one()
    assert stored.light == stored.proposed == proposed
    page.screenshot(path=artifacts / "dashboard-est-loop.png")

    # the same action still within its planned period: no light yet, and nothing to save
    r = httpx.patch(f"{live_server.url}/api/v1/actions/{action.id}", headers=live_server.headers("est"),
                    json={"due_date": (dt.date.today() + dt.timedelta(days=30)).isoformat()})
    assert r.status_code == 200, r.text
    page.select_option("#place-panel li[data-action] .action-status", "in_progress")
    page.wait_for_selector("#place-panel li[data-action] .hint:has-text('pågår')")
    page.click("#place-panel .follow-up-button")
    waiting = page.wait_for_selector("#place-panel .proposal:has-text('Inget förslag ännu')")
    assert "ska vara klar senast" in waiting.inner_text() and page.locator("#place-panel .confirm").count() == 0


def test_the_action_form_shows_the_servers_refusal(est_page):
    page = est_page
    page.click("#select-cells")
    page.locator("path.hex").nth(2).dispatch_event("click")
    page.fill("#place-name", f"Testplats {marker()}")
    page.click("#create-place")
    page.wait_for_selector("#action-form")
    form = page.locator("#action-form")
    form.locator("[name=what]").fill("Väktarrond")
    form.locator("[name=goal]").fill("Färre bränder")
    form.locator("[name=owner_organisation]").fill("Väktarbolaget")
    form.locator("[name=start_date]").fill("2026-11-20")
    form.locator("[name=due_date]").fill("2026-11-01")  # before the start
    form.locator("button[type=submit]").click()
    error = page.wait_for_selector("#action-error:not(:empty)")
    assert error.inner_text() == "”Klar senast” ligger före startdatum."  # in Swedish, not the API's words


def test_the_meeting_of_a_cycle_is_held_from_the_map(est_page, live_server):
    """Create the cycle's meeting, start it (the situation picture frozen), write the minutes and
    take the meeting report as PDF — from the meeting map."""
    page = est_page
    cycle = free_cycle(page, live_server)  # a past cycle without a meeting
    page.select_option("#cycle", cycle)
    page.wait_for_function(f"document.body.dataset.layerReady === '{cycle}'")
    form = page.wait_for_selector(f"#meeting[data-cycle='{cycle}'] #meeting-form")  # not the last cycle's form
    assert "Inget möte" in form.inner_text()
    page.fill("#meeting-form [name=organisations]", "Kommunen, Polisen")
    try:
        page.click("#meeting-form button[type=submit]")
        page.wait_for_selector("#meeting .meeting-state:has-text('Inte startat')")
        page.fill("#meeting-minutes", "Närvarande: kommunen, polisen.")  # written before the start, not saved
        page.click("#meeting-start")
        page.wait_for_selector("#meeting-start", state="detached")  # started: the picture is frozen
        assert page.inner_text("#meeting .meeting-state").startswith("Startat ")
        assert page.input_value("#meeting-minutes") == "Närvarande: kommunen, polisen."  # kept through the start
        page.fill("#meeting-minutes", "Närvarande: kommunen, polisen. Beslut: belysning vid gångtunneln.")
        page.click("#meeting-save")
        page.wait_for_selector("#meeting .saved:has-text('Protokollet är sparat')")
        with live_server.engine.connect() as conn:
            stored = conn.execute(select(Meeting.organisations, Meeting.minutes, Meeting.started_at,
                                         Meeting.frozen_layer).where(Meeting.cycle == dt.date.fromisoformat(cycle))).one()
        assert stored.organisations == ["Kommunen", "Polisen"] and stored.minutes.endswith("belysning vid gångtunneln.")
        assert stored.started_at is not None and stored.frozen_layer["features"]
        page.fill("#meeting-minutes", "Ändrat men inte sparat.")  # zooming reloads the layer, not the minutes
        page.evaluate("document.querySelector('.leaflet-control-zoom-in').click()")
        page.wait_for_timeout(800)
        assert page.input_value("#meeting-minutes") == "Ändrat men inte sparat."
        with page.expect_download() as download:
            page.click("#meeting-report")
        assert download.value.suggested_filename.startswith("est-mote-")
        assert open(download.value.path(), "rb").read(5) == b"%PDF-"
    finally:
        with live_server.engine.begin() as conn:
            conn.execute(delete(Meeting).where(Meeting.cycle == dt.date.fromisoformat(cycle)))


def test_a_meeting_created_meanwhile_by_someone_else_is_shown_not_refused_in_english(est_page, live_server):
    page = est_page
    cycle = free_cycle(page, live_server)  # a past cycle without a meeting
    page.select_option("#cycle", cycle)
    page.wait_for_selector(f"#meeting[data-cycle='{cycle}'] #meeting-form")
    try:
        other = httpx.post(f"{live_server.url}/api/v1/meetings", headers=live_server.headers("coordinator"),
                           json={"cycle": cycle, "held_on": cycle, "organisations": ["Polisen"]})
        assert other.status_code == 201, other.text
        page.click("#meeting-form button[type=submit]")
        page.wait_for_selector("#meeting :text('Någon annan hann före')")
        assert "Polisen" in page.inner_text("#meeting") and page.is_visible("#meeting-start")
    finally:
        with live_server.engine.begin() as conn:
            conn.execute(delete(Meeting).where(Meeting.cycle == dt.date.fromisoformat(cycle)))


def test_minutes_someone_else_saved_meanwhile_are_shown_not_overwritten(est_page, live_server):
    """The secretary writes the minutes on the map while the coordinator saves theirs from
    another screen: her save is refused, both texts are on screen, and after merging hers goes
    through — nobody's minutes are lost."""
    page = est_page
    cycle = free_cycle(page, live_server)  # a past cycle without a meeting
    created = httpx.post(f"{live_server.url}/api/v1/meetings", headers=live_server.headers("coordinator"),
                         json={"cycle": cycle, "held_on": cycle, "organisations": ["Polisen"]})
    assert created.status_code == 201, created.text
    try:
        page.select_option("#cycle", cycle)
        page.wait_for_selector(f"#meeting[data-cycle='{cycle}'] #meeting-minutes")
        page.fill("#meeting-minutes", "1. Klotter vid stationen.")
        theirs = httpx.patch(f"{live_server.url}/api/v1/meetings/{created.json()['id']}",
                             headers={**live_server.headers("coordinator"), "If-Match": created.headers["etag"]},
                             json={"minutes": "1. Belysning i parken."})
        assert theirs.status_code == 200, theirs.text
        page.click("#meeting-save")
        page.wait_for_selector("#meeting-theirs")
        assert "Någon annan sparade protokollet" in page.inner_text("#meeting-theirs")
        assert page.input_value("#meeting-minutes") == "1. Klotter vid stationen."  # hers, kept
        assert page.input_value("#meeting-theirs textarea") == "1. Belysning i parken."
        assert stored_minutes(live_server, created.json()["id"]) == "1. Belysning i parken."  # not overwritten unseen
        # to another cycle and back: hers is not saved over theirs on the way, and comes back with theirs
        other = next(c for c in page.eval_on_selector_all("#cycle option", "els => els.map(e => e.value)")
                     if c != cycle)
        page.select_option("#cycle", other)
        page.wait_for_selector(f"#meeting[data-cycle='{other}']")
        page.select_option("#cycle", cycle)
        page.wait_for_selector(f"#meeting[data-cycle='{cycle}'] #meeting-theirs")
        assert page.input_value("#meeting-minutes") == "1. Klotter vid stationen."
        assert stored_minutes(live_server, created.json()["id"]) == "1. Belysning i parken."
        page.fill("#meeting-minutes", "1. Belysning i parken.\n2. Klotter vid stationen.")
        page.click("#meeting-save")
        page.wait_for_selector("#meeting .saved:has-text('Protokollet är sparat')")
        assert page.locator("#meeting-theirs").count() == 0
        assert stored_minutes(live_server, created.json()["id"]) == "1. Belysning i parken.\n2. Klotter vid stationen."
    finally:
        with live_server.engine.begin() as conn:
            conn.execute(delete(Meeting).where(Meeting.cycle == dt.date.fromisoformat(cycle)))


def test_a_note_or_minutes_with_a_phone_number_are_asked_about_then_saved_on_confirmation(est_page, live_server):
    """Someone writes a phone number into a cause-analysis note and into the minutes: the map
    says so in Swedish, and "Spara ändå" saves it confirmed."""
    page = est_page
    page.click("#select-cells")
    page.locator("path.hex").nth(0).dispatch_event("click")
    name = f"Testplats {marker()}"
    page.fill("#place-name", name)
    page.click("#create-place")
    page.wait_for_selector(f"#place-panel h3:has-text('{name}')")
    page.fill("#place-panel .note-form [name=text]", "Grannen ringer 070-123 45 67 varje kväll")
    page.click("#place-panel .note-form button[type=submit]")
    error = page.wait_for_selector("#place-panel .note-form .error:has(button.confirm-personal)")
    assert error.inner_text().startswith("Texten verkar innehålla ett telefonnummer. Hela EST-gruppen läser texten")
    with live_server.engine.connect() as conn:
        place_id = conn.scalar(select(Place.id).where(Place.name == name))
        assert conn.scalar(select(func.count()).select_from(AnalysisNote).where(AnalysisNote.place_id == place_id)) == 0
    page.click("#place-panel .note-form button.confirm-personal")
    page.wait_for_selector("#place-panel .notes li:has-text('Grannen ringer')")

    cycle = free_cycle(page, live_server)  # a past cycle without a meeting
    created = httpx.post(f"{live_server.url}/api/v1/meetings", headers=live_server.headers("coordinator"),
                         json={"cycle": cycle, "held_on": cycle})
    assert created.status_code == 201, created.text
    try:
        page.select_option("#cycle", cycle)
        page.wait_for_selector(f"#meeting[data-cycle='{cycle}'] #meeting-minutes")
        page.fill("#meeting-minutes", "Kontakt: anna.svensson@example.se")
        page.click("#meeting-save")
        note = page.wait_for_selector("#meeting .error:has(button.confirm-personal)")
        assert note.inner_text().startswith("Protokollet verkar innehålla en e-postadress")
        page.click("#meeting button.confirm-personal")
        page.wait_for_selector("#meeting .saved:has-text('Protokollet är sparat')")
        assert stored_minutes(live_server, created.json()["id"]) == "Kontakt: anna.svensson@example.se"
    finally:
        with live_server.engine.begin() as conn:
            conn.execute(delete(Meeting).where(Meeting.cycle == dt.date.fromisoformat(cycle)))
