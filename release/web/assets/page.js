// The rollsafe page: draws the state the server embedded, follows the
// server's "versions" events and reads the state again when they change.
// Every text is set with textContent: nothing the server sends is parsed
// as HTML.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="rollsafe-csrf"]').content;
  let state = JSON.parse(document.getElementById("state").textContent);
  let older = []; // audit records loaded with "Show older"
  let olderMore = false; // whether records older than those are left
  let olderGen = 0; // raised when older is emptied: a load begun before is dropped
  let olderLoading = false;

  // el builds an element: el("td", {class: "x"}, "text", child...).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "onclick") e.addEventListener("click", v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function table(head, rows, attrs) {
    return el("table", attrs, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
  }

  const when = (t) => (t ? new Date(t).toLocaleString() : "");
  function ago(t) {
    const s = Math.max(0, Math.round((Date.now() - new Date(t).getTime()) / 1000));
    return s < 120 ? s + " s ago" : Math.round(s / 60) + " min ago";
  }
  const pct = (v) => (v === undefined || v === null ? "–" : (v * 100).toFixed(2) + "%");
  const ms = (v) => (v === undefined || v === null ? "–" : (v * 1000).toFixed(1) + " ms");
  function value(m, v) {
    if (m.metric === "error-rate") return pct(v);
    if (m.metric === "latency") return ms(v);
    return v === undefined || v === null ? "–" : String(v);
  }
  const terminal = (s) => s === "Promoted" || s === "RolledBack";
  const stepOf = (n) => (n < 0 ? "–" : n + 1);
  // metricName names a metric, with the quantile of a latency.
  function metricName(r, m) {
    if (m.metric !== "latency") return m.metric;
    const q = (r.plan && r.plan.analysis && r.plan.analysis.latency && r.plan.analysis.latency.quantile) || 0.99;
    return `latency p${+(q * 100).toFixed(1)}`;
  }

  // ---- releases

  function drawReleases() {
    const body = document.querySelector("#releases .body");
    body.replaceChildren();
    if (state.releases === null) {
      body.append(el("p", { class: "refused" }, sectionNote("releases")));
      return;
    }
    if (state.releases.length === 0) {
      body.append(el("p", {}, "No release has been started."));
      return;
    }
    const past = [];
    for (const r of state.releases) {
      if (!terminal(r.state) || r.events) {
        // One release that cannot be drawn leaves the others.
        try {
          body.append(drawRelease(r));
        } catch (e) {
          body.append(el("p", { class: "error" }, `Release ${r.id} could not be drawn: ${e.message}`));
          console.error(e);
        }
      }
      if (terminal(r.state)) past.push(r);
    }
    if (past.length) {
      body.append(el("h3", {}, "Past releases"));
      body.append(table(["release", "attempt", "outcome", "why", "started", "ended", "by"], past.map((r) =>
        el("tr", { "data-release": r.id }, el("td", {}, r.id), el("td", {}, r.attempt),
          el("td", {}, el("span", { class: "badge " + r.state }, r.state)), el("td", {}, r.outcome || ""),
          el("td", {}, when(r.started)), el("td", {}, when(r.ended)), el("td", {}, r.startedBy)))));
    }
  }

  function drawRelease(r) {
    const card = el("article", { class: "release", "data-id": r.id, "data-state": r.state, "data-step": r.step + 1 });
    card.append(el("h3", {}, r.id, " ", el("span", { class: "badge " + r.state, "data-role": "state" }, r.state),
      r.awaitingApproval ? el("span", { class: "badge Paused" }, "awaiting approval") : null));
    if (r.plan && r.plan.description) card.append(el("p", {}, r.plan.description));
    card.append(el("p", { class: "meta" },
      `attempt ${r.attempt} · started ${when(r.started)} by ${r.startedBy} · driven by ${r.driver || "no instance"} · flag store revision ${r.revision}`));

    // The plan's steps, the current one marked.
    const steps = el("ol", { class: "steps" });
    (r.plan ? r.plan.steps : []).forEach((s, i) => {
      const w = Object.entries(s.weights).map(([k, v]) => `${k} ${v}%`).join(", ");
      const cls = i === r.step ? "current" : i < r.step ? "done" : "";
      steps.append(el("li", { class: cls, "aria-current": i === r.step ? "step" : null }, `step ${i + 1}: ${w}`, s.bake ? ` · bake ${s.bake}` : ""));
    });
    card.append(el("p", { "data-role": "step" }, r.step < 0 ? "Not on a step yet." : `On step ${r.step + 1} of ${r.steps}.`), steps);
    card.append(el("p", { "data-role": "weights" }, "Weights now: ",
      Object.entries(r.weights || {}).map(([k, v]) => `${k} ${v}%`).join(", ") || "none"));

    // The verdict and the latest measurement of each metric.
    const v = r.verdict || {};
    if (terminal(r.state)) {
      card.append(el("p", { class: "verdict", "data-role": "verdict" }, "Outcome: ", el("strong", {}, r.state),
        r.outcome ? " — " + r.outcome : "", ` (ended ${when(r.ended)})`));
    } else {
      card.append(el("p", { class: "verdict", "data-role": "verdict" }, "Verdict so far: ", el("strong", {}, v.Outcome || "–"), v.Reason ? " — " + v.Reason : ""));
    }
    if (r.latest && r.latest.length) {
      card.append(table(["metric", "flag", "phase", "new", "old", "new calls", "old calls", "why"], r.latest.map((m) =>
        el("tr", {}, el("td", {}, metricName(r, m)), el("td", {}, m.flag || ""), el("td", {}, el("span", { class: "badge " + m.phase }, m.phase)),
          el("td", {}, value(m, m.canary)), el("td", {}, value(m, m.baseline)), el("td", {}, m.canaryCalls), el("td", {}, m.baselineCalls),
          el("td", {}, m.reason))), { class: "latest" }));
    }

    // Charts drawn by the server; the version makes the browser fetch a
    // new one when the ledger moved.
    const charts = el("div", { class: "charts" });
    for (const metric of ["error-rate", "latency"]) {
      charts.append(el("img", {
        src: `api/charts/${encodeURIComponent(r.id)}/${metric}.svg?attempt=${r.attempt}&v=${state.versions.releases}`,
        alt: `${metric} of ${r.id} over time, new and old code paths`, width: 640, height: 246,
      }));
    }
    card.append(charts);

    const acts = el("div", { class: "actions" });
    for (const a of r.can) {
      acts.append(el("button", { type: "button", "data-action": a, onclick: () => releaseAction(r, a) }, a));
    }
    if (r.can.length) card.append(acts);

    // Who did what, then every measurement.
    const events = r.events || [];
    const people = events.filter((e) => e.actor !== "analysis" && ["started", "promote", "paused", "resumed", "rollback"].includes(e.kind));
    if (people.length) {
      card.append(el("h4", {}, "Decisions"));
      card.append(table(["when", "who", "what", "step", "why"], people.map((e) =>
        el("tr", { "data-kind": e.kind }, el("td", {}, when(e.at)), el("td", {}, e.actor), el("td", {}, e.kind), el("td", {}, stepOf(e.step)), el("td", {}, e.reason || ""))), { class: "decisions" }));
    }
    const trail = events.filter((e) => e.kind !== "measurement").slice(-30).reverse();
    card.append(el("details", {}, el("summary", {}, "Ledger (latest 30 events)"),
      table(["when", "event", "who", "step", "weights", "why"], trail.map((e) =>
        el("tr", { "data-kind": e.kind }, el("td", {}, when(e.at)), el("td", {}, e.kind), el("td", {}, e.actor), el("td", {}, stepOf(e.step)),
          el("td", {}, e.weightsAfter ? Object.entries(e.weightsAfter).map(([k, w]) => `${k} ${w}%`).join(", ") : ""), el("td", {}, e.reason || ""))))));
    const measured = events.filter((e) => e.measurement).map((e) => e.measurement).reverse();
    card.append(el("details", {}, el("summary", {}, `Measurements (${measured.length})`),
      table(["when", "step", "metric", "flag", "phase", "new", "old", "new calls", "old calls"], measured.map((m) =>
        el("tr", {}, el("td", {}, when(m.at)), el("td", {}, stepOf(m.step)), el("td", {}, metricName(r, m)), el("td", {}, m.flag || ""),
          el("td", {}, m.phase), el("td", {}, value(m, m.canary)), el("td", {}, value(m, m.baseline)), el("td", {}, m.canaryCalls), el("td", {}, m.baselineCalls))))));
    return card;
  }

  // ---- flags

  // split returns the [variant, weight] pairs of the first fractional in
  // a flagd targeting rule, or null.
  function split(rule) {
    if (rule === null || typeof rule !== "object") return null;
    if (!Array.isArray(rule) && Array.isArray(rule.fractional)) {
      return rule.fractional.filter((a) => Array.isArray(a) && typeof a[0] === "string").map((a) => [a[0], a.length > 1 ? Number(a[1]) : 1]);
    }
    for (const v of Object.values(rule)) {
      const s = split(v);
      if (s) return s;
    }
    return null;
  }

  const flagDefs = (doc) => (doc && doc.flags) || {};

  // changedAt returns, by flag, the revision of its latest change among
  // the audit records loaded.
  function changedAt() {
    const at = {};
    for (const rec of [...(state.flags.history || []), ...older]) {
      for (const k of rec.keys || []) if (!(k in at) || rec.revision > at[k]) at[k] = rec.revision;
    }
    return at;
  }

  function drawFlags() {
    const body = document.querySelector("#flags .body");
    body.replaceChildren();
    if (state.flags === null) {
      body.append(el("p", { class: "refused" }, sectionNote("flags")));
      return;
    }
    const f = state.flags;
    const defs = flagDefs(f.document);
    const at = changedAt();
    const live = state.instances || [];
    body.append(el("p", { class: "meta" }, `flag store revision `, el("strong", { "data-role": "revision" }, f.revision)));
    const held = {};
    for (const r of state.releases || []) if (!terminal(r.state)) for (const k of Object.keys(r.weights || {})) held[k] = r.id;
    const rows = Object.keys(defs).sort().filter((key) => defs[key] && typeof defs[key] === "object").map((key) => {
      const d = defs[key];
      const s = split(d.targeting);
      const since = at[key] || f.revision;
      const serving = live.filter((i) => i.flagsRevision !== null && i.flagsRevision >= since).length;
      const acts = el("td", { class: "actions" });
      for (const a of f.can[key] || []) {
        if (a === "kill" && d.state === "DISABLED") continue;
        if (a === "revive" && d.state !== "DISABLED") continue;
        if (a === "weights" && !s) continue;
        acts.append(el("button", { type: "button", "data-action": a, onclick: () => flagAction(key, a, d, s) }, a === "weights" ? "set weights" : a));
      }
      return el("tr", { "data-key": key, "data-state": d.state },
        el("td", {}, el("code", {}, key)), el("td", {}, el("span", { class: "badge " + d.state }, d.state)),
        el("td", {}, Object.entries(d.variants || {}).map(([n, v]) => `${n} = ${JSON.stringify(v)}`).join(", ")),
        el("td", {}, d.defaultVariant ?? ""),
        el("td", {}, s ? s.map(([v, w]) => `${v} ${w}`).join(" / ") : "–"),
        el("td", {}, held[key] || ""),
        el("td", { class: live.length && serving < live.length ? "behind" : "", "data-role": "serving" }, live.length ? `${serving} of ${live.length}` : "–"),
        acts);
    });
    body.append(table(["flag", "state", "variants", "default", "split", "release", "instances serving it", ""], rows, { class: "flags" }));
    if (f.invalid && f.invalid.length) {
      body.append(el("p", { class: "error" }, "Not valid, not served: ", f.invalid.join("; ")));
    }
  }

  function drawInstances() {
    const body = document.querySelector("#instances .body");
    body.replaceChildren();
    if (state.instances === null) {
      body.append(el("p", { class: "refused" }, sectionNote("instances")));
      return;
    }
    if (state.instances.length === 0) {
      body.append(el("p", {}, "No live instance in the registry."));
      return;
    }
    const rev = state.flags ? state.flags.revision : null;
    body.append(table(["instance", "address", "service", "version", "release", "ready", "flag revision", "last heartbeat"],
      state.instances.map((i) => el("tr", { "data-id": i.id, "data-revision": i.flagsRevision ?? "" },
        el("td", {}, el("code", {}, i.id.slice(0, 12))), el("td", {}, i.address), el("td", {}, i.service), el("td", {}, i.version),
        el("td", {}, i.releaseId || ""), el("td", { class: i.ready ? "" : "behind", title: i.detail || "" }, i.ready ? "ready" : "not ready"),
        el("td", { class: rev !== null && (i.flagsRevision === null || i.flagsRevision < rev) ? "behind" : "" }, i.flagsRevision ?? "none"),
        el("td", { "data-since": i.lastSeen }, ago(i.lastSeen)))), { class: "instances" }));
  }

  // summary says in a few words what a record changed in key.
  function summary(rec, key) {
    const before = flagDefs(rec.before)[key];
    const after = flagDefs(rec.after)[key];
    if (!before) return "created";
    if (!after) return "deleted";
    const parts = [];
    if (before.state !== after.state) parts.push(`${before.state} → ${after.state}`);
    const sb = JSON.stringify(split(before.targeting)), sa = JSON.stringify(split(after.targeting));
    if (sb !== sa) {
      const w = (s) => (s ? s.map(([v, n]) => `${v} ${n}`).join(" / ") : "no split");
      parts.push(`${w(split(before.targeting))} → ${w(split(after.targeting))}`);
    }
    if (before.defaultVariant !== after.defaultVariant) parts.push(`default ${before.defaultVariant} → ${after.defaultVariant}`);
    return parts.join(", ") || "definition replaced";
  }

  function drawAudit() {
    const body = document.querySelector("#audit .body");
    body.replaceChildren();
    if (state.flags === null || state.flags.history === null) {
      body.append(el("p", { class: "refused" }, sectionNote("audit trail")));
      return;
    }
    const recs = [...state.flags.history, ...older];
    body.append(table(["revision", "when", "who", "why", "release", "change"], recs.map((rec) =>
      el("tr", { "data-revision": rec.revision }, el("td", {}, rec.revision), el("td", {}, when(rec.time)), el("td", {}, rec.actor),
        el("td", {}, rec.reason), el("td", {}, rec.releaseId || ""),
        el("td", {}, (rec.keys || []).length ? rec.keys.map((k) => el("div", {}, el("code", {}, k), " ", summary(rec, k))) : "the shared rules or metadata"))), { class: "audit" }));
    const more = older.length ? olderMore : state.flags.more;
    if (more) {
      body.append(el("button", { type: "button", id: "older", onclick: loadOlder }, "Show older"));
    }
  }

  async function loadOlder(ev) {
    if (olderLoading) return;
    olderLoading = true;
    const button = ev.target;
    button.disabled = true;
    const gen = olderGen;
    const recs = [...state.flags.history, ...older];
    const before = recs.length ? recs[recs.length - 1].revision : 0;
    try {
      const res = await fetch(`api/history?before=${before}&limit=100`, { cache: "no-store" });
      if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
      const got = (await res.json()).records || [];
      if (gen !== olderGen) return; // the trail moved on meanwhile: these would leave a gap
      older = [...older, ...got];
      olderMore = got.length === 100;
      drawAudit();
    } catch (e) {
      button.disabled = false;
      button.after(el("span", { class: "error" }, " The older records could not be read: " + e.message));
    } finally {
      olderLoading = false;
    }
  }

  function sectionNote(what) {
    return (state.problems || []).includes(what) ? `The ${what} could not be read; the server's log says why.` : `You may not read the ${what}.`;
  }

  function draw() {
    for (const [section, fn] of [["releases", drawReleases], ["flags", drawFlags], ["instances", drawInstances], ["audit", drawAudit]]) {
      try {
        fn();
      } catch (e) {
        document.querySelector(`#${section} .body`).replaceChildren(el("p", { class: "error" }, `This section could not be drawn: ${e.message}`));
        console.error(e);
      }
    }
    document.body.dataset.flagsRevision = state.flags ? state.flags.revision : "";
    document.body.dataset.releasesVersion = state.versions.releases;
  }

  // ---- actions

  const dialog = document.getElementById("act");
  const form = document.getElementById("act-form");
  let pending = null;

  function ask(title, what, weights, send) {
    document.getElementById("act-title").textContent = title;
    document.getElementById("act-what").textContent = what;
    document.getElementById("act-error").textContent = "";
    document.getElementById("act-reason").value = "";
    const box = document.getElementById("act-weights");
    box.replaceChildren();
    for (const [variant, weight] of weights || []) {
      box.append(el("label", {}, variant, " ", el("input", { type: "number", min: 0, step: 1, value: weight, "data-variant": variant, required: true })));
    }
    pending = send;
    dialog.showModal();
  }

  document.getElementById("act-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const reason = document.getElementById("act-reason").value.trim();
    if (!reason) {
      document.getElementById("act-error").textContent = "Say why: the reason is recorded.";
      return;
    }
    const weights = [...document.querySelectorAll("#act-weights input")].map((i) => ({ variant: i.dataset.variant, weight: Number(i.value) }));
    const [method, path, body] = pending(reason, weights);
    const button = document.getElementById("act-confirm");
    button.disabled = true;
    try {
      const res = await fetch(path, {
        method, body: JSON.stringify(body), cache: "no-store",
        headers: { "Content-Type": "application/json", "X-Rollsafe-CSRF": csrf },
      });
      if (!res.ok) {
        let msg = res.status + " " + res.statusText;
        try {
          msg = (await res.json()).error || msg;
        } catch {}
        document.getElementById("act-error").textContent = msg;
        return;
      }
      dialog.close();
      refresh();
    } catch (e) {
      document.getElementById("act-error").textContent = "The server did not answer: " + e.message;
    } finally {
      button.disabled = false;
    }
  });

  function releaseAction(r, a) {
    const what = a === "promote" ? `Promote ${r.id} past step ${r.step + 1} of ${r.steps}.` : `${a[0].toUpperCase() + a.slice(1)} ${r.id} (now ${r.state}, step ${r.step + 1}).`;
    ask(`${a} ${r.id}`, what, null, (reason) => {
      const body = { reason };
      if (a === "promote") body.step = r.step + 1;
      return ["POST", `api/releases/${encodeURIComponent(r.id)}/${a}`, body];
    });
  }

  function flagAction(key, a, d, s) {
    const path = `api/flags/${encodeURIComponent(key)}`;
    if (a === "weights") {
      // The weights shown are those of this revision: a change made by
      // someone else meanwhile makes the write fail (409), not vanish.
      const base = state.flags.revision;
      ask(`set the weights of ${key}`, `The order of the variants decides the buckets; it is kept. (Revision ${base}.)`, s, (reason, weights) =>
        ["PUT", path + "/weights", { reason, weights, baseRevision: base }]);
      return;
    }
    const what = a === "kill" ? `Kill ${key} everywhere: every instance serves its default variant, off.` : `Revive ${key}: it is evaluated as defined again.`;
    ask(`${a} ${key}`, what, null, (reason) => ["POST", `${path}/${a}`, { reason }]);
  }

  // ---- live updates

  const badge = document.getElementById("live");
  let reading = null;
  let again = false;

  // refresh reads the state once at a time; a change during a read makes
  // one more read after it.
  async function refresh() {
    if (reading) {
      again = true;
      return reading;
    }
    reading = (async () => {
      do {
        again = false;
        try {
          const res = await fetch("api/state", { cache: "no-store" });
          if (res.ok) {
            const newest = (st) => (st.flags && st.flags.history && st.flags.history.length ? st.flags.history[0].revision : null);
            const was = newest(state);
            state = await res.json();
            // When the newest records moved on, the older ones loaded are
            // let go (loaded again on request), so that the trail has no gap.
            if (newest(state) !== was) {
              older = [];
              olderMore = false;
              olderGen++;
            }
            draw();
            if (es && es.readyState === EventSource.OPEN) {
              badge.textContent = "live";
              badge.className = "live on";
            }
          }
        } catch {
          badge.textContent = "offline";
          badge.className = "live off";
        }
      } while (again);
    })();
    try {
      await reading;
    } finally {
      reading = null;
    }
  }

  function differs(v) {
    const s = state.versions;
    return v.flags !== s.flags || v.releases !== s.releases || v.instances !== s.instances;
  }

  // The stream is this page's own to restart: on an error it is closed
  // and opened again after a pause that doubles up to 30 s, and one that
  // has said nothing (not even its ping) for 40 s is taken as dead.
  let es = null;
  let retry = 1000;
  let heard = 0;
  let opened = false;
  function connect() {
    es = new EventSource("api/events");
    const stream = es;
    stream.addEventListener("open", () => {
      badge.textContent = "live";
      badge.className = "live on";
      retry = 1000;
      heard = Date.now();
      // A stream that opens again may have missed changes: read them.
      if (opened) refresh();
      opened = true;
    });
    stream.addEventListener("versions", (ev) => {
      heard = Date.now();
      if (differs(JSON.parse(ev.data))) refresh();
    });
    stream.addEventListener("ping", () => {
      heard = Date.now();
    });
    stream.addEventListener("error", () => {
      if (stream !== es) return;
      restart();
    });
  }
  function restart() {
    es.close();
    badge.textContent = "reconnecting";
    badge.className = "live off";
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 30000);
  }
  setInterval(() => {
    if (es && es.readyState === EventSource.OPEN && Date.now() - heard > 40000) restart();
  }, 5000);

  setInterval(() => {
    for (const td of document.querySelectorAll("[data-since]")) td.textContent = ago(td.dataset.since);
  }, 5000);

  // The stream first, so that a page that fails to draw still follows
  // the changes, and draws again at the next.
  connect();
  draw();
})();
