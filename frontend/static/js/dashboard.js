/* /dashboard: the EST meeting map. Hotspot layer of a cycle, agenda, cell detail, points, print. */
"use strict";
(function () {
  const { h, $, t } = LB;
  const config = JSON.parse($("#config").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const TREND_COLOURS = { new: "#fdae61", consecutive: "#f46d43", intensifying: "#d73027", persistent: "#a50026",
                          diminishing: "#f4a582", sporadic: "#fee090", oscillating: "#abd9e9", historical: "#74add1",
                          none: "#e0e0e0" };
  const COUNT_COLOURS = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
  const CHANGE_CLASSES = [  // [is the change in it, colour, legend key]: symmetric, ±3 in the outer classes
    [(d) => d <= -3, "#2166ac", "dash.change.muchLess"], [(d) => d <= -0.5, "#92c5de", "dash.change.less"],
    [(d) => d < 0.5, "#f7f7f7", "dash.change.same"], [(d) => d < 3, "#f4a582", "dash.change.more"],
    [() => true, "#b2182b", "dash.change.muchMore"]];
  const HOT_OUTLINE = "#5c0011";

  const state = { map: null, layer: null, previous: null, points: null, cycles: [], data: null,
                  breaks: [], selected: null, request: 0, categories: [] };

  const resForZoom = LBEarly.resForZoom;
  const zoomForRes = { 7: 11, 8: 12, 9: 14, 10: 16 };
  const role = () => (LB.auth.get() || {}).role;
  const canSeePoints = () => config.pointRoles.includes(role());
  const cycleById = (id) => state.cycles.find((c) => c.id === id);
  const selectedCycle = () => cycleById($("#cycle").value);

  function filterParams() {
    const p = new URLSearchParams();
    if ($("#group").value) p.append("group", $("#group").value);
    if ($("#org-kind").value) p.append("organisation_kind", $("#org-kind").value);
    return p;
  }

  /* A category the API names by code and Swedish label, in the page's language. */
  function categoryLabel(c) {
    const known = state.categories.find((x) => x.code === c.code);
    return known ? LB.categoryLabel(known) : c.label;
  }

  /* The map's filters for the report list and the points: what is listed or drawn in a cell is
   * what its count is made of. */
  function reportFilterParams(p) {
    for (const [key, value] of filterParams()) p.set(key, value);
    return p;
  }

  /* ---------------- colours and legend ---------------- */
  /* Five classes on a log scale from 1 to the largest count: a town centre with 80 reports and
   * a suburb with 2 both stay readable (counts are heavily skewed). */
  function logBreaks(values) {
    const max = Math.max(0, ...values);
    if (max <= 1) return [];
    const out = [];
    for (let i = 1; i < COUNT_COLOURS.length; i++) {
      const raw = Math.pow(max, i / COUNT_COLOURS.length);
      const nice = Number(raw.toPrecision(raw < 10 ? 1 : 2));
      if (nice > 1 && (!out.length || nice > out[out.length - 1])) out.push(nice);
    }
    return out;  // class i holds counts < out[i]; the last class the rest
  }
  function countColour(n) {
    let i = state.breaks.findIndex((b) => n < b);
    if (i < 0) i = state.breaks.length;
    return COUNT_COLOURS[Math.round((i * (COUNT_COLOURS.length - 1)) / Math.max(1, state.breaks.length))];
  }
  function changeColour(d) { return CHANGE_CLASSES.find(([within]) => within(d))[1]; }

  function style(feature) {
    const p = feature.properties, mode = $("#colour-by").value, hot = p.hotspot === "hot";
    let fill;
    if (mode === "change") fill = changeColour(p.change);
    else if (mode === "significance") fill = hot && p.trend === "none" ? TREND_COLOURS.intensifying : TREND_COLOURS[p.trend];
    else fill = countColour(p.count);
    const selected = state.selected === p.h3;
    if (LB.estLoop.isSelected(p.h3)) {
      return { className: "hex", fillColor: fill, fillOpacity: 0.85, color: "#0b6bcb", weight: 4, dashArray: "4 3" };
    }
    return { className: "hex" + (hot ? " hot" : ""), fillColor: fill, fillOpacity: 0.7,
             color: selected ? "#0b6bcb" : hot ? HOT_OUTLINE : "#666", weight: selected ? 4 : hot ? 2.5 : 0.6 };
  }

  function legendRow(colour, text, extra) {
    return h("div", { class: "legend-row" }, h("span", { class: "swatch", style: `background:${colour};${extra || ""}` }), text);
  }
  function renderLegend() {
    const mode = $("#colour-by").value, rows = [];
    if (mode === "count") {
      const b = state.breaks;
      if (!b.length) rows.push(h("p", {}, t("dash.noReports")));
      const edges = [0, ...b];
      edges.forEach((lo, i) => {
        const hi = b[i];
        const label = hi === undefined ? `≥ ${LB.fmtNumber(lo)}` : `${LB.fmtNumber(lo)} – < ${LB.fmtNumber(hi)}`;
        rows.push(legendRow(countColour(hi === undefined ? lo : (lo + hi) / 2 || lo), label));
      });
      rows.push(h("p", { class: "hint" }, t("dash.countHint")));
    } else if (mode === "change") {
      for (const [, colour, key] of CHANGE_CLASSES) rows.push(legendRow(colour, t(key)));
    } else {
      for (const [cls, colour] of Object.entries(TREND_COLOURS)) rows.push(legendRow(colour, t("trend." + cls)));
    }
    rows.push(legendRow("transparent", t("dash.hotOutline"), `border:3px solid ${HOT_OUTLINE}`));
    if ($("#compare").checked) rows.push(legendRow("transparent", t("dash.previousOutline"), "border:2px dashed #222"));
    rows.push(...comparisonNotes(state.data));
    $("#legend").replaceChildren(...rows);
  }

  /* What the layer's comparisons mean: a running cycle is compared for the share of it that has
     passed, and a short history has a shorter baseline (or none). */
  function comparisonNotes(data) {
    if (!data || !data.cycle || !data.method) return [];
    const notes = [], m = data.method;
    if (data.cycle.partial) {
      notes.push(h("p", { class: "hint partial-cycle" }, t("dash.partial", { share: Math.floor(100 * data.cycle.elapsed_share) })));
    }
    if (m.baseline_cycles === 0) notes.push(h("p", { class: "hint short-history" }, t("dash.noBaseline")));
    else if (m.baseline_cycles < m.baseline_cycles_max) {
      notes.push(h("p", { class: "hint short-history" }, t("dash.shortHistory", { n: m.baseline_cycles, max: m.baseline_cycles_max })));
    }
    return notes;
  }

  /* Leaflet sets a path's class only when it is made: the picked-for-a-place mark is toggled here. */
  function restyle() {
    if (!state.layer) return;
    state.layer.eachLayer((l) => {
      l.setStyle(style(l.feature));
      const el = l.getElement && l.getElement();
      if (el) el.classList.toggle("picked", LB.estLoop.isSelected(l.feature.properties.h3));
    });
  }

  /* ---------------- the hotspot layer ---------------- */
  function tooltip(p) {
    return h("div", {}, h("strong", {}, t("dash.rank", { rank: p.rank })), h("br"),
      t("dash.tooltip", { count: LB.fmtNumber(p.count), previous: LB.fmtNumber(p.previous) }), h("br"),
      t("trend." + p.trend));
  }

  async function loadLayer() {
    const cycle = selectedCycle();
    if (!cycle || !state.map) return;
    const res = resForZoom(state.map.getZoom());
    const request = ++state.request;
    const params = filterParams();
    params.set("cycle", cycle.id);
    params.set("res", res);
    $("#layer-status").textContent = t("dash.loading");
    let data;
    try {
      const early = state.prefetch;  // the first layer, asked for together with the cycle list
      state.prefetch = null;
      data = early && cycle === state.cycles[early.which === "current" ? 0 : 1] && res === early.res
        && !filterParams().toString() ? await early.data
        : await LB.api("/api/v1/hotspots?" + params);
    } catch (e) {
      if (request === state.request) $("#layer-status").textContent = e.message;
      return;
    }
    if (request !== state.request) return;  // a newer choice is already on its way
    performance.mark("layer-data");
    state.data = data;
    state.breaks = logBreaks(data.features.map((f) => f.properties.count));
    if (state.layer) state.layer.remove();
    state.layer = L.geoJSON(data, {
      style,
      onEachFeature: (feature, layer) => {
        layer.bindTooltip(() => tooltip(feature.properties), { sticky: true });  // built when shown
        layer.on("click", () => { if (!LB.estLoop.cellClicked(feature.properties.h3)) selectCell(feature.properties.h3); });
      },
    }).addTo(state.map);
    const el = $("#map");
    el.dataset.layerCycle = cycle.id;
    LB.meeting.show(cycle);
    el.dataset.layerRes = String(res);
    el.dataset.layerCells = String(data.features.length);
    el.dataset.layerTotal = String(data.total);
    $("#layer-status").textContent = t("dash.layerStatus", {
      cycle: cycle.label, cells: LB.fmtNumber(data.features.length, 0), total: LB.fmtNumber(data.total), res });
    $("#print-title").textContent = t("dash.printTitle", {
      municipality: config.municipalityName || "", cycle: `${cycle.label} (${cycle.first_day} – ${cycle.last_day})`,
      date: LB.fmtTime(new Date().toISOString()) });
    renderLegend();
    performance.mark("layer-ready");
    document.body.dataset.layerReady = cycle.id;
    loadAgenda(cycle, res, params);
    loadPrevious(cycle, res);
    const linked = new URLSearchParams(location.hash.slice(1)).get("cell");
    if (linked && !state.selected) selectCell(linked);
    else if (state.selected && !data.features.some((f) => f.properties.h3 === state.selected)) closeDetail();
    else if (state.selected) selectCell(state.selected);
  }

  async function loadPrevious(cycle, res) {
    if (state.previous) { state.previous.remove(); state.previous = null; }
    const i = state.cycles.indexOf(cycle);
    const before = state.cycles[i + 1];
    if (!$("#compare").checked || !before) return;
    const params = filterParams();
    params.set("cycle", before.id);
    params.set("res", res);
    const data = await LB.api("/api/v1/hotspots?" + params);
    if (selectedCycle() !== cycle || !$("#compare").checked) return;
    const shown = data.features.filter((f) => f.properties.hotspot === "hot" || f.properties.rank <= 10);
    state.previous = L.geoJSON({ type: "FeatureCollection", features: shown }, {
      style: { className: "hex-previous", fill: false, color: "#222", weight: 2, dashArray: "6 4" }, interactive: false,
    }).addTo(state.map);
  }

  /* ---------------- agenda (top 10 from the engine) ---------------- */
  async function loadAgenda(cycle, res, params) {
    const p = new URLSearchParams(params);
    p.set("n", "10");
    const box = $("#agenda");
    try {
      const top = await LB.api("/api/v1/hotspots/top?" + p);
      if (selectedCycle() !== cycle) return;
      box.replaceChildren(...top.items.map((item) => {
        const what = item.categories.length ? categoryLabel(item.categories[0]) : "";
        const change = item.change > 0 ? `+${LB.fmtNumber(item.change)}` : LB.fmtNumber(item.change);
        return h("li", { class: item.hotspot === "hot" ? "hot" : "" }, h("button", {
          type: "button", class: "agenda-item", dataset: { h3: item.h3 },
          onclick: () => {
            state.map.setView([item.centre[1], item.centre[0]], zoomForRes[res]);
            selectCell(item.h3);
          },
        }, h("strong", {}, what || item.h3), " ",
           h("span", {}, t("dash.agendaLine", { count: LB.fmtNumber(item.count), change })), " ",
           h("span", { class: "trend" }, t("trend." + item.trend))));
      }));
      if (!top.items.length) box.replaceChildren(h("li", { class: "empty" }, t("dash.noReports")));
    } catch (e) {
      box.replaceChildren(h("li", { class: "error" }, e.message));
    }
  }

  /* ---------------- one cell ---------------- */
  function closeDetail() {
    state.selected = null;
    history.replaceState(null, "", location.pathname);
    $("#detail").hidden = true;
    if (state.layer) state.layer.setStyle(style);
  }

  async function selectCell(h3) {
    const feature = state.data && state.data.features.find((f) => f.properties.h3 === h3);
    state.selected = h3;
    history.replaceState(null, "", "#" + new URLSearchParams({ cycle: $("#cycle").value, cell: h3 }));
    if (state.layer) state.layer.setStyle(style);
    const box = $("#detail");
    box.hidden = false;
    box.dataset.h3 = h3;
    const p = feature ? feature.properties : null;
    const rows = p ? [
      [t("dash.thisCycle"), LB.fmtNumber(p.count)], [t("dash.previous"), LB.fmtNumber(p.previous)],
      [state.data.method.baseline_cycles ? t("dash.baseline", { n: state.data.method.baseline_cycles })
        : t("dash.baselineNone"), p.baseline === null ? "–" : LB.fmtNumber(p.baseline)],
      [t("dash.trend"), t("trend." + p.trend)],
      [t("dash.hotspot"), p.hotspot === "hot" ? t("dash.hotYes", { p: p.p_hot < 0.001 ? "< 0,001" : "= " + LB.fmtNumber(p.p_hot, 3) }) : t("dash.hotNo")],
    ] : [];
    box.replaceChildren(
      h("div", { class: "detail-head" },
        h("h3", {}, p ? t("dash.rank", { rank: p.rank }) : h3),
        h("button", { type: "button", class: "link", onclick: closeDetail, "aria-label": t("dash.close") }, "✕")),
      h("p", { class: "hint" }, h3),
      h("table", { class: "counts" }, ...rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))),
      h("h4", {}, t("dash.sparkline")), h("div", { id: "sparkline", class: "sparkline" }),
      h("h4", {}, t("dash.heat")), h("div", { id: "heat" }),
      h("h4", {}, t("dash.categories")), h("ul", { id: "cell-categories", class: "plain" }),
      h("h4", {}, t("dash.organisations")), h("ul", { id: "cell-organisations", class: "plain" }),
      config.loopWriteRoles.includes(role()) ? h("button", { type: "button", class: "secondary small", id: "place-from-cell",
        onclick: () => LB.estLoop.placeFromCell(h3, "") }, t("place.fromCell")) : null,
      canSeePoints() ? h("h4", {}, t("dash.reports")) : null,
      canSeePoints() ? h("ul", { id: "cell-reports", class: "cell-reports" }) : null);
    const cycle = selectedCycle();
    const params = filterParams();
    params.set("cycle", cycle.id);
    const pattern = new URLSearchParams(params);
    pattern.append("cell", h3);
    const [cell, matrix] = await Promise.all([
      LB.api(`/api/v1/hotspots/cells/${h3}?` + params).catch((e) => e),
      LB.api("/api/v1/patterns?" + pattern).catch((e) => e),
    ]);
    if (state.selected !== h3) return;
    if (!(cell instanceof Error)) {
      $("#sparkline").replaceChildren(sparkline(cell.series));
      $("#cell-categories").replaceChildren(...cell.categories.map((c) =>
        h("li", {}, `${categoryLabel(c)}: ${LB.fmtNumber(c.count)}`)));
      $("#cell-organisations").replaceChildren(...cell.organisations.map((o) =>
        h("li", {}, `${o.name}: ${LB.fmtNumber(o.count)}`)));
    }
    if (!(matrix instanceof Error)) $("#heat").replaceChildren(heatMatrix(matrix));
    if (canSeePoints()) loadCellReports(h3, cycle);
  }

  function sparkline(series) {
    const w = 300, hgt = 56, pad = 4, max = Math.max(1, ...series.map((s) => s.count));
    const x = (i) => pad + (i * (w - 2 * pad)) / Math.max(1, series.length - 1);
    const y = (n) => hgt - pad - (n * (hgt - 2 * pad)) / max;
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
    svg.setAttribute("class", "spark");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", t("dash.sparklineLabel", { n: series.length }));
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", series.map((s, i) => `${x(i)},${y(s.count)}`).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#bd0026");
    line.setAttribute("stroke-width", "2");
    svg.append(line);
    series.forEach((s, i) => {
      const dot = document.createElementNS(SVG, "circle");
      dot.setAttribute("cx", x(i)); dot.setAttribute("cy", y(s.count)); dot.setAttribute("r", i === series.length - 1 ? 4 : 2);
      const title = document.createElementNS(SVG, "title");
      title.textContent = `${s.label}: ${LB.fmtNumber(s.count)}`;
      dot.append(title);
      svg.append(dot);
    });
    const caption = h("div", { class: "spark-caption" }, h("span", {}, series[0].label), h("span", {}, series[series.length - 1].label));
    return h("div", {}, svg, caption);
  }

  function heatMatrix(m) {
    const max = Math.max(0, ...m.matrix.flat());
    const head = h("tr", {}, h("th", {}), ...m.columns.map((hr) => h("th", {}, hr % 3 === 0 ? String(hr) : "")));
    const rows = m.matrix.map((row, d) => h("tr", {}, h("th", {}, t("weekday." + d)),
      ...row.map((v, hr) => h("td", {
        class: "heat-cell", title: `${t("weekday." + d)} ${hr}:00 – ${LB.fmtNumber(v, 2)}`,
        style: `background: rgba(189, 0, 38, ${max > 0 ? (0.08 + 0.92 * v / max).toFixed(3) : 0})`,
      }))));
    return h("table", { class: "heat", "aria-label": t("dash.heat") }, h("thead", {}, head), h("tbody", {}, ...rows));
  }

  async function loadCellReports(h3, cycle) {
    const p = reportFilterParams(new URLSearchParams({ cell: h3, start: cycle.start, end: cycle.end, limit: "50",
                                                       status: "new,verified" }));
    const list = $("#cell-reports");
    try {
      const data = await LB.api("/api/v1/reports?" + p);
      if (state.selected !== h3) return;
      const shown = new Map(data.features.map((f) => [f.id, f]));
      // One incident, many sources: the reports linked to a call-out are listed under it (they
      // are counted once, as the call-out); the others stand alone.
      list.replaceChildren(...data.features.filter((f) => !shown.has(f.properties.incident_of)).map((f) => {
        const linked = f.properties.linked_reports.filter((id) => shown.has(id)).map((id) => shown.get(id));
        const elsewhere = f.properties.linked_reports.length - linked.length;
        return reportItem(f, f.properties.incident_of ? h("div", { class: "incident" }, t("dash.linkedElsewhere"), " ",
                                                                unlinkButton(f)) : null,
          f.properties.linked_reports.length ? h("div", { class: "incident" }, t("dash.sameIncident")) : null,
          linked.length ? h("ul", { class: "incident-members" }, ...linked.map((m) => reportItem(m, unlinkButton(m)))) : null,
          elsewhere ? h("div", { class: "incident hint" }, t("dash.linkedOutside", { n: elsewhere })) : null);
      }));
      if (data.numberMatched > data.numberReturned) {
        list.append(h("li", { class: "hint" }, t("dash.more", { n: data.numberMatched - data.numberReturned })));
      }
      if (!data.features.length) list.append(h("li", { class: "empty" }, t("dash.noReports")));
    } catch (e) {
      list.replaceChildren(h("li", { class: "error" }, e.message));
    }
  }

  function reportItem(f, ...extra) {
    const q = f.properties;
    return h("li", { dataset: { reportId: f.id } },
      h("strong", {}, q.category_label), " ",
      h("span", { class: "when" }, LB.fmtTime(q.occurred_from)), " ",
      h("span", { class: "org" }, q.organisation || ""),
      q.description ? h("div", { class: "text" }, q.description) : null,
      (q.attachments || []).length ? photosButton(q.attachments) : null, ...extra);
  }

  /* A report's photos, fetched with the login when asked for (an <img src> cannot send it). */
  function photosButton(hrefs) {
    const box = h("div", { class: "photos" });
    const button = h("button", { type: "button", class: "link show-photos", onclick: async () => {
      button.disabled = true;
      try {
        const blobs = await Promise.all(hrefs.map(async (href) => (await LB.api(href, { raw: true })).blob()));
        box.replaceChildren(...blobs.map((b) => h("img", { src: URL.createObjectURL(b), alt: t("dash.photo"),
                                                           class: "report-photo",
                                                           onload: (ev) => URL.revokeObjectURL(ev.target.src) })));
        button.remove();
      } catch (e) {
        box.replaceChildren(h("span", { class: "error" }, LB.problemText(e)));
        button.disabled = false;
      }
    } }, t("dash.showPhotos", { n: hrefs.length }));
    return h("div", {}, button, box);
  }

  function unlinkButton(f) {
    if (!config.unlinkRoles.includes(role())) return null;
    return h("button", { type: "button", class: "link unlink", onclick: async (event) => {
      if (!window.confirm(t("dash.unlinkConfirm"))) return;
      const button = event.currentTarget;
      button.disabled = true;
      try {
        await LB.api(`/api/v1/reports/${f.id}/incident`, { method: "DELETE" });
        loadLayer();  // the counts change: the report counts on its own again (and the cell is shown anew)
      } catch (e) {
        button.replaceWith(h("span", { class: "error" }, e.message));
      }
    } }, t("dash.unlink"));
  }

  /* ---------------- report points (roles that may see them), clustered ---------------- */
  async function loadPoints() {
    if (state.points) { state.points.remove(); state.points = null; }
    if (!canSeePoints() || !$("#points").checked) return;
    const cycle = selectedCycle(), b = state.map.getBounds();
    const p = reportFilterParams(new URLSearchParams({ start: cycle.start, end: cycle.end, limit: "1000",
      status: "new,verified", bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(6)).join(",") }));
    const data = await LB.api("/api/v1/reports?" + p);
    if (state.points) state.points.remove();
    state.points = L.markerClusterGroup({ disableClusteringAtZoom: 17, showCoverageOnHover: false });
    for (const f of data.features) {
      const [lon, lat] = f.geometry.coordinates, q = f.properties;
      state.points.addLayer(L.circleMarker([lat, lon], { radius: 6, color: "#1f3a5f", weight: 1, fillOpacity: 0.8, className: "report-point" })
        .bindPopup(() => h("div", {}, h("strong", {}, q.category_label), h("br"), LB.fmtTime(q.occurred_from),
                                h("div", {}, q.description))));
    }
    state.points.addTo(state.map);
    $("#map").dataset.points = String(data.features.length);
  }

  /* ---------------- set-up ---------------- */
  function fillSelect(select, options) {
    const keep = select.value;
    select.replaceChildren(...options.map(([value, label]) => h("option", { value }, label)));
    if (options.some(([v]) => v === keep)) select.value = keep;
  }

  function fillFilters() {
    const groups = [...new Set(state.categories.map((c) => c.group))];
    fillSelect($("#group"), [["", t("dash.all")], ...groups.map((g) => [g, t("group." + g)])]);
    fillSelect($("#org-kind"), [["", t("dash.all")], ...config.organisationKinds.map((k) => [k, t("orgkind." + k)])]);
  }

  async function start() {
    const signedIn = LB.auth.valid();
    $("#login-view").hidden = signedIn;
    $("#logout").hidden = !signedIn;
    const analyst = signedIn && config.analystRoles.includes(role());
    $("#no-access").hidden = !signedIn || analyst;
    $("#workspace").hidden = !analyst;
    if (!analyst) {
      LBEarly.layer = null;  // asked for with a login that is no longer valid: never shown after another
      return;
    }
    $("#points-toggle").hidden = !canSeePoints();
    if (!state.map) {
      state.map = L.map("map", { preferCanvas: false }).setView(config.centre, config.zoom);
      if (config.tileUrl) L.tileLayer(config.tileUrl, { maxZoom: 19, attribution: config.tileAttribution }).addTo(state.map);
      L.control.scale({ imperial: false }).addTo(state.map);
      let res = resForZoom(state.map.getZoom());
      state.map.on("zoomend", () => {
        const now = resForZoom(state.map.getZoom());
        if (now !== res) { res = now; loadLayer(); }
      });
      state.map.on("moveend", () => { if ($("#points").checked) loadPoints(); });
      LB.estLoop.init({ map: state.map, canWrite: config.loopWriteRoles.includes(role()),
                        restyle });
      LB.meeting.init({ canWrite: config.loopWriteRoles.includes(role()) });
    }
    state.map.invalidateSize();
    if (!state.cycles.length) {
      const res = resForZoom(state.map.getZoom());
      const which = LBEarly.meetingCycle();
      const path = `/api/v1/hotspots?cycle=${which}&res=${res}`;
      const early = LBEarly.layer;  // asked for while the scripts loaded (prefetch.js)
      LBEarly.layer = null;
      state.prefetch = { res, which, data: early && early.path === path && early.token === LB.auth.get().token
        ? early.response.then((r) => (r.ok ? r.json() : LB.api(path)), () => LB.api(path))
        : LB.api(path) };
      state.prefetch.data.catch(() => {});  // a failure is reported when loadLayer awaits it
    }
    const [cycles, categories] = await Promise.all([LB.api("/api/v1/cycles?n=26"), LB.api("/api/v1/categories")]);
    state.cycles = cycles.cycles;
    state.categories = categories;
    fillSelect($("#cycle"), state.cycles.map((c) => [c.id, c.current ? t("dash.cycleCurrent", { label: c.label }) : c.label]));
    // The cycle the meeting looks at: on meeting day a new cycle has just begun and is nearly
    // empty, so the one before, until the new one is half over (or the cycle a link names).
    const [current, before] = state.cycles;
    const half = current && (Date.parse(current.start) + Date.parse(current.end)) / 2;
    if (before && Date.now() < half) $("#cycle").value = before.id;
    const linkedCycle = new URLSearchParams(location.hash.slice(1)).get("cycle");
    if (linkedCycle && cycleById(linkedCycle)) $("#cycle").value = linkedCycle;
    fillFilters();
    await loadLayer();
    if (!state.keysShown) {  // after the layer: the keys panel is at the bottom and not urgent
      state.keysShown = true;
      LB.readingKeys.init({ admin: config.keyAdminRoles.includes(role()) });
      if (config.integrationRoles.includes(role())) LB.integrations.init();
    }
  }

  LB.applyI18n();
  LB.bindLangButtons();
  $("#login-slot").append(LB.loginForm(start));
  $("#logout").addEventListener("click", () => { LB.auth.clear(); location.reload(); });
  $("#cycle").addEventListener("change", () => { loadLayer(); loadPoints(); });
  for (const id of ["#group", "#org-kind"]) {
    $(id).addEventListener("change", () => {
      loadLayer();
      loadPoints();
      if (state.selected && canSeePoints()) loadCellReports(state.selected, selectedCycle());
    });
  }
  $("#compare").addEventListener("change", () => { renderLegend(); loadPrevious(selectedCycle(), resForZoom(state.map.getZoom())); });
  $("#colour-by").addEventListener("change", () => { if (state.layer) state.layer.setStyle(style); renderLegend(); });
  $("#points").addEventListener("change", loadPoints);
  $("#print").addEventListener("click", () => window.print());
  window.addEventListener("beforeprint", () => state.map && state.map.invalidateSize());
  window.addEventListener("afterprint", () => state.map && state.map.invalidateSize());
  window.addEventListener("lb:logout", () => location.reload());
  window.addEventListener("hashchange", () => {  // a pasted link to a cell (#cycle=…&cell=…)
    const linked = new URLSearchParams(location.hash.slice(1));
    if (linked.get("cycle") && linked.get("cycle") !== $("#cycle").value && cycleById(linked.get("cycle"))) {
      $("#cycle").value = linked.get("cycle");
      state.selected = null;
      loadLayer();
    } else if (linked.get("cell") && linked.get("cell") !== state.selected) selectCell(linked.get("cell"));
  });
  window.addEventListener("lb:lang", () => {
    if (!state.cycles.length) return;
    fillSelect($("#cycle"), state.cycles.map((c) => [c.id, c.current ? t("dash.cycleCurrent", { label: c.label }) : c.label]));
    fillFilters();
    loadLayer();
  });
  start();
})();
