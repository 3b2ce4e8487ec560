// The status page: reads /api/priority and /api/sync, and follows /api/events.
// The token comes from the #token= fragment (never sent to the server in a URL that is
// logged) or a prompt, and is kept in sessionStorage only.
"use strict";

(function () {
  const KEY = "archibald.token";
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.get("token")) {
    sessionStorage.setItem(KEY, frag.get("token"));
    history.replaceState(null, "", location.pathname); // drop the token from the address bar
  }
  let token = sessionStorage.getItem(KEY);
  if (!token) {
    token = prompt("API token") || "";
    if (token) sessionStorage.setItem(KEY, token);
  }
  document.getElementById("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    location.reload();
  });

  const $ = (id) => document.getElementById(id);
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function when(t) { return t ? new Date(t).toLocaleTimeString() : "—"; }

  async function getJSON(path) {
    const resp = await fetch(path, { headers: { Authorization: "Bearer " + token } });
    const body = await resp.json();
    if (!resp.ok) throw new Error((body.error && body.error.message) || resp.statusText);
    return body;
  }

  async function refreshPriority() {
    const p = await getJSON("/api/priority");
    const dl = $("priority");
    dl.replaceChildren();
    for (const [k, v] of [["state", p.state], ["holders", p.holders], ["pauses", p.pauses],
      ["last time to quiesce", p.lastTookMs + " ms"], ["paused", p.paused.join(", ") || "—"]]) {
      dl.append(el("dt", k), el("dd", v));
    }
    const tb = $("priority-services");
    tb.replaceChildren();
    for (const s of p.services) {
      const tr = el("tr");
      tr.append(el("td", s.name), el("td", s.paused ? "yes" : "no"));
      tb.append(tr);
    }
  }

  async function refreshSync() {
    const { services } = await getJSON("/api/sync");
    const tb = $("sync");
    tb.replaceChildren();
    for (const s of services) {
      const tr = el("tr");
      const r = s.rows;
      tr.append(el("td", s.name), el("td", s.state), el("td", s.page + " / " + s.totalPages),
        el("td", [r.seen, r.inserted, r.updated, r.deleted].join(" / ")), el("td", s.mirrorRows),
        el("td", when(s.lastSuccessAt)), el("td", when(s.nextRunAt)), el("td", s.lastError, "error"));
      tb.append(tr);
    }
  }

  function refresh() {
    Promise.all([refreshPriority(), refreshSync()]).catch((e) => note("error", e.message));
  }

  function note(name, text) {
    const list = $("events");
    list.prepend(el("li", new Date().toLocaleTimeString() + "  " + name + "  " + text));
    while (list.children.length > 200) list.lastChild.remove();
  }

  // EventSource cannot send headers: the token goes in ?access_token=, which only
  // /api/events accepts and which the server never logs.
  const names = ["priority.pausing", "priority.paused", "priority.resumed", "priority.preempted",
    "priority.pause_failed", "priority.service_paused", "priority.service_resumed",
    "sync.started", "sync.progress", "sync.finished", "sync.failed",
    "order.queued", "order.submitting", "order.created", "order.failed"];
  function connect() {
    const es = new EventSource("/api/events?access_token=" + encodeURIComponent(token));
    es.onopen = () => { $("conn").textContent = "live"; $("conn").className = "badge on"; refresh(); };
    es.onerror = () => { $("conn").textContent = "reconnecting"; $("conn").className = "badge off"; };
    let pending = false;
    for (const n of names) {
      es.addEventListener(n, (ev) => {
        if (n !== "sync.progress") note(n, ev.data);
        if (!pending) { // one refresh per burst of events
          pending = true;
          setTimeout(() => { pending = false; refresh(); }, 250);
        }
      });
    }
  }

  refresh();
  connect();
})();
