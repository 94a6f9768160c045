/* The outbox: reports made without coverage wait in IndexedDB and are sent when the connection
 * returns. Each keeps the Idempotency-Key it was given when the reporter pressed "send", so a
 * retry after a lost answer returns the first report instead of creating a second one.
 *
 * Item: {key, mode: "user"|"public", body, photo: Blob|null, createdAt, reportId, error}
 *  - reportId set  -> the report is stored; only the photo is still to upload
 *  - error set     -> the server refused it (problem detail shown; the reporter can delete it)
 */
"use strict";
(function () {
  const DB = "lagesbild", STORE = "outbox";
  let opening = null;

  function open() {
    if (!opening) {
      opening = new Promise((resolve, reject) => {
        const req = indexedDB.open(DB, 1);
        req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "key" });
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
    }
    return opening;
  }

  async function tx(mode, fn) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const result = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  }

  const outbox = {
    put: (item) => tx("readwrite", (s) => s.put(item)),
    remove: (key) => tx("readwrite", (s) => s.delete(key)),
    all: async () => ((await tx("readonly", (s) => s.getAll())) || []).sort((a, b) => a.createdAt - b.createdAt),
    waiting: async () => (await outbox.all()).filter((i) => !i.error).length,
  };

  let flushing = null;

  /* Send what waits, oldest first. Stops at the first network failure (still offline) or 401
   * (login expired; the item stays for after the login). Returns {sent, waiting}. */
  outbox.flush = function () {
    if (!flushing) flushing = doFlush().finally(() => { flushing = null; });
    return flushing;
  };

  async function doFlush() {
    let sent = 0;
    for (const item of await outbox.all()) {
      if (item.error) continue;
      try {
        if (!item.reportId) {
          const path = item.mode === "public" ? "/api/v1/public/reports" : "/api/v1/reports";
          const report = await LB.api(path, { method: "POST", json: item.body, auth: item.mode !== "public",
                                              headers: { "Idempotency-Key": item.key } });
          item.reportId = report.id;
          await outbox.put(item);
        }
        if (item.photo) {
          const form = new FormData();
          form.append("file", item.photo, "photo.jpg");
          await LB.api(`/api/v1/reports/${item.reportId}/attachments`, { method: "POST", body: form });
        }
        await outbox.remove(item.key);
        sent += 1;
      } catch (e) {
        if (e instanceof LB.NetworkError || e.status === 401 || e.status === 429 || e.status >= 500) break;
        item.error = e.message;  // refused for a reason the reporter must see (problem detail)
        item.errorField = e.field ? e.field() : null;
        await outbox.put(item);
      }
    }
    window.dispatchEvent(new CustomEvent("lb:outbox"));
    return { sent, waiting: await outbox.waiting() };
  }

  LB.outbox = outbox;
})();
