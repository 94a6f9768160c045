/* /report: the field reporting app (phone first, works offline; README "The report form"). */
"use strict";
(function () {
  const { h, $, t } = LB;
  const config = JSON.parse($("#config").textContent);
  const ICONS = {  // category.icon -> a glyph every phone has
    hammer: "🔨", "spray-can": "🎨", trash: "🗑️", fire: "🔥", "car-burn": "🚒", "house-fire": "🏚️",
    "tree-fire": "🌲", megaphone: "📢", users: "👥", syringe: "💉", "lock-open": "🔓", alert: "⚠️",
    lamp: "💡", car: "🚗", dots: "…",
  };
  const STATUS_KEYS = { new: "status.new", verified: "status.verified", rejected: "status.rejected",
                        duplicate: "status.duplicate" };

  const state = { category: null, position: null, photo: null, map: null, marker: null, circle: null,
                  categories: [], confirmPersonal: false };
  const citizen = LB.citizenMode;

  /* ---------------- views ---------------- */
  function show() {
    const loggedIn = LB.auth.valid();
    const reporting = loggedIn || citizen();
    $("#login-view").hidden = reporting;
    $("#report-form").hidden = !reporting;
    $("#mine").hidden = !reporting;
    $("#logout").hidden = !loggedIn;
    $("#citizen-banner").hidden = !citizen() || loggedIn;
    $("#photo-fieldset").hidden = !loggedIn;  // photos need a login (the public route takes none)
    if (reporting) {
      if (state.map) state.map.invalidateSize();
      loadCategories();
      renderMine();
      renderFeedback();
      LB.outbox.flush();
      LB.outbox.othersWaiting().then((n) => { if (n) toast("toast.othersWaiting", { n }); });
      if (!state.position && !state.located) { state.located = true; locate(); }
    }
  }

  function toast(key, vars) {
    const el = $("#toast");
    el.textContent = t(key, vars);
    el.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.hidden = true; }, 4000);
  }

  /* ---------------- categories: page config -> cache -> server ---------------- */
  function renderCategories() {
    const box = $("#categories");
    box.replaceChildren(...state.categories.map((c) => h("button", {
      type: "button", class: "category", role: "radio", "aria-checked": String(state.category === c.code),
      style: `--colour:${/^#[0-9a-fA-F]{3,8}$/.test(c.colour) ? c.colour : "#999"}`, dataset: { code: c.code },
      onclick: () => { state.category = c.code; renderCategories(); clearError("category"); },
    }, h("span", { class: "icon", "aria-hidden": "true" }, ICONS[c.icon] || "•"), h("span", {}, LB.categoryLabel(c)))));
  }

  async function loadCategories() {
    const cached = localStorage.getItem("lb.categories");
    state.categories = cached ? JSON.parse(cached) : config.categories;
    renderCategories();
    try {
      const fresh = LB.auth.valid() ? await LB.api("/api/v1/categories")
        : await LB.api("/api/v1/public/categories", { auth: false });
      localStorage.setItem("lb.categories", JSON.stringify(fresh));
      state.categories = fresh;
      renderCategories();
    } catch (e) { /* offline: the cached list stays */ }
  }

  /* ---------------- position: geolocation, draggable pin, tap fallback ---------------- */
  function setPosition(lat, lon, how, accuracy) {
    state.position = { lat, lon };
    clearError("position");
    const status = $("#position-status");
    status.dataset.how = how;
    if (how === "gps") status.textContent = t("position.gps", { m: Math.round(accuracy) });
    else if (how === "drag") status.textContent = t("position.moved");
    else if (how === "centre") status.textContent = t("position.centre");
    else status.textContent = t("position.tapped");
    if (!state.map) return;
    const ll = [lat, lon];
    if (!state.marker) {
      state.marker = L.marker(ll, { draggable: true, autoPan: true, title: t("position.pin") }).addTo(state.map);
      state.marker.on("dragend", () => {
        const p = state.marker.getLatLng();
        setPosition(p.lat, p.lng, "drag");
      });
    } else state.marker.setLatLng(ll);
    if (state.circle) { state.circle.remove(); state.circle = null; }
    if (how === "gps" && accuracy) {
      state.circle = L.circle(ll, { radius: accuracy, weight: 1, fillOpacity: 0.1, interactive: false }).addTo(state.map);
    }
    if (how !== "drag") state.map.setView(ll, Math.max(state.map.getZoom(), 16));
  }

  function locate() {
    const status = $("#position-status");
    if (!("geolocation" in navigator)) { status.textContent = t("position.unavailable"); return; }
    status.textContent = t("position.finding");
    navigator.geolocation.getCurrentPosition(
      (p) => setPosition(p.coords.latitude, p.coords.longitude, "gps", p.coords.accuracy),
      (err) => {
        status.dataset.how = "failed";
        status.textContent = t(err.code === 1 ? "position.denied" : "position.unavailable");
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  function initMap() {
    if (state.map || !window.L) return;
    state.map = L.map("map", { zoomControl: true, tap: true }).setView(config.centre, config.zoom);
    if (config.tileUrl) {
      L.tileLayer(config.tileUrl, { maxZoom: 19, attribution: config.tileAttribution }).addTo(state.map);
    }
    state.map.on("click", (ev) => setPosition(ev.latlng.lat, ev.latlng.lng, "tap"));
    if (state.position) setPosition(state.position.lat, state.position.lon, $("#position-status").dataset.how || "tap");
  }

  /* ---------------- photo: resized in the browser (and re-encoded, which drops EXIF) ---------------- */
  async function resize(file, maxSide) {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
    const canvas = h("canvas", { width: Math.round(bitmap.width * scale), height: Math.round(bitmap.height * scale) });
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.82));
  }

  async function onPhoto() {
    const file = $("#photo").files[0];
    const preview = $("#photo-preview");
    clearError("photo");
    if (!file) { state.photo = null; preview.hidden = true; return; }
    try {
      state.photo = await resize(file, config.photoMaxSide);
      preview.src = URL.createObjectURL(state.photo);
      preview.hidden = false;
    } catch (e) {
      state.photo = null;
      showError("photo", t("photo.unreadable"));
    }
  }

  /* ---------------- errors next to the field ---------------- */
  const FIELD_OF = { lat: "position", lon: "position", x: "position", y: "position", category: "category",
                     occurred_from: "when", occurred_to: "when", description: "description", file: "photo" };
  function showError(field, text) {
    const el = $(`.field-error[data-field="${field}"]`) || $('.field-error[data-field="form"]');
    el.textContent = text;
    el.scrollIntoView({ block: "center", behavior: "smooth" });
  }
  function clearError(field) {
    const el = $(`.field-error[data-field="${field}"]`);
    if (el) el.textContent = "";
  }
  function clearErrors() {
    document.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
    $("#confirm-personal").hidden = true;
  }

  /* ---------------- submit: online now, or into the outbox ---------------- */
  const reportedNow = () => document.querySelector('input[name="when"]:checked').value === "now";

  /* The report as sent, now or later from the outbox: "Nu" is the moment it was made (however
   * late it arrives), a window without a latest time ends then. */
  function buildBody(createdAt) {
    const made = new Date(createdAt).toISOString();
    const body = { category: state.category, lat: state.position.lat, lon: state.position.lon,
                   description: $("#description").value.trim(), occurred_from: made, occurred_to: made };
    if (!reportedNow()) {
      body.occurred_from = new Date($("#occurred-from").value).toISOString();
      if ($("#occurred-to").value) body.occurred_to = new Date($("#occurred-to").value).toISOString();
    }
    if (state.confirmPersonal) body.confirm_personal_data = true;
    return body;
  }

  function validate() {
    let ok = true;
    if (!state.position) { showError("position", t("error.noPosition")); ok = false; }
    if (!state.category) { showError("category", t("error.noCategory")); ok = false; }
    if (document.querySelector('input[name="when"]:checked').value === "window" && !$("#occurred-from").value) {
      showError("when", t("error.noFrom")); ok = false;
    }
    return ok;
  }

  async function submit(ev) {
    if (ev) ev.preventDefault();
    clearErrors();
    if (!validate()) return;
    // Who reports is who logged in on this page, even if the login has run out meanwhile (the
    // report then waits for the login); anonymous only when the page shows citizen mode. The
    // login is fixed here: another one made meanwhile (another tab) does not send this report.
    const who = LB.auth.reporter();
    const as = who ? { token: LB.auth.get().token } : { auth: false };
    const createdAt = Date.now();
    const item = { key: LB.uuid(), mode: who ? "user" : "public", owner: who, body: buildBody(createdAt),
                   photo: who ? state.photo : null, createdAt, now: reportedNow() };
    const button = $("#submit");
    button.disabled = true;
    LB.outbox.sending(item.key, true);
    let kept = true, sent = false;
    const send = () => LB.api(item.mode === "public" ? "/api/v1/public/reports" : "/api/v1/reports",
                              { method: "POST", json: item.body, ...as, headers: { "Idempotency-Key": item.key } });
    try {
      // on the phone before anything is sent: a closed tab loses nothing
      try { await LB.outbox.put(item); } catch (e) { kept = false; }
      if (who && !LB.auth.valid()) throw new LB.ApiError(401, null);
      if (!navigator.onLine) throw new LB.NetworkError("offline");
      let report;
      try {
        report = await send();
      } catch (e) {
        if (!LB.outbox.isTooEarly(item, e)) throw e;
        const refusedKey = item.key;  // the phone's clock runs fast: as made now, by the server's clock
        LB.outbox.withoutTime(item);
        LB.outbox.sending(refusedKey, false);
        LB.outbox.sending(item.key, true);
        if (kept) await LB.outbox.rekey(refusedKey, item).catch(() => {});
        report = await send();
      }
      sent = true;
      item.reportId = report.id;
      // the photo goes through the outbox, so a lost upload is retried
      const photoKept = item.photo ? await LB.outbox.put(item).then(() => true, () => false) : true;
      if (!item.photo) await LB.outbox.remove(item.key).catch(() => {});
      toast(photoKept ? "toast.sent" : "toast.sentPhotoNotKept");
      resetForm();
    } catch (e) {
      if (sent) {
        toast("toast.sent");  // whatever failed after, the report is stored: never offered again
        resetForm();
      } else if (!kept && !(e instanceof LB.ApiError && e.status < 500 && e.status !== 401 && e.status !== 429)) {
        toast("toast.notKept");  // no room on the phone (or no IndexedDB) and not sent: the form stays
      } else if (!(e instanceof LB.ApiError) || e.status === 401 || e.status === 429 || e.status >= 500) {
        // kept in the outbox: sent when the connection, the server or the login is back
        toast(e.status === 401 ? "toast.loginExpired" : e instanceof LB.ApiError ? "toast.serverBusy"
          : "toast.queued");
        resetForm();
        if (e.status === 401) show();
      } else {
        await LB.outbox.remove(item.key).catch(() => {});  // refused: the reporter corrects the form and sends again
        const field = FIELD_OF[e.field()] || "form";
        showError(field, LB.problemText(e));
        if ((e.problem.type || "").endsWith("/personal-data")) $("#confirm-personal").hidden = false;
      }
    } finally {
      LB.outbox.sending(item.key, false);
      button.disabled = false;
      if (item.photo && item.reportId) await LB.outbox.flush();
      renderMine();
    }
  }

  /* A refused report back into the form to correct it: its category, place, text, photo and
   * the time it happened (as a window, to the minute); sent again as a new report. */
  async function edit(item) {
    const b = item.body;
    const local = (iso) => {  // what a datetime-local field shows for an instant, in the phone's time
      const d = new Date(iso), pad = (n) => String(n).padStart(2, "0");
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    };
    state.category = b.category;
    renderCategories();
    setPosition(b.lat, b.lon, "tap");
    $("#description").value = b.description || "";
    document.querySelector('input[name="when"][value="window"]').checked = true;
    $("#window-fields").hidden = false;
    $("#occurred-from").value = local(b.occurred_from || item.createdAt);
    $("#occurred-to").value = local(b.occurred_to || item.createdAt);
    if (item.photo) {
      state.photo = item.photo;
      $("#photo-preview").src = URL.createObjectURL(item.photo);
      $("#photo-preview").hidden = false;
    }
    await LB.outbox.remove(item.key);
    renderMine();
    clearErrors();
    showError(FIELD_OF[item.errorField] || "form", item.error);
    if ((item.errorType || "").endsWith("/personal-data")) $("#confirm-personal").hidden = false;
  }

  function resetForm() {
    state.category = null;
    state.photo = null;
    state.confirmPersonal = false;
    $("#description").value = "";
    $("#photo").value = "";
    $("#photo-preview").hidden = true;
    document.querySelector('input[name="when"][value="now"]').checked = true;
    $("#window-fields").hidden = true;
    renderCategories();
  }

  /* ---------------- my reports (server) + what waits in the outbox ---------------- */
  async function renderMine() {
    const waiting = await LB.outbox.mine();
    const badge = $("#outbox-status");
    const n = waiting.filter((i) => !i.error).length;
    badge.hidden = n === 0;
    badge.textContent = t("outbox.waiting", { n });
    const labels = Object.fromEntries(state.categories.map((c) => [c.code, LB.categoryLabel(c)]));
    const items = waiting.map((i) => h("li", { class: i.error ? "mine-item refused" : "mine-item waiting" },
      h("strong", {}, labels[i.body.category] || i.body.category),
      h("span", { class: "when" }, LB.fmtTime(i.createdAt)),
      h("span", { class: "state" }, !i.error ? t("outbox.pending")
        : i.photoRefused ? t("outbox.photoRefused") : t("outbox.refused")),
      i.body.description ? h("span", { class: "text" }, i.body.description) : null,
      i.error ? h("span", { class: "error" }, i.error) : null,
      // refused for personal data while it waited: the reporter may still confirm it must stay
      i.error && !i.photoRefused && (i.errorType || "").endsWith("/personal-data")
        ? h("button", { type: "button", class: "link send-anyway", onclick: async () => {
          i.body.confirm_personal_data = true;
          delete i.error; delete i.errorType; delete i.errorField;
          await LB.outbox.put(i); await LB.outbox.flush(); renderMine();
        } }, t("outbox.sendAnyway")) : null,
      i.error && !i.photoRefused ? h("button", { type: "button", class: "link edit", onclick: () => edit(i) },
        t("outbox.edit")) : null,
      // kept by an earlier version of the app, whose login is not known: sent only when claimed
      !i.owner && i.mode !== "public" ? h("button", { type: "button", class: "link claim", onclick: async () => {
        i.owner = LB.auth.username(); await LB.outbox.put(i); await LB.outbox.flush(); renderMine();
      } }, t("outbox.claim")) : null,
      i.error ? h("button", { type: "button", class: "link", onclick: async () => {
        await LB.outbox.remove(i.key); renderMine();
      } }, t("outbox.delete")) : null));
    let sent = [];
    if (LB.auth.valid() && navigator.onLine) {
      try {
        sent = (await LB.api("/api/v1/reports?mine=true&limit=20")).features;
      } catch (e) { sent = null; }
    }
    const inOutbox = new Set(waiting.map((i) => i.reportId).filter(Boolean));  // its photo still to go: listed once
    for (const f of (sent || []).filter((x) => !inOutbox.has(x.id))) {
      const p = f.properties;
      items.push(h("li", { class: "mine-item", dataset: { id: f.id } },
        h("strong", {}, labels[p.category] || p.category_label),
        h("span", { class: "when" }, LB.fmtTime(p.reported_at)),
        h("span", { class: "state status-" + p.status }, t(STATUS_KEYS[p.status] || p.status)),
        p.description ? h("span", { class: "text" }, p.description) : null,
        // linked with an integration's call-out of the same incident: counted once, as that call-out
        p.incident_of ? h("span", { class: "incident" }, t("mine.incident")) : null));
    }
    if (!items.length) items.push(h("li", { class: "empty" }, t(citizen() && !LB.auth.valid() ? "mine.citizen" : "mine.none")));
    $("#mine-list").replaceChildren(...items);
  }

  /* ---------------- what came of the reports this cycle (aggregates only) ---------------- */
  async function renderFeedback() {
    const box = $("#feedback");
    if (!LB.auth.valid() || !navigator.onLine) { box.hidden = true; return; }
    try {
      const f = await LB.api("/api/v1/feedback");
      $("#feedback-cycle").textContent = f.cycle.label;
      const rows = [["feedback.mine", f.my_reports], ["feedback.all", f.all_reports],
                    ["feedback.places", f.places_acted_upon], ["feedback.done", f.actions_done],
                    ["feedback.green", f.follow_ups_green]];
      $("#feedback-numbers").replaceChildren(...rows.flatMap(([key, n]) =>
        [h("dt", {}, t(key)), h("dd", { dataset: { key } }, LB.fmtNumber(n, 0))]));
      box.hidden = false;
    } catch (e) { box.hidden = true; }
  }

  /* ---------------- wiring ---------------- */
  LB.applyI18n();
  LB.bindLangButtons();
  $("#login-slot").append(LB.loginForm(() => { localStorage.removeItem("lb.citizen"); show(); }));
  $("#citizen-mode").addEventListener("click", () => { localStorage.setItem("lb.citizen", "1"); show(); });
  $("#citizen-login").addEventListener("click", () => { localStorage.removeItem("lb.citizen"); show(); });
  $("#logout").addEventListener("click", () => { LB.auth.clear(); show(); });
  $("#use-centre").addEventListener("click", () => {  // the keyboard's way to set the place
    if (state.map) { const c = state.map.getCenter(); setPosition(c.lat, c.lng, "centre"); }
  });
  $("#report-form").addEventListener("submit", submit);
  $("#locate").addEventListener("click", locate);
  $("#photo").addEventListener("change", onPhoto);
  $("#confirm-personal").addEventListener("click", () => { state.confirmPersonal = true; submit(); });
  document.querySelectorAll('input[name="when"]').forEach((r) => r.addEventListener("change", () => {
    $("#window-fields").hidden = document.querySelector('input[name="when"]:checked').value !== "window";
  }));
  window.addEventListener("lb:logout", show);
  window.addEventListener("lb:outbox", renderMine);
  window.addEventListener("lb:lang", () => { renderCategories(); renderMine(); });
  window.addEventListener("online", () => LB.outbox.flush());
  window.addEventListener("offline", renderMine);
  setInterval(() => { if (navigator.onLine) LB.outbox.flush(); }, 20000);

  show();
  // Reports kept by an earlier version of the app belong to the login stored when this one starts.
  LB.outbox.adoptOwnerless().then(() => { renderMine(); LB.outbox.flush(); }, () => {});
  document.addEventListener("DOMContentLoaded", () => {
    const s = $("#leaflet-js");
    if (window.L) initMap(); else s.addEventListener("load", initMap);
  });
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  performance.mark("form-interactive");
  document.body.dataset.ready = "true";
})();
