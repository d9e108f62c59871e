// The dashboard's script: it applies the snapshots of /dashboard/events
// to the page, and answers the where box from /dashboard/where. Every
// string from the network goes into the page as text (textContent,
// setAttribute), never as markup.
"use strict";

(function () {
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  function fill(id, children) {
    const box = document.getElementById(id);
    box.replaceChildren(...children);
  }

  function clock(iso) {
    return new Date(iso).toISOString().substring(11, 19);
  }

  function members(snap) {
    fill("members", snap.members.map(function (m) {
      const tr = el("tr", { "data-member": m.name, "data-state": m.state });
      tr.append(
        el("td", { class: "name" }, m.name + (m.self ? " (this node)" : "")),
        el("td", { class: "state state-" + m.state }, m.state),
        el("td", { class: "caps" }, m.capabilities.join(", ")),
        el("td", { class: "labels" }, Object.keys(m.labels).sort().map(function (k) { return k + "=" + m.labels[k]; }).join(", ")),
        el("td", { class: "acts" }, m.activations === undefined ? "?" : m.activations));
      return tr;
    }));
  }

  function rings(snap) {
    if (snap.rings.length === 0) {
      fill("rings", [el("p", {}, "No member offers a capability.")]);
      return;
    }
    fill("rings", snap.rings.map(function (r) {
      const t = el("table", { class: "ring", "data-capability": r.capability, "data-shards": r.shards });
      const cap = el("caption", {}, r.capability + ": " + r.shards + " shards, ring version ");
      cap.append(el("code", {}, r.version));
      const body = el("tbody");
      for (const o of r.owners || []) {
        const tr = el("tr", { "data-owner": o.node, "data-shards": o.shards });
        const td = el("td");
        td.append(el("progress", { max: r.shards, value: o.shards }));
        tr.append(el("td", {}, o.node), el("td", { class: "count" }, o.shards), td);
        body.append(tr);
      }
      t.append(cap, body);
      return t;
    }));
  }

  // spark draws values as an SVG polyline, highest at the top.
  function spark(values) {
    const ns = "http://www.w3.org/2000/svg";
    const w = 150, h = 24;
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    svg.setAttribute("width", w);
    svg.setAttribute("height", h);
    const top = Math.max(1e-9, ...values);
    const pts = values.map(function (v, i) {
      const x = values.length > 1 ? (i * w) / (values.length - 1) : 0;
      return x.toFixed(1) + "," + (h - 1 - (v / top) * (h - 2)).toFixed(1);
    });
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", pts.join(" "));
    line.setAttribute("class", "spark-line");
    svg.append(line);
    return svg;
  }

  function calls(snap) {
    fill("calls", snap.calls.map(function (c) {
      const tr = el("tr", { "data-capability": c.capability });
      const sp = el("td", { class: "spark" });
      sp.append(spark(c.series_calls));
      tr.append(
        el("td", {}, c.capability),
        el("td", { class: "rate" }, c.calls_per_sec),
        el("td", { class: "errors" }, c.errors_per_sec + " (" + c.errors + ")"),
        el("td", { class: "p99" }, c.p99_ms === null ? "–" : c.p99_ms.toFixed(3) + " ms"),
        sp);
      return tr;
    }));
  }

  function timeline(snap) {
    fill("timeline", snap.timeline.map(function (e) {
      const li = el("li", { "data-kind": e.kind });
      li.append(el("time", {}, clock(e.at)), " ", el("span", { class: "kind" }, e.kind), " ", el("span", { class: "detail" }, e.detail));
      return li;
    }));
  }

  function live(on, text) {
    const s = document.getElementById("live");
    s.setAttribute("data-live", on ? "true" : "false");
    s.textContent = text;
  }

  function apply(snap) {
    document.getElementById("node").textContent = snap.node;
    document.getElementById("routing-version").textContent = snap.routing_version;
    members(snap);
    rings(snap);
    calls(snap);
    timeline(snap);
    live(true, "live, as of " + clock(snap.at) + " UTC");
  }

  function connect() {
    const es = new EventSource("/dashboard/events");
    es.addEventListener("snapshot", function (ev) {
      apply(JSON.parse(ev.data));
    });
    es.onerror = function () {
      // The browser retries by itself, unless the endpoint refused the
      // stream (a session that ended, too many live pages).
      if (es.readyState === EventSource.CLOSED) {
        live(false, "disconnected: reload the page to try again");
      } else {
        live(false, "disconnected: reconnecting");
      }
    };
  }

  function where() {
    const form = document.getElementById("where");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const q = new URLSearchParams(new FormData(form));
      fetch("/dashboard/where?" + q.toString(), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (a) {
          if (a.error !== undefined) {
            fill("where-out", [el("p", { class: "error", id: "where-error" }, a.error)]);
            return;
          }
          const t = el("table", { id: "where-result" });
          const rows = [
            ["Capability", a.capability], ["ID", a.id], ["Shard", a.shard], ["Owner", a.owner],
            ["Ring version", a.ring_version], ["Routing version", a.routing_version],
            ["Offered by", a.offered_by.map(function (o) { return o.node + " (" + o.state + (o.owner ? ", owner" : "") + ")"; }).join(", ")],
            ["Why", a.why],
          ];
          for (const [k, v] of rows) {
            const tr = el("tr");
            tr.append(el("th", {}, k), el("td", { "data-field": k }, v));
            t.append(tr);
          }
          fill("where-out", [t]);
        })
        .catch(function (err) {
          fill("where-out", [el("p", { class: "error", id: "where-error" }, String(err))]);
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    where();
    connect();
  });
})();
