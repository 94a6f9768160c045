"""The meeting report (mötesprotokoll med lägesbild) as HTML, and as PDF through WeasyPrint.

A pure renderer over the meeting's JSON (:func:`app.actions.meetings.meeting_json`): cover
with municipality, cycle and participants; the frozen hotspot map as inline SVG (no tiles, so
it prints and archives); the agenda with counts, change and trend; the weekday × hour matrix;
new and open actions with owners and deadlines; follow-ups with their traffic lights. All
user text is escaped by Jinja2's autoescape.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from app.actions.models import ACTION_STATUSES
from app.hotspots.situation_map import CLASS_COLOURS, TREND_SV, class_breaks, fill_colour, format_sv, partial_note_sv
from app.static import OWN_STATIC_DIR

# The dashboard's Swedish words (frontend/static/i18n/sv.json), so the report says the same.
SV: dict[str, str] = json.loads((OWN_STATIC_DIR / "i18n" / "sv.json").read_text(encoding="utf-8"))
LIGHT_SV = {"green": "Grön", "yellow": "Gul", "red": "Röd"}
LIGHT_COLOUR = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828"}
STATUS_SV = {s: SV[f"action.status.{s}"] for s in ACTION_STATUSES}
WEEKDAYS_SV = ("mån", "tis", "ons", "tor", "fre", "lör", "sön")
MAP_W, MAP_H = 680.0, 420.0

CSS = """
@page { size: A4; margin: 16mm 14mm; @bottom-right { content: "sida " counter(page) " av " counter(pages);
  font-size: 8pt; color: #555; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9.5pt; color: #111; }
h1 { font-size: 20pt; margin: 0 0 4mm; } h2 { font-size: 13pt; margin: 7mm 0 2mm; border-bottom: 1px solid #999; }
.cover { page-break-after: always; } .muted { color: #555; }
table { border-collapse: collapse; width: 100%; } th, td { border: 1px solid #bbb; padding: 1.2mm 1.6mm;
  text-align: left; vertical-align: top; } th { background: #eee; } td.num { text-align: right; }
.matrix td { width: 3.4%; height: 4mm; padding: 0; border: 1px solid #fff; font-size: 6pt; text-align: center; }
.light { display: inline-block; padding: 0.5mm 2mm; border-radius: 2mm; color: #fff; font-weight: bold; }
"""

TEMPLATE = """<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>EST-möte {{ cycle.label }} – {{ municipality }}</title>
<style>{{ css | safe }}</style></head><body>
<section class="cover">
<h1>EST-möte – {{ municipality }}</h1>
<p><strong>Cykel:</strong> {{ cycle.label }} ({{ cycle.first_day }} – {{ cycle.last_day }})</p>
<p><strong>Mötesdatum:</strong> {{ held_on }}</p>
<p><strong>Deltagande organisationer:</strong> {{ organisations|join(", ") if organisations else "–" }}</p>
<p class="muted">Lägesbilden är fryst {{ started_at or "– mötet har inte startats; lägesbilden saknas" }}.
Rapporter som kommit in senare ändrar inte detta protokoll.</p>
<h2>Protokoll</h2><p>{{ minutes or "–" }}</p>
</section>
<h2>Karta: hot spots</h2>
{% if svg %}{{ svg|safe }}<p class="muted">Antal rapporter per H3-cell (upplösning 9); tjock kant = hot spot.</p>
{% else %}<p>Ingen fryst lägesbild.</p>{% endif %}
<h2>Dagordning</h2>
{% if partial_note %}<p class="muted">{{ partial_note }}</p>{% endif %}
<table><tr><th>#</th><th>Cell</th><th>Antal</th><th>Förändring</th><th>Trend</th><th>Kategorier</th></tr>
{% for item in agenda %}<tr><td>{{ item.rank }}</td><td>{{ item.h3 }}</td><td class="num">{{ fmt(item.count) }}</td>
<td class="num">{{ fmt(item.change, signed=True) }}</td><td>{{ trend(item.trend) }}</td>
<td>{{ item.categories|map(attribute="label")|join(", ") }}</td></tr>
{% else %}<tr><td colspan="6">Inga celler.</td></tr>{% endfor %}</table>
<h2>Veckodag × timme</h2>
{% if matrix %}<table class="matrix"><tr><td></td>{% for h in range(24) %}<td>{{ h }}</td>{% endfor %}</tr>
{% for row in matrix %}<tr><td>{{ weekdays[loop.index0] }}</td>{% for v in row %}
<td style="background: {{ shade(v) }}">{{ fmt(v) if v else "" }}</td>{% endfor %}</tr>{% endfor %}</table>
{% else %}<p>–</p>{% endif %}
<h2>Nya insatser (beslut)</h2>{{ actions_table(decisions) }}
<h2>Pågående insatser</h2>{{ actions_table(open_actions) }}
<h2>Uppföljning</h2>
<table><tr><th>Insats</th><th>Ljus</th><th>Före → efter</th><th>Kvot</th><th>p</th><th>Kommentar</th></tr>
{% for f in follow_ups %}<tr><td>{{ f.action_what or f.action_id }}</td>
<td><span class="light" style="background: {{ light_colour[f.light] }}">{{ light_sv[f.light] }}</span>
{% if f.overridden %}<br><span class="muted">förslag: {{ light_sv[f.proposed] }}</span>{% endif %}</td>
<td>{{ fmt(f.result.counts.target[0]) }} → {{ fmt(f.result.counts.target[1]) }}</td>
<td>{{ fmt(f.result.rate_ratio.ratio) if f.result.rate_ratio.ratio is not none else "–" }}</td>
<td>{{ p(f.result.test.p_decrease) }}</td><td>{{ f.comment or "" }}</td></tr>
{% if why(f.result.proposal) %}<tr><td></td><td colspan="5" class="muted">Förslaget {{ light_sv[f.proposed]|lower }}:
{{ why(f.result.proposal) }}</td></tr>{% endif %}
{% else %}<tr><td colspan="6">Inga uppföljningar vid detta möte.</td></tr>{% endfor %}</table>
</body></html>
"""

ACTIONS_TABLE = """<table><tr><th>Insats</th><th>Mål</th><th>Problemägare</th><th>Start</th><th>Klar senast</th>
<th>Status</th></tr>{% for a in actions %}<tr><td>{{ a.what }}</td><td>{{ a.goal }}<br><span class="muted">baslinje
{% if a.baseline.per_cycle is not none %}{{ fmt(a.baseline.per_cycle) }} per cykel{% else %}saknas (rapporteringen
hade pågått kortare än en halv cykel){% endif %}</span></td><td>{{ a.owner_organisation }}{% if a.owner_contact %}<br>
{{ a.owner_contact }}{% endif %}</td><td>{{ a.start_date }}</td><td>{{ a.due_date }}</td>
<td>{{ status_sv[a.status] }}</td></tr>{% else %}<tr><td colspan="6">Inga.</td></tr>{% endfor %}</table>"""

LAGESBILD_TEMPLATE = """<!doctype html>
<html lang="sv"><head><meta charset="utf-8"><title>Lägesbild {{ d["from"] }} – {{ d.to }} – {{ d.municipality }}</title>
<style>{{ css | safe }}</style></head><body>
<section class="cover">
<h1>Lägesbild – {{ d.municipality }}</h1>
<p><strong>Period:</strong> {{ d["from"] }} – {{ d.to }}</p>
<p><strong>Antal rapporter (verifierade):</strong> {{ fmt(d.total) }}</p>
<p><strong>Insatser under perioden:</strong> {{ d.actions["items"]|length }}
(grön {{ d.actions.lights.green }}, gul {{ d.actions.lights.yellow }}, röd {{ d.actions.lights.red }},
ej uppföljda {{ d.actions.lights.none }})</p>
<p class="muted">Underlag till kommunens lägesbild och åtgärdsplan enligt lag (2023:196) om kommuners ansvar
för brottsförebyggande arbete. Sammanställt ur EST-rapporterna; en rapport vars tidsfönster spänner över en
gräns delas mellan perioderna (därför kan antal ha decimaler).</p>
<h2>Per kategorigrupp</h2>
<table><tr><th>Kategorigrupp</th><th>Antal</th><th>Trend</th></tr>
{% for g in d.groups %}<tr><td>{{ g.label }}</td><td class="num">{{ fmt(d.group_totals[loop.index0]) }}</td>
<td>{{ d.trends[loop.index0].direction }}</td></tr>{% endfor %}</table>
</section>
<h2>Per område</h2>
<p class="muted">Område = H3-cell med upplösning 7 (cirka 5 km², en stadsdel); de {{ d.areas|length }} områdena
med flest rapporter, med EST-gruppens namngivna platser i området.</p>
<table><tr><th>Område</th>{% for g in d.groups %}<th>{{ g.label }}</th>{% endfor %}<th>Totalt</th></tr>
{% for a in d.areas %}<tr><td>{{ a.h3 }}{% if a.places %}<br><span class="muted">{{ a.places|join(", ") }}</span>
{% endif %}</td>{% for v in a.counts %}<td class="num">{{ fmt(v) }}</td>{% endfor %}
<td class="num">{{ fmt(a.total) }}</td></tr>{% else %}<tr><td colspan="{{ d.groups|length + 2 }}">Inga rapporter.
</td></tr>{% endfor %}
{% if d.areas_rest.cells %}<tr><td>Övriga {{ d.areas_rest.cells }} områden</td>{% for v in d.areas_rest.counts %}
<td class="num">{{ fmt(v) }}</td>{% endfor %}<td class="num">{{ fmt(d.areas_rest.total) }}</td></tr>{% endif %}
</table>
<h2>Utveckling per kvartal</h2>
<p class="muted">Trend: Mann–Kendall-test på antal per dag och kvartal (delkvartal i periodens början och slut
jämförs per dag), signifikansnivå 5 %.</p>
<table><tr><th>Kategorigrupp</th>{% for q in d.quarters %}<th>{{ q.label }}{% if q.partial %}*{% endif %}</th>
{% endfor %}<th>Trend</th><th>p</th></tr>
{% for t in d.trends %}<tr><td>{{ d.groups[loop.index0].label }}</td>{% for v in t.counts %}
<td class="num">{{ fmt(v) if loop.index0 >= d.first_reporting_quarter else "–" }}</td>{% endfor %}
<td>{{ t.direction }}</td><td class="num">{{ p(t.mk_p) }}</td>
</tr>{% endfor %}</table>
{% if d.quarters|selectattr("partial")|list %}<p class="muted">* delvis inom perioden.</p>{% endif %}
{% if d.first_reporting_quarter %}<p class="muted">– inga rapporter ännu (före första rapporten i kommunen);
dessa kvartal ingår inte i trendtestet.</p>{% endif %}
<h2>Återkommande hot spots</h2>
<p class="muted">H3-celler (upplösning {{ d.hotspots.resolution }}) som var signifikant hot spots i minst
{{ d.hotspots.min_hot_cycles }} av periodens {{ d.hotspots.cycles }} hela cykler (samma test som mötets
lägesbild: exakt binomialtest för cellen och dess grannar, Benjamini–Hochberg per cykel).</p>
{% if svg %}{{ svg|safe }}<p class="muted">Celler som varit hot spot någon gång, färgade efter antal under
perioden; tjock kant = återkommande hot spot.</p>{% endif %}
<table><tr><th>#</th><th>Cell</th><th>Hot spot, cykler</th><th>Längsta följd</th><th>Senast</th><th>Antal</th>
<th>Mönster</th></tr>
{% for h in d.hotspots["items"] %}<tr><td>{{ loop.index }}</td><td>{{ h.h3 }}</td><td class="num">{{ h.hot_cycles }}
</td><td class="num">{{ h.longest_run }}</td><td>{{ h.last_hot }}</td><td class="num">{{ fmt(h.total) }}</td>
<td>{{ trend(h.trend) }}</td></tr>{% else %}<tr><td colspan="7">Inga återkommande hot spots.</td></tr>{% endfor %}
</table>
<h2>Insatser och uppföljning</h2>
<table><tr><th>Plats</th><th>Insats</th><th>Mål</th><th>Problemägare</th><th>Period</th><th>Status</th>
<th>Uppföljning</th></tr>
{% for a in d.actions["items"] %}<tr><td>{{ a.place }}</td><td>{{ a.what }}</td><td>{{ a.goal }}</td>
<td>{{ a.owner_organisation }}</td><td>{{ a.start_date }} – {{ a.due_date }}</td><td>{{ status_sv[a.status] }}</td>
<td>{% if a.light %}<span class="light" style="background: {{ light_colour[a.light] }}">{{ light_sv[a.light] }}</span>
{% else %}–{% endif %}</td></tr>{% else %}<tr><td colspan="7">Inga insatser under perioden.</td></tr>{% endfor %}
</table>
</body></html>
"""

_env = Environment(autoescape=True)
_template = _env.from_string(TEMPLATE)
_actions = _env.from_string(ACTIONS_TABLE)
_lagesbild = _env.from_string(LAGESBILD_TEMPLATE)


def _fmt(value: float | None, *, signed: bool = False) -> str:
    return "–" if value is None else format_sv(float(value), signed=signed)


def _p(value: float | None) -> str:
    """A p-value with three decimals and a decimal comma (0,031)."""
    return "–" if value is None else f"{value:.3f}".replace(".", ",")


def proposal_sv(proposal: dict[str, Any] | None) -> str:
    """Why the light was proposed, in the dashboard's Swedish words (``proposal.<code>`` in
    sv.json, its numbers as Swedes write them); empty for a code or numbers it does not know
    (a follow-up stored by an older version)."""
    if not proposal or f"proposal.{proposal.get('code')}" not in SV:
        return ""
    v = proposal.get("values") or {}
    words = {"p": _p(v.get("p")), "p_ring": _p(v.get("p_ring")), "p_own": _p(v.get("p_own")),
             "change": None if v.get("change_pct") is None else _fmt(v["change_pct"], signed=True),
             "t0": v.get("t0"), "t1": v.get("t1"), "min": v.get("min"), "due": v.get("due_date"),
             "status": STATUS_SV.get(v.get("status"))}
    missing = False

    def fill(m: re.Match) -> str:
        nonlocal missing
        value = words.get(m.group(1))
        missing = missing or value is None or value == "–"
        return str(value)

    text = re.sub(r"\{(\w+)\}", fill, SV[f"proposal.{proposal['code']}"])
    return "" if missing else text


def hotspot_svg(layer: dict[str, Any] | None) -> str:
    """The frozen hexagons as an SVG map (equirectangular, scaled by cos(latitude)), coloured
    in the situation map's count classes, hot cells outlined."""
    features = (layer or {}).get("features") or []
    if not features:
        return ""
    xs = [p[0] for f in features for p in f["geometry"]["coordinates"][0]]
    ys = [p[1] for f in features for p in f["geometry"]["coordinates"][0]]
    x0, y0 = min(xs), min(ys)
    kx = math.cos(math.radians((y0 + max(ys)) / 2))
    width, height = max((max(xs) - x0) * kx, 1e-6), max(max(ys) - y0, 1e-6)
    scale = min((MAP_W - 20) / width, (MAP_H - 20) / height)
    breaks = class_breaks([f["properties"]["count"] for f in features])
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{MAP_W:.0f}" height="{MAP_H:.0f}" '
           f'viewBox="0 0 {MAP_W:.0f} {MAP_H:.0f}" style="background:#eeeeec">']
    for f in features:
        pts = " ".join(f"{10 + (x - x0) * kx * scale:.1f},{MAP_H - 10 - (y - y0) * scale:.1f}"
                       for x, y in f["geometry"]["coordinates"][0])
        hot = f["properties"].get("hotspot") == "hot"
        out.append(f'<polygon points="{pts}" fill="{fill_colour(f["properties"]["count"], breaks)}" '
                   f'stroke="{"#111" if hot else "#777"}" stroke-width="{2.5 if hot else 0.5}"/>')
    out.append("</svg>")
    return "".join(out)


def _shade(value: float, peak: float) -> str:
    if not value or peak <= 0:
        return "#ffffff"
    return CLASS_COLOURS[min(len(CLASS_COLOURS) - 1, int(value / peak * len(CLASS_COLOURS)))]


def render_meeting_html(meeting: dict[str, Any], *, municipality: str, open_actions: list[dict[str, Any]]) -> str:
    """The meeting report as one self-contained HTML page (A4 print CSS)."""
    agenda = (meeting.get("frozen_agenda") or {})
    matrix = (agenda.get("patterns") or {}).get("matrix")
    peak = max((v for row in matrix for v in row), default=0) if matrix else 0
    return _template.render(
        css=CSS, municipality=municipality, cycle=meeting["cycle"], held_on=meeting["held_on"],
        organisations=meeting["organisations"], minutes=meeting["minutes"],
        started_at=(meeting["started_at"] or "")[:16].replace("T", " "), svg=hotspot_svg(meeting.get("frozen_layer")),
        agenda=agenda.get("items", []), partial_note=partial_note_sv(agenda.get("cycle")), matrix=matrix,
        weekdays=WEEKDAYS_SV,
        shade=lambda v: _shade(v, peak), fmt=_fmt, trend=lambda t: TREND_SV.get(t, t),
        actions_table=lambda rows: Markup(_actions.render(actions=rows, fmt=_fmt, status_sv=STATUS_SV)),
        decisions=meeting["decisions"], open_actions=open_actions, follow_ups=meeting["follow_ups"],
        light_sv=LIGHT_SV, light_colour=LIGHT_COLOUR, p=_p, why=proposal_sv)


def render_lagesbild_html(data: dict[str, Any]) -> str:
    """The lägesbild (:func:`app.actions.lagesbild.get_lagesbild`) as one self-contained HTML page."""
    return _lagesbild.render(css=CSS, d=data, fmt=_fmt, p=_p, svg=hotspot_svg(data["hotspots"]["layer"]),
                             trend=lambda t: TREND_SV.get(t, t), status_sv=STATUS_SV, light_sv=LIGHT_SV,
                             light_colour=LIGHT_COLOUR)


def render_pdf(html: str) -> bytes:
    """HTML -> PDF with WeasyPrint (imported here: it loads Pango, which only this route needs)."""
    from weasyprint import HTML

    return HTML(string=html).write_pdf()
