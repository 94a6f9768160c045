/* The outbox: every report is kept here (IndexedDB) from the moment the reporter presses
 * "send" until the server has taken it, so that no coverage, a request that hangs or a closed
 * tab loses nothing. Each keeps the Idempotency-Key it was given then, so a retry after a lost
 * answer returns the first report instead of creating a second one.
 *
 * Item: {key, mode: "user"|"public", owner, body, photo: Blob|null, createdAt, reportId, error,
 *        errorType, photoRefused}
 *  - owner         -> the username of a "user" item: only that login sends it, and only that
 *                     login (or nobody, for a citizen's "public" item) sees it on this phone
 *  - reportId set  -> the report is stored; only the photo is still to upload
 *  - error set     -> the server refused it (problem detail shown; the reporter can delete it,
 *                     or confirm personal data and send it again); with photoRefused, only the
 *                     photo was refused and the report itself is stored
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

  /* Whether an item belongs to whoever reports from the page now: a login's own items, or, in
   * citizen mode, the anonymous ones. */
  function ours(item) {
    const who = LB.auth.reporter();
    // (an item without owner, kept by an earlier version of the app, is shown to a login, which
    // may send it as theirs; it is never sent on its own)
    return item.mode === "public" ? !who : !!who && (item.owner === who || !item.owner);
  }

  const inFlight = new Set();  // items the form is sending right now (a flush leaves them alone)

  const outbox = {
    put: (item) => tx("readwrite", (s) => s.put(item)),
    remove: (key) => tx("readwrite", (s) => s.delete(key)),
    all: async () => ((await tx("readonly", (s) => s.getAll())) || []).sort((a, b) => a.createdAt - b.createdAt),
    /* The items of whoever uses the page now, oldest first. */
    mine: async () => (await outbox.all()).filter(ours),
    waiting: async () => (await outbox.mine()).filter((i) => !i.error).length,
    /* Another login's items still waiting on this phone (they are sent when that login returns). */
    othersWaiting: async () => (await outbox.all()).filter((i) => !i.error && !ours(i)).length,
    /* An item under a new key, in one transaction (never both, never neither). */
    rekey: (oldKey, item) => tx("readwrite", (s) => { s.delete(oldKey); s.put(item); }),
    sending: (key, busy) => { if (busy) inFlight.add(key); else inFlight.delete(key); },
    /* Items kept by an earlier version of the app have no owner: they are the login's that is
     * (or was) on this page, if one is known. */
    adoptOwnerless: async () => {
      const who = LB.auth.username();
      if (!who) return;
      for (const item of await outbox.all()) {
        if (item.mode !== "public" && !item.owner) { item.owner = who; await outbox.put(item); }
      }
    },
  };

  /* A "Nu" refused as made in the future (a phone clock running fast): as made now by the
   * server's clock, under a new key (nothing was stored under the refused one). */
  outbox.isTooEarly = (item, e) => item.now && !item.reportId && e instanceof LB.ApiError
    && (e.errors[0] || {}).message === "in the future";
  outbox.withoutTime = (item) => {
    delete item.body.occurred_from;
    delete item.body.occurred_to;
    item.key = LB.uuid();
  };

  let flushing = null, again = false;

  /* Send what waits, oldest first: a login's items only while that login is valid, a citizen's
   * without one. Stops at the first network failure (still offline) or 401 (login expired; the
   * item stays for after the login). Returns {sent, waiting}. */
  outbox.flush = function () {
    // One tab at a time sends (two would send the same items at once; the keys make that
    // harmless, but the work and the answers are doubled).
    // Asked for while one runs (a login, a report refused and set to go again): once more after it.
    if (flushing) { again = true; return flushing; }
    flushing = (navigator.locks ? navigator.locks.request("lb-outbox", doFlush) : doFlush())
      .finally(() => {
        flushing = null;
        if (again) { again = false; outbox.flush(); }
      });
    return flushing;
  };

  async function doFlush() {
    let sent = 0;
    // The login this flush sends for, fixed at its start: if another person logs in meanwhile,
    // the flush stops rather than send the first one's reports with the second one's token.
    const who = LB.auth.valid() ? LB.auth.username() : null;
    const token = who ? LB.auth.get().token : null;
    for (const item of await outbox.all()) {
      if (item.error || inFlight.has(item.key)) continue;
      if (item.mode !== "public" && !(who && item.owner === who)) continue;
      if (who && LB.auth.username() !== who) break;
      const as = item.mode === "public" ? { auth: false } : { token };
      try {
        if (!item.reportId) {
          const path = item.mode === "public" ? "/api/v1/public/reports" : "/api/v1/reports";
          const report = await LB.api(path, { method: "POST", json: item.body, ...as,
                                              headers: { "Idempotency-Key": item.key } });
          item.reportId = report.id;
          await outbox.put(item);
        }
        if (item.photo) {
          const form = new FormData();
          form.append("file", item.photo, "photo.jpg");
          await LB.api(`/api/v1/reports/${item.reportId}/attachments`, { method: "POST", body: form, ...as,
                                                                         headers: { "Idempotency-Key": item.key + ":photo" },
                                                                         timeoutMs: 120000 });
        }
        await outbox.remove(item.key);
        sent += 1;
      } catch (e) {
        if (!(e instanceof LB.ApiError) || e.status === 401 || e.status === 429 || e.status >= 500) break;
        if (outbox.isTooEarly(item, e)) {
          const refusedKey = item.key;
          outbox.withoutTime(item);
          await outbox.rekey(refusedKey, item);
          again = true;
          continue;
        }
        item.error = LB.problemText(e);  // a reason the reporter must see
        item.errorType = (e.problem && e.problem.type) || null;
        item.errorField = e.field();
        item.photoRefused = !!item.reportId;  // the report is stored; only its photo was refused
        try { await outbox.put(item); } catch (full) { break; }  // no room to keep the reason: try later
      }
    }
    window.dispatchEvent(new CustomEvent("lb:outbox"));
    return { sent, waiting: await outbox.waiting() };
  }

  LB.outbox = outbox;
})();
