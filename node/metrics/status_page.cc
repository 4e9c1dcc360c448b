#include "metrics/status_page.h"

#include "absl/time/time.h"
#include "balance/algorithm.h"
#include "json/json_writer.h"

namespace plby::metrics {
namespace {

// Names and addresses reach the page only through textContent, never as markup.
constexpr absl::string_view kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>plby node</title>
<link rel="stylesheet" href="status.css">
</head>
<body>
<h1>plby node</h1>
<div id="node">loading…</div>
<div id="error"></div>
<div id="certificates"></div>
<div id="routes"></div>
<div id="pools"></div>
<p id="updated"></p>
<script src="status.js"></script>
</body>
</html>
)html";

constexpr absl::string_view kStyle =
    R"css(  :root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --dim: #6e7781; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; }
  h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
  h2 { font-size: 1.05rem; margin: 1.5rem 0 .4rem; }
  #node, .pool-facts, #updated { color: var(--dim); }
  table { border-collapse: collapse; min-width: 60rem; }
  th, td { padding: .3rem .7rem; border-bottom: 1px solid #8884; text-align: right; }
  th:first-child, td:first-child { text-align: left; font-family: ui-monospace, monospace; }
  th { font-weight: 600; }
  .healthy { color: var(--ok); font-weight: 600; }
  .unhealthy { color: var(--bad); font-weight: 600; }
  .unknown, .draining { color: var(--dim); }
  .unresolved { color: var(--bad); }
  #error { color: var(--bad); }
  canvas { display: block; margin: .4rem 0 .2rem; max-width: 100%; }
  .legend { color: var(--dim); font-size: 12px; margin-bottom: .6rem; }
  .legend span { margin-right: 1rem; white-space: nowrap; }
  .legend i { display: inline-block; width: .8rem; height: .25rem; margin-right: .3rem;
              vertical-align: middle; }
)css";

constexpr absl::string_view kScript = R"js("use strict";
const columns = ["backend", "weight", "health", "state", "active", "connections/s",
                 "to backend", "from backend", "connect failures"];
let previous = null;  // the last status and when it came, for rates
let history = null;   // /history.json: the last five minutes, every five seconds
const palette = ["#0969da", "#8250df", "#1a7f37", "#bf8700", "#0a3069", "#bc4c00", "#6639ba",
                 "#116329", "#953800", "#4d2d00", "#218bff", "#a475f9", "#2da44e", "#d4a72c",
                 "#57606a", "#cf7200", "#8c959f"];

// New connections per second per backend over the last five minutes (lines), and connect
// failures per second (red bars along the bottom), on a canvas drawn here: no library, no font.
function chart(samples, backends) {
  const wrap = document.createElement("div");
  const canvas = document.createElement("canvas");
  const width = 720, height = 140, left = 44, bottom = 16, top = 8;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.width = width + "px";
  canvas.style.height = height + "px";
  wrap.appendChild(canvas);
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  const dim = getComputedStyle(document.body).color;
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = dim;
  ctx.strokeStyle = "#8888";
  // The pool's backends as the node charts them (the first few, the rest as "others"), then
  // any that left within the five minutes.
  const charted = history ? history.charted_backends : 16;
  const series = backends.slice(0, charted).map(b => b.address);
  if (backends.length > charted) series.push("others");
  for (const sample of samples)
    for (const name of Object.keys(sample.connections))
      if (!series.includes(name)) series.push(name);
  let peak = 1;
  for (const sample of samples) {
    peak = Math.max(peak, sample.failures);
    for (const name of series) peak = Math.max(peak, sample.connections[name] || 0);
  }
  const step = Math.pow(10, Math.floor(Math.log10(peak)));
  const ceiling = Math.ceil(peak / step) * step;
  const now = samples.length ? samples[samples.length - 1].at_ms : Date.now();
  const span = 300000;  // five minutes
  const x = at => left + (width - left - 4) * (1 - (now - at) / span);
  const y = v => top + (height - top - bottom) * (1 - v / ceiling);
  ctx.beginPath();
  ctx.moveTo(left, top);
  ctx.lineTo(left, height - bottom);
  ctx.lineTo(width - 4, height - bottom);
  ctx.stroke();
  ctx.textAlign = "right";
  ctx.fillText(String(ceiling), left - 4, top + 8);
  ctx.fillText("0", left - 4, height - bottom);
  ctx.textAlign = "left";
  ctx.fillText("-5 min", left, height - 3);
  ctx.textAlign = "right";
  ctx.fillText("now", width - 4, height - 3);
  ctx.fillStyle = getComputedStyle(document.documentElement).getPropertyValue("--bad");
  for (const sample of samples) {
    if (sample.failures > 0) {
      ctx.fillRect(x(sample.at_ms) - 2, y(sample.failures), 4, height - bottom - y(sample.failures));
    }
  }
  series.forEach((name, i) => {
    ctx.strokeStyle = palette[i % palette.length];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let started = false;
    for (const sample of samples) {
      if (!(name in sample.connections)) { started = false; continue; }
      const px = x(sample.at_ms), py = y(sample.connections[name]);
      if (started) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      started = true;
    }
    ctx.stroke();
  });
  const legend = document.createElement("div");
  legend.className = "legend";
  legend.appendChild(document.createTextNode("new connections/s: "));
  series.forEach((name, i) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = palette[i % palette.length];
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(name));
    legend.appendChild(item);
  });
  const failures = document.createElement("span");
  const swatch = document.createElement("i");
  swatch.style.background = "var(--bad)";
  failures.appendChild(swatch);
  failures.appendChild(document.createTextNode("connect failures/s"));
  legend.appendChild(failures);
  if (!samples.length) legend.appendChild(document.createTextNode(" (collecting: a point every 5 s)"));
  wrap.appendChild(legend);
  return wrap;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
}

function bytesRate(perSecond) {
  const units = ["B/s", "KB/s", "MB/s", "GB/s"];
  let i = 0;
  while (perSecond >= 1000 && i < units.length - 1) { perSecond /= 1000; i++; }
  return perSecond.toFixed(i === 0 ? 0 : 1) + " " + units[i];
}

function duration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600),
        m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + (d || h || m ? m + "m " : "") + s + "s";
}

function render(status, now) {
  document.getElementById("node").textContent =
      "version " + status.version + " · up " + duration(status.uptime_seconds) + " · " +
      status.workers + (status.workers === 1 ? " worker · " : " workers · ") + status.active_connections + " connections open · " +
      status.accepted_connections + " accepted · " +
      (status.sync ? "synced to " + status.sync.content_hash.slice(0, 19) + "… (" + status.sync.source + ")"
                   : "no apply since start" + (status.ready_after_sync ? " (not ready until one)" : ""));
  const before = new Map();
  let elapsed = 0;
  if (previous) {
    elapsed = (now - previous.at) / 1000;
    for (const pool of previous.status.pools)
      for (const b of pool.backends) before.set(pool.name + " " + b.address, b);
  }
  const container = document.createElement("div");
  for (const pool of status.pools) {
    const title = document.createElement("h2");
    title.textContent = "pool " + pool.name;
    container.appendChild(title);
    const facts = document.createElement("div");
    facts.className = "pool-facts";
    facts.textContent = "listen " + (pool.listeners.length ? pool.listeners.join(", ") : "(no server)") +
        " · " + pool.algorithm + " · version " +
        pool.version + " · " + pool.backends.length + " backends";
    container.appendChild(facts);
    const past = history && history.pools.find(p => p.name === pool.name);
    container.appendChild(chart(past ? past.samples : [], pool.backends));
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const c of columns) {
      const th = document.createElement("th");
      th.textContent = c;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const b of pool.backends) {
      const row = body.insertRow();
      row.dataset.backend = b.address;
      const was = before.get(pool.name + " " + b.address);
      const rate = (key, format) => was && elapsed > 0
          ? format(Math.max(0, b[key] - was[key]) / elapsed) : "–";
      cell(row, b.address);
      // A backend ramping up (slow start) shows the weight it balances with now.
      cell(row, b.current_weight < b.weight ? b.weight + " (now " + b.current_weight.toFixed(1) + ")"
                                            : String(b.weight));
      cell(row, b.health, b.health);
      if (b.unresolved) row.lastChild.title = b.unresolved;
      cell(row, b.draining ? "draining" : "serving", b.draining ? "draining" : "");
      cell(row, String(b.active_connections));
      cell(row, rate("total_connections", v => v.toFixed(1)));
      cell(row, rate("bytes_sent", bytesRate));
      cell(row, rate("bytes_received", bytesRate));
      cell(row, String(b.connect_failures));
    }
    container.appendChild(table);
  }
  document.getElementById("pools").replaceChildren(...container.childNodes);
  // Each listener's certificates, with how long they have left (red under 14 days).
  const certificates = document.createElement("div");
  const tls = status.listeners.filter(l => l.certificates.length);
  if (tls.length) {
    const title = document.createElement("h2");
    title.textContent = "certificates";
    certificates.appendChild(title);
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const c of ["listener", "certificate", "names", "expires", "left"]) {
      const th = document.createElement("th");
      th.textContent = c;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const l of tls) {
      for (const c of l.certificates) {
        const row = body.insertRow();
        const left = c.not_after_unix - now / 1000;
        cell(row, l.name);
        cell(row, c.file);
        cell(row, c.names);
        cell(row, new Date(c.not_after_unix * 1000).toISOString().slice(0, 16).replace("T", " "));
        cell(row, left > 0 ? duration(Math.floor(left)) : "expired", left < 14 * 86400 ? "unhealthy" : "");
      }
    }
    certificates.appendChild(table);
  }
  document.getElementById("certificates").replaceChildren(...certificates.childNodes);
  // HTTP listeners: each route, its pool, and answers per second by status class since the
  // last refresh.
  const routes = document.createElement("div");
  const http = status.listeners.filter(l => l.mode === "http");
  if (http.length) {
    const title = document.createElement("h2");
    title.textContent = "HTTP routes";
    routes.appendChild(title);
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const c of ["listener", "route", "matches", "pool", "1xx/s", "2xx/s", "3xx/s", "4xx/s", "5xx/s"]) {
      const th = document.createElement("th");
      th.textContent = c;
      head.appendChild(th);
    }
    const body = table.createTBody();
    const before = previous ? previous.status.listeners : [];
    const seconds = previous ? (now - previous.at) / 1000 : 0;
    for (const l of http) {
      const old = before.find(o => o.name === l.name);
      for (const r of l.routes) {
        const row = body.insertRow();
        cell(row, l.name);
        cell(row, r.route);
        cell(row, r.match || "(default)");
        cell(row, r.pool);
        const was = old ? old.routes.find(o => o.route === r.route) : null;
        r.responses.forEach((count, i) => {
          const rate = was && seconds > 0 ? (count - was.responses[i]) / seconds : 0;
          cell(row, rate.toFixed(1), i === 4 && rate > 0 ? "unhealthy" : "");
        });
      }
    }
    routes.appendChild(table);
  }
  document.getElementById("routes").replaceChildren(...routes.childNodes);
  document.getElementById("updated").textContent =
      "updated " + new Date(now).toLocaleTimeString() + " (every second)";
}

async function refresh() {
  try {
    const response = await fetch("status.json", { cache: "no-store" });
    if (!response.ok) throw new Error("status.json: HTTP " + response.status);
    const status = await response.json();
    const now = Date.now();
    render(status, now);
    previous = { status, at: now };
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "cannot reach the node: " + e.message;
  }
}

async function refreshHistory() {
  try {
    const response = await fetch("history.json", { cache: "no-store" });
    if (response.ok) history = await response.json();
  } catch (e) {
    // refresh() says when the node cannot be reached
  }
}

refreshHistory().then(refresh);
setInterval(refresh, 1000);
setInterval(refreshHistory, 5000);
)js";

}  // namespace

absl::string_view StatusPageHtml() { return kPage; }
absl::string_view StatusPageStyle() { return kStyle; }
absl::string_view StatusPageScript() { return kScript; }

std::string RenderStatusJson(const Report& report) {
  const control::NodeStatus& node = report.node;
  json::JsonWriter json;
  json.BeginObject()
      .Key("version")
      .String(node.version)
      .Key("uptime_seconds")
      .Number(absl::ToInt64Seconds(node.uptime))
      .Key("workers")
      .Number(node.workers)
      .Key("accepted_connections")
      .Unsigned(node.counters.accepted)
      .Key("active_connections")
      .Unsigned(node.counters.active)
      .Key("ready_after_sync")
      .Bool(node.ready_after_sync)
      .Key("sync");
  if (node.sync) {
    json.BeginObject()
        .Key("content_hash")
        .String(node.sync->content_hash)
        .Key("source")
        .String(node.sync->source)
        .Key("synced_unix_ms")
        .Number(absl::ToUnixMillis(node.sync->at))
        .Key("by")
        .String(node.sync->by)
        .EndObject();
  } else {
    json.Null();
  }
  json.Key("listeners").BeginArray();
  for (const stats::ListenerTotals& listener : node.listeners) {
    json.BeginObject()
        .Key("name")
        .String(listener.name)
        .Key("mode")
        .String(listener.http ? "http" : "tcp")
        .Key("certificates")
        .BeginArray();
    for (const stats::ListenerTotals::Certificate& certificate : listener.certificates) {
      json.BeginObject()
          .Key("file")
          .String(certificate.file)
          .Key("names")
          .String(certificate.names)
          .Key("not_after_unix")
          .Number(static_cast<int64_t>(certificate.not_after_seconds))
          .EndObject();
    }
    json.EndArray().Key("routes").BeginArray();
    for (size_t r = 0; r < listener.routes.size(); ++r) {
      const stats::ListenerTotals::Route& route = listener.routes[r];
      json.BeginObject()
          .Key("route")
          .Unsigned(r)
          .Key("match")
          .String(listener.http ? route.match : route.server_names)
          .Key("pool")
          .String(route.pool)
          .Key("connections")
          .Unsigned(route.connections)
          .Key("responses")
          .BeginArray();
      for (const uint64_t count : route.responses) json.Unsigned(count);
      json.EndArray().EndObject();
    }
    json.EndArray().EndObject();
  }
  json.EndArray();
  json.Key("pools").BeginArray();
  for (const PoolReport& pool : report.pools) {
    json.BeginObject()
        .Key("name")
        .String(pool.state.pool)
        .Key("listen")
        .String(pool.summary.listeners.empty() ? "" : pool.summary.listeners.front())
        .Key("listeners")
        .BeginArray();
    for (const std::string& listener : pool.summary.listeners) json.String(listener);
    json.EndArray()
        .Key("algorithm")
        .String(balance::AlgorithmName(pool.summary.balance.algorithm))
        .Key("version")
        .Unsigned(pool.state.version)
        .Key("backends")
        .BeginArray();
    for (const control::BackendStatus& backend : pool.state.backends) {
      json.BeginObject()
          .Key("address")
          .String(backend.address)
          .Key("weight")
          .Number(backend.weight)
          .Key("current_weight")
          .Double(backend.current_weight)
          .Key("table_entries")
          .Unsigned(backend.table_entries)
          .Key("draining")
          .Bool(backend.draining)
          .Key("health")
          .String(control::ShownHealth(backend))
          .Key("unresolved")
          .String(backend.unresolved)
          .Key("active_connections")
          .Unsigned(backend.active_connections)
          .Key("total_connections")
          .Unsigned(backend.total_connections)
          .Key("connect_failures")
          .Unsigned(backend.connect_failures)
          .Key("bytes_sent")
          .Unsigned(backend.bytes_sent)
          .Key("bytes_received")
          .Unsigned(backend.bytes_received)
          .EndObject();
    }
    json.EndArray().EndObject();
  }
  json.EndArray().EndObject();
  return json.text();
}

}  // namespace plby::metrics
