/* The EST meeting of the cycle shown on the meeting map: create it, start it (which freezes the
 * situation picture as it is, so the minutes stay reproducible), write the minutes, and take
 * the meeting report as PDF. The API is /api/v1/meetings (README "The EST loop"). */
"use strict";
(function () {
  const { h, $, t } = LB;
  let ctx = null, shown = null;
  let unsaved = null;  // {id, text, version} of minutes typed and not yet saved, and the version they were typed on
  const refused = {};  // meeting id -> minutes refused because someone else saved first (shown with theirs)
  const asked = {};  // meeting id -> {text, e}: minutes refused for personal data, to confirm or correct

  /* Saved only onto the version they were typed on (If-Match): someone else's minutes saved
   * meanwhile are never overwritten unseen; the server answers 412 instead. */
  const saveMinutes = ({ id, text, version }, confirm) => LB.api(`/api/v1/meetings/${id}`,
    { method: "PATCH", json: { minutes: text, ...(confirm ? { confirm_personal_data: true } : {}) },
      headers: { "If-Match": `"${version}"` } });
  const personalData = (e) => ((e.problem && e.problem.type) || "").endsWith("/personal-data");

  /* Minutes waiting to be saved go first; if someone else saved meanwhile, or they look like
   * personal data, they are kept aside and shown again with that meeting. */
  async function saveUnsaved() {
    if (!unsaved) return;
    const draft = unsaved;
    try {
      await saveMinutes(draft);
    } catch (e) {
      if (e.status === 412) refused[draft.id] = draft.text;
      else if (personalData(e)) asked[draft.id] = { text: draft.text, e };
      else throw e;
    }
    unsaved = null;
  }

  /* The cycle's meeting; again only when the cycle changes (the map reloads its layer on every
   * zoom: minutes being written must not be replaced) or ``again`` says so — and then only if
   * that cycle is still the one shown. Minutes typed and not saved are saved first. */
  async function show(cycle, again) {
    if (!ctx || !cycle || (shown === cycle.id && !again) || (again && $("#cycle").value !== cycle.id)) return;
    shown = cycle.id;
    const box = $("#meeting");
    $("#meeting-box").hidden = false;
    try {
      await saveUnsaved();
      const found = (await LB.api("/api/v1/meetings")).find((m) => m.cycle === cycle.id);
      const meeting = found ? await LB.api(`/api/v1/meetings/${found.id}?picture=false`) : null;
      if (shown !== cycle.id) return;  // another cycle was chosen meanwhile
      box.replaceChildren(...(meeting ? view(meeting, cycle) : ctx.canWrite ? [createForm(cycle)]
        : [h("p", { class: "hint" }, t("meeting.none"))]).filter(Boolean));
      box.dataset.cycle = cycle.id;  // which cycle's meeting is shown (a test waits for it)
    } catch (e) {
      shown = null;  // tried again with the next layer
      box.replaceChildren(h("p", { class: "error" }, LB.problemText(e)));
    }
  }

  /* A button's request: the button off while it runs, the refusal in words; a conflict (someone
   * else did it first) shows the meeting as it now is. */
  function action(button, note, cycle, fn, confirmed) {
    const run = async (f) => {
      button.disabled = true;
      note.className = "error";
      note.textContent = "";
      try {
        await f();
      } catch (e) {
        // minutes that look like personal data: said so, with a button to save them confirmed
        if (confirmed && LB.offerConfirm(note, e, () => run(confirmed))) return;
        if (e.status === 409 || e.status === 412) await show(cycle, true);
        if (e.status === 412) return;  // the minutes someone else saved are shown next to these
        note.textContent = e.status === 409 ? t("meeting.conflict") : LB.problemText(e);
      } finally {
        button.disabled = false;
      }
    };
    button.addEventListener("click", () => run(fn));
    return button;
  }

  function view(m, cycle) {
    const note = h("p", { class: "error", role: "status" });
    const minutes = h("textarea", { id: "meeting-minutes", rows: "4", readonly: !ctx.canWrite });
    minutes.value = m.minutes || "";
    let version = m.version;
    // Minutes of ours refused because these were saved first: ours stay in the box, theirs are
    // shown beside them, and only "Spara" (after merging) saves onto theirs. Until then what is
    // typed stays aside in ``refused`` — never saved on the way to another cycle, which would
    // put the unmerged text over theirs — and comes back here with theirs.
    const conflict = m.id in refused;
    minutes.addEventListener("input", () => {
      if (m.id in refused) refused[m.id] = minutes.value;
      else unsaved = { id: m.id, text: minutes.value, version };
    });
    let theirs = null;
    if (conflict) {
      minutes.value = refused[m.id];
      theirs = h("div", { class: "meeting-theirs", id: "meeting-theirs", role: "alert" },
        h("p", { class: "error" }, t("meeting.minutesConflict")),
        h("textarea", { rows: "4", readonly: true, "aria-label": t("meeting.theirMinutes") }, m.minutes || ""));
    }
    const startNow = async (confirm) => {
      if (unsaved) { await saveMinutes(unsaved, confirm); unsaved = null; }  // typed before the start: kept
      await LB.api(`/api/v1/meetings/${m.id}/start`, { method: "POST", timeoutMs: 120000 });
      await show(cycle, true);
    };
    const start = ctx.canWrite && !m.started_at ? action(h("button", { type: "button", class: "primary small",
      id: "meeting-start" }, t("meeting.start")), note, cycle, () => startNow(false), () => startNow(true)) : null;
    const saveNow = async (confirm) => {
      const text = minutes.value;
      try {
        version = (await saveMinutes({ id: m.id, text, version }, confirm)).version;
      } catch (e) {
        if (e.status === 412) refused[m.id] = text;
        throw e;
      }
      // typed while it was being saved: still to save, now onto the version just saved
      unsaved = unsaved && unsaved.text !== text ? { ...unsaved, version } : null;
      if (m.id in refused && refused[m.id] !== text) unsaved = { id: m.id, text: refused[m.id], version };
      delete refused[m.id];  // merged and saved: the conflict is over
      if (theirs) theirs.remove();
      note.className = "saved";
      note.textContent = t("meeting.saved");
    };
    const save = ctx.canWrite ? action(h("button", { type: "button", class: "secondary small", id: "meeting-save" },
      t("meeting.save")), note, cycle, () => saveNow(false), () => saveNow(true)) : null;
    if (m.id in asked) {  // saved on the way to another cycle, and asked about: here to confirm or correct
      const { text, e } = asked[m.id];
      delete asked[m.id];
      minutes.value = text;
      unsaved = { id: m.id, text, version };
      LB.offerConfirm(note, e, () => saveNow(true).catch((err) => { note.textContent = LB.problemText(err); }));
    }
    const report = action(h("button", { type: "button", class: "link", id: "meeting-report" }, t("meeting.report")),
                          note, cycle, () => download(m.id));
    return [
      h("p", {}, t("meeting.heldOn", { day: m.held_on }), m.organisations.length ? " · " + m.organisations.join(", ") : ""),
      h("p", { class: "meeting-state" }, m.started_at ? t("meeting.started", { at: LB.fmtTime(m.started_at) })
        : t("meeting.notStarted")),
      h("p", { class: "hint" }, t("meeting.counts", { decisions: m.decisions.length, followUps: m.follow_ups.length })),
      start, h("label", { for: "meeting-minutes" }, t("meeting.minutes")), minutes, theirs, save, report, note,
    ];
  }

  /* The report needs the login (an <a href> cannot send it): fetched, then saved as a file. */
  async function download(id) {
    const resp = await LB.api(`/api/v1/meetings/${id}/report.pdf`, { raw: true, timeoutMs: 120000 });
    const url = URL.createObjectURL(await resp.blob());
    const link = h("a", { href: url, download: `est-mote-${id}.pdf` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  function createForm(cycle) {
    const day = h("input", { type: "date", name: "held_on", required: true,
                             value: new Date().toLocaleDateString("sv-SE", { timeZone: "Europe/Stockholm" }) });
    const who = h("input", { name: "organisations", placeholder: t("meeting.organisationsHint") });
    const error = h("p", { class: "error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary small" }, t("meeting.create"));
    const form = h("form", { class: "meeting-form", id: "meeting-form" },
      h("p", { class: "hint" }, t("meeting.none")),
      h("label", {}, h("span", {}, t("meeting.day")), day),
      h("label", {}, h("span", {}, t("meeting.organisations")), who),
      error, submit);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      submit.disabled = true;
      try {
        await LB.api("/api/v1/meetings", { method: "POST", json: { cycle: cycle.id, held_on: day.value,
          organisations: who.value.split(",").map((s) => s.trim()).filter(Boolean) } });
        await show(cycle, true);
      } catch (e) {
        error.textContent = LB.problemText(e);
        if (e.status === 409) {  // someone else created it meanwhile: theirs is shown, and why
          await show(cycle, true);
          $("#meeting").prepend(h("p", { class: "error", role: "status" }, t("meeting.conflict")));
        }
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  // Minutes typed and not saved: the browser asks before the page is left.
  window.addEventListener("beforeunload", (ev) => {
    if (unsaved || Object.keys(refused).length || Object.keys(asked).length) ev.preventDefault();
  });

  LB.meeting = { init: (options) => { ctx = options; }, show };
})();
