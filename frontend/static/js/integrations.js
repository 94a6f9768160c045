/* The coordinator's integrations on the meeting map's side panel: for each system that pushes
 * events (the rescue service's call-outs), whether it is on and what its events start as, its
 * keys (a new one is shown once; rotation is: make a new key, switch the system over, revoke
 * the old one) and the mapping of its own event types to our categories. The API decides who
 * may (coordinator); dashboard.js shows the panel to that role. All text is set as text. */
"use strict";
(function () {
  const { h, $, t } = LB;
  const mod = (LB.integrations = {});
  let categories = [];
  let shownKey = null;  // {integration, key}: a key just made, shown once in its integration

  mod.init = async function () {
    $("#integrations-box").hidden = false;
    try {
      categories = await LB.api("/api/v1/categories");
    } catch (e) {
      categories = [];
    }
    load();
  };

  async function load(openId) {
    const list = $("#integrations");
    try {
      const rows = await LB.api("/api/v1/integrations");
      list.replaceChildren(...(rows.length ? rows.map((i) => integration(i, i.id === openId))
                                           : [h("li", { class: "hint" }, t("integ.none"))]));
    } catch (e) {
      list.replaceChildren(h("li", { class: "error" }, e.message));
    }
  }

  function integration(i, open) {
    const base = `/api/v1/integrations/${i.id}`;
    const error = h("p", { class: "error integration-error", role: "alert" });
    const fail = (e) => { error.textContent = e.message; };
    // Refused: shown anew as stored (the switch or choice goes back), with the reason.
    const patch = (json) => LB.api(base, { method: "PATCH", json }).then(() => load(i.id), async (e) => {
      await load(i.id);
      const shown = $(`details.integration[data-integration-id="${i.id}"] .integration-error`);
      if (shown) shown.textContent = e.message;
    });
    const status = h("select", { class: "initial-status", onchange: (e) => patch({ initial_status: e.target.value }) },
      ...["new", "verified"].map((s) => h("option", { value: s, selected: s === i.initial_status }, t("integ.status." + s))));
    const active = h("input", { type: "checkbox", class: "active", checked: i.active,
                                onchange: (e) => patch({ active: e.target.checked }) });
    const label = h("input", { class: "key-label", maxlength: "100", placeholder: t("integ.keyLabelPlaceholder"),
                               "aria-label": t("integ.keyLabel") });
    const mapping = h("div", { class: "mapping" });
    const details = h("details", { class: "integration", open: open || null, dataset: { integrationId: String(i.id) },
                                   ontoggle: (e) => { if (e.target.open) loadMapping(i, mapping); } },
      h("summary", {}, h("strong", {}, i.name), " · ", i.organisation, " · ",
        i.active ? t("integ.on") : t("integ.off")),
      h("label", { class: "check" }, active, " ", t("integ.active")),
      h("label", {}, t("integ.initialStatus"), " ", status),
      h("h4", {}, t("integ.keys")),
      h("ul", { class: "plain keys" }, ...(i.keys.length ? i.keys.map((k) => key(i, k, fail)) : [h("li", { class: "hint" }, t("keys.none"))])),
      shownKey && shownKey.integration === i.id ? newKey(shownKey.key) : null,
      h("form", { class: "key-form", onsubmit: async (e) => {
        e.preventDefault();
        try {
          const made = await LB.api(`${base}/keys`, { method: "POST", json: { label: label.value.trim() } });
          shownKey = { integration: i.id, key: made.key };
          await load(i.id);
          shownKey = null;
        } catch (err) { fail(err); }
      } }, label, h("button", { type: "submit", class: "secondary small create-key" }, t("integ.newKey"))),
      h("p", { class: "hint" }, t("integ.rotation")),
      h("h4", {}, t("integ.mapping", { n: i.event_types_mapped })), mapping, error);
    if (open) loadMapping(i, mapping);
    return h("li", {}, details);
  }

  function key(i, k, fail) {
    const state = k.revoked_at ? t("keys.revoked") : null;
    return h("li", { class: "key" + (k.active ? "" : " inactive"), dataset: { keyId: String(k.id) } },
      h("code", {}, k.prefix + "…"), " ", k.label,
      h("br"),
      h("span", { class: "when" }, state || (k.last_used_at ? t("keys.lastUsed", { time: LB.fmtTime(k.last_used_at) })
                                                             : t("keys.neverUsed"))),
      k.active ? h("button", { type: "button", class: "link revoke", onclick: async () => {
        if (!window.confirm(t("integ.confirmRevoke", { label: k.label || k.prefix, name: i.name }))) return;
        try {
          await LB.api(`/api/v1/integrations/${i.id}/keys/${k.id}`, { method: "DELETE" });
          load(i.id);
        } catch (e) { fail(e); }
      } }, t("keys.revoke")) : null);
  }

  function newKey(value) {
    const field = h("input", { readonly: true, class: "key-value", value });
    const copy = h("button", { type: "button", class: "secondary small",
                               onclick: () => LB.copyField(field, copy, t("keys.copied")) }, t("keys.copy"));
    setTimeout(() => field.select());
    return h("div", { class: "key-new" }, h("label", {}, t("integ.showOnce")), field, copy);
  }

  /* ---------- event types -> categories ---------- */
  async function loadMapping(i, box) {
    if (box.dataset.asked) return;  // once per panel (one made open also gets a toggle event)
    box.dataset.asked = "1";
    try {
      const rows = await LB.api(`/api/v1/integrations/${i.id}/event-types`);
      renderMapping(i, box, rows);
    } catch (e) {
      delete box.dataset.asked;  // asked again when the panel is opened again
      box.replaceChildren(h("p", { class: "error" }, e.message));
    }
  }

  function renderMapping(i, box, rows) {
    const body = h("tbody", {}, ...rows.map((r) => mappingRow(r.event_type, r.category)));
    const message = h("p", { class: "status", role: "status" });
    const save = async () => {
      const entries = [...body.rows].map((tr) => ({ event_type: tr.querySelector("input").value.trim(),
                                                    category: tr.querySelector("select").value }));
      [...body.rows].forEach((tr) => tr.classList.remove("invalid"));
      const error = box.querySelector(".error");
      const incomplete = [...body.rows].filter((tr, n) => !entries[n].event_type || !entries[n].category);
      if (incomplete.length) {
        incomplete.forEach((tr) => tr.classList.add("invalid"));
        error.textContent = t("integ.incomplete");
        return;
      }
      try {
        const stored = await LB.api(`/api/v1/integrations/${i.id}/event-types`, { method: "PUT", json: entries });
        renderMapping(i, box, stored);
        box.querySelector(".status").textContent = t("integ.saved", { n: stored.length });
      } catch (e) {
        let marked = 0;
        for (const err of e.errors || []) {  // "3.category": the row the server refused
          const row = body.rows[Number(String(err.field).split(".")[0])];
          if (row) { row.classList.add("invalid"); marked += 1; }
        }
        message.textContent = "";
        // "the marked rows are wrong" only when rows were marked (not for a lost connection, say)
        error.textContent = t(marked ? "integ.notSaved" : "integ.notSavedOther") + " " + e.message;
      }
    };
    box.replaceChildren(
      h("table", { class: "mapping-table" },
        h("thead", {}, h("tr", {}, h("th", {}, t("integ.eventType")), h("th", {}, t("integ.category")), h("th", {}))),
        body),
      h("button", { type: "button", class: "link add-type", onclick: () => {
        body.append(mappingRow("", ""));
        body.rows[body.rows.length - 1].querySelector("input").focus();
      } }, t("integ.addType")),
      h("button", { type: "button", class: "secondary small save-mapping", onclick: save }, t("integ.saveMapping")),
      h("p", { class: "error", role: "alert" }), message);
  }

  function mappingRow(eventType, category) {
    // A category that is no longer offered (switched off) is not silently replaced by the
    // list's first one: the row asks for a choice and is marked.
    const offered = categories.some((c) => c.code === category);
    const select = h("select", { "aria-label": t("integ.category") },
      ...(offered ? [] : [h("option", { value: "" }, t("integ.choose"))]),
      ...categories.map((c) => h("option", { value: c.code, selected: c.code === category },
                                 LB.lang === "en" ? c.label_en : c.label_sv)));
    const row = h("tr", { class: category && !offered ? "invalid" : null },
      h("td", {}, h("input", { value: eventType, maxlength: "100", "aria-label": t("integ.eventType"),
                               placeholder: t("integ.eventTypePlaceholder") })),
      h("td", {}, select),
      h("td", {}, h("button", { type: "button", class: "link remove", "aria-label": t("integ.remove"),
                                onclick: () => row.remove() }, "✕")));
    return row;
  }
})();
