// The vltava console: one page that routes on the URL's hash and asks /api/... for data.
// Hand-written, no framework, nothing loaded from elsewhere (the server's CSP forbids it).
"use strict";

const RATE_SAMPLE_MS = 5000;      // how often the overview samples the log end offsets
const TAIL_ROWS_MAX = 500;        // rows kept on the live tail page (newest first)
const SEARCH_ROWS_MAX = 10000;    // the server's own bound on a search's matches

let cleanup = [];                 // what the current page must stop when another opens

const $ = (selector, root = document) => root.querySelector(selector);

// An element: el("td", {class: "num"}, "42", child...).
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return node;
}

function table(headers, rows, attrs = {}) {
  return el("table", attrs,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

function status(text, isError = false) {
  const s = $("#status");
  s.textContent = text;
  s.className = isError ? "error" : "";
}

async function api(path, options = {}) {
  const init = { headers: {}, ...options };
  if (options.body !== undefined) {
    init.method = options.method || "POST";
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const answer = await fetch(path, init);
  const body = await answer.json().catch(() => ({ error: `HTTP ${answer.status}` }));
  if (!answer.ok) {
    const error = new Error(body.error || `HTTP ${answer.status}`);
    error.kafkaError = body.kafka_error;
    throw error;
  }
  return body;
}

const enc = encodeURIComponent;
const dash = (v) => (v === null || v === undefined ? "-" : v);

// ---- routing ----

function route() {
  for (const stop of cleanup) stop();
  cleanup = [];
  status("");
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const page = $("#page");
  page.replaceChildren();
  const name = parts[0] || "overview";
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.dataset.page === name);
  }
  const pages = {
    overview: () => overview(page),
    topics: () => (parts[1] ? topic(page, parts[1]) : topics(page)),
    groups: () => (parts[1] ? group(page, parts[1]) : groups(page)),
    browse: () => browse(page, params),
    tail: () => tail(page, params),
    produce: () => produce(page, params),
  };
  const show = pages[name] || (() => page.append(el("p", { class: "error" }, "No such page.")));
  page.dataset.page = name;
  return Promise.resolve(show()).then(
    () => { page.dataset.loaded = "true"; },
    (error) => { status(error.message, true); page.dataset.loaded = "error"; });
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", route);

// ---- overview ----

async function overview(page) {
  const o = await api("/api/overview");
  const c = o.cluster;
  const card = (k, v, id) => el("div", { class: "card" }, el("div", { class: "v", id }, v), el("div", { class: "k" }, k));
  page.append(
    el("h1", {}, "Cluster ", el("span", { class: "muted" }, c.cluster_id)),
    el("div", { class: "cards" },
      card("brokers", c.nodes.length, "brokers-count"),
      card("active controller", o.active_controller, "active-controller"),
      card("topics", o.topics, "topics-count"),
      card("partitions", o.partitions, "partitions-count"),
      card("offline partitions", o.offline_partitions),
      card("messages in / s", "…", "messages-rate")),
    el("h2", {}, "Brokers"),
    table(["id", "address", "rack", "state"], c.nodes.map((n) => el("tr", {},
      el("td", {}, n.id + (n.id === o.active_controller ? " (controller)" : "")),
      el("td", {}, `${n.host}:${n.port}`), el("td", {}, dash(n.rack)),
      el("td", { class: n.fenced ? "error" : "ok" }, n.fenced ? "fenced" : "unfenced"))), { id: "brokers" }),
    el("p", { class: "muted" }, `${o.internal_topics} internal topics not counted. Messages in: the change of the sum of every partition's log end offset, sampled every ${RATE_SAMPLE_MS / 1000} s.`));
  let last = { total: o.log_end_offsets_total, at: performance.now() };
  const timer = setInterval(async () => {
    try {
      const next = await api("/api/overview");
      const now = performance.now();
      const rate = ((next.log_end_offsets_total - last.total) * 1000) / (now - last.at);
      last = { total: next.log_end_offsets_total, at: now };
      const shown = $("#messages-rate");
      if (shown) shown.textContent = Math.max(0, rate).toFixed(1);
    } catch (error) {
      status(error.message, true);
    }
  }, RATE_SAMPLE_MS);
  cleanup.push(() => clearInterval(timer));
}

// ---- topics ----

async function topics(page) {
  const list = await api("/api/topics");
  page.append(el("h1", {}, "Topics"),
    table(["topic", "partitions", "replication factor", "under-replicated", "internal"],
      list.map((t) => el("tr", {},
        el("td", {}, el("a", { href: `#/topics/${enc(t.name)}` }, t.name)),
        el("td", { class: "num" }, t.partitions), el("td", { class: "num" }, t.replication_factor),
        el("td", { class: "num" + (t.under_replicated ? " error" : "") }, t.under_replicated),
        el("td", {}, t.internal ? "yes" : ""))), { id: "topics" }));
}

async function topic(page, name) {
  const t = await api(`/api/topics/${enc(name)}`);
  const links = el("p", {},
    el("a", { href: `#/browse?topic=${enc(name)}` }, "Browse messages"), " · ",
    el("a", { href: `#/tail?topic=${enc(name)}` }, "Live tail"), " · ",
    el("a", { href: `#/produce?topic=${enc(name)}` }, "Produce"));
  page.append(el("h1", {}, "Topic ", name), el("p", { class: "muted" }, `id ${t.id}`), links,
    el("h2", {}, "Partitions"),
    table(["partition", "leader", "replicas", "in-sync replicas", "start offset", "end offset"],
      t.partitions.map((p) => el("tr", {},
        el("td", { class: "num" }, p.partition),
        el("td", { class: "num" + (p.leader < 0 ? " error" : "") }, p.leader < 0 ? "none" : p.leader),
        el("td", {}, p.replicas.join(", ")),
        el("td", { class: p.isr.length < p.replicas.length ? "error" : "" }, p.isr.join(", ")),
        el("td", { class: "num" }, dash(p.start_offset)), el("td", { class: "num" }, dash(p.end_offset)))),
      { id: "partitions" }),
    el("h2", {}, "Configs"), configEditor(name), el("div", { id: "configs" }));
  showConfigs(name, t.configs);
}

function configEditor(topicName) {
  const form = el("form", { class: "grid", id: "config-form" },
    el("label", { for: "config-name" }, "config"), el("input", { id: "config-name", required: true, placeholder: "retention.ms" }),
    el("label", { for: "config-value" }, "value"), el("input", { id: "config-value", placeholder: "empty: back to the default" }),
    el("span"), el("div", { class: "actions" }, el("button", { type: "submit", id: "config-save" }, "Save")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("#config-name").value.trim();
    const value = $("#config-value").value;
    try {
      const configs = await api(`/api/topics/${enc(topicName)}/configs`,
        { body: { name, value: value === "" ? null : value } });
      showConfigs(topicName, configs);
      status(`${name} ${value === "" ? "reset to its default" : `set to ${value}`}`);
    } catch (error) {
      status(error.message, true);
    }
  });
  return form;
}

function showConfigs(topicName, configs) {
  const rows = configs.map((c) => {
    const edit = el("button", { type: "button", class: "secondary", disabled: c.read_only }, "edit");
    edit.addEventListener("click", () => {
      $("#config-name").value = c.name;
      $("#config-value").value = c.sensitive ? "" : (c.value ?? "");
      $("#config-value").focus();
    });
    return el("tr", { "data-config": c.name },
      el("td", {}, c.name), el("td", { class: "value" }, c.sensitive ? "(sensitive)" : dash(c.value)),
      el("td", {}, c.source), el("td", {}, edit));
  });
  $("#configs").replaceChildren(table(["config", "value", "source", ""], rows));
}

// ---- consumer groups ----

async function groups(page) {
  const list = await api("/api/groups");
  page.append(el("h1", {}, "Consumer groups"),
    list.length === 0 ? el("p", { class: "muted" }, "No groups.") :
      table(["group", "type", "state", "protocol type"], list.map((g) => el("tr", {},
        el("td", {}, el("a", { href: `#/groups/${enc(g.group)}` }, g.group)), el("td", {}, dash(g.group_type)),
        el("td", {}, g.state), el("td", {}, dash(g.protocol_type)))), { id: "groups" }));
}

async function group(page, name) {
  const g = await api(`/api/groups/${enc(name)}`);
  const assignment = (m) => (m.assignment || []).map((p) => `${p.topic}-${p.partition}`).join(", ") || "-";
  page.append(el("h1", {}, "Group ", name),
    el("p", {}, "State ", el("strong", { id: "group-state" }, g.state),
      " · ", el("span", { id: "group-type" }, g.group_type),
      g.group_epoch === null ? "" : el("span", {}, " · epoch ", el("span", { id: "group-epoch" }, g.group_epoch)),
      ` · ${g.protocol_type || "-"} ${g.protocol || ""}`),
    el("h2", {}, "Members"),
    g.members.length === 0 ? el("p", { class: "muted" }, "No active members.") :
      table(["member", "client id", "host", "epoch", "assignment"], g.members.map((m) => el("tr", { class: "member" },
        el("td", {}, m.member_id), el("td", {}, m.client_id), el("td", {}, m.host),
        el("td", { class: "num" }, dash(m.member_epoch)), el("td", { class: "assignment" }, assignment(m)))),
        { id: "group-members" }),
    el("h2", {}, "Offsets and lag"),
    table(["topic", "partition", "committed offset", "log end offset", "lag", "member"],
      g.offsets.map((o) => el("tr", { "data-topic": o.topic, "data-partition": o.partition },
        el("td", {}, o.topic), el("td", { class: "num" }, o.partition),
        el("td", { class: "num" }, dash(o.committed_offset)), el("td", { class: "num" }, dash(o.log_end_offset)),
        el("td", { class: "num lag" }, dash(o.lag)), el("td", {}, dash(o.member_id)))), { id: "group-offsets" }),
    el("h2", {}, "Reset offsets"),
    el("p", { class: "muted" }, "Only while the group has no members: the coordinator refuses otherwise."),
    resetForm(name, [...new Set(g.offsets.map((o) => o.topic))]));
}

function resetForm(groupName, topicsOfGroup) {
  const form = el("form", { class: "grid", id: "reset-form" },
    el("label", { for: "reset-topic" }, "topic"),
    el("input", { id: "reset-topic", required: true, list: "reset-topics", value: topicsOfGroup[0] || "" }),
    el("label", { for: "reset-to" }, "to"),
    el("select", { id: "reset-to" }, ["earliest", "latest", "offset"].map((v) => el("option", { value: v }, v))),
    el("label", { for: "reset-offset" }, "offset"), el("input", { id: "reset-offset", type: "number", min: 0 }),
    el("span"), el("div", { class: "actions" },
      el("button", { type: "submit", class: "secondary", id: "reset-dry-run" }, "Dry run"),
      el("button", { type: "submit", id: "reset-execute" }, "Execute")),
    el("datalist", { id: "reset-topics" }, topicsOfGroup.map((t) => el("option", { value: t }))));
  const result = el("div", { id: "reset-result" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const to = $("#reset-to").value;
    const body = { topic: $("#reset-topic").value, to, dry_run: event.submitter?.id === "reset-dry-run" };
    if (to === "offset") body.offset = Number($("#reset-offset").value);
    try {
      const done = await api(`/api/groups/${enc(groupName)}/reset`, { body });
      const offsets = done.partitions.map((p) => `${done.topic}-${p.partition} → ${p.new_offset}`).join(", ");
      if (done.dry_run) {
        status(`dry run, nothing committed: ${offsets}`);
        result.replaceChildren(el("p", { class: "muted" }, "Dry run: the offsets a reset would commit."),
          table(["topic", "partition", "new offset"], done.partitions.map((p) =>
            el("tr", { "data-partition": p.partition }, el("td", {}, done.topic),
              el("td", { class: "num" }, p.partition), el("td", { class: "num new-offset" }, p.new_offset)))));
      } else {
        await route();
        status(`reset: ${offsets}`);
      }
    } catch (error) {
      status(error.kafkaError ? `${error.kafkaError}: ${error.message}` : error.message, true);
    }
  });
  return el("div", {}, form, result);
}

// ---- records: decoding, search, export ----

function decode(payload, mode) {
  if (payload === null || payload === undefined) return "null";
  const cut = payload.truncated ? ` … (${payload.size} bytes)` : "";
  if (mode === "hex" || payload.text === null) return payload.hex + cut;
  if (mode === "json") {
    try { return JSON.stringify(JSON.parse(payload.text), null, 2) + cut; } catch { /* not JSON: as text */ }
  }
  return payload.text + cut;
}

function headersText(record, mode) {
  return record.headers.map((h) => `${h.key}=${decode(h.value, mode)}`).join("\n");
}

function recordRow(r, mode) {
  return el("tr", { "data-partition": r.partition, "data-offset": r.offset },
    el("td", { class: "num" }, r.partition), el("td", { class: "num" }, r.offset),
    el("td", {}, new Date(r.timestamp).toISOString()),
    el("td", { class: "key" }, el("pre", {}, decode(r.key, mode))),
    el("td", { class: "value" }, el("pre", {}, decode(r.value, mode))),
    el("td", {}, el("pre", {}, headersText(r, mode))));
}

const RECORD_HEADERS = ["partition", "offset", "timestamp", "key", "value", "headers"];

function field(label, id, attrs = {}) {
  return [el("label", { for: id }, label), el("input", { id, ...attrs })];
}

function decodeSelect(id) {
  return el("select", { id }, ["text", "json", "hex"].map((m) => el("option", { value: m }, m)));
}

function browse(page, params) {
  const form = el("form", { class: "grid wide", id: "search-form" },
    ...field("topic", "search-topic", { required: true, value: params.get("topic") || "" }),
    ...field("partition", "search-partition", { type: "number", min: 0, placeholder: "all" }),
    el("label", { for: "search-from" }, "from"),
    el("select", { id: "search-from" }, el("option", { value: "offset" }, "offset"), el("option", { value: "timestamp" }, "time")),
    ...field("offset", "search-offset", { type: "number", min: 0, value: 0 }),
    ...field("time (UTC)", "search-time", { type: "datetime-local", step: 1 }),
    ...field("until time (UTC)", "search-until", { type: "datetime-local", step: 1 }),
    ...field("key contains", "search-key"),
    ...field("header (name or name=value)", "search-header"),
    ...field("value contains", "search-text"),
    ...field("JSON field (a.b.c)", "search-json-path"),
    ...field("JSON field equals", "search-json-value"),
    ...field("stop after matches", "search-max-matches", { type: "number", min: 1, max: SEARCH_ROWS_MAX, value: 100 }),
    ...field("stop after records scanned", "search-max-scanned", { type: "number", min: 1, value: 100000 }),
    ...field("stop after seconds", "search-max-seconds", { type: "number", min: 1, max: 120, value: 10 }),
    el("label", { for: "search-decode" }, "show as"), decodeSelect("search-decode"),
    el("div", { class: "actions" },
      el("button", { type: "submit", id: "search-start" }, "Search"),
      el("button", { type: "button", class: "secondary", id: "search-cancel", disabled: true }, "Cancel"),
      el("button", { type: "button", class: "secondary", id: "export-json" }, "Export JSON"),
      el("button", { type: "button", class: "secondary", id: "export-csv" }, "Export CSV")));
  const progress = el("p", { id: "search-progress", class: "muted" });
  const body = el("tbody");
  page.append(el("h1", {}, "Messages"), form, progress, el("table", { id: "search-results" },
    el("thead", {}, el("tr", {}, RECORD_HEADERS.map((h) => el("th", {}, h)))), body));
  let results = [];
  let source = null;
  const stop = (text) => {
    if (source) source();
    source = null;
    $("#search-cancel").disabled = true;
    $("#search-start").disabled = false;
    if (text) progress.textContent = text;
  };
  cleanup.push(() => stop());
  const redraw = () => {
    const mode = $("#search-decode").value;
    body.replaceChildren(...results.map((r) => recordRow(r, mode)));
  };
  $("#search-decode").addEventListener("change", redraw);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    stop();
    results = [];
    redraw();
    const q = new URLSearchParams();
    const value = (id) => $(id).value.trim();
    if (value("#search-partition") !== "") q.set("partition", value("#search-partition"));
    if (value("#search-from") === "timestamp") {
      const at = Date.parse(value("#search-time") + "Z");
      if (Number.isNaN(at)) { status("choose a time", true); return; }
      q.set("timestamp", at);
    } else {
      q.set("offset", value("#search-offset") || "0");
    }
    if (value("#search-until") !== "") {
      const until = Date.parse(value("#search-until") + "Z");
      if (Number.isNaN(until)) { status("the until time is not a time", true); return; }
      q.set("until", until);
    }
    for (const [name, id] of [["key", "#search-key"], ["header", "#search-header"], ["text", "#search-text"],
      ["json_path", "#search-json-path"], ["json_value", "#search-json-value"],
      ["max_matches", "#search-max-matches"], ["max_scanned", "#search-max-scanned"], ["max_seconds", "#search-max-seconds"]]) {
      if (value(id) !== "") q.set(name, value(id));
    }
    status("");
    progress.textContent = "searching…";
    $("#search-cancel").disabled = false;
    $("#search-start").disabled = true;
    source = openStream(`/api/topics/${enc(value("#search-topic"))}/search?${q}`, {
      record: (r) => {
        results.push(r);
        body.append(recordRow(r, $("#search-decode").value));
      },
      progress: (p) => {
        progress.textContent = `searching: ${p.matched} matches in ${p.scanned} records scanned…`;
      },
      done: (p) => {
        const why = { matches: "enough matches", scanned: "enough records scanned", time: "time limit", end: "end of the topic" }[p.stopped];
        stop(`done (${why}): ${p.matched} matches in ${p.scanned} records scanned`);
        progress.dataset.done = "true";
      },
      failure: (f) => { stop("failed"); status(f.error, true); },
    }, (error) => { if (source) { stop("failed"); status(error || "the search ended early", true); } });
  });
  $("#search-cancel").addEventListener("click", () => stop(`cancelled after ${results.length} matches`));
  $("#export-json").addEventListener("click", () => download("records.json", "application/json",
    JSON.stringify(results.map((r) => exported(r)), null, 2)));
  $("#export-csv").addEventListener("click", () => download("records.csv", "text/csv", csv(results)));
}

// A record as exported: payloads as text when they are UTF-8, else hex.
function exported(r) {
  const p = (payload) => (payload === null ? null : payload.text ?? payload.hex);
  return { partition: r.partition, offset: r.offset, timestamp: r.timestamp, key: p(r.key), value: p(r.value),
    headers: r.headers.map((h) => ({ key: h.key, value: p(h.value) })) };
}

function csv(records) {
  const cell = (v) => {
    const s = v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
    return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const rows = records.map(exported).map((r) =>
    [r.partition, r.offset, r.timestamp, r.key, r.value, r.headers].map(cell).join(","));
  return [RECORD_HEADERS.join(","), ...rows].join("\r\n") + "\r\n";
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

// Opens one of the API's event streams with fetch rather than EventSource, so that a refusal's
// JSON error (unknown topic, too many streams) can be shown, and so that nothing reconnects on
// its own. Calls handlers[event](data) for each event, and onEnd(error or null) when the
// stream ends by itself; returns the function that closes it (the server then stops).
function openStream(url, handlers, onEnd) {
  const abort = new AbortController();
  const dispatch = (block) => {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length > 0 && handlers[name]) handlers[name](JSON.parse(data.join("\n")));
  };
  (async () => {
    try {
      const answer = await fetch(url, { signal: abort.signal, headers: { accept: "text/event-stream" } });
      if (!answer.ok) {
        const body = await answer.json().catch(() => ({}));
        onEnd(body.error || `HTTP ${answer.status}`);
        return;
      }
      const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
      onEnd(null);
    } catch (error) {
      if (!abort.signal.aborted) onEnd(error.message);
    }
  })();
  return () => abort.abort();
}

// ---- live tail ----

function tail(page, params) {
  const form = el("form", { class: "grid", id: "tail-form" },
    ...field("topic", "tail-topic", { required: true, value: params.get("topic") || "" }),
    ...field("partition", "tail-partition", { type: "number", min: 0, placeholder: "all" }),
    el("label", { for: "tail-decode" }, "show as"), decodeSelect("tail-decode"),
    el("span"), el("div", { class: "actions" },
      el("button", { type: "submit", id: "tail-start" }, "Start"),
      el("button", { type: "button", class: "secondary", id: "tail-stop", disabled: true }, "Stop")));
  const state = el("p", { id: "tail-status", class: "muted" }, "not tailing");
  const body = el("tbody");
  page.append(el("h1", {}, "Live tail"), form, state, el("table", { id: "tail-records" },
    el("thead", {}, el("tr", {}, RECORD_HEADERS.map((h) => el("th", {}, h)))), body));
  let source = null;
  const stop = (text) => {
    if (source) source();
    source = null;
    state.dataset.state = "stopped";
    $("#tail-start").disabled = false;
    $("#tail-stop").disabled = true;
    if (text) state.textContent = text;
  };
  cleanup.push(() => stop());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    stop();
    body.replaceChildren();
    const topicName = $("#tail-topic").value.trim();
    const q = new URLSearchParams();
    if ($("#tail-partition").value !== "") q.set("partition", $("#tail-partition").value);
    state.textContent = "connecting…";
    $("#tail-start").disabled = true;
    $("#tail-stop").disabled = false;
    source = openStream(`/api/topics/${enc(topicName)}/tail?${q}`, {
      ready: ({ positions }) => {
        state.textContent = `tailing ${topicName} from ` +
          Object.entries(positions).map(([p, o]) => `${p}@${o}`).join(", ");
        state.dataset.state = "tailing";
      },
      record: (r) => {
        body.prepend(recordRow(r, $("#tail-decode").value));
        while (body.rows.length > TAIL_ROWS_MAX) body.lastElementChild.remove();
      },
      done: () => stop("the tail reached its time limit"),
      failure: (f) => { stop("stopped"); status(f.error, true); },
    }, (error) => { if (source) { stop("stopped"); status(error || "the tail was cut off", true); } });
  });
  $("#tail-stop").addEventListener("click", () => stop("stopped"));
}

// ---- produce ----

function produce(page, params) {
  const form = el("form", { class: "grid", id: "produce-form" },
    ...field("topic", "produce-topic", { required: true, value: params.get("topic") || "" }),
    ...field("partition", "produce-partition", { type: "number", min: 0, placeholder: "by key, else round robin" }),
    ...field("key", "produce-key", { placeholder: "none" }),
    el("label", { for: "produce-value" }, "value"), el("textarea", { id: "produce-value", rows: 6 }),
    el("label", { for: "produce-headers" }, "headers (name=value a line)"), el("textarea", { id: "produce-headers", rows: 3 }),
    el("span"), el("div", { class: "actions" }, el("button", { type: "submit", id: "produce-send" }, "Produce")));
  const result = el("p", { id: "produce-result" });
  page.append(el("h1", {}, "Produce a message"), form, result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const headers = $("#produce-headers").value.split("\n").filter((l) => l.trim() !== "").map((line) => {
      const at = line.indexOf("=");
      return at < 0 ? { key: line, value: null } : { key: line.slice(0, at), value: line.slice(at + 1) };
    });
    const body = { key: $("#produce-key").value === "" ? null : $("#produce-key").value,
      value: $("#produce-value").value, headers };
    if ($("#produce-partition").value !== "") body.partition = Number($("#produce-partition").value);
    const topicName = $("#produce-topic").value.trim();
    result.textContent = "";
    delete result.dataset.offset;
    try {
      const done = await api(`/api/topics/${enc(topicName)}/records`, { body });
      result.textContent = `produced to ${topicName} partition ${done.partition} at offset ${done.offset}`;
      result.className = "ok";
      result.dataset.partition = done.partition;
      result.dataset.offset = done.offset;
    } catch (error) {
      result.textContent = error.message;
      result.className = "error";
    }
  });
}
