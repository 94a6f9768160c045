/* The meeting map's first hotspot layer, asked for as soon as the page is parsed — before
 * Leaflet and the page's own scripts load — for a user already logged in who may see it
 * (LB.auth from common.js, inlined just before this). dashboard.js takes it from
 * LBEarly.layer (it falls back to asking itself). */
"use strict";
(function () {
  const early = (window.LBEarly = {
    // The H3 resolution for a map zoom (dashboard.js uses the same, from here).
    resForZoom: (z) => (z <= 11 ? 7 : z === 12 ? 8 : z <= 14 ? 9 : 10),
    // The cycle the map opens on, as the server worked it out for the page ('previous' until
    // the cycle in progress is half over; dashboard.js decides again from the cycle list).
    meetingCycle: () => {
      try { return JSON.parse(document.getElementById("config").textContent).meetingCycle || "current"; }
      catch (e) { return "current"; }
    },
    layer: null,
  });
  try {
    const auth = LB.auth.get();
    const config = JSON.parse(document.getElementById("config").textContent);
    if (!LB.auth.valid() || !config.analystRoles.includes(auth.role)) return;
    const res = early.resForZoom(config.zoom);
    const path = `/api/v1/hotspots?cycle=${early.meetingCycle()}&res=${res}`;
    const response = fetch(path, { headers: { Accept: "application/json", Authorization: "Bearer " + auth.token } });
    response.catch(() => {});  // dashboard.js asks again, and reports what goes wrong
    early.layer = { res, path, token: auth.token, response };  // only for this login (dashboard.js checks)
  } catch (e) {
    early.layer = null;  // no storage, no config: dashboard.js asks itself
  }
})();
