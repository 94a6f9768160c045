/* The EST meeting of the cycle shown on the meeting map: create it, start it (which freezes the
 * situation picture as it is, so the minutes stay reproducible), write the minutes, and take
 * the meeting report as PDF. The API is /api/v1/meetings (README "The EST loop"). */
"use strict";
(function () {
  const { h, $, t } = LB;
  let ctx = null, shown = null;

  /* The cycle's meeting; again only when the cycle changes (the map reloads its layer on every
   * zoom: minutes being written must not be replaced) or ``again`` says so. */
  async function show(cycle, again) {
    if (!ctx || !cycle || (shown === cycle.id && !again)) return;
    shown = cycle.id;
    const box = $("#meeting");
    $("#meeting-box").hidden = false;
    try {
      const found = (await LB.api("/api/v1/meetings")).find((m) => m.cycle === cycle.id);
      const meeting = found ? await LB.api(`/api/v1/meetings/${found.id}?picture=false`) : null;
      if (shown !== cycle.id) return;  // another cycle was chosen meanwhile
      box.replaceChildren(...(meeting ? view(meeting, cycle) : ctx.canWrite ? [createForm(cycle)]
        : [h("p", { class: "hint" }, t("meeting.none"))]).filter(Boolean));
    } catch (e) {
      box.replaceChildren(h("p", { class: "error" }, LB.problemText(e)));
    }
  }

  function view(m, cycle) {
    const error = h("p", { class: "error", role: "alert" });
    const act = (fn) => async () => {
      error.textContent = "";
      try { await fn(); } catch (e) { error.textContent = LB.problemText(e); }
    };
    const minutes = h("textarea", { id: "meeting-minutes", rows: "4", "aria-label": t("meeting.minutes"),
                                     readonly: !ctx.canWrite });
    minutes.value = m.minutes || "";
    return [
      h("p", {}, t("meeting.heldOn", { day: m.held_on }), m.organisations.length ? " · " + m.organisations.join(", ") : ""),
      h("p", { class: "meeting-state" }, m.started_at ? t("meeting.started", { at: LB.fmtTime(m.started_at) })
        : t("meeting.notStarted")),
      h("p", { class: "hint" }, t("meeting.counts", { decisions: m.decisions.length, followUps: m.follow_ups.length })),
      ctx.canWrite && !m.started_at ? h("button", { type: "button", class: "primary small", id: "meeting-start",
        onclick: act(async () => {
          await LB.api(`/api/v1/meetings/${m.id}/start`, { method: "POST", timeoutMs: 120000 });
          await show(cycle, true);
        }) }, t("meeting.start")) : null,
      h("label", { for: "meeting-minutes" }, t("meeting.minutes")), minutes,
      ctx.canWrite ? h("button", { type: "button", class: "secondary small", id: "meeting-save",
        onclick: act(async () => {
          await LB.api(`/api/v1/meetings/${m.id}`, { method: "PATCH", json: { minutes: minutes.value } });
          error.textContent = t("meeting.saved");
        }) }, t("meeting.save")) : null,
      h("button", { type: "button", class: "link", id: "meeting-report", onclick: act(() => report(m.id)) },
        t("meeting.report")),
      error,
    ];
  }

  /* The report needs the login (an <a href> cannot send it): fetched, then saved as a file. */
  async function report(id) {
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
    const form = h("form", { class: "meeting-form", id: "meeting-form" },
      h("p", { class: "hint" }, t("meeting.none")),
      h("label", {}, h("span", {}, t("meeting.day")), day),
      h("label", {}, h("span", {}, t("meeting.organisations")), who),
      error,
      h("button", { type: "submit", class: "primary small" }, t("meeting.create")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      try {
        await LB.api("/api/v1/meetings", { method: "POST", json: { cycle: cycle.id, held_on: day.value,
          organisations: who.value.split(",").map((s) => s.trim()).filter(Boolean) } });
        await show(cycle, true);
      } catch (e) { error.textContent = LB.problemText(e); }
    });
    return form;
  }

  LB.meeting = { init: (options) => { ctx = options; }, show };
})();
