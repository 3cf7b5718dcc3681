// cnictl web UI: overview, node pages, findings, explain and the
// NetworkPolicy matrix over the read-only JSON API. No framework, no build
// step, no network beyond this server. All data is inserted as text (never as HTML).
"use strict";

const PAGE = 100;          // table rows per page: keeps 1,000-node clusters smooth
const ENTRY_PAGE = 200;    // node table entries per page
const app = document.getElementById("app");

// ---------- small DOM helpers ----------
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}
const SVGNS = "http://www.w3.org/2000/svg";
function sv(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}
const fmtList = (xs) => (xs && xs.length ? xs.join(", ") : "—");
const opt = (v) => (v === null || v === undefined ? "—" : String(v));
const sevPill = (s) => el("span", { class: "pill " + s }, s);
function trunc(s, n) { s = String(s || ""); return s.length > n ? s.slice(0, n - 1) + "…" : s; }

async function api(path) {
  const r = await fetch(path, { headers: { accept: "application/json" } });
  let body = null;
  try { body = await r.json(); } catch (_) { /* non-JSON error page */ }
  if (!r.ok) {
    const e = body && body.error ? body.error : { code: String(r.status), message: r.statusText };
    const err = new Error(e.message); err.code = e.code; err.status = r.status; throw err;
  }
  return body;
}
// One readable error: what failed in words, the server's message in full
// (wrapped, not cut), its code as a tag.
function errorBox(e) {
  const head = e.code === "not_ready" ? "cnictl has no analysis to show yet" : e.status === 404 ? "not found" : "the request failed";
  return el("div", { class: "banner err error-box", role: "alert" }, head, el("span", { class: "pill error" }, e.code || "error"),
    el("pre", { class: "errmsg" }, e.message || ""));
}

// Natural order for names: node-2 before node-10.
const natural = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
function cmp(x, y) {
  if (typeof x === "string" && typeof y === "string") return natural.compare(x, y);
  return x < y ? -1 : x > y ? 1 : 0;
}

// "bundle:/path" → where the data came from, in words.
function sourceText(src) {
  const [kind, ...rest] = String(src || "").split(":");
  const what = rest.join(":").replace(/\/+$/, "");
  const base = what.split("/").pop(); // the full path is in the tooltip
  if (kind === "bundle") return "bundle " + base;
  if (kind === "snapshot") return "snapshot " + base;
  if (kind === "aggregator") return "cluster (agents)";
  return src || "unknown source";
}
function ago(secs) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - secs));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}
// The header's "where from, collected when".
function showSource(m) {
  const el0 = document.getElementById("source");
  const t = m.data_time;
  const when = t ? `collected ${ago(t.at)}` : "collection time unknown";
  el0.replaceChildren(el("span", { class: "src" }, sourceText(m.source)), el("span", { class: "when" }, ` · ${when}`));
  el0.title = `${m.source}\n` + (t ? `data collected ${new Date(t.at * 1000).toISOString()} (${t.basis === "file_mtime" ? "newest file time of the bundle" : "collected_at"})` : "the source records no collection time");
}

// ---------- theme ----------
(function theme() {
  const saved = localStorage.getItem("cnictl-theme");
  if (saved) document.documentElement.dataset.theme = saved;
  document.getElementById("theme").addEventListener("click", () => {
    const cur = document.documentElement.dataset.theme ||
      (matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark");
    const next = cur === "light" ? "dark" : "light";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("cnictl-theme", next);
  });
})();

// ---------- status (refreshed every 15 s) ----------
let model = null; // /api/v1/model, cached per status poll
async function pollStatus() {
  const st = document.getElementById("status");
  const stale = document.getElementById("stale");
  try {
    const r = await fetch("/readyz");
    const body = await r.json();
    const s = body.status || {};
    if (body.ready) {
      const when = s.last_success ? new Date(s.last_success * 1000).toLocaleTimeString() : "?";
      st.textContent = `analysed ${when}`;
      st.className = "status " + (body.stale ? "bad" : "ok");
    } else {
      st.textContent = "not ready"; st.className = "status bad";
    }
    // Before any analysis the page itself shows the load error: the
    // banner is only for a failure behind a still-served analysis.
    if (s.last_error && body.ready) {
      stale.hidden = false;
      stale.replaceChildren(`Last refresh failed (${s.last_error.code}) — showing the last good analysis.`,
        el("pre", { class: "errmsg" }, s.last_error.message));
    } else stale.hidden = true;
    if (body.ready) {
      model = await api("/api/v1/model");
      document.getElementById("model-badge").textContent = model.model;
      showSource(model);
    }
  } catch (e) {
    st.textContent = "server unreachable"; st.className = "status bad";
  }
}

// ---------- a paginated, sortable, filterable table ----------
// cols: [{key, label, get(row) -> sortable value, render(row) -> node|string, num}]
function dataTable(rows, cols, opts) {
  opts = opts || {};
  const pageSize = opts.pageSize || PAGE;
  let filtered = rows, page = 0, sortKey = opts.sortKey || null, sortDir = opts.sortDir || 1;
  const wrap = el("div", { class: "dtable" });
  const search = el("input", { type: "search", placeholder: opts.placeholder || "filter…", "aria-label": "filter" });
  const info = el("span", { class: "muted" });
  const tools = el("div", { class: "toolbar" }, search, info, opts.extra || null);
  const tbody = el("tbody");
  const heads = cols.map((c) => el("th", { class: c.get ? "sortable" : "" }, c.label));
  const table = el("table", { class: opts.tableClass || "" }, el("thead", {}, el("tr", {}, heads)), tbody);
  const pager = el("div", { class: "pager" });
  wrap.append(tools, table, pager);

  function apply() {
    const q = search.value.trim().toLowerCase();
    filtered = q ? rows.filter((r) => (opts.text ? opts.text(r) : JSON.stringify(r)).toLowerCase().includes(q)) : rows;
    if (sortKey) {
      const c = cols.find((x) => x.key === sortKey);
      filtered = filtered.slice().sort((a, b) => cmp(c.get(a), c.get(b)) * sortDir);
    }
    page = 0; draw();
  }
  function draw() {
    const pages = Math.max(1, Math.ceil(filtered.length / pageSize));
    page = Math.min(page, pages - 1);
    const slice = filtered.slice(page * pageSize, (page + 1) * pageSize);
    tbody.replaceChildren(...slice.map((r) => {
      const tr = el("tr", { class: opts.rowClass ? opts.rowClass(r) : "" },
        cols.map((c) => el("td", { class: (c.num ? "num " : "") + (c.mono ? "mono" : "") }, c.render ? c.render(r) : opt(c.get(r)))));
      return tr;
    }));
    if (!slice.length) tbody.append(el("tr", {}, el("td", { colspan: cols.length, class: "muted" }, "nothing to show")));
    info.textContent = `${filtered.length} of ${rows.length}`;
    pager.replaceChildren(
      el("button", { type: "button", disabled: page === 0, onclick: () => { page--; draw(); } }, "‹ prev"),
      el("span", {}, `page ${page + 1} / ${pages}`),
      el("button", { type: "button", disabled: page >= pages - 1, onclick: () => { page++; draw(); } }, "next ›"));
    heads.forEach((h, i) => {
      h.classList.toggle("sorted-asc", cols[i].key === sortKey && sortDir > 0);
      h.classList.toggle("sorted-desc", cols[i].key === sortKey && sortDir < 0);
    });
  }
  heads.forEach((h, i) => {
    if (!cols[i].get) return;
    h.addEventListener("click", () => {
      if (sortKey === cols[i].key) sortDir = -sortDir; else { sortKey = cols[i].key; sortDir = cols[i].num ? -1 : 1; }
      apply();
    });
  });
  let t = null;
  search.addEventListener("input", () => { clearTimeout(t); t = setTimeout(apply, 120); });
  apply();
  return wrap;
}

// ---------- overview ----------
function healthBanner(m) {
  const f = m.findings;
  const rp = m.reachability;
  if (f.error > 0) {
    return el("div", { class: "banner err", id: "health" },
      `${f.error} error${f.error === 1 ? "" : "s"}, ${f.warning} warning${f.warning === 1 ? "" : "s"} across ${m.nodes} nodes`,
      el("span", { class: "sub" }, rp.failing_total ? `${rp.failing_total} node pairs cannot reach each other's pods` : "pod-to-pod probes all pass"));
  }
  if (f.warning > 0 || rp.failing_total > 0) {
    return el("div", { class: "banner warn", id: "health" }, `${f.warning} warnings across ${m.nodes} nodes`,
      el("span", { class: "sub" }, `${rp.failing_total} failing node pairs`));
  }
  return el("div", { class: "banner ok", id: "health" }, `Healthy: no errors or warnings across ${m.nodes} nodes`,
    el("span", { class: "sub" }, `${rp.probes} pod-to-pod probes delivered`));
}
function card(k, v, cls) { return el("div", { class: "card" }, el("div", { class: "k" }, k), el("div", { class: "v " + (cls || "") }, v)); }

async function viewOverview() {
  const [m, n] = await Promise.all([api("/api/v1/model"), api("/api/v1/nodes")]);
  const f = m.findings;
  // Natural name order underneath any sort (sorts are stable).
  n.nodes.sort((a, b) => natural.compare(a.name, b.name));
  const nodeLink = (r) => el("a", { href: "#/node/" + encodeURIComponent(r.name) }, r.name);
  const findCell = (r) => {
    const x = [];
    if (r.findings.error) x.push(el("span", { class: "pill error" }, r.findings.error + " err"));
    if (r.findings.warning) x.push(el("span", { class: "pill warning" }, r.findings.warning + " warn"));
    if (r.findings.info) x.push(el("span", { class: "pill info" }, r.findings.info + " info"));
    if (!x.length) x.push(el("span", { class: "pill ok" }, "ok"));
    return el("span", {}, x);
  };
  const cols = [
    { key: "name", label: "node", get: (r) => r.name, render: nodeLink },
    { key: "health", label: "findings", get: (r) => r.findings.error * 1e6 + r.findings.warning * 1e3 + r.findings.info, render: findCell, num: false },
    { key: "model", label: "model", get: (r) => r.model, mono: true },
    { key: "cidr", label: "pod CIDRs", get: (r) => fmtList(r.pod_cidrs), mono: true },
    { key: "ip", label: "underlay", get: (r) => opt(r.underlay_ip) + (r.underlay_dev ? " (" + r.underlay_dev + ")" : ""), mono: true },
    { key: "vtep", label: "tunnel / VTEP", get: (r) => [r.vtep_ip, r.vtep_mac, r.tunnel_addr].filter(Boolean).join(" ") || "—", mono: true },
    { key: "routes", label: "routes", get: (r) => r.counts.routes, num: true },
    { key: "pods", label: "pods", get: (r) => r.counts.pods, num: true },
    { key: "bgp", label: "BGP up", get: (r) => r.counts.bgp_peers === null ? -1 : r.counts.bgp_established - r.counts.bgp_peers,
      render: (r) => r.counts.bgp_peers === null ? "—" : el("span", { class: r.counts.bgp_established < r.counts.bgp_peers ? "pill error" : "" }, `${r.counts.bgp_established}/${r.counts.bgp_peers}`), num: true },
    { key: "unreach", label: "unreachable peers", get: (r) => r.unreachable_peers === null ? -1 : r.unreachable_peers,
      render: (r) => r.unreachable_peers ? el("span", { class: "pill error" }, r.unreachable_peers) : opt(r.unreachable_peers), num: true },
  ];
  const pairs = m.reachability.failing_pairs;
  app.replaceChildren(
    healthBanner(m),
    el("div", { class: "cards" },
      card("model", m.model), card("nodes", m.nodes),
      card("errors", f.error, f.error ? "err" : "ok"), card("warnings", f.warning, f.warning ? "warn" : "ok"),
      card("info", f.info), card("failing pairs", m.reachability.failing_total, m.reachability.failing_total ? "err" : "ok"),
      card("analysis", m.analysis_seconds.toFixed(2) + " s")),
    el("h2", {}, "Nodes"),
    dataTable(n.nodes, cols, { placeholder: "filter nodes (name, CIDR, IP, model)…", sortKey: "health", sortDir: -1,
      rowClass: (r) => (r.findings.error ? "flagged" : "") }),
    pairs.length ? el("h2", {}, "Failing node pairs" + (m.reachability.truncated ? ` (first ${pairs.length} of ${m.reachability.failing_total})` : "")) : null,
    pairs.length ? dataTable(pairs, [
      { key: "src", label: "from", get: (r) => r.src, render: (r) => el("a", { href: "#/node/" + encodeURIComponent(r.src) }, r.src) },
      { key: "dst", label: "to", get: (r) => r.dst, render: (r) => el("a", { href: "#/node/" + encodeURIComponent(r.dst) }, r.dst) },
      { key: "disp", label: "disposition", get: (r) => r.disposition, mono: true },
      { key: "x", label: "", render: (r) => el("a", { href: `#/explain?src=${encodeURIComponent(r.src)}&dst=${encodeURIComponent(r.dst)}` }, "explain →") },
    ], { pageSize: 20 }) : null,
  );
}

// ---------- findings ----------
function findingCard(f, opts) {
  opts = opts || {};
  return el("div", { class: "finding " + f.severity },
    el("div", { class: "head" }, sevPill(f.severity), el("code", {}, f.code),
      f.node && !opts.hideNode ? el("a", { href: "#/node/" + encodeURIComponent(f.node) }, f.node) : (f.node ? null : el("span", { class: "muted" }, "cluster-wide")),
      el("span", { class: "summary" }, f.summary),
      f.caused_by !== undefined && opts.symptoms === undefined ? el("span", { class: "pill muted", title: f.because }, "consequence") : null),
    f.evidence && f.evidence.length ? el("pre", {}, f.evidence.join("\n")) : null,
    f.hint ? el("div", { class: "hint" }, f.hint) : null,
    opts.symptoms && opts.symptoms.length ? consequences(opts.symptoms) : null);
}

// The findings a root cause explains, folded under it: one line each and why.
function consequences(list) {
  return el("details", { class: "consequences" },
    el("summary", {}, `${list.length} consequence${list.length === 1 ? "" : "s"} of this root cause`),
    list.map((f) => el("div", { class: "symptom" }, sevPill(f.severity), el("code", {}, f.code),
      f.node ? el("a", { href: "#/node/" + encodeURIComponent(f.node) }, f.node) : null,
      el("span", {}, f.summary), el("div", { class: "because muted" }, "because " + f.because))));
}

// Symptoms by the id of their root (every symptom of the report, one request).
async function symptomsByRoot() {
  const r = await api("/api/v1/findings?role=symptom&limit=5000");
  const by = new Map();
  for (const f of r.findings) {
    if (!by.has(f.caused_by)) by.set(f.caused_by, []);
    by.get(f.caused_by).push(f);
  }
  return by;
}

async function viewFindings(params) {
  const m = model || await api("/api/v1/model");
  const sev = el("select", { "aria-label": "severity" }, el("option", { value: "" }, "any severity"),
    ["error", "warning", "info"].map((s) => el("option", { value: s }, s)));
  const code = el("select", { "aria-label": "code" }, el("option", { value: "" }, "any code"));
  const node = el("input", { type: "search", placeholder: "node", list: "node-list", "aria-label": "node" });
  const q = el("input", { type: "search", placeholder: "search text, entries, hints…", "aria-label": "search" });
  const grouping = el("select", { "aria-label": "grouping" },
    el("option", { value: "root" }, "root causes first"), el("option", { value: "" }, "every finding"));
  const list = el("div", { id: "findings-list" });
  const pager = el("div", { class: "pager" });
  const nodeList = el("datalist", { id: "node-list" });
  grouping.value = params.has("role") ? params.get("role") : "root";
  sev.value = params.get("severity") || ""; node.value = params.get("node") || ""; q.value = params.get("q") || "";
  let offset = Number(params.get("offset") || 0);
  let codesLoaded = false;

  async function load() {
    const qs = new URLSearchParams();
    if (sev.value) qs.set("severity", sev.value);
    if (code.value) qs.set("code", code.value);
    if (node.value.trim()) qs.set("node", node.value.trim());
    if (q.value.trim()) qs.set("q", q.value.trim());
    qs.set("role", grouping.value);
    qs.set("limit", PAGE); qs.set("offset", offset);
    history.replaceState(null, "", "#/findings?" + qs.toString());
    try {
      const r = await api("/api/v1/findings?" + qs.toString());
      const symptoms = grouping.value === "root" ? await symptomsByRoot() : new Map();
      if (!codesLoaded) {
        const all = await api("/api/v1/findings?limit=1");
        for (const c of Object.keys(all.by_code)) code.append(el("option", { value: c }, `${c} (${all.by_code[c]})`));
        code.value = params.get("code") || "";
        codesLoaded = true;
      }
      const card = (f) => findingCard(f, grouping.value === "root" ? { symptoms: symptoms.get(f.id) || [] } : {});
      list.replaceChildren(...(r.findings.length ? r.findings.map(card) : [el("div", { class: "empty" }, "no findings match")]));
      const pages = Math.max(1, Math.ceil(r.total / PAGE));
      pager.replaceChildren(
        el("span", {}, grouping.value === "root" ? `${r.total} root cause${r.total === 1 ? "" : "s"}` : `${r.total} findings`),
        el("button", { type: "button", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, "‹ prev"),
        el("span", {}, `page ${Math.floor(offset / PAGE) + 1} / ${pages}`),
        el("button", { type: "button", disabled: offset + PAGE >= r.total, onclick: () => { offset += PAGE; load(); } }, "next ›"));
    } catch (e) {
      list.replaceChildren(errorBox(e)); pager.replaceChildren();
    }
  }
  let t = null;
  const reload = () => { offset = 0; clearTimeout(t); t = setTimeout(load, 150); };
  [sev, code, grouping].forEach((x) => x.addEventListener("change", reload));
  [node, q].forEach((x) => x.addEventListener("input", reload));
  for (const p of m.per_node.map((x) => x.node).sort(natural.compare).slice(0, 5000)) nodeList.append(el("option", { value: p }));
  app.replaceChildren(el("h1", {}, "Findings"), el("div", { class: "toolbar" }, grouping, sev, code, node, q, nodeList), pager, list);
  await load();
}

// ---------- node page ----------
// Entries are matched to findings by the text both use (evidence prints
// entries exactly as the node tables do).
function evidenceIndex(findings) {
  const idx = [];
  for (const f of findings) for (const ev of f.evidence || []) idx.push([ev, f]);
  return idx;
}
function findingsFor(entry, idx) {
  const out = [];
  for (const [ev, f] of idx) if (ev === entry || ev.includes(entry) || entry.includes(ev)) if (!out.includes(f)) out.push(f);
  return out;
}
function entryTable(title, entries, idx) {
  if (entries === null || entries === undefined) return [el("h2", {}, title), el("div", { class: "empty" }, "not collected")];
  const rows = entries.map((e, i) => ({ i, e, f: findingsFor(e, idx) }));
  return [el("h2", {}, `${title} (${entries.length})`), dataTable(rows, [
    { key: "i", label: "#", get: (r) => r.i, num: true },
    { key: "e", label: "entry", get: (r) => r.e, mono: true },
    { key: "f", label: "findings", get: (r) => r.f.length, render: (r) => el("span", {}, r.f.map((f) => el("span", { class: "pill " + f.severity, title: f.summary }, f.code))) },
  ], { pageSize: ENTRY_PAGE, text: (r) => r.e + " " + r.f.map((f) => f.code).join(" "), rowClass: (r) => (r.f.length ? "flagged" : ""),
    // Entries with findings first (the sort is stable: the rest keep table order).
    sortKey: rows.some((r) => r.f.length) ? "f" : null, sortDir: -1 })];
}

async function viewNode(name) {
  const d = await api("/api/v1/nodes/" + encodeURIComponent(name));
  const s = d.summary;
  const idx = evidenceIndex(d.findings);
  const bgp = d.bgp ? d.bgp.protocols.filter((p) => p.proto.toLowerCase() === "bgp") : null;
  const peerFindings = (p) => findingsFor(p.neighbor_address || p.name, idx);
  const ipvsLines = d.ipvs ? d.ipvs.flatMap((v) => [v.service, ...v.reals.map((r) => "  " + r)]) : null;
  app.replaceChildren(
    el("h1", {}, "node ", el("span", { class: "mono" }, s.name), " ", el("span", { class: "badge" }, s.model)),
    el("div", { class: "grid2" },
      el("dl", { class: "kv" },
        el("dt", {}, "pod CIDRs"), el("dd", {}, fmtList(s.pod_cidrs)),
        el("dt", {}, "underlay"), el("dd", {}, opt(s.underlay_ip) + (s.underlay_dev ? " dev " + s.underlay_dev : "")),
        el("dt", {}, "VTEP"), el("dd", {}, [s.vtep_ip, s.vtep_mac].filter(Boolean).join(" ") || "—"),
        el("dt", {}, "tunnel addr"), el("dd", {}, opt(s.tunnel_addr)),
        el("dt", {}, "dump"), el("dd", {}, s.has_dump ? "collected" : "none (nodes.json only)"),
        el("dt", {}, "unreachable peers"), el("dd", {}, opt(s.unreachable_peers))),
      el("dl", { class: "kv" },
        el("dt", {}, "model evidence"), el("dd", {}, (d.model_evidence || []).join("; ") || "—"),
        el("dt", {}, "routes"), el("dd", {}, s.counts.routes),
        el("dt", {}, "neighbours"), el("dd", {}, opt(s.counts.neighbours)),
        el("dt", {}, "FDB entries"), el("dd", {}, opt(s.counts.fdb_entries)),
        el("dt", {}, "pods"), el("dd", {}, s.counts.pods))),
    el("h2", {}, `Findings (${d.findings.length})`),
    d.findings.length ? el("div", {}, d.findings.slice(0, 50).map((f) => findingCard(f, { hideNode: true })),
      d.findings.length > 50 ? el("a", { href: "#/findings?node=" + encodeURIComponent(s.name) }, `all ${d.findings.length} findings →`) : null)
      : el("div", { class: "empty" }, "no findings on this node"),
    ...entryTable("Routes", d.routes, idx),
    el("h2", {}, "BGP peers" + (bgp ? ` (${bgp.length})` : "")),
    bgp === null ? el("div", { class: "empty" }, "not collected") : dataTable(bgp, [
      { key: "name", label: "protocol", get: (p) => p.name, mono: true },
      { key: "nb", label: "neighbour", get: (p) => opt(p.neighbor_address), mono: true },
      { key: "st", label: "state", get: (p) => p.bgp_state || p.state, render: (p) => el("span", { class: "pill " + ((p.bgp_state || p.info || "").startsWith("Established") ? "ok" : "error") }, p.bgp_state || p.state) },
      { key: "info", label: "info", get: (p) => p.info + (p.last_error ? " — " + p.last_error : ""), mono: true },
      { key: "rt", label: "imported", get: (p) => opt(p.routes_imported), num: true },
      { key: "f", label: "findings", render: (p) => el("span", {}, peerFindings(p).map((f) => el("span", { class: "pill " + f.severity, title: f.summary }, f.code))) },
    ], { pageSize: ENTRY_PAGE, rowClass: (p) => (peerFindings(p).length ? "flagged" : "") }),
    ...entryTable("FDB", d.fdb, idx),
    ...entryTable("Neighbours", d.neighbours, idx),
    ...entryTable("IPVS", ipvsLines, idx),
    ...entryTable("Rules", d.rules, idx),
  );
}

// ---------- explain ----------
function laneOf(h) { return h.netns ? `${h.node} netns ${h.netns}` : `node ${h.node}`; }

// Sequence diagram: one column (lane) per namespace, one row per hop;
// arrows between consecutive hops, labelled with header rewrites (encap
// with outer addresses, decap, DNAT). The dropping hop is red with reason,
// code and hint. Every label is laid out in space of its own: an edge's
// label sits in the gap under the box the edge leaves, on the side the
// edge does not take, wrapped to that width (the gap grows with it); box
// texts are cut to their box (the full text is the box's tooltip). The UI
// test compares the drawn boxes and fails on any overlap or clipping.
const CHAR_W = { label: 6.7, kind: 7.3, entry: 6.7, title: 7.6, fail: 7.6 }; // px per monospace char, with margin
const LABEL_LINE = 13, LABEL_LINES = 3;

// Greedy word wrap to `width` chars, at most `lines` lines (the last cut
// with "…"); words longer than a line are split.
function wrap(text, width, lines) {
  const out = [];
  let cur = "";
  for (let w of String(text).split(" ")) {
    while (w.length > width) { if (cur) { out.push(cur); cur = ""; } out.push(w.slice(0, width)); w = w.slice(width); }
    if (!cur) cur = w;
    else if (cur.length + 1 + w.length <= width) cur += " " + w;
    else { out.push(cur); cur = w; }
  }
  if (cur) out.push(cur);
  if (out.length > lines) { out.length = lines; out[lines - 1] = trunc(out[lines - 1] + " …", width); }
  return out;
}

function edgeLabels(hops) {
  let outer = null; // the encapsulation in force, shown on the underlay crossing
  return hops.map((h, i) => {
    const prev = hops[i - 1];
    if (!prev) return null;
    if (/encap/i.test(prev.rewrite || "")) outer = prev.rewrite;
    const crossNode = prev.node !== h.node;
    const text = crossNode ? (outer ? "⇢ " + outer : "underlay, unencapsulated") : prev.rewrite;
    const tunnel = crossNode || !!outer;
    if (/decap/i.test(h.rewrite || "")) outer = null;
    return { text, crossNode, tunnel };
  });
}

function pathDiagram(ex) {
  const hops = ex.hops || [];
  const lanes = [];
  for (const h of hops) { const l = laneOf(h); if (!lanes.includes(l)) lanes.push(l); }
  const dropIdx = dropHopPos(ex);
  const LW = 300, BW = 270, BH = 50, TOP = 56, LEFT = 10;
  const laneX = (h) => LEFT + lanes.indexOf(laneOf(h)) * LW + (LW - BW) / 2;
  const labels = edgeLabels(hops);
  // Each label's place (under the box its edge leaves) and lines.
  labels.forEach((l, i) => {
    if (!l || !l.text) return;
    const ax = laneX(hops[i - 1]), same = ax === laneX(hops[i]);
    l.x = same ? ax + BW / 2 + 8 : ax + 8;
    const width = same ? BW / 2 - 12 : BW - 16;
    l.lines = wrap(l.text, Math.floor(width / CHAR_W.label), LABEL_LINES);
  });
  const pos = [];
  let y = TOP;
  hops.forEach((h, i) => {
    const l = labels[i];
    if (i > 0) y += BH + (l && l.lines ? 12 + l.lines.length * LABEL_LINE : 24);
    pos.push({ x: laneX(h), y });
  });
  const failExtra = dropIdx >= 0 ? 96 : 20;
  // Wide enough for the drop text even when the path stays in one or two lanes.
  const W = Math.max(LEFT * 2 + lanes.length * LW, dropIdx >= 0 ? 980 : 0);
  const H = (hops.length ? y + BH : TOP) + failExtra;
  const svg = sv("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "packet path diagram", id: "path-svg" });
  svg.append(sv("defs", {}, sv("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    sv("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))));
  const laneChars = Math.floor((LW - 32) / CHAR_W.title);
  lanes.forEach((l, i) => {
    const x = LEFT + i * LW;
    const [node, ...rest] = l.split(" netns ");
    const title = rest.length ? "pod " + rest.join(" netns ") : node;
    const sub = rest.length ? "on " + node : "root namespace";
    svg.append(sv("rect", { x: x + 4, y: 4, width: LW - 8, height: H - 8, rx: 10, class: "lane-bg" }),
      sv("text", { x: x + 16, y: 24, class: "lane-title" }, sv("title", {}, title), trunc(title, laneChars)),
      sv("text", { x: x + 16, y: 40, class: "lane-sub" }, trunc(sub, Math.floor((LW - 32) / CHAR_W.entry))));
  });
  hops.forEach((h, i) => {
    if (i === 0) return;
    const a = pos[i - 1], b = pos[i], l = labels[i];
    let d;
    if (a.x === b.x) d = `M ${a.x + BW / 2} ${a.y + BH} L ${b.x + BW / 2} ${b.y - 2}`;
    else {
      const x1 = a.x + (b.x > a.x ? BW : 0), x2 = b.x + (b.x > a.x ? 0 : BW);
      d = `M ${x1} ${a.y + BH / 2} C ${(x1 + x2) / 2} ${a.y + BH / 2}, ${(x1 + x2) / 2} ${b.y + BH / 2}, ${x2 + (b.x > a.x ? -2 : 2)} ${b.y + BH / 2}`;
    }
    svg.append(sv("path", { d, class: "edge" + (l.tunnel ? " tunnel" : ""), "marker-end": "url(#arrow)" }));
    if (!l.lines) return;
    const ly = a.y + BH + 14;
    svg.append(sv("text", { x: l.x, y: ly, class: "edge-label" + (l.crossNode ? " crossing" : "") }, sv("title", {}, l.text),
      l.lines.map((line, k) => sv("tspan", { x: l.x, y: ly + k * LABEL_LINE }, line))));
  });
  const kindChars = Math.floor((BW - 16) / CHAR_W.kind), entryChars = Math.floor((BW - 16) / CHAR_W.entry);
  hops.forEach((h, i) => {
    const p = pos[i];
    const fail = i === dropIdx;
    const ok = !ex.drop && i === hops.length - 1 && ex.verdict === "delivered";
    const devs = [h.in_dev ? "in " + h.in_dev : null, h.out_dev ? "out " + h.out_dev : null].filter(Boolean).join(" → ");
    const nf = h.netfilter ? ` netfilter nf-${h.netfilter.action}` : "";
    const g = sv("g", { class: "hop" + nf + (fail ? " fail" : "") + (ok ? " ok" : "") + (h.inferred ? " inferred" : ""), "data-index": h.index },
      sv("title", {}, `${h.index}. ${h.kind}${devs ? "  " + devs : ""}: ${h.entry}${h.rewrite ? "\n" + h.rewrite : ""}${nfWhere(h)}${h.inferred ? "\n(inferred)" : ""}`),
      sv("rect", { x: p.x, y: p.y, width: BW, height: BH, rx: 6 }),
      sv("text", { x: p.x + 8, y: p.y + 17, class: "kind" }, trunc(`${fail ? "✗ " : ok ? "✓ " : ""}${h.index}. ${h.kind}${devs ? "  " + devs : ""}`, kindChars)),
      sv("text", { x: p.x + 8, y: p.y + 36, class: "entry" }, trunc(h.entry, entryChars)));
    svg.append(g);
  });
  if (dropIdx >= 0 && ex.drop) {
    const y0 = H - failExtra + 26;
    const x = LEFT + 14;
    const fit = Math.floor((W - x - 12) / CHAR_W.fail);
    const head = `dropped: ${ex.drop.disposition} — ${ex.drop.reason}`;
    svg.append(sv("text", { x, y: y0, class: "fail-text", "font-weight": "700" }, sv("title", {}, head), trunc(head, fit)),
      sv("text", { x, y: y0 + 18, class: "fail-text" }, ex.drop.code ? `finding ${ex.drop.code}` : "no finding code (data missing)"),
      sv("text", { x, y: y0 + 36, class: "lane-sub" }, sv("title", {}, ex.drop.hint || ""), trunc("hint: " + (ex.drop.hint || "—"), Math.floor((W - x - 12) / CHAR_W.entry))));
  }
  return svg;
}
// A netfilter hop's rule, located: hook, backend and the bundle file it came from.
function nfWhere(h) {
  const n = h.netfilter;
  if (!n) return "";
  return `\n${n.hook} · ${n.family} ${n.table} ${n.chain}${n.position ? " #" + n.position : n.rule ? "" : " policy"} · ${n.backend} (${n.source})${n.comment ? "\ncomment: " + n.comment : ""}`;
}

// `drop.hop` is the hop's `index` field when hops carry one; else a position.
function dropHopPos(ex) {
  if (!ex.drop) return -1;
  const hops = ex.hops || [];
  const byIndex = hops.findIndex((h) => h.index === ex.drop.hop);
  if (byIndex >= 0 && hops[0] && hops[0].index === 1) return byIndex;
  if (ex.drop.hop >= 0 && ex.drop.hop < hops.length) return ex.drop.hop;
  return hops.length - 1;
}

function verdictBanner(ex) {
  const s = ex.src, d = ex.dst;
  const head = `${s.name || s.spec || s.ip} → ${d.name || d.spec || d.ip}`;
  if (ex.verdict === "delivered") {
    return el("div", { class: "banner ok", id: "verdict" }, `DELIVERED  ${head}`, el("span", { class: "sub" }, `${(ex.hops || []).length} hops`));
  }
  if (ex.verdict === "unknown") {
    const u = ex.unknown || {};
    return el("div", { class: "banner unknown", id: "verdict" }, `UNKNOWN at hop ${u.hop} on ${u.node}  (${head})`,
      el("span", { class: "sub" }, u.reason || "the answer depends on data cnictl could not evaluate"));
  }
  const dr = ex.drop || {};
  return el("div", { class: "banner err", id: "verdict" }, `DROPPED at hop ${dr.hop} on ${dr.node}: ${dr.disposition}  (${head})`,
    el("span", { class: "sub" }, `${dr.reason}${dr.code ? " — finding " + dr.code : ""}`),
    dr.hint ? el("span", { class: "sub" }, "hint: " + dr.hint) : null);
}

function hopTable(ex) {
  const dropIdx = dropHopPos(ex);
  return el("table", { class: "hops" },
    el("thead", {}, el("tr", {}, ["#", "where", "devices", "decided by", "entry", "rewrite"].map((h) => el("th", {}, h)))),
    el("tbody", {}, (ex.hops || []).map((h, i) => el("tr", { class: i === dropIdx ? "fail" : "" },
      el("td", { class: "idx" }, h.index),
      el("td", { class: "mono" }, laneOf(h)),
      el("td", { class: "mono" }, [h.in_dev, h.out_dev].map((x) => x || "·").join(" → ")),
      el("td", { class: "mono" }, h.kind + (h.netfilter ? ` (${h.netfilter.hook}, ${h.netfilter.backend})` : "") + (h.inferred ? " (inferred)" : "")),
      el("td", { class: "mono" }, h.entry),
      el("td", { class: "mono" }, h.rewrite || "")))));
}

// Pods, Services and nodes the explain form can name (fetched once).
let completions = null;
async function explainCompletions() {
  if (!completions) completions = api("/api/v1/completions").catch(() => ({ pods: [], services: [], nodes: [] }));
  const c = await completions;
  return el("datalist", { id: "explain-names" },
    [...c.pods, ...c.services, ...c.nodes].map((v) => el("option", { value: v })));
}

async function viewExplain(params) {
  const f = (name, label, ph, type) => el("label", {}, label, el("input", { type: type || "text", name, placeholder: ph, value: params.get(name) || "",
    list: type ? null : "explain-names", autocomplete: "off" }));
  const df = el("input", { type: "checkbox", name: "df" });
  df.checked = params.get("df") !== "false";
  const reverse = el("input", { type: "checkbox", name: "reverse" });
  reverse.checked = params.get("reverse") === "true";
  const proto = el("select", { name: "proto" }, ["icmp", "tcp", "udp"].map((p) => el("option", { value: p }, p)));
  proto.value = params.get("proto") || "icmp";
  const out = el("div", { id: "explain-out" });
  const form = el("form", { class: "explain", id: "explain-form" },
    f("src", "source", "ns/pod, pod IP or node"), f("dst", "destination", "ns/pod, IP or svc/ns/name:port"),
    el("label", {}, "proto", proto), f("port", "port", "—", "number"), f("size", "IP size", "84", "number"),
    el("label", { class: "check" }, df, "DF"),
    el("label", { class: "check", title: "the reply's path: from the destination back to the source" }, reverse, "reverse"),
    el("button", { class: "primary", type: "submit" }, "Explain"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const qs = new URLSearchParams();
    for (const n of ["src", "dst", "port", "size"]) { const v = form.elements[n].value.trim(); if (v) qs.set(n, v); }
    qs.set("proto", proto.value);
    if (!df.checked) qs.set("df", "false");
    if (reverse.checked) qs.set("reverse", "true");
    location.hash = "#/explain?" + qs.toString();
  });
  app.replaceChildren(el("h1", {}, "Explain a path"), form, out);
  form.append(await explainCompletions());
  if (!params.get("src") || !params.get("dst")) {
    out.append(el("div", { class: "empty" }, "Give a source and a destination: pods as namespace/name, pod or node IPs, node names, or svc/namespace/name:port."));
    return;
  }
  const qs = new URLSearchParams();
  for (const n of ["src", "dst", "port", "proto", "size", "df", "reverse"]) if (params.get(n)) qs.set(n, params.get(n));
  out.replaceChildren(el("div", { class: "muted" }, "tracing…"));
  try {
    const ex = await api("/api/v1/explain?" + qs.toString());
    const parts = [verdictBanner(ex), el("div", { class: "diagram" }, pathDiagram(ex)), hopTable(ex)];
    for (const b of ex.backends || ex.branches || []) {
      const label = b.real_server || `${b.ip}:${b.port}${b.pod ? " (" + b.pod + ")" : ""}`;
      parts.push(el("h2", {}, `backend ${label}: ${b.verdict}`), el("div", { class: "diagram" }, pathDiagram(Object.assign({ src: ex.src, dst: ex.dst }, b))));
    }
    for (const n of ex.notes || []) parts.push(el("div", { class: "muted" }, "note: " + n));
    out.replaceChildren(...parts);
  } catch (e) {
    out.replaceChildren(errorBox(e));
  }
}

// ---------- policy ----------
// The NetworkPolicy matrix (/api/v1/matrix, the document `cnictl matrix -o
// json` writes): rows are sources, columns destinations; each cell is what
// the policies intend beside what the dataplane does to the first packet.
const POLICY_GRID_MAX = 120; // rows drawn as a grid; above, the lists only
const probeLabel = (p) => (p.protocol ? `${p.protocol} ${p.port}` : "any protocol and port");
const probeKey = (p) => (p.protocol ? `${p.protocol.toLowerCase()}/${p.port}` : "any");
// A cell's pairs (1 for a pod cell) and how many the policies allow.
function cellCounts(c) {
  return c.pairs === undefined ? [1, c.intended === "allowed" ? 1 : 0] : [c.pairs, c.allowed_pairs];
}
// The dataplane does otherwise than the policies intend (for a namespace
// cell: all its pairs delivered while some are denied, or all dropped
// while some are allowed).
function cellDisagrees(c) {
  const [pairs, allowed] = cellCounts(c);
  return (c.dataplane === "delivered" && allowed < pairs) || (c.dataplane === "dropped" && allowed > 0);
}
function cellMark(c) {
  if (cellDisagrees(c)) return ["disagree", "!"];
  if (c.dataplane === "unknown") return ["unknown", "?"];
  if (c.intended === "allowed") return ["allowed", "✓"];
  if (c.intended === "partial") return ["partial", "◐"];
  return ["denied", "·"];
}
function cellText(c) {
  const [pairs, allowed] = cellCounts(c);
  const counts = c.pairs === undefined ? "" : ` (${allowed}/${pairs} pod pairs allowed)`;
  const by = c.by.length ? c.by.join(", ") : "no policy selects either pod";
  return `${c.src} → ${c.dst}: intended ${c.intended}${counts} by ${by}; dataplane ${c.dataplane}` +
    (cellDisagrees(c) ? " — the dataplane disagrees" : "");
}
function policyLegend() {
  const item = (cls, sym, text) => el("span", { class: "item" }, el("span", { class: "pcell " + cls }, sym), text);
  return el("div", { class: "legend", id: "policy-legend" },
    item("allowed", "✓", "allowed, dataplane agrees"), item("denied", "·", "denied, dataplane agrees"),
    item("partial", "◐", "some pairs allowed"), item("disagree", "!", "dataplane disagrees"),
    item("unknown", "?", "dataplane unknown"));
}
function cellDetail(c, by) {
  const [cls] = cellMark(c);
  const probe = c.protocol ? `&proto=${c.protocol.toLowerCase()}&port=${c.port}` : "";
  return el("div", { class: "pdetail " + cls },
    el("div", { class: "mono" }, `${c.src} → ${c.dst}`, c.protocol ? `  ${c.protocol} ${c.port}` : ""),
    el("div", {}, "intended: ", el("b", {}, c.intended), c.pairs === undefined ? "" : ` (${c.allowed_pairs}/${c.pairs} pod pairs allowed)`),
    el("div", {}, c.intended === "denied" ? "isolated by: " : "policies: ", el("span", { class: "mono" }, c.by.length ? c.by.join(", ") : "no policy selects either pod")),
    el("div", {}, "dataplane: ", el("b", {}, c.dataplane), cellDisagrees(c) ? el("span", { class: "pill error" }, "disagrees") : null),
    by === "pod" ? el("a", { href: `#/explain?src=${encodeURIComponent(c.src)}&dst=${encodeURIComponent(c.dst)}${probe}` }, "explain this path →") : null);
}
function policyGrid(doc, detail) {
  const names = [...new Set(doc.cells.flatMap((c) => [c.src, c.dst]))].sort(natural.compare);
  const at = new Map(doc.cells.map((c) => [c.src + "\u0000" + c.dst, c]));
  const head = el("tr", {}, el("th", { class: "corner" }, "src \\ dst"),
    names.map((n, i) => el("th", { class: "col", title: n }, String(i + 1))));
  const rows = names.map((s, i) => el("tr", {}, el("th", { class: "row", title: s }, el("span", { class: "idx" }, i + 1), s),
    names.map((d) => {
      const c = at.get(s + "\u0000" + d);
      if (!c) return el("td", { class: "pcell self" }, "");
      const [cls, sym] = cellMark(c);
      return el("td", { class: "pcell " + cls, tabindex: 0, title: cellText(c), "data-src": c.src, "data-dst": c.dst,
        "data-intended": c.intended, "data-dataplane": c.dataplane, "data-by": c.by.join(",") }, sym);
    })));
  const table = el("table", { class: "pgrid", id: "policy-grid" }, el("thead", {}, head), el("tbody", {}, rows));
  const show = (e) => {
    const td = e.target.closest("td.pcell:not(.self)");
    if (!td) return;
    table.querySelectorAll("td.selected").forEach((x) => x.classList.remove("selected"));
    td.classList.add("selected");
    detail.replaceChildren(cellDetail(at.get(td.dataset.src + "\u0000" + td.dataset.dst), doc.by));
  };
  table.addEventListener("click", show);
  table.addEventListener("mouseover", show);
  table.addEventListener("focusin", show);
  return el("div", { class: "pgrid-wrap" }, table);
}
function disagreementList(doc) {
  const bad = doc.cells.filter(cellDisagrees);
  if (!bad.length) return el("div", { class: "empty", id: "policy-disagreements" }, "intent and dataplane agree on every evaluated cell");
  return el("div", { id: "policy-disagreements" }, dataTable(bad, [
    { key: "src", label: "from", get: (c) => c.src, mono: true },
    { key: "dst", label: "to", get: (c) => c.dst, mono: true },
    { key: "int", label: "intended", get: (c) => c.intended + (c.pairs === undefined ? "" : ` ${c.allowed_pairs}/${c.pairs}`) },
    { key: "by", label: "policies", get: (c) => fmtList(c.by), mono: true },
    { key: "dp", label: "dataplane", get: (c) => c.dataplane, render: (c) => el("span", { class: "pill error" }, c.dataplane) },
  ], { pageSize: 50, placeholder: "filter disagreements…" }));
}
async function viewPolicy(params) {
  app.replaceChildren(el("h1", {}, "NetworkPolicy matrix"), el("div", { class: "muted" }, "loading…"));
  let info;
  try {
    info = await api("/api/v1/matrix/probes");
  } catch (e) {
    if (e.code !== "policies_not_collected") throw e;
    app.replaceChildren(el("h1", {}, "NetworkPolicy matrix"), el("div", { class: "empty", id: "policy-missing" },
      "No NetworkPolicies in this snapshot, so there is no policy intent to show.",
      el("div", { class: "muted" }, "Collect them into the bundle as k8s/networkpolicies.json (kubectl get networkpolicies -A -o json), with k8s/namespaces.json for namespace labels."),
      el("pre", { class: "errmsg" }, e.message)));
    return;
  }
  const wanted = params.get("proto") && params.get("port") ? `${params.get("proto").toLowerCase()}/${params.get("port")}` : null;
  const probe = el("select", { "aria-label": "probe", id: "policy-probe" }, info.probes.map((p) => el("option", { value: probeKey(p) }, probeLabel(p))));
  if (wanted && info.probes.some((p) => probeKey(p) === wanted)) probe.value = wanted;
  const tooMany = info.pods > info.grid_pods_max;
  const byNs = el("input", { type: "checkbox", id: "policy-by-ns" });
  byNs.checked = params.get("by") === "namespace" || tooMany;
  byNs.disabled = tooMany;
  const out = el("div", { id: "policy-out" });
  const query = () => {
    const qs = new URLSearchParams();
    if (probe.value !== "any") { const [p, n] = probe.value.split("/"); qs.set("proto", p); qs.set("port", n); }
    if (byNs.checked) qs.set("by", "namespace");
    return qs.toString();
  };
  const go = () => { location.hash = "#/policy?" + query(); };
  probe.addEventListener("change", go);
  byNs.addEventListener("change", go);
  app.replaceChildren(el("h1", {}, "NetworkPolicy matrix"),
    el("div", { class: "toolbar" }, el("label", {}, "protocol and port ", probe),
      el("label", { class: "check", title: tooMany ? `more than ${info.grid_pods_max} pods: by namespace only` : "one row per namespace" }, byNs, " by namespace"),
      el("span", { class: "muted" }, `${info.pods} pods in ${info.namespaces} namespaces, ${info.policies} policies`)),
    out);
  out.replaceChildren(el("div", { class: "muted" }, "evaluating…"));
  try {
    const doc = await api("/api/v1/matrix?" + query());
    const detail = el("div", { id: "policy-cell", class: "pdetail-box" }, el("span", { class: "muted" }, "hover or click a cell for its policies and the dataplane's verdict"));
    const bad = doc.cells.filter(cellDisagrees).length;
    const rows = new Set(doc.cells.map((c) => c.src)).size;
    out.replaceChildren(
      el("div", { class: "banner " + (bad ? "err" : "ok"), id: "policy-summary" },
        bad ? `${bad} ${doc.by} pair${bad === 1 ? "" : "s"} where the dataplane disagrees with the policies` : "intent and dataplane agree",
        el("span", { class: "sub" }, `${probeLabel(doc)} · ${doc.pods} pods · ${doc.policies} policies · rows are sources, columns destinations`)),
      ...(doc.notes || []).map((n) => el("div", { class: "muted" }, "note: " + n)),
      policyLegend(),
      rows <= POLICY_GRID_MAX ? el("div", { class: "policy-main" }, policyGrid(doc, detail), detail)
        : el("div", { class: "empty" }, `${rows} rows are too many to draw; the disagreements are listed below (by namespace summarises).`),
      el("h2", {}, "Disagreements"), disagreementList(doc));
  } catch (e) {
    out.replaceChildren(errorBox(e));
  }
}

// ---------- router ----------
async function route() {
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active",
    a.dataset.nav === (parts[0] || "overview") || (parts[0] === "node" && a.dataset.nav === "overview")));
  try {
    if (!parts.length) await viewOverview();
    else if (parts[0] === "findings") await viewFindings(params);
    else if (parts[0] === "explain") await viewExplain(params);
    else if (parts[0] === "policy") await viewPolicy(params);
    else if (parts[0] === "node" && parts[1]) await viewNode(decodeURIComponent(parts.slice(1).join("/")));
    else app.replaceChildren(el("div", { class: "empty" }, "no such page"));
  } catch (e) {
    app.replaceChildren(errorBox(e));
  }
  document.body.dataset.ready = "1";
}
window.addEventListener("hashchange", route);
pollStatus().then(route);
setInterval(pollStatus, 15000);
