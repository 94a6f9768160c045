/* Reading keys for GIS programs on the meeting map's side panel: list (a coordinator sees the
 * municipality's), make one (shown once, to copy into QGIS/FME as X-API-Key), revoke one.
 * Used by dashboard.js through LB.readingKeys; all text is set as text. */
"use strict";
(function () {
  const { h, $, t } = LB;
  const keys = (LB.readingKeys = {});
  let admin = false;

  keys.init = function (options) {
    admin = !!options.admin;
    $("#key-form").addEventListener("submit", create);
    $("#copy-key").addEventListener("click", copy);
    load();
  };

  async function load() {
    const list = $("#keys");
    try {
      const rows = await LB.api("/api/v1/reading-keys" + (admin ? "?all=true" : ""));
      list.replaceChildren(...(rows.length ? rows.map(row) : [h("li", { class: "hint" }, t("keys.none"))]));
    } catch (e) {
      list.replaceChildren(h("li", { class: "error" }, e.message));
    }
  }

  function row(k) {
    const state = k.revoked_at ? t("keys.revoked") : !k.active ? t("keys.expired") : null;
    return h("li", { class: "key" + (k.active ? "" : " inactive"), dataset: { keyId: String(k.id) } },
      h("strong", {}, k.label), " ", h("code", {}, k.prefix + "…"),
      admin ? h("span", { class: "who" }, " · " + k.user) : null,
      h("br"),
      h("span", { class: "when" }, state || t("keys.expires", { date: LB.fmtTime(k.expires_at) })),
      " · ",
      h("span", { class: "when" }, k.last_used_at ? t("keys.lastUsed", { time: LB.fmtTime(k.last_used_at) })
                                                  : t("keys.neverUsed")),
      k.active ? h("button", { type: "button", class: "link revoke", onclick: () => revoke(k) }, t("keys.revoke")) : null);
  }

  async function create(event) {
    event.preventDefault();
    const error = $("#key-error");
    error.textContent = "";
    try {
      const made = await LB.api("/api/v1/reading-keys", { method: "POST", json: { label: $("#key-label").value.trim() } });
      $("#key-value").value = made.key;
      $("#copy-key").textContent = t("keys.copy");
      $("#key-new").hidden = false;
      $("#key-value").select();
      $("#key-label").value = "";
      load();
    } catch (e) {
      error.textContent = e.message;
    }
  }

  function copy() {
    LB.copyField($("#key-value"), $("#copy-key"), t("keys.copied"));
  }

  async function revoke(k) {
    if (!window.confirm(t("keys.confirmRevoke", { label: k.label }))) return;
    try {
      await LB.api(`/api/v1/reading-keys/${k.id}`, { method: "DELETE" });
    } catch (e) {
      $("#key-error").textContent = e.message;
    }
    load();
  }
})();
