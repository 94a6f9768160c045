/* Service worker for /report: the form opens without coverage, and Leaflet is cached.
 * API calls are never cached here; unsent reports wait in IndexedDB (js/outbox.js). The server
 * replaces the version below with a hash of the front-end files, so a deploy renews the cache. */
"use strict";
const CACHE = "lagesbild-__VERSION__";
const SHELL = [
  "/report", "/manifest.webmanifest", "/static/icons/icon.svg", "/static/icons/icon-192.png",
  "/static/vendor/leaflet/leaflet.js",
  "/static/vendor/leaflet/images/marker-icon.png", "/static/vendor/leaflet/images/marker-icon-2x.png",
  "/static/vendor/leaflet/images/marker-shadow.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith("lagesbild-") && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/report") {
    // The cached form at once (poor coverage must not mean a blank screen); refreshed behind.
    event.respondWith(caches.open(CACHE).then(async (cache) => {
      const cached = await cache.match("/report");
      const fresh = fetch(event.request).then((resp) => {
        if (resp.ok) cache.put("/report", resp.clone());
        return resp;
      });
      if (cached) {
        event.waitUntil(fresh.catch(() => null));
        return cached;
      }
      return fresh;
    }));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((cached) => cached || fetch(event.request)));
  }
});
