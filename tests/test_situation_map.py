"""The printable situation map: the coordinator prints this page for the fortnightly meeting,
on a municipal network that blocks CDNs, so it must carry everything but the background tiles.

No database: the renderer is a pure function of the hotspot layer.
"""
from __future__ import annotations

import re

import h3
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import static
from app.hotspots import situation_map

TILE_URL = "https://tiles.example.se/{z}/{x}/{y}.png"
CYCLE = "Cykel 7 (2026-03-30 – 2026-04-12)"
TITLE = "Lägesbild Eskilstuna"
TRENDS = ["new", "intensifying", "persistent", "diminishing", "sporadic", "none", "historical"]


def hexagon_layer() -> dict:
    """Seven real resolution-9 hexagons around Eskilstuna centrum, the centre one hottest."""
    centre = h3.latlng_to_cell(59.37, 16.51, 9)
    cells = [centre] + sorted(set(h3.grid_disk(centre, 1)) - {centre})
    features = []
    for rank, cell in enumerate(cells, start=1):
        ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(cell)]
        count = 12.5 - rank * 1.5 if rank < 7 else 0.0
        features.append({
            "type": "Feature",
            "id": cell,
            "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]},
            "properties": {
                "h3": cell, "count": count, "previous": 4.0, "baseline": 3.5, "change": count - 4.0,
                "p_increase": 0.97 if rank == 1 else 0.4, "hotspot": "hot" if rank <= 2 else "none",
                "gi_star_z": 3.1 if rank <= 2 else 0.2, "trend": TRENDS[rank - 1], "rank": rank,
                "repeat": rank == 1,
            },
        })
    return {"type": "FeatureCollection", "features": features}


def municipality_outline() -> dict:
    return {"type": "MultiPolygon", "coordinates": [[[
        [16.40, 59.30], [16.62, 59.30], [16.62, 59.44], [16.40, 59.44], [16.40, 59.30],
    ]]]}


def render(**overrides) -> str:
    arguments = {"layer": hexagon_layer(), "boundary": municipality_outline(), "title": TITLE,
                 "cycle_label": CYCLE, "generated_at": "2026-04-13 07:30", "tile_url": TILE_URL,
                 "tile_attribution": "© OpenStreetMap-bidragsgivare"}
    return situation_map.render_situation_map(**{**arguments, **overrides})


def external_urls(html: str) -> set[str]:
    return set(re.findall(r"""https?://[^\s"'<>]+""", html))


def test_printed_map_shows_the_cycle_and_every_hexagon():
    html = render()
    assert f"<h1>{TITLE}</h1>" in html
    assert CYCLE in html and "Skapad 2026-04-13 07:30" in html
    for feature in hexagon_layer()["features"]:
        assert feature["id"] in html
    assert "Antal denna cykel" in html and "Baslinje (medel 6 cykler)" in html
    assert "intensifierande" in html and "avtagande" in html
    assert 'class="rank-badge">1<' in html


def test_a_running_cycle_says_so_and_a_missing_baseline_is_a_dash():
    layer = hexagon_layer()
    layer["cycle"] = {"id": "2026-03-30", "partial": True, "elapsed_share": 0.4286}
    layer["method"] = {"baseline_cycles": 0}
    for feature in layer["features"]:
        feature["properties"].update(baseline=None, p_increase=None)
    html = render(layer=layer)
    assert "Pågående cykel: 42 % av cykeln har gått; jämförelsen gäller samma andel" in html
    cell = r"\u003c/th\u003e\u003ctd\u003e\u2013\u003c"  # "</th><td>–<" in the layer's JSON
    assert "Baslinje (medel 0 cykler)" + cell in html and r"Sannolikhet f\u00f6r \u00f6kning" + cell in html
    assert "Pågående cykel" not in render()  # a finished cycle


def test_nothing_is_fetched_from_outside_but_the_configured_tiles():
    html = render()
    assert external_urls(html) == {TILE_URL}
    assert re.findall(r'<script src="([^"]+)"', html) == ["/static/vendor/leaflet/leaflet.js"]
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', html) == ["/static/vendor/leaflet/leaflet.css"]


def test_without_tiles_there_is_no_tile_layer():
    html = render(tile_url=None, tile_attribution=None)
    assert external_urls(html) == set()
    assert "L.tileLayer" not in html and "{z}" not in html
    assert ".leaflet-container { background:" in html


def test_a_tile_url_without_attribution_is_refused():
    with pytest.raises(ValueError, match="tile_attribution"):
        render(tile_attribution=None)


def test_prints_on_one_a4_landscape_page_with_a_swedish_legend():
    html = render()
    assert "@page { size: A4 landscape;" in html and "@media print" in html
    assert "Antal rapporter denna cykel (per hexagon)" in html
    assert "Tjock mörk kant: hotspot" in html and "Kommungräns" in html


def test_text_from_data_is_escaped():
    html = render(title="<script>alert(1)</script>", cycle_label="A & B")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "A &amp; B" in html


def test_a_cycle_without_hexagons_still_shows_the_municipality():
    html = render(layer={"type": "FeatureCollection", "features": []})
    assert "fitBounds" in html and "[[59.3, 16.4], [59.44, 16.62]]" in html


def test_colour_classes_are_rounded_and_zero_is_its_own_class():
    assert situation_map.class_breaks([0.0, 3.0, 10.5]) == [2.5, 5.0, 7.5, 10.0, 12.5]
    assert situation_map.class_breaks([]) == [1.0]
    assert situation_map.fill_colour(0.0, [1.0]) != situation_map.fill_colour(0.4, [1.0])
    assert situation_map.format_sv(-1.5, signed=True) == "−1,5"
    assert situation_map.format_sv(2.0, signed=True) == "+2"


def test_leaflet_is_served_from_our_own_origin():
    app = FastAPI()
    static.mount_static(app)
    with TestClient(app) as client:
        response = client.get("/static/vendor/leaflet/leaflet.js")
        css = client.get("/static/vendor/leaflet/leaflet.css")
    assert response.status_code == 200, "frontend/node_modules missing: run `make deps`"
    assert "javascript" in response.headers["content-type"]
    assert len(response.content) > 100_000 and b"Leaflet" in response.content[:500]
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_a_missing_leaflet_is_logged_and_the_app_still_starts(monkeypatch, tmp_path, caplog):
    monkeypatch.setitem(static.VENDOR, "leaflet", tmp_path / "absent")
    app = FastAPI()
    static.mount_static(app)
    assert "run `make deps`" in caplog.text
    assert not [route for route in app.routes if getattr(route, "path", "") == static.LEAFLET_URL]
