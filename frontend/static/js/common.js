/* Lägesbild: what both pages share. Classic script, no build step; everything hangs on window.LB.
 * Text from users or the server is only ever set with textContent (LB.h), never as HTML. */
"use strict";
(function () {
  const LB = (window.LB = {});
  const dicts = JSON.parse(document.getElementById("i18n").textContent);

  /* ---------- translations (frontend/static/i18n/*.json, inlined by the server) ---------- */
  LB.lang = localStorage.getItem("lb.lang") || "sv";
  if (!dicts[LB.lang]) LB.lang = "sv";
  LB.t = function (key, vars) {
    let text = (dicts[LB.lang] && dicts[LB.lang][key]) || dicts.sv[key] || key;
    for (const [k, v] of Object.entries(vars || {})) text = text.split("{" + k + "}").join(String(v));
    return text;
  };
  LB.applyI18n = function (root) {
    (root || document).querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = LB.t(el.dataset.i18n); });
    for (const attr of ["placeholder", "title", "aria-label"]) {
      (root || document).querySelectorAll("[data-i18n-" + attr + "]").forEach((el) => {
        el.setAttribute(attr, LB.t(el.getAttribute("data-i18n-" + attr)));
      });
    }
    document.documentElement.lang = LB.lang;
  };
  LB.setLang = function (lang) {
    LB.lang = dicts[lang] ? lang : "sv";
    localStorage.setItem("lb.lang", LB.lang);
    LB.applyI18n();
    window.dispatchEvent(new CustomEvent("lb:lang"));
  };
  LB.bindLangButtons = function () {
    document.querySelectorAll("[data-lang]").forEach((b) => {
      b.addEventListener("click", () => LB.setLang(b.dataset.lang));
    });
  };

  /* ---------- DOM: elements with text children only ---------- */
  LB.h = function (tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "style") el.style.cssText = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  };
  LB.$ = (sel, root) => (root || document).querySelector(sel);

  /* Copy a shown-once secret: selected first, so that without clipboard access (no HTTPS)
   * it can be copied by hand; the button says so when the clipboard took it. */
  LB.copyField = async function (field, button, copiedText) {
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = copiedText;
    } catch (e) { /* selected above */ }
  };

  /* Whether the report page was switched to anonymous citizen reports on this phone. */
  LB.citizenMode = () => localStorage.getItem("lb.citizen") === "1";

  /* ---------- login (bearer token in localStorage) ---------- */
  LB.auth = {
    get() {
      try { return JSON.parse(localStorage.getItem("lb.auth") || "null"); } catch (e) { return null; }
    },
    valid() {
      const a = this.get();
      return !!(a && a.token && a.expiresAt > Date.now() + 5000);
    },
    /* Who is (or was, if the login has run out) logged in on this page; null if nobody. */
    username() {
      const a = this.get();
      return (a && a.token && a.username) || null;
    },
    /* Who reports from this page: the login (even one that has run out: the report then waits
     * for it), or nobody when the page shows citizen mode. */
    reporter() {
      return LB.citizenMode() && !this.valid() ? null : this.username();
    },
    save(username, resp) {
      localStorage.setItem("lb.auth", JSON.stringify({
        token: resp.access_token, role: resp.role, username,
        expiresAt: Date.now() + resp.expires_in * 1000,
      }));
    },
    clear() { localStorage.removeItem("lb.auth"); },
  };

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && problem.detail) || "HTTP " + status);
      this.status = status;
      this.problem = problem || {};
      this.errors = (problem && problem.errors) || [];
    }
    field() { return this.errors.length ? this.errors[0].field : null; }
  }
  class NetworkError extends Error {}
  LB.ApiError = ApiError;
  LB.NetworkError = NetworkError;

  /* fetch + problem+json. A 401 on an authenticated call means the login expired: the token is
   * dropped and 'lb:logout' fires so the page can show the login form (nothing else is lost). */
  LB.api = async function (path, opts) {
    const o = opts || {};
    const headers = Object.assign({ Accept: "application/json" }, o.headers || {});
    if (o.token) headers.Authorization = "Bearer " + o.token;  // a login fixed by the caller
    else if (o.auth !== false) {
      const a = LB.auth.get();
      if (a) headers.Authorization = "Bearer " + a.token;
    }
    let body = o.body;
    if (o.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(o.json);
    }
    // A request that hangs (weak coverage that the phone takes for a connection) counts as no
    // connection after a while: what waits in the outbox is then sent again later.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), o.timeoutMs || 30000);
    let resp, data = null;
    try {
      resp = await fetch(path, { method: o.method || "GET", headers, body, signal: abort.signal });
      if (resp.ok && !o.raw && resp.status !== 204) data = await resp.json();  // the whole answer, in time
    } catch (e) {
      throw new NetworkError(String(e));
    } finally {
      clearTimeout(timer);
    }
    if (resp.ok) return o.raw ? resp : data;
    let problem = null;
    try { problem = await resp.json(); } catch (e) { problem = null; }
    // (a request made with a login fixed earlier logs out only that login, not one made since)
    if (resp.status === 401 && o.auth !== false && (!o.token || (LB.auth.get() || {}).token === o.token)) {
      LB.auth.clear();
      window.dispatchEvent(new CustomEvent("lb:logout"));
    }
    throw new ApiError(resp.status, problem);
  };

  /* A refusal for personal data in a text of the EST loop, shown in ``error`` with a button that
   * sends it again confirmed (``resend``); false for any other refusal (the caller shows it). */
  LB.offerConfirm = function (error, e, resend) {
    if (!((e.problem && e.problem.type) || "").endsWith("/personal-data")) return false;
    const again = LB.h("button", { type: "button", class: "link confirm-personal" }, LB.t("problem.saveAnyway"));
    again.addEventListener("click", () => { again.disabled = true; resend(); });
    error.replaceChildren(LB.problemText(e), " ", again);
    return true;
  };

  /* What a refusal says, in the page's language where the problem is one we know (by its type
   * and its errors' fields, messages and codes); otherwise the server's own words. */
  LB.problemText = function (e) {
    if (e instanceof NetworkError) return LB.t("error.offline");
    const errors = e.errors || [];
    if (((e.problem && e.problem.type) || "").endsWith("/personal-data")) {
      const and = (parts) => parts.join(LB.t("problem.and"));
      const where = and([...new Set(errors.map((x) => LB.t("problem.field." + x.field)))]);
      const what = and([...new Set(errors.map((x) => LB.t("problem.kind." + x.code)))]);
      // a report's description or place, or a text of the EST loop (notes, actions, minutes)
      const ofReport = errors.every((x) => x.field === "description" || x.field === "place");
      const text = LB.t(ofReport ? "problem.personalData" : "problem.personalDataEst", { where, what });
      return text.charAt(0).toUpperCase() + text.slice(1);
    }
    const known = { "in the future": "problem.future", "outside the municipality": "problem.outside",
                    "must not be before occurred_from": "problem.toBeforeFrom",
                    "unknown or inactive category": "problem.category",
                    "start in the future": "problem.followUpNotStarted",
                    "no full cycle after the start yet": "problem.followUpTooEarly",
                    "no full cycle after the due date yet": "problem.followUpTooEarlyDue",
                    "not due yet": "problem.followUpNotDue",
                    "required when overriding": "problem.overrideNeedsComment" };
    const knownFields = { due_date: "problem.dueBeforeStart" };  // its message carries the dates
    const first = errors[0] || {};
    const key = known[first.message] || knownFields[first.field] || null;
    if (key) return LB.t(key);
    if (e.status === 413) return LB.t("problem.tooLarge");
    return e.message;
  };

  LB.login = async function (username, password) {
    const form = new URLSearchParams({ username, password });
    const resp = await LB.api("/api/v1/auth/token", { method: "POST", body: form, auth: false });
    LB.auth.save(username, resp);
    return resp;
  };

  /* The login form both pages use; calls onDone() after a successful login. */
  LB.loginForm = function (onDone) {
    const user = LB.h("input", { name: "username", autocomplete: "username", required: true, id: "login-username" });
    const pass = LB.h("input", { name: "password", type: "password", autocomplete: "current-password",
                                 required: true, id: "login-password" });
    const error = LB.h("p", { class: "error", role: "alert", id: "login-error" });
    const form = LB.h("form", { class: "login", id: "login-form" },
      LB.h("h2", { "data-i18n": "login.title" }),
      LB.h("label", { for: "login-username", "data-i18n": "login.username" }), user,
      LB.h("label", { for: "login-password", "data-i18n": "login.password" }), pass,
      error,
      LB.h("button", { type: "submit", class: "primary", "data-i18n": "login.submit" }));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      try {
        await LB.login(user.value.trim(), pass.value);
        pass.value = "";
        onDone();
      } catch (e) {
        error.textContent = e instanceof NetworkError ? LB.t("error.offline")
          : e.status === 401 ? LB.t("login.wrong") : e.message;
      }
    });
    LB.applyI18n(form);
    return form;
  };

  /* ---------- small helpers ---------- */
  LB.uuid = function () {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  };
  LB.fmtTime = function (iso) {
    const d = new Date(iso);
    return d.toLocaleString(LB.lang === "en" ? "en-GB" : "sv-SE",
                            { dateStyle: "short", timeStyle: "short", timeZone: "Europe/Stockholm" });
  };
  LB.fmtNumber = function (n, digits) {
    return Number(n).toLocaleString(LB.lang === "en" ? "en-GB" : "sv-SE",
                                    { maximumFractionDigits: digits === undefined ? 1 : digits });
  };
  LB.categoryLabel = (c) => (LB.lang === "en" ? c.label_en : c.label_sv) || c.code;
})();
