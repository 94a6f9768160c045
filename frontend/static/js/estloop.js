/* The EST loop on the meeting map: places (outlined, with their traffic light), making a place
 * from selected hexagons, actions (insatser) on a place, and confirming a measured follow-up.
 * Used by dashboard.js through LB.estLoop; all text is set as text. */
"use strict";
(function () {
  const { h, $, t } = LB;
  const LIGHTS = { green: "#1e7b34", yellow: "#e0a800", red: "#b3261e" };
  const loop = (LB.estLoop = { selecting: false, selected: new Set() });
  let ctx = null;  // {map, canWrite, restyle, cycle}
  let placesLayer = null;

  const dot = (light) => h("span", { class: "light light-" + light, style: `background:${LIGHTS[light] || "#bbb"}`,
                                     title: t("light." + light) });

  loop.init = function (options) {
    ctx = options;
    $("#place-tools").hidden = !ctx.canWrite;
    $("#select-cells").addEventListener("click", () => setSelecting(!loop.selecting));
    $("#place-form").addEventListener("submit", createPlace);
    loadPlaces();
  };

  loop.isSelected = (h3) => loop.selected.has(h3);

  /* A click on a hexagon while selecting adds or removes it; returns true when it was used. */
  loop.cellClicked = function (h3) {
    if (!loop.selecting) return false;
    if (loop.selected.has(h3)) loop.selected.delete(h3); else loop.selected.add(h3);
    renderSelection();
    ctx.restyle();
    return true;
  };

  /* One click from a hotspot's detail: a place of exactly that cell. */
  loop.placeFromCell = function (h3, suggestedName) {
    setSelecting(true);
    loop.selected = new Set([h3]);
    $("#place-name").value = suggestedName || "";
    renderSelection();
    ctx.restyle();
    $("#place-name").focus();
  };

  function setSelecting(on) {
    loop.selecting = on;
    if (!on) loop.selected.clear();
    $("#place-form").hidden = !on;
    $("#select-cells").textContent = t(on ? "place.cancelSelect" : "place.select");
    document.body.classList.toggle("selecting", on);
    renderSelection();
    ctx.restyle();
  }

  function renderSelection() {
    $("#place-selected").textContent = t("place.selected", { n: loop.selected.size });
  }

  async function createPlace(ev, confirm) {
    if (ev) ev.preventDefault();
    const error = $("#place-error");
    error.textContent = "";
    try {
      const place = await LB.api("/api/v1/places", { method: "POST",
        json: { name: $("#place-name").value.trim(), cells: [...loop.selected], ...(confirm ? { confirm_personal_data: true } : {}) } });
      $("#place-name").value = "";
      setSelecting(false);
      await loadPlaces();
      openPlace(place.id);
    } catch (e) {
      if (!LB.offerConfirm(error, e, () => createPlace(null, true))) error.textContent = LB.problemText(e);
    }
  }

  async function loadPlaces() {
    const data = await LB.api("/api/v1/places");
    if (placesLayer) placesLayer.remove();
    placesLayer = L.geoJSON(data, {
      style: (f) => ({ className: "place", fill: false, weight: 4, color: LIGHTS[(f.properties.latest_light || {}).light] || "#0b6bcb" }),
      onEachFeature: (f, layer) => {
        layer.bindTooltip(() => h("div", {}, h("strong", {}, f.properties.name), h("br"),
          t("place.openActions", { n: f.properties.open_actions.length })), { sticky: true });
        layer.on("click", (ev) => { L.DomEvent.stopPropagation(ev); openPlace(f.id); });
      },
    }).addTo(ctx.map);
    $("#places").replaceChildren(...data.features.map((f) => h("li", {},
      h("button", { type: "button", class: "link", dataset: { place: f.id }, onclick: () => openPlace(f.id) },
        f.properties.latest_light ? dot(f.properties.latest_light.light) : null, f.properties.name))));
    if (!data.features.length) $("#places").replaceChildren(h("li", { class: "empty" }, t("place.none")));
    $("#map").dataset.places = String(data.features.length);
  }

  /* ---------------- one place: analysis notes, actions, follow-up ---------------- */
  async function openPlace(id) {
    const place = await LB.api(`/api/v1/places/${id}`);
    const box = $("#place-panel");
    box.hidden = false;
    box.dataset.place = String(id);
    const actions = place.actions || [];
    box.replaceChildren(
      h("div", { class: "detail-head" }, h("h3", {}, place.name),
        h("button", { type: "button", class: "link", "aria-label": t("dash.close"),
                      onclick: () => { box.hidden = true; } }, "✕")),
      h("h4", {}, t("place.analysis")),
      h("ul", { class: "plain notes" }, ...(place.analysis || []).map((n) =>
        h("li", {}, h("strong", {}, t("note." + n.kind) + ": "), n.text))),
      ctx.canWrite ? noteForm(id) : null,
      h("h4", {}, t("place.actions")),
      h("ul", { class: "actions" }, ...actions.map((a) => actionItem(a, id))),
      ctx.canWrite ? actionForm(id, place.baseline) : null);
  }

  /* A cause-analysis note (situation, target/victim, offender, or a hypothesis to test). */
  function noteForm(placeId) {
    const kind = h("select", { name: "kind", "aria-label": t("note.kindLabel") },
      ...["situation", "target_victim", "offender", "hypothesis"].map((k) => h("option", { value: k }, t("note." + k))));
    const text = h("input", { name: "text", required: true, "aria-label": t("note.text"), placeholder: t("note.text") });
    const error = h("p", { class: "error" });
    const form = h("form", { class: "note-form" }, kind, text, h("button", { type: "submit", class: "secondary small" },
      t("note.add")), error);
    const send = async (confirm) => {
      error.textContent = "";
      try {
        await LB.api(`/api/v1/places/${placeId}/analysis`, { method: "POST",
          json: { kind: kind.value, text: text.value.trim(), ...(confirm ? { confirm_personal_data: true } : {}) } });
        openPlace(placeId);
      } catch (e) {
        if (!LB.offerConfirm(error, e, () => send(true))) error.textContent = LB.problemText(e);
      }
    };
    form.addEventListener("submit", (ev) => { ev.preventDefault(); send(false); });
    return form;
  }

  /* An action's status, changed where the meeting decides it (planned, in progress, done, cancelled). */
  function statusChoice(a, placeId) {
    const select = h("select", { class: "action-status", "aria-label": t("action.statusLabel") },
      ...["planned", "in_progress", "done", "cancelled"].map((s) =>
        h("option", { value: s, selected: s === a.status }, t("action.status." + s))));
    const error = h("p", { class: "error" });
    select.addEventListener("change", async () => {
      error.textContent = "";
      try {
        await LB.api(`/api/v1/actions/${a.id}`, { method: "PATCH", json: { status: select.value } });
        await loadPlaces();
        openPlace(placeId);
      } catch (e) {
        select.value = a.status;
        error.textContent = LB.problemText(e);
      }
    });
    return h("span", {}, select, error);
  }

  function actionItem(a, placeId) {
    const result = h("div", { class: "follow-up" });
    return h("li", { dataset: { action: a.id } },
      h("strong", {}, a.what), " ",
      h("span", { class: "hint" }, t("action.line", { owner: a.owner_organisation, due: a.due_date,
                                                      status: t("action.status." + a.status) })),
      ctx.canWrite ? statusChoice(a, placeId) : null,
      h("div", {}, h("button", { type: "button", class: "secondary small follow-up-button",
                                 onclick: () => followUp(a.id, result) }, t("action.followUp"))),
      result);
  }

  async function followUp(actionId, box) {
    box.replaceChildren(h("p", { class: "hint" }, t("dash.loading")));
    let f;
    try {
      f = await LB.api(`/api/v1/actions/${actionId}/follow-up`);
    } catch (e) {
      box.replaceChildren(h("p", { class: "error" }, LB.problemText(e)));
      return;
    }
    const [t0, t1] = f.counts.target, ratio = f.rate_ratio || {};
    const rows = [
      [t("follow.before", { n: f.before.length }), LB.fmtNumber(t0)],
      [t("follow.after", { n: f.after.length }), LB.fmtNumber(t1)],
      [t("follow.control"), `${LB.fmtNumber(f.counts.control[0])} → ${LB.fmtNumber(f.counts.control[1])}`],
      [t("follow.ratio"), ratio.ratio == null ? "–"
        : `${LB.fmtNumber(ratio.ratio, 2)} (${LB.fmtNumber(ratio.low, 2)}–${ratio.high == null ? "∞" : LB.fmtNumber(ratio.high, 2)})`],
      [t("follow.p"), LB.fmtNumber(f.test.p_decrease, 3)],
      [t("follow.from"), f.effect_from],
    ];
    const table = h("table", { class: "counts" }, ...rows.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))));
    const proposal = f.proposal || { light: "red", reason: "" };
    if (!proposal.light) {  // not due yet: the numbers so far, nothing to judge or store
      box.replaceChildren(table, h("p", { class: "proposal" }, t("follow.noProposal"), " ",
                                   h("span", { class: "hint" }, proposalReason(proposal))));
      return;
    }
    const choice = h("select", { class: "light-choice", "aria-label": t("follow.lightLabel") },
      ...["green", "yellow", "red"].map((l) => h("option", { value: l, selected: l === proposal.light }, t("light." + l))));
    const comment = h("input", { class: "light-comment", placeholder: t("follow.comment"), "aria-label": t("follow.comment") });
    const error = h("p", { class: "error" });
    const send = async (confirm) => {
      error.textContent = "";
      try {
        const stored = await LB.api(`/api/v1/actions/${actionId}/follow-ups`, { method: "POST",
          json: { light: choice.value, comment: comment.value.trim() || null, ...(confirm ? { confirm_personal_data: true } : {}) } });
        box.replaceChildren(h("p", { class: "saved" }, dot(stored.light), " ",
          t(stored.overridden ? "follow.overridden" : "follow.confirmed", { light: t("light." + stored.light) })));
        loadPlaces();
      } catch (e) {
        if (!LB.offerConfirm(error, e, () => send(true))) error.textContent = LB.problemText(e);
      }
    };
    const save = h("button", { type: "button", class: "primary small", onclick: () => send(false) }, t("follow.save"));
    box.replaceChildren(
      table,
      h("p", { class: "proposal" }, dot(proposal.light), " ", t("follow.proposal", { light: t("light." + proposal.light) }),
        " ", h("span", { class: "hint" }, proposalReason(proposal))),
      ctx.canWrite ? h("div", { class: "confirm" }, choice, comment, save, error) : null);
  }

  /* Why the light is proposed, in the page's language (the API's code and numbers; its own
   * English words for a code this page does not know). */
  function proposalReason(proposal) {
    const key = "proposal." + proposal.code;
    const v = proposal.values || {};
    const words = t(key, { p: LB.fmtNumber(v.p, 3), p_ring: LB.fmtNumber(v.p_ring, 3),
                           change: (v.change_pct > 0 ? "+" : "") + LB.fmtNumber(v.change_pct, 0),
                           p_own: LB.fmtNumber(v.p_own, 3), t0: v.t0, t1: v.t1, min: v.min, due: v.due_date,
                           status: t("action.status." + v.status) });
    return words === key ? proposal.reason : words;
  }

  function actionForm(placeId, baseline) {
    const today = new Date().toLocaleDateString("sv-SE", { timeZone: "Europe/Stockholm" });  // YYYY-MM-DD, Swedish day
    const field = (key, input) => h("label", {}, h("span", {}, t(key)), input);
    const form = h("form", { class: "action-form", id: "action-form" },
      h("h4", {}, t("action.new")),
      baseline ? h("p", { class: "baseline hint" }, baseline.per_cycle === null ? t("action.noBaseline")
        : t("action.baseline", { n: LB.fmtNumber(baseline.per_cycle), cycles: baseline.cycles })) : null,
      field("action.what", h("input", { name: "what", required: true })),
      field("action.goal", h("input", { name: "goal", required: true, placeholder: t("action.goalHint") })),
      field("action.kind", h("select", { name: "kind" },
        h("option", { value: "situational" }, t("action.kind.situational")),
        h("option", { value: "social" }, t("action.kind.social")))),
      field("action.owner", h("input", { name: "owner_organisation", required: true })),
      field("action.contact", h("input", { name: "owner_contact" })),
      field("action.start", h("input", { name: "start_date", type: "date", value: today, required: true })),
      field("action.due", h("input", { name: "due_date", type: "date", required: true })),
      field("action.statusLabel", h("select", { name: "status" },
        ...["planned", "in_progress", "done"].map((s) => h("option", { value: s }, t("action.status." + s))))),
      h("p", { class: "error", id: "action-error" }),
      h("button", { type: "submit", class: "primary small" }, t("action.create")));
    const send = async (confirm) => {
      const data = Object.fromEntries(new FormData(form).entries());
      if (!data.owner_contact) delete data.owner_contact;
      const error = $("#action-error");
      error.textContent = "";
      try {
        await LB.api("/api/v1/actions", { method: "POST", json: { ...data, place_id: placeId, ...(confirm ? { confirm_personal_data: true } : {}) } });
        await loadPlaces();
        openPlace(placeId);
      } catch (e) {
        if (!LB.offerConfirm(error, e, () => send(true))) error.textContent = LB.problemText(e);
      }
    };
    form.addEventListener("submit", (ev) => { ev.preventDefault(); send(false); });
    return form;
  }
})();
