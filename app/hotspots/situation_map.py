"""The printable situation map for the fortnightly EST meeting: one self-contained HTML page.

A pure renderer (no database): it takes the cycle's H3 hotspot layer as GeoJSON and returns a
Leaflet page built with folium. Municipal networks often block CDNs and the page is printed
and archived with the lägesbild, so it references nothing outside this service except the
configured background-map tiles: Leaflet comes from our own `/static`, folium's default CDN
links (jQuery, Bootstrap, Font Awesome, awesome-markers) are dropped per map, and the legend
and rank labels are plain HTML instead of branca colormaps or image markers.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterator
from html import escape

import folium
from folium.elements import MacroElement
from folium.template import Template

TREND_SV = {
    "new": "ny",
    "consecutive": "sammanhängande",
    "intensifying": "intensifierande",
    "persistent": "ihållande",
    "diminishing": "avtagande",
    "sporadic": "sporadisk",
    "oscillating": "oscillerande",
    "historical": "historisk",
    "none": "ingen",
}
# ColorBrewer YlOrRd, 5 classes (sequential, prints legibly in greyscale); zero gets its own grey.
CLASS_COLOURS = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
ZERO_COLOUR = "#f2f2f2"
HOT_OUTLINE = {"color": "#111111", "weight": 4, "opacity": 1}
PLAIN_OUTLINE = {"color": "#555555", "weight": 0.6, "opacity": 0.8}
TOP_RANKS = 10
FIT_PADDING_PX = 24
# Screen: the map fills the window. Print: one A4 landscape page (297 × 210 mm less 8 mm
# margins), colours printed as shown, interactive controls hidden.
PRINT_CSS = """
html, body { width: 100%; height: 100%; margin: 0; }
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body, .leaflet-container { font-family: system-ui, "Segoe UI", Roboto, Arial, sans-serif; }
.leaflet-container { background: #e8e8e6; }
.situation-title, .situation-legend { position: absolute; z-index: 1000; left: 10px;
  background: rgba(255, 255, 255, 0.93); border: 1px solid #888; border-radius: 4px; }
.situation-title { top: 10px; max-width: 45%; padding: 8px 12px; }
.situation-title h1 { font-size: 18px; margin: 0 0 2px; }
.situation-title .cycle { font-size: 14px; font-weight: 600; }
.situation-title .generated { font-size: 11px; color: #444; }
.situation-legend { bottom: 24px; padding: 8px 10px; font-size: 12px; }
.situation-legend h2 { font-size: 12px; margin: 0 0 4px; }
.situation-legend .row { display: flex; align-items: center; gap: 6px; margin: 3px 0; }
.swatch { display: inline-block; width: 18px; height: 12px; border: 1px solid #555; }
.swatch.hot { width: 12px; height: 6px; border: 3px solid #111; background: #fff; }
.swatch.line { height: 0; border: none; border-top: 2px dashed #222; }
.rank-icon { background: none; border: none; }
.rank-badge { display: inline-flex; align-items: center; justify-content: center;
  width: 20px; height: 20px; border-radius: 50%; background: #fff; border: 1.5px solid #111;
  font: bold 11px/1 system-ui, Arial, sans-serif; color: #111; }
.hex-info table { border-collapse: collapse; font-size: 12px; }
.hex-info th { text-align: left; font-weight: normal; padding-right: 10px; color: #333; }
.hex-info td { text-align: right; font-weight: 600; }
@page { size: A4 landscape; margin: 8mm; }
@media print {
  html, body { width: 281mm; height: 194mm; overflow: hidden; }
  .leaflet-control-zoom, .leaflet-popup-pane, .leaflet-tooltip-pane { display: none; }
}
"""
# Whole Sweden, for a municipality with neither hexagons nor boundary: (lat, lon), zoom.
FALLBACK_VIEW = ((62.0, 16.0), 5)


def render_situation_map(
    *,
    layer: dict,
    boundary: dict | None,
    title: str,
    cycle_label: str,
    generated_at: str,
    tile_url: str | None,
    tile_attribution: str | None,
    leaflet_base: str = "/static/vendor/leaflet",
) -> str:
    """Render the cycle's hexagons as a full HTML page, A4 landscape when printed.

    `layer` is an RFC 7946 FeatureCollection of H3 hexagons (lon/lat) whose properties carry
    the cycle's statistics (counts in reports per hexagon, possibly fractional); `boundary` is
    the municipality's geometry. `tile_attribution` is plain text (escaped), and required when
    `tile_url` is given, because tile providers require it.
    """
    features = layer.get("features") or []
    fmap = folium.Map(tiles=None, zoom_control="topright", zoom_snap=0.25)
    fmap.default_js = [("leaflet", f"{leaflet_base.rstrip('/')}/leaflet.js")]
    fmap.default_css = [("leaflet_css", f"{leaflet_base.rstrip('/')}/leaflet.css")]
    if tile_url:
        if not tile_attribution:
            raise ValueError("tile_attribution is required when tile_url is given")
        folium.TileLayer(tiles=tile_url, attr=escape(tile_attribution)).add_to(fmap)
    if boundary:
        _boundary_layer(boundary).add_to(fmap)
    breaks = class_breaks([float(f["properties"]["count"]) for f in features])
    if features:
        _hexagon_layer(features, breaks, baseline_cycles=(layer.get("method") or {}).get("baseline_cycles", 6)
                       ).add_to(fmap)
    for feature in sorted(features, key=lambda f: f["properties"]["rank"])[:TOP_RANKS]:
        _rank_label(feature).add_to(fmap)
    bounds = _bounds(features, boundary)
    if bounds:
        fmap.fit_bounds(bounds, padding=(FIT_PADDING_PX, FIT_PADDING_PX))
    else:
        fmap.location, fmap.options["zoom"] = list(FALLBACK_VIEW[0]), FALLBACK_VIEW[1]
    _PrintLayout(bounds).add_to(fmap)
    root = fmap.get_root()
    root.title = escape(f"{title} – {cycle_label}")
    root.html.add_child(folium.Element(_title_box(title, cycle_label, generated_at, partial_note_sv(layer.get("cycle")))),
                        name="title_box")
    root.html.add_child(folium.Element(_legend(breaks, has_boundary=bool(boundary))), name="legend")
    return root.render()


def class_breaks(counts: list[float], classes: int = len(CLASS_COLOURS)) -> list[float]:
    """Upper bounds (reports per hexagon) of equal, rounded classes from 0 to the highest count.

    Rounded steps (1, 2, 2.5, 5 × 10^k) so the printed legend reads "0–2, 2–4" rather than
    "0–1,37"; equal classes keep one cycle's map comparable by eye with the next.
    """
    top = max(counts, default=0.0)
    if top <= 0:
        return [1.0]
    raw = top / classes
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [step * (i + 1) for i in range(math.ceil(top / step - 1e-9))]


def fill_colour(count: float, breaks: list[float]) -> str:
    """The class colour for a hexagon's count; zero is grey so "quiet now" stands out."""
    if count <= 0:
        return ZERO_COLOUR
    for colour, upper in zip(CLASS_COLOURS, breaks):
        if count <= upper:
            return colour
    return CLASS_COLOURS[-1]


def format_sv(value: float, *, signed: bool = False) -> str:
    """A number as Swedes write it: decimal comma, at most two decimals, true minus sign."""
    text = f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",").replace("-", "−")
    if text in ("−0", "0"):
        return "0"
    return f"+{text}" if signed and value > 0 else text


def partial_note_sv(cycle: dict | None) -> str | None:
    """For a running cycle (the layer's ``cycle.partial``), what its numbers compare, in Swedish."""
    if not cycle or not cycle.get("partial"):
        return None
    share = int(100 * float(cycle["elapsed_share"]))
    return f"Pågående cykel: {share} % av cykeln har gått; jämförelsen gäller samma andel av tidigare cykler."


def _hexagon_layer(features: list[dict], breaks: list[float], *, baseline_cycles: int) -> folium.GeoJson:
    """Hexagons coloured by count, hotspots outlined, each with a Swedish tooltip and popup."""
    shown = [
        {
            "type": "Feature",
            "id": str(f.get("id") or f["properties"]["h3"]),
            "geometry": f["geometry"],
            "properties": {
                "fill": fill_colour(float(f["properties"]["count"]), breaks),
                "hot": f["properties"]["hotspot"] == "hot",
                "info": _hexagon_info(f["properties"], baseline_cycles=baseline_cycles),
            },
        }
        for f in features
    ]
    return folium.GeoJson(
        {"type": "FeatureCollection", "features": shown},
        name="hexagons",
        style_function=lambda f: {
            **(HOT_OUTLINE if f["properties"]["hot"] else PLAIN_OUTLINE),
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.75,
        },
        on_each_feature=folium.JsCode(
            "function (feature, layer) {"
            " layer.bindTooltip(feature.properties.info, {sticky: true});"
            " layer.bindPopup(feature.properties.info); }"
        ),
    )


def _hexagon_info(props: dict, *, baseline_cycles: int) -> str:
    """The tooltip table for one hexagon; every value escaped, labels in Swedish. Without a
    baseline (reporting began less than a cycle before) its numbers are a dash."""
    trend = str(props.get("trend", "none"))
    no_baseline = props.get("baseline") is None
    rows = [
        ("Antal denna cykel", format_sv(float(props["count"]))),
        ("Föregående cykel", format_sv(float(props["previous"]))),
        (f"Baslinje (medel {baseline_cycles} cykler)", "–" if no_baseline else format_sv(float(props["baseline"]))),
        ("Förändring", format_sv(float(props["change"]), signed=True)),
        ("Sannolikhet för ökning", "–" if props.get("p_increase") is None
         else f"{format_sv(100 * float(props['p_increase']))} %"),
        ("Trend", TREND_SV.get(trend, trend)),
        ("Hotspot", "ja" if props["hotspot"] == "hot" else "nej"),
        ("Gi* z-värde", format_sv(float(props["gi_star_z"]))),
        ("Rang", str(int(props["rank"]))),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<div class="hex-info"><b>{escape(str(props["h3"]))}</b><table>{body}</table></div>'


def _boundary_layer(boundary: dict) -> folium.GeoJson:
    """The municipality's outline only: no fill, not clickable, so hexagons stay readable."""
    return folium.GeoJson(
        {"type": "Feature", "geometry": boundary, "properties": {}},
        name="boundary",
        style_function=lambda _: {"color": "#222222", "weight": 2, "dashArray": "6 4", "fill": False},
        interactive=False,
    )


def _rank_label(feature: dict) -> folium.Marker:
    """A numbered badge at the hexagon's centre: a DivIcon, so no marker images are needed."""
    ring = feature["geometry"]["coordinates"][0][:-1]
    lon = sum(p[0] for p in ring) / len(ring)
    lat = sum(p[1] for p in ring) / len(ring)
    rank = escape(str(int(feature["properties"]["rank"])))
    icon = folium.DivIcon(html=f'<div class="rank-badge">{rank}</div>', icon_size=(22, 22),
                          icon_anchor=(11, 11), class_name="rank-icon")
    return folium.Marker(location=(lat, lon), icon=icon, interactive=False, keyboard=False)


def _positions(coordinates) -> Iterator[tuple[float, float]]:
    """Every (lon, lat) position in nested GeoJSON coordinates, whatever the geometry type."""
    if coordinates and isinstance(coordinates[0], (int, float)):
        yield float(coordinates[0]), float(coordinates[1])
        return
    for part in coordinates or []:
        yield from _positions(part)


def _bounds(features: list[dict], boundary: dict | None) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the hexagons, else of the boundary, else None."""
    positions = [p for f in features for p in _positions(f["geometry"]["coordinates"])]
    if not positions and boundary:
        positions = list(_positions(boundary["coordinates"]))
    if not positions:
        return None
    lons, lats = zip(*positions)
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def _title_box(title: str, cycle_label: str, generated_at: str, note: str | None = None) -> str:
    """The heading the printout is filed under: what, which cycle, when it was produced (and,
    for a running cycle, that it is one)."""
    return (
        '<div class="situation-title">'
        f"<h1>{escape(title)}</h1>"
        f'<div class="cycle">{escape(cycle_label)}</div>'
        + (f'<div class="partial">{escape(note)}</div>' if note else "")
        + f'<div class="generated">Skapad {escape(generated_at)}</div>'
        "</div>"
    )


def _legend(breaks: list[float], *, has_boundary: bool) -> str:
    """Colour classes, the hotspot outline and the rank badges explained in Swedish."""
    lower = [0.0, *breaks[:-1]]
    rows = [(ZERO_COLOUR, "0 (inga denna cykel)")] + [
        (fill_colour(upper, breaks), f"{format_sv(low)}–{format_sv(upper)}")
        for low, upper in zip(lower, breaks)
    ]
    items = "".join(
        f'<div class="row"><span class="swatch" style="background:{colour}"></span>{escape(text)}</div>'
        for colour, text in rows
    )
    boundary = '<div class="row"><span class="swatch line"></span>Kommungräns</div>' if has_boundary else ""
    return (
        '<div class="situation-legend">'
        "<h2>Antal rapporter denna cykel (per hexagon)</h2>"
        f"{items}"
        '<div class="row"><span class="swatch hot"></span>Tjock mörk kant: hotspot (Getis-Ord Gi*)</div>'
        f'<div class="row"><span class="rank-badge">1</span>Rang 1–{TOP_RANKS} (1 = högst)</div>'
        f"{boundary}"
        "</div>"
    )


class _PrintLayout(MacroElement):
    """The page's CSS, and a re-fit for printing: Leaflet does not notice the resize to A4.

    Browsers differ in whether print media already applies at `beforeprint`, so the re-fit
    also runs when the print media query starts matching.

    A child of the map, so its <style> comes after folium's own `html, body` sizes and wins.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        {% endmacro %}

        {% macro script(this, kwargs) %}
        function {{ this.get_name() }}_refit() {
            {{ this._parent.get_name() }}.invalidateSize(false);
            {%- if this.bounds %}
            {{ this._parent.get_name() }}.fitBounds({{ this.bounds }}, {padding: [{{ this.padding }}, {{ this.padding }}], animate: false});
            {%- endif %}
        }
        window.addEventListener("beforeprint", {{ this.get_name() }}_refit);
        if (window.matchMedia) {
            window.matchMedia("print").addEventListener("change", {{ this.get_name() }}_refit);
        }
        {% endmacro %}
        """
    )

    def __init__(self, bounds: list[list[float]] | None):
        super().__init__()
        self._name = "PrintLayout"
        self.css = PRINT_CSS
        self.padding = FIT_PADDING_PX
        self.bounds = json.dumps(bounds) if bounds else None
