"use strict";
// fraud review report. Every string from the data goes on the page through textContent (el() below) or,
// for chart labels and hovers, through pe() (entity-escaped, so Plotly shows it as text).
(function () {
const SEV_COLORS = {critical: "#7f1d1d", high: "#d92d20", medium: "#e07b00", low: "#b79a00", info: "#3b7ddd"};
const PALETTE = ["#2f5fd0", "#e07b00", "#1f8f4e", "#9b3fd0", "#d92d20", "#0e7490", "#8a6d1f", "#d0457f", "#55606e"];
const PAGE = 100;
// No "Share chart" / "Edit in Chart Studio" buttons: they open plotly's cloud and post the figure's data (a case
// map holds a customer's positions and home) to it. The toolbar shows on hover only, so it covers no legend.
const PLOT_CFG = {displaylogo: false, responsive: true, displayModeBar: "hover", showSendToCloud: false,
  showEditInChartStudio: false, showLink: false,
  modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "sendDataToCloud", "editInChartStudio"]};
const FONT = {family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#1b2230"};
const HAS_PLOTLY = typeof window.Plotly !== "undefined";

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null && k !== false) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
const $ = id => document.getElementById(id);
// Escape text for Plotly (its labels understand a few HTML tags and entities; escaped text shows literally).
function pe(s) { return String(s == null ? "" : s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
function fmt(n) { return n == null ? "" : Number(n).toLocaleString("en-US"); }
function pts(p) { return el("span", {class: p < 0 ? "neg" : (p > 0 ? "pos" : "")}, p > 0 ? "+" + p : String(p ?? 0)); }
function sevBadge(s) { return s ? el("span", {class: "badge sev-" + s}, s) : ""; }
function tierTag(t) { return t ? el("span", {class: "tier t-" + t}, t) : ""; }
// A case's events and positions come as columns ({ts: [...], lat: [...]}); rows are built when a card opens.
function rowsOf(cols, keys) {
  const n = cols && cols.ts ? cols.ts.length : 0, out = new Array(n);
  for (let i = 0; i < n; i++) { const r = {}; for (const k of keys) r[k] = cols[k] ? cols[k][i] : null; out[i] = r; }
  return out;
}
function eventsOf(c) {
  if (!c._events) {
    const E = c.events || {};
    c._events = rowsOf(E, ["ts", "event", "success", "device_id", "ip", "city", "country", "lat", "lon", "amount", "ua"]);
    for (const e of c._events) e.user_agent = e.ua == null ? null : (E.uas || [])[e.ua];
  }
  return c._events;
}
function positionsOf(c) {
  if (!c._positions) c._positions = rowsOf(c.positions, ["ts", "lat", "lon", "accuracy_m", "source"]);
  return c._positions;
}
function plotTs(s) { return s ? s.replace("T", " ").replace("Z", "") : s; }
function shortTs(s) { return s ? s.slice(0, 16).replace("T", " ") : ""; }
function span(a, b) {
  if (!a) return "";
  const x = shortTs(a), y = shortTs(b);
  if (!b || x === y) return x + " UTC";
  return x + " → " + (y.slice(0, 10) === x.slice(0, 10) ? y.slice(11) : y) + " UTC";
}
function short(s, n) { s = String(s ?? ""); return s.length > n ? s.slice(0, n - 1) + "…" : s; }
function plot(div, traces, layout) {
  if (!HAS_PLOTLY) { div.replaceChildren(el("div", {class: "placeholder"}, "Charts need plotly.js (not bundled in this report).")); return; }
  window.Plotly.newPlot(div, traces, Object.assign({font: FONT, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    margin: {l: 50, r: 16, t: 10, b: 40}}, layout), PLOT_CFG);
}

async function loadData() {
  const b64 = $("data").textContent.trim();
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

function overview(D) {
  const O = D.overview, S = O.summary || {}, tiers = D.meta.tiers;
  const rowsRead = Object.values(S.inputs || {}).reduce((a, v) => a + (v.rows_read || 0), 0);
  const rej = Object.values(S.inputs || {}).reduce((a, v) => a + (v.rows_rejected || 0), 0);
  let down = 0;
  O.migration.matrix.forEach((row, i) => row.forEach((n, j) => { if (j < i) down += n; }));
  const kpis = [
    [fmt(O.users), "users scanned"], [fmt(O.users_flagged), "users with findings"],
    [fmt(O.users_penalised), "users penalised"], [fmt(down), "moved to a lower tier"],
    [fmt(O.findings), "findings" + (O.ip_findings ? " (" + fmt(O.ip_findings) + " on IPs)" : "")],
    [fmt(rowsRead), "rows read"], [fmt(rej), "rows rejected"],
    [Number(O.mean_before).toFixed(1) + " → " + Number(O.mean_after).toFixed(1), "mean score"]];
  $("kpis").replaceChildren(...kpis.map(([v, l]) => el("div", {class: "kpi"}, el("div", {class: "v"}, v), el("div", {class: "l"}, l))));
  // findings per rule x severity
  const R = O.by_rule, rules = [...R.rules].reverse(), counts = [...R.counts].reverse();
  const rulesDiv = $("plot-rules");
  if (!R.rules.length) rulesDiv.replaceChildren(el("div", {class: "placeholder"}, "No findings."));
  else {
    rulesDiv.style.height = Math.max(260, 26 * R.rules.length + 70) + "px";
    // log scale: one noisy rule must not flatten the others; totals are written at the bar ends
    const users = [...R.users].reverse(), points = [...R.points].reverse(), totals = counts.map(c => c.reduce((a, b) => a + b, 0));
    const traces = R.severities.map((s, j) => ({type: "bar", orientation: "h", name: s, y: rules.map(pe),
      x: counts.map(c => c[j] || null), marker: {color: SEV_COLORS[s]}, customdata: rules.map((_, k) => [users[k], points[k]]),
      hovertemplate: "%{y}<br>" + s + ": %{x:,}<br>users: %{customdata[0]:,} · points counted: %{customdata[1]:,}<extra></extra>"}))
      .filter(t => t.x.some(v => v > 0));
    traces.push({type: "scatter", mode: "text", x: totals, y: rules.map(pe), text: totals.map(fmt), textposition: "middle right",
      textfont: {size: 11, color: "#667085"}, hoverinfo: "skip", showlegend: false, cliponaxis: false});
    plot(rulesDiv, traces,
      {barmode: "stack", margin: {l: 190, r: 50, t: 28, b: 30}, legend: {orientation: "h", x: 0, y: 1, yanchor: "bottom"},
       xaxis: {type: "log", dtick: 1, gridcolor: "#eef0f4"}, yaxis: {automargin: true}});
  }
  // score shift
  const sh = O.shift;
  $("shift-sub").textContent = fmt(sh.down) + " down, " + fmt(sh.up) + " up, " + fmt(sh.unchanged) + " unchanged";
  const shDiv = $("plot-shift");
  if (!sh.counts.length) shDiv.replaceChildren(el("div", {class: "placeholder"}, "No score moved."));
  else plot(shDiv, [{type: "bar", x: sh.lo.map(v => v + sh.bin / 2), y: sh.counts, width: sh.bin * 0.92,
    marker: {color: sh.lo.map(v => v < 0 ? "#d92d20" : "#1f8f4e")},
    customdata: sh.lo.map(v => v + " .. " + (v + sh.bin - 1)),
    hovertemplate: "shift %{customdata}: %{y} users<extra></extra>"}],
    {xaxis: {title: {text: "score after − score before"}, zeroline: true, gridcolor: "#eef0f4"},
     yaxis: {title: {text: "users"}, gridcolor: "#eef0f4"}, bargap: 0.05});
  // tier migration matrix
  const M = O.migration, max = Math.max(1, ...M.matrix.flat());
  $("migration").querySelector("thead").replaceChildren(el("tr", {}, el("th", {}, "before \\ after"),
    ...tiers.map(t => el("th", {class: "num"}, tierTag(t)))));
  $("migration").querySelector("tbody").replaceChildren(...tiers.map((a, i) => el("tr", {},
    el("th", {class: "rowh"}, tierTag(a)),
    ...tiers.map((b, j) => {
      const n = M.matrix[i][j], x = n ? 0.08 + 0.62 * Math.sqrt(n / max) : 0;
      const col = j < i ? "217,45,32" : (j > i ? "31,143,78" : "47,95,208");
      return el("td", {class: i === j ? "diag" : "", style: "background: rgba(" + col + "," + x.toFixed(3) + ")",
        title: a + " → " + b + ": " + n}, n ? fmt(n) : "·");
    }))));
  // inputs and checks
  $("inputs").querySelector("tbody").replaceChildren(...Object.entries(S.inputs || {}).map(([k, v]) => el("tr", {},
    el("td", {}, k), el("td", {class: "num"}, fmt(v.rows_read)), el("td", {class: "num"}, fmt(v.rows_used)),
    el("td", {class: "num " + (v.rows_rejected ? "neg" : "")}, fmt(v.rows_rejected)))));
  const checks = Object.entries(S.checks || {}).filter(([, v]) => v.status);  // rules only (counts: S.notes)
  const notEval = checks.filter(([, v]) => v.status !== "ok").length;
  $("checks").querySelector("summary").textContent = "Checks: " + (checks.length - notEval) + " ran" +
    (notEval ? ", " + notEval + " not evaluated or disabled" : "");
  $("checks").querySelector("tbody").replaceChildren(...checks.map(([k, v]) => el("tr", {}, el("td", {}, k),
    el("td", {class: v.status === "ok" ? "" : "muted"}, (v.status || "") + (v.reason ? " — " + v.reason : "")),
    el("td", {class: "num"}, v.findings ?? ""))));
  // timings
  const tm = Object.entries(S.timings_s || {}).filter(([k]) => k !== "total");
  $("timings-sub").textContent = S.timings_s && S.timings_s.total != null ? "scan total " + Number(S.timings_s.total).toFixed(1) + " s (before writing the outputs)" : "";
  const tDiv = $("plot-timings");
  tDiv.style.height = Math.max(220, 24 * tm.length + 60) + "px";
  if (tm.length) plot(tDiv, [{type: "bar", orientation: "h", y: tm.map(([k]) => pe(k)).reverse(),
    x: tm.map(([, v]) => v).reverse(), marker: {color: "#2f5fd0"}, hovertemplate: "%{y}: %{x:.3f} s<extra></extra>"}],
    {margin: {l: 90, r: 16, t: 6, b: 36}, xaxis: {title: {text: "seconds"}, gridcolor: "#eef0f4"}});
  else tDiv.replaceChildren(el("div", {class: "placeholder"}, "No timings."));
  // IP findings
  if ((O.ip_list || []).length) {
    $("ip-findings").hidden = false;
    if (O.ip_findings > O.ip_list.length)
      $("ip-findings").querySelector("h2 .sub").textContent += " · the first " + fmt(O.ip_list.length) + " of " + fmt(O.ip_findings);
    $("ip-findings").querySelector("tbody").replaceChildren(...O.ip_list.map(f => {
      const accts = f.accounts || [];
      return el("tr", {},
        el("td", {class: "mono"}, f.first_ts), el("td", {}, f.rule), el("td", {}, sevBadge(f.severity)),
        el("td", {class: "mono"}, f.ip),
        el("td", {}, f.summary, accts.length ? el("div", {class: "muted small", title: accts.map(vis).join(", ")},
          "accounts: " + accts.slice(0, 12).map(vis).join(", ") + (accts.length > 12 ? " … +" + (accts.length - 12) : "")) : ""),
        el("td", {}, f.decision ? f.decision + "ed" : el("span", {class: "muted"}, "open"),
          el("details", {class: "small"}, el("summary", {}, "review"),
            ...["confirm", "dismiss"].map(d => el("div", {class: "cmd"}, el("code", {}, f.review[d]), copyButton(f.review[d]))))));
    }));
  }
}

// ---------------------------------------------------------------- queue
function queueView(D) {
  const Q = D.queue, rules = D.meta.rules, tiers = D.meta.tiers, sevs = D.meta.severities, n = Q.u.length;
  const CASES = new Map(D.cases.map(c => [c.user_id, c]));
  let hay = null;  // searchable text of each case card, built on the first search
  function haystack() {
    if (hay) return hay;
    hay = new Map();
    for (const c of D.cases) {
      const parts = [c.user_id];
      for (const f of c.findings) parts.push(f.rule, f.summary, f.device_id, f.ip);
      for (const d of c.devices || []) parts.push(d.device_id, d.model);
      const E = c.events || {};
      for (const k of ["ip", "city", "device_id"]) for (const v of new Set(E[k] || [])) parts.push(v);
      hay.set(c.user_id, parts.filter(Boolean).join("\n").toLowerCase());
    }
    return hay;
  }
  for (const r of rules) $("f-rule").append(el("option", {value: r}, r));
  [...sevs].reverse().forEach((s, i) => $("f-sev").append(el("option", {value: s}, i === 0 ? s : s + " or above")));
  for (const t of tiers) $("f-tier").append(el("option", {value: t}, t));
  const more = D.meta.queue_total - n;
  $("queue-sub").textContent = fmt(D.meta.queue_total) + " users with findings, ranked by penalty then severity" +
    (more > 0 ? " (top " + fmt(n) + " listed)" : "") + "; case cards for the top " + fmt(D.cases.length) +
    ". Keys j / k: next / previous case.";
  let sortKey = "rank", sortDir = 1, page = 0, list = [], selected = null;
  const idx = Array.from({length: n}, (_, i) => i);
  function keyOf(i, k) {
    if (k === "rank") return i;
    if (k === "top") return Q.top[i] >= 0 ? rules[Q.top[i]] : "";
    if (k === "u") return Q.u[i];
    return Q[k][i];
  }
  function apply() {
    const text = $("f-text").value.trim().toLowerCase();
    const rule = rules.indexOf($("f-rule").value), sv = sevs.indexOf($("f-sev").value),
          tier = tiers.indexOf($("f-tier").value), moved = $("f-moved").checked;
    list = idx.filter(i => (rule < 0 || Q.rs[i].includes(rule)) && (sv < 0 || (Q.w[i] != null && Q.w[i] >= sv)) &&
      (tier < 0 || Q.ta[i] === tier) && (!moved || Q.ta[i] !== Q.tb[i]) &&
      (!text || Q.u[i].toLowerCase().includes(text) || Q.rs[i].some(r => rules[r].includes(text)) ||
       (Q.k && Q.k[i].some(k => k.toLowerCase().includes(text))) ||
       (haystack().has(Q.u[i]) && hay.get(Q.u[i]).includes(text))));
    if (sortKey !== "rank" || sortDir !== 1) list.sort((a, b) => {
      const x = keyOf(a, sortKey), y = keyOf(b, sortKey);
      return x > y ? sortDir : x < y ? -sortDir : a - b;  // ties keep the rank order either way
    });
    page = 0;
    render();
  }
  function render() {
    const pages = Math.max(1, Math.ceil(list.length / PAGE));
    page = Math.min(page, pages - 1);
    $("f-count").textContent = fmt(list.length) + " of " + fmt(n) + " cases";
    $("pg-info").textContent = "page " + (page + 1) + " of " + pages;
    $("pg-prev").disabled = page === 0;
    $("pg-next").disabled = page >= pages - 1;
    for (const th of document.querySelectorAll("#queue-table th")) {
      th.classList.toggle("sorted-asc", th.dataset.k === sortKey && sortDir === 1 && sortKey !== "rank");
      th.classList.toggle("sorted-desc", th.dataset.k === sortKey && sortDir === -1);
    }
    $("queue-table").querySelector("tbody").replaceChildren(...list.slice(page * PAGE, (page + 1) * PAGE).map(i => {
      const u = Q.u[i], rs = Q.rs[i].map(r => rules[r]);
      const top = Q.top[i] >= 0 ? rules[Q.top[i]] : null;
      const ordered = top ? [top, ...rs.filter(r => r !== top)] : rs;
      const tr = el("tr", {class: "case-row" + (u === selected ? " selected" : ""), "data-user": u},
        el("td", {class: "num muted"}, i + 1),
        el("td", {class: "user", title: vis(u)}, vis(u), CASES.has(u) ? "" : el("span", {class: "muted small", title: "no case card (beyond the top " + D.meta.top_n + ")"}, " ◦")),
        el("td", {class: "num"}, el("span", {class: "muted"}, Q.sb[i] + " → "), el("b", {}, Q.sa[i])),
        el("td", {class: "num"}, pts(Q.p[i])),
        el("td", {title: tiers[Q.tb[i]] + " → " + tiers[Q.ta[i]]}, tierTag(tiers[Q.ta[i]]),
          Q.tb[i] !== Q.ta[i] ? el("span", {class: Q.ta[i] < Q.tb[i] ? "neg small" : "pos small"}, Q.ta[i] < Q.tb[i] ? " ↓" : " ↑") : ""),
        el("td", {class: "num"}, Q.n[i]), el("td", {}, Q.w[i] == null ? el("span", {class: "muted small"}, "reviewed") : sevBadge(sevs[Q.w[i]])),
        el("td", {title: ordered.join(", ")}, ...ordered.slice(0, 1).map(r => el("span", {class: "chip"}, r)),
          ordered.length > 1 ? el("span", {class: "muted small"}, " +" + (ordered.length - 1)) : ""));
      tr.addEventListener("click", () => open(u, i));
      return tr;
    }));
  }
  function open(u, i) {
    selected = u;
    const at = list.indexOf(i);  // the page that lists the case (a #case= link, j / k)
    if (at >= 0 && Math.floor(at / PAGE) !== page) { page = Math.floor(at / PAGE); render(); }
    for (const tr of document.querySelectorAll("#queue-table tr.case-row")) tr.classList.toggle("selected", tr.dataset.user === u);
    caseCard(D, CASES.get(u), u, i);
    if (location.hash !== "#case=" + encodeURIComponent(u)) history.replaceState(null, "", "#case=" + encodeURIComponent(u));
  }
  for (const id of ["f-text", "f-rule", "f-sev", "f-tier", "f-moved"]) $(id).addEventListener("input", apply);
  // j / k: next / previous case of the filtered queue
  document.addEventListener("keydown", e => {
    if ((e.key !== "j" && e.key !== "k") || e.altKey || e.ctrlKey || e.metaKey ||
        (e.target instanceof Element && e.target.closest("input, select, textarea"))) return;
    const at = list.findIndex(i => Q.u[i] === selected), next = at + (e.key === "j" ? 1 : -1);
    if (next < 0 || next >= list.length) return;
    page = Math.floor(next / PAGE);
    render();
    open(Q.u[list[next]], list[next]);
    const tr = document.querySelector("#queue-table tr.selected");
    if (tr) tr.scrollIntoView({block: "nearest"});
  });
  $("pg-prev").addEventListener("click", () => { page--; render(); });
  $("pg-next").addEventListener("click", () => { page++; render(); });
  for (const th of document.querySelectorAll("#queue-table th")) th.addEventListener("click", () => {
    const k = th.dataset.k;
    if (sortKey === k) sortDir = -sortDir; else { sortKey = k; sortDir = ["n", "w", "b"].includes(k) ? -1 : 1; }
    apply();
  });
  apply();
  // #case=USER opens that user's card (on load and when the hash changes), else the first case opens
  function fromHash() {
    const m = /^#case=(.+)$/.exec(location.hash);
    let u = null;
    if (m) try { u = decodeURIComponent(m[1]); } catch (e) { u = null; }
    const at = u == null ? -1 : Q.u.indexOf(u);
    if ((at >= 0 || (u != null && CASES.has(u))) && u !== selected) { open(u, at); return true; }
    if (m && at < 0 && !(u != null && CASES.has(u))) {  // a link to someone else: never open another user
      selected = null;
      $("case").replaceChildren(el("div", {class: "case-head"}, el("span", {class: "uid"}, vis(u == null ? m[1] : u))),
        el("p", {}, "This user is not in this report's queue: no findings in this scan, not scanned, or beyond the " +
          fmt(n) + " cases listed."),
        el("div", {class: "cmd"}, el("code", {}, "fraud show " + shq(u == null ? m[1] : u) + " --out " +
          (D.meta.scan_dir ? shq(D.meta.scan_dir) : "DIR"))));
      return true;
    }
    return false;
  }
  window.addEventListener("hashchange", fromHash);
  setTimeout(() => { if (!fromHash() && n && selected == null) open(Q.u[0], 0); }, 0);
}

// ---------------------------------------------------------------- case card
function copyButton(text) {
  const b = el("button", {class: "btn small", type: "button", title: "copy to clipboard"}, "copy");
  b.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(text); b.textContent = "copied"; }
    catch (e) {
      const r = document.createRange(); r.selectNodeContents(b.previousSibling);
      const s = getSelection(); s.removeAllRanges(); s.addRange(r); b.textContent = "selected";
    }
    setTimeout(() => { b.textContent = "copy"; }, 1500);
  });
  return b;
}

function evidenceTable(ev) {
  const rows = Object.entries(ev || {});
  if (!rows.length) return "";
  return el("details", {}, el("summary", {class: "small"}, "evidence (" + rows.length + ")"),
    el("table", {class: "ev"}, el("tbody", {}, ...rows.map(([k, v]) => el("tr", {}, el("td", {}, k),
      el("td", {class: "mono"}, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)))))));
}

function fmtPlace(city, lat, lon) {
  if (lat == null && !city) return "unknown";
  return [city, lat != null ? "(" + lat.toFixed(4) + ", " + lon.toFixed(4) + ")" : ""].filter(Boolean).join(" ");
}

function findingCard(f) {
  const state = [f.decision ? f.decision + "ed" : "", f.counted === false ? "not counted" : ""].filter(Boolean).join(", ");
  return el("div", {class: "finding sev-" + f.severity, "data-finding": f.finding_id},
    el("div", {class: "fh"}, sevBadge(f.severity), el("span", {class: "rule"}, f.rule),
      el("span", {class: f.counted === false ? "struck" : ""}, pts(f.points)),
      state ? el("span", {class: "muted small"}, "(" + state + ")") : "",
      el("span", {class: "when"}, span(f.first_ts, f.last_ts))),
    el("div", {class: "sum"}, f.summary || ""),
    (f.device_id || f.ip) ? el("div", {class: "small muted"}, f.device_id ? "device " : "", f.device_id ? el("span", {class: "mono"}, f.device_id) : "",
      f.ip ? "  ip " : "", f.ip ? el("span", {class: "mono"}, f.ip) : "") : "",
    f.decision ? el("div", {class: "small trail"}, f.decision + "ed" + (f.reviewer ? " by " + f.reviewer : "") +
      (f.decided_at ? " on " + f.decided_at.slice(0, 10) : "") + (f.note ? ": " + f.note : "") +
      (f.decided_at && f.last_ts && f.last_ts > f.decided_at ? "; seen again since, last " + f.last_ts.slice(0, 10) : "")) : "",
    evidenceTable(f.evidence),
    ...["dismiss", "confirm"].map(d => el("div", {class: "cmd"}, el("span", {class: "lbl"}, d),
      el("code", {class: "review-cmd"}, f.review[d]), copyButton(f.review[d]))));
}

function caseCard(D, c, u, i) {
  const box = $("case");
  if (!c) {
    const Q = D.queue, tiers = D.meta.tiers;
    box.replaceChildren(el("div", {class: "case-head"}, el("span", {class: "uid"}, vis(u))),
      i >= 0 ? el("p", {}, "Score " + Q.sb[i] + " → " + Q.sa[i] + " (" + tiers[Q.tb[i]] + " → " + tiers[Q.ta[i]] + "), " +
        plural(Q.n[i], "finding") + ".") : "",
      el("p", {class: "muted"}, "Full case cards are kept for the top " + D.meta.top_n + " cases. In a terminal:"),
      el("div", {class: "cmd"}, el("code", {}, "fraud show " + shq(u) + " --out " +
        (D.meta.scan_dir ? shq(D.meta.scan_dir) : "DIR"))));
    return;
  }
  const p = c.profile || {};
  const delta = c.score_after - c.score_before;
  const head = el("div", {class: "case-head"},
    el("span", {class: "uid"}, vis(c.user_id)), sevBadge(c.worst_severity),
    el("span", {class: "score-big"}, c.score_before + " → " + c.score_after),
    el("span", {class: delta < 0 ? "neg" : (delta > 0 ? "pos" : "muted")}, (delta > 0 ? "+" : "") + delta),
    el("span", {}, tierTag(c.tier_before), " → ", tierTag(c.tier_after)),
    el("span", {class: "muted small"}, "rank " + (i + 1) + " of " + fmt(D.meta.queue_total)));
  const kv = el("div", {class: "kv"},
    el("b", {}, "penalty / bonus"), el("span", {}, pts(c.penalty), " / ", pts(c.bonus), el("span", {class: "muted"}, "  ·  " + plural(c.n_findings, "finding")),
      capNote(c, D.meta.dismiss_cap_share)),
    el("b", {}, "home"), el("span", {}, fmtPlace(p.home_city, p.home_lat, p.home_lon)),
    el("b", {}, "work"), el("span", {}, fmtPlace(p.work_city, p.work_lat, p.work_lon)),
    el("b", {}, "time zone"), el("span", {}, p.timezone || "unknown"),
    el("b", {}, "main device"), el("span", {}, p.main_device_id ? el("span", {class: "mono"}, p.main_device_id) : "unknown",
      p.main_device_id ? " (" + (p.main_device_days ?? 0) + " days)" : ""),
    c.observation_until ? el("b", {}, "observation") : "", c.observation_until ? el("span", {}, "until " + c.observation_until) : "");
  // Findings in rank order; past the first 3 of a rule, the rest of that rule folds away.
  const byRule = new Map();
  for (const f of c.findings) { if (!byRule.has(f.rule)) byRule.set(f.rule, []); byRule.get(f.rule).push(f); }
  const findings = el("div", {id: "case-findings"});
  for (const [rule, list] of byRule) {
    // the report embeds the first findings of a rule (and every counted one); rule_totals counts them all
    const total = Math.max((c.rule_totals || {})[rule] || 0, list.length);
    findings.append(...list.slice(0, 3).map(findingCard));
    if (total > 3) {
      const more = el("details", {class: "more"}, el("summary", {class: "small"}, fmt(total - 3) + " more " + rule + " findings"));
      more.addEventListener("toggle", () => {
        if (!more.open || more.children.length !== 1) return;
        more.append(...list.slice(3).map(findingCard));
        if (total > list.length) more.append(el("p", {class: "muted small"}, fmt(total - list.length) + " more not in " +
          "this report: findings.csv, or fraud show " + shq(c.user_id) + " --limit 0"));
      });
      findings.append(more);
    }
    if (total > 1 && D.meta.scan_dir) {  // one command for all of them: the next one counts once one is dismissed
      const cmd = "fraud review --user " + shq(c.user_id) + " --rule " + shq(rule) + " --dismiss --decisions " +
        shq(D.meta.decisions_path) + " --out " + shq(D.meta.scan_dir);
      findings.append(el("div", {class: "cmd small"}, el("span", {class: "muted"}, "all " + fmt(total) + " " + rule +
        " findings (points count once per window: dismissing one lets the next count): "), el("code", {}, cmd),
        copyButton(cmd)));
    }
  }
  const mapDiv = el("div", {class: "plot", id: "case-map"}), tlDiv = el("div", {class: "plot", id: "case-timeline"});
  const parts = [head, kv, el("h3", {}, "Findings", el("span", {class: "sub"}, fmt(c.n_findings ?? c.findings.length))), findings,
    el("h3", {}, "Where and when", el("span", {class: "sub"}, "events within " + D.meta.window_days + " days of the findings, at most " + D.meta.max_events)),
    el("div", {class: "plots"}, mapDiv, tlDiv)];
  if (c.devices) parts.push(el("h3", {}, "Devices seen", el("span", {class: "sub"}, String(c.devices.length))), devicesTable(c.devices));
  if (c.events) parts.push(el("h3", {}, "Events", el("span", {class: "sub"}, eventsOf(c).length + " near the findings")), eventsTable(eventsOf(c)));
  box.replaceChildren(...parts);
  box.scrollTop = 0;
  mapPlot(mapDiv, c, D.meta.commute);
  timelinePlot(tlDiv, c);
}

// Bidirectional controls shown as visible marks: an id with U+202E must not display reversed (spoofing).
// Invisible or reordering characters (bidi marks and overrides, zero-width characters, a BOM) and control
// characters shown as marks: u1, u<ZWSP>1 and <BOM>u1 are three accounts and must not look alike.
function vis(s) {
  return String(s).replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g,
    ch => "⟨U+" + ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0") + "⟩");
}
function plural(k, word) { return fmt(k) + " " + word + (k === 1 ? "" : "s"); }
// The part of a penalty no counted finding explains: what the 15% cap on dismissals kept (README, scoring).
function capNote(c, share) {
  const kept = c.cap_kept;  // computed with the case record (fraud/report/cases.py cap_kept)
  return kept < 0 ? el("span", {class: "muted small"}, "  (" + kept + " of it kept by the cap on what dismissals " +
    "give back: " + Math.round(100 * share) + "% of the score before)") : "";
}
// A user agent in at most three lines (the whole text on hover): long agents must not bury the table's rows.
function uaCell(ua) { return ua ? el("div", {class: "clamp", title: ua}, ua) : ""; }
function shq(s) { return /^[A-Za-z0-9_.:@\/-]+$/.test(s) ? s : "'" + String(s).replace(/'/g, "'\\''") + "'"; }

function devicesTable(devs) {
  if (!devs.length) return el("p", {class: "muted"}, "No devices reported.");
  const flags = d => [d.is_emulator ? "emulator" : "", d.is_rooted ? "rooted" : "", d.has_hook ? "hooked" : "",
    d.accounts > 1 ? d.accounts + " accounts" : ""].filter(Boolean);
  return el("div", {class: "scroll"}, el("table", {id: "case-devices"},
    el("thead", {}, el("tr", {}, ...["device", "model", "OS", "first seen", "last seen", "events", "flags", "user agent"].map(h => el("th", {}, h)))),
    el("tbody", {}, ...devs.map(d => el("tr", {},
      el("td", {class: "mono"}, d.device_id, d.main ? el("span", {class: "flag ok", title: "main device"}, " main") : ""),
      el("td", {}, d.model || ""), el("td", {}, [d.os, d.os_version].filter(Boolean).join(" ")),
      el("td", {class: "mono nw"}, shortTs(d.first_seen)), el("td", {class: "mono nw"}, shortTs(d.last_seen)),
      el("td", {class: "num"}, d.events), el("td", {}, ...flags(d).map(f => el("span", {class: "flag"}, f)),
        d.device_lock ? el("span", {class: "flag ok"}, "lock") : ""),
      el("td", {class: "ua"}, uaCell(d.user_agent)))))));
}

function eventsTable(evs) {
  if (!evs.length) return el("p", {class: "muted"}, "No events near the findings.");
  return el("div", {class: "scroll"}, el("table", {id: "case-events"},
    el("thead", {}, el("tr", {}, ...["time (UTC)", "event", "device", "ip", "place", "user agent"].map(h => el("th", {}, h)))),
    el("tbody", {}, ...[...evs].reverse().map(e => el("tr", {},
      el("td", {class: "mono nw"}, plotTs(e.ts)),
      el("td", {}, e.event || "", e.success === false ? el("span", {class: "flag"}, "failed") : "", e.amount != null ? " " + fmt(e.amount) : ""),
      el("td", {class: "mono"}, e.device_id || ""), el("td", {class: "mono"}, e.ip || ""),
      el("td", {}, [e.city, e.country].filter(Boolean).join(", ") || (e.lat != null ? e.lat.toFixed(3) + ", " + e.lon.toFixed(3) : "")),
      el("td", {class: "ua"}, uaCell(e.user_agent)))))));
}

// ---------------------------------------------------------------- plots
function ellipse(h, w, dev, minKm) {
  // Points P with |HP| + |PW| <= D + max(dev * D, minKm), in a local equirectangular projection (km).
  const lat0 = (h[0] + w[0]) / 2, kx = 111.32 * Math.cos(lat0 * Math.PI / 180), ky = 110.57;
  const hx = h[1] * kx, hy = h[0] * ky, wx = w[1] * kx, wy = w[0] * ky;
  const d = Math.hypot(wx - hx, wy - hy);
  if (!(d > 0)) return null;
  const a = (d + Math.max(dev * d, minKm)) / 2, c = d / 2, b = Math.sqrt(a * a - c * c);
  const cx = (hx + wx) / 2, cy = (hy + wy) / 2, th = Math.atan2(wy - hy, wx - hx);
  const xs = [], ys = [];
  for (let k = 0; k <= 72; k++) {
    const t = 2 * Math.PI * k / 72, x = a * Math.cos(t), y = b * Math.sin(t);
    xs.push((cx + x * Math.cos(th) - y * Math.sin(th)) / kx);
    ys.push((cy + x * Math.sin(th) + y * Math.cos(th)) / ky);
  }
  return {x: xs, y: ys};
}

function mapPlot(div, c, commute) {
  const p = c.profile || {}, pos = positionsOf(c), traces = [], ann = [];
  const lats = [];
  if (pos.length) {
    traces.push({type: "scatter", mode: "lines+markers", name: "positions", x: pos.map(q => q.lon), y: pos.map(q => q.lat),
      line: {color: "rgba(47,95,208,0.25)", width: 1},
      marker: {size: 6, color: pos.map((_, k) => k), colorscale: [[0, "#c7d7fb"], [1, "#1d3f99"]], line: {width: 0}},
      text: pos.map(q => pe(plotTs(q.ts) + " · " + q.source + (q.accuracy_m != null ? " · ±" + q.accuracy_m + " m" : ""))),
      hovertemplate: "%{text}<br>%{y:.4f}, %{x:.4f}<extra></extra>"});
    pos.forEach(q => lats.push(q.lat));
  }
  const hasHome = p.home_lat != null && p.home_lon != null, hasWork = p.work_lat != null && p.work_lon != null;
  if (hasHome && hasWork) {
    const e = ellipse([p.home_lat, p.home_lon], [p.work_lat, p.work_lon], commute.max_deviation, commute.min_detour_km);
    if (e) traces.push({type: "scatter", mode: "lines", name: "commute ellipse (+" + Math.round(commute.max_deviation * 100) + "%)",
      x: e.x, y: e.y, line: {color: "#9b3fd0", dash: "dash", width: 1.5}, hoverinfo: "skip"});
  }
  if (hasHome) { traces.push({type: "scatter", mode: "markers+text", name: "home", x: [p.home_lon], y: [p.home_lat],
    text: ["home"], textposition: "top center", marker: {symbol: "star", size: 16, color: "#1f8f4e", line: {color: "#fff", width: 1}},
    hovertemplate: pe("home " + (p.home_city || "")) + "<br>%{y:.4f}, %{x:.4f}<extra></extra>"}); lats.push(p.home_lat); }
  if (hasWork) { traces.push({type: "scatter", mode: "markers+text", name: "work", x: [p.work_lon], y: [p.work_lat],
    text: ["work"], textposition: "bottom center", marker: {symbol: "square", size: 12, color: "#9b3fd0", line: {color: "#fff", width: 1}},
    hovertemplate: pe("work " + (p.work_city || "")) + "<br>%{y:.4f}, %{x:.4f}<extra></extra>"}); lats.push(p.work_lat); }
  const jumps = c.findings.filter(f => f.rule === "geo.impossible_travel" && f.evidence && f.evidence.from_lat != null && f.evidence.to_lat != null);
  jumps.forEach((f, k) => {
    const ev = f.evidence;
    traces.push({type: "scatter", mode: "lines+markers", name: "impossible travel", legendgroup: "jump", showlegend: k === 0,
      x: [ev.from_lon, ev.to_lon], y: [ev.from_lat, ev.to_lat], line: {color: "#d92d20", width: 2.5},
      marker: {size: 8, color: "#d92d20"}, text: [pe(f.summary), pe(f.summary)], hovertemplate: "%{text}<extra></extra>"});
    ann.push({x: ev.to_lon, y: ev.to_lat, ax: ev.from_lon, ay: ev.from_lat, xref: "x", yref: "y", axref: "x", ayref: "y",
      showarrow: true, arrowhead: 3, arrowsize: 1.4, arrowwidth: 2, arrowcolor: "#d92d20", text: ""});
    lats.push(ev.from_lat, ev.to_lat);
  });
  // the farthest point of a commute detour, when a finding names one
  const detours = c.findings.filter(f => f.evidence && f.evidence.farthest_lat != null && f.evidence.farthest_lon != null);
  if (detours.length) {
    traces.push({type: "scatter", mode: "markers", name: "commute detour", x: detours.map(f => f.evidence.farthest_lon),
      y: detours.map(f => f.evidence.farthest_lat), marker: {symbol: "x", size: 12, color: "#e07b00", line: {width: 1, color: "#fff"}},
      text: detours.map(f => pe(f.summary)), hovertemplate: "%{text}<extra></extra>"});
    detours.forEach(f => lats.push(f.evidence.farthest_lat));
  }
  if (!traces.length) { div.classList.add("empty-plot"); div.textContent = "No positions for this user."; return; }
  const lat0 = lats.reduce((a, b) => a + b, 0) / lats.length;
  const menus = [];
  if (hasHome && (jumps.length || pos.some(q => Math.abs(q.lat - p.home_lat) > 1 || Math.abs(q.lon - p.home_lon) > 1))) {
    // A second view around home (and work): the whole picture can span countries.
    const near = [[p.home_lat, p.home_lon]];
    if (hasWork) near.push([p.work_lat, p.work_lon]);
    for (const q of pos) if (Math.abs(q.lat - p.home_lat) < 0.5 && Math.abs(q.lon - p.home_lon) < 0.5) near.push([q.lat, q.lon]);
    const la = near.map(v => v[0]), lo = near.map(v => v[1]);
    const pad = Math.max(0.01, 0.25 * Math.max(Math.max(...la) - Math.min(...la), Math.max(...lo) - Math.min(...lo)));
    menus.push({type: "buttons", direction: "right", x: 0, y: 1.0, xanchor: "left", yanchor: "bottom", pad: {t: 0, b: 4},
      font: {size: 11}, bgcolor: "#fff", bordercolor: "#cfd4de", showactive: true, active: 0,
      buttons: [{label: "all", method: "relayout", args: [{"xaxis.autorange": true, "yaxis.autorange": true}]},
                {label: "home area", method: "relayout", args: [{"xaxis.range": [Math.min(...lo) - pad, Math.max(...lo) + pad],
                  "yaxis.range": [Math.min(...la) - pad, Math.max(...la) + pad]}]}]});
  }
  plot(div, traces, {margin: {l: 48, r: 10, t: menus.length ? 30 : 10, b: 30}, showlegend: true,
    legend: {orientation: "h", y: -0.1, yanchor: "top", font: {size: 11}},
    xaxis: {gridcolor: "#eef0f4", zeroline: false, ticksuffix: "°"},
    yaxis: {gridcolor: "#eef0f4", zeroline: false, ticksuffix: "°", scaleanchor: "x",
            scaleratio: 1 / Math.max(0.05, Math.cos(lat0 * Math.PI / 180))},
    annotations: ann, updatemenus: menus, hovermode: "closest", dragmode: "pan"});
}

function timelinePlot(div, c) {
  const evs = eventsOf(c), traces = [];
  const cat = e => (e.event || "event") + (e.success === false ? " (failed)" : "");
  const devCount = new Map();
  for (const e of evs) devCount.set(e.device_id || "", (devCount.get(e.device_id || "") || 0) + 1);
  const devs = [...devCount.entries()].sort((a, b) => b[1] - a[1]).map(([d]) => d);
  const shown = devs.filter(d => d).slice(0, 7);
  const groups = new Map();
  for (const e of evs) {
    const d = e.device_id && shown.includes(e.device_id) ? e.device_id : (e.device_id ? "other devices" : "no device");
    if (!groups.has(d)) groups.set(d, []);
    groups.get(d).push(e);
  }
  let k = 0;
  for (const [d, list] of groups) {
    traces.push({type: "scatter", mode: "markers", name: pe(short(d, 24)), x: list.map(e => plotTs(e.ts)), y: list.map(cat),
      marker: {size: 9, color: PALETTE[k++ % PALETTE.length], symbol: list.map(e => e.success === false ? "x" : "circle"),
               line: {width: 0}},
      text: list.map(e => pe([e.event + (e.success === false ? " (failed)" : ""), "device " + (e.device_id || "-"),
        "ip " + (e.ip || "-"), [e.city, e.country].filter(Boolean).join(", "), short(e.user_agent || "", 80)].filter(Boolean).join("\n")).replace(/\n/g, "<br>")),
      hovertemplate: "%{x}<br>%{text}<extra></extra>"});
  }
  const fs = c.findings.filter(f => f.first_ts);
  const shapes = [];
  for (const s of ["critical", "high", "medium", "low", "info"]) {
    const l = fs.filter(f => f.severity === s);
    if (!l.length) continue;
    traces.push({type: "scatter", mode: "markers", name: "finding: " + s, x: l.map(f => plotTs(f.first_ts)), y: l.map(() => "⚑ findings"),
      marker: {size: 13, symbol: "diamond", color: SEV_COLORS[s], line: {color: "#fff", width: 1}},
      text: l.map(f => pe(f.rule + " " + (f.points > 0 ? "+" : "") + f.points) + "<br>" + pe(short(f.summary, 120))),
      hovertemplate: "%{x}<br>%{text}<extra></extra>"});
    for (const f of l) if (f.last_ts && f.last_ts !== f.first_ts && f.points < 0 &&
                           Date.parse(f.last_ts) - Date.parse(f.first_ts) <= 2 * 86400e3) {
      shapes.push({type: "rect", xref: "x", yref: "paper", x0: plotTs(f.first_ts), x1: plotTs(f.last_ts), y0: 0, y1: 1,
        fillcolor: SEV_COLORS[s], opacity: 0.07, line: {width: 0}, layer: "below"});
    }
  }
  if (!traces.length) { div.classList.add("empty-plot"); div.textContent = "No events for this user."; return; }
  const cats = [...new Set(evs.map(cat))].sort();
  plot(div, traces, {margin: {l: 130, r: 10, t: 10, b: 30}, showlegend: true,
    legend: {orientation: "h", y: -0.12, yanchor: "top", font: {size: 11}},
    xaxis: {type: "date", gridcolor: "#eef0f4"},
    yaxis: {type: "category", categoryorder: "array", categoryarray: [...cats.reverse(), "⚑ findings"],
            gridcolor: "#eef0f4", automargin: true},
    shapes: shapes, hovermode: "closest"});
}

async function main() {
  let D;
  performance.mark("fraud:start");
  try { D = await loadData(); } catch (e) {
    $("fatal").style.display = "block";
    $("fatal").textContent = "This report's data could not be read (" + e + "). Open it in a current browser.";
    return;
  }
  performance.mark("fraud:data");
  overview(D);
  performance.mark("fraud:overview");
  queueView(D);
  performance.mark("fraud:queue");
  document.body.dataset.ready = "1";
}
main();
})();
