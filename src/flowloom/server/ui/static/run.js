// flowloom dashboard, one run: the graph laid out left to right (dagre) and coloured by status, a Gantt of
// node executions and a node panel, all following the run's event stream (SSE from the store).
"use strict";

const runId = document.getElementById("run-header").dataset.run;
const graph = JSON.parse(document.getElementById("graph-data").textContent);
const SVG = "http://www.w3.org/2000/svg";
const nodeState = new Map();   // node id -> {status, attempts, iterations, error, progress}
const executions = new Map();  // "node|scope" -> {node, scope, attempt, start, end, status, backoff: [[from, to]]}
const retries = new Map();     // node id -> [{attempt, error, delay_s}]
const tokens = new Map();      // node id -> text
let selected = null;
let runStart = null;
let lastSeq = 0;
let logStream = null;          // the node panel's stream of its node's new log lines

function el(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (parent) parent.append(node);
  return node;
}

// graph ---------------------------------------------------------------------------------------------------
const boxes = new Map();
function drawGraph() {
  const host = document.getElementById("graph");
  const layout = new dagre.graphlib.Graph();
  layout.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 48, marginx: 8, marginy: 8 });
  layout.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) layout.setNode(node.id, { width: 150, height: 46 });
  for (const edge of graph.edges) if (layout.hasNode(edge.source) && layout.hasNode(edge.target)) layout.setEdge(edge.source, edge.target);
  dagre.layout(layout);
  const size = layout.graph();
  const svg = el("svg", { width: size.width, height: size.height, viewBox: `0 0 ${size.width} ${size.height}`, role: "img",
    "aria-label": "workflow graph" });
  for (const edge of layout.edges()) {
    const points = layout.edge(edge).points;
    el("path", { class: "edge", d: "M" + points.map((p) => `${p.x},${p.y}`).join(" L") }, svg);
  }
  for (const node of graph.nodes) {
    const box = layout.node(node.id);
    const group = el("g", { class: "node pending", transform: `translate(${box.x - 75},${box.y - 23})`, tabindex: "0",
      role: "button", "data-node": node.id, "aria-label": `${node.title} (${node.type})` }, svg);
    el("rect", { width: 150, height: 46 }, group);
    el("text", { x: 8, y: 17 }, group).textContent = node.title.slice(0, 20);
    const sub = el("text", { x: 8, y: 33, class: "badge" }, group);
    sub.textContent = node.type;
    group.addEventListener("click", () => openPanel(node.id));
    group.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); openPanel(node.id); } });
    boxes.set(node.id, { group, sub, node });
  }
  host.replaceChildren(svg);
}

function paintNode(id) {
  const box = boxes.get(id);
  const state = nodeState.get(id);
  if (!box || !state) return;
  box.group.setAttribute("class", `node ${state.status}${selected === id ? " selected" : ""}`);
  box.group.dataset.status = state.status;
  const badges = [box.node.type];
  if (state.iterations > 1) badges.push(`×${state.iterations}`);
  if (state.attempts > 1) badges.push(`attempt ${state.attempts}`);
  if (state.cached) badges.push("cached");
  box.sub.textContent = badges.join(" · ");
  let title = box.group.querySelector("title");
  if (!title) title = el("title", {}, box.group);
  title.textContent = state.error ? `${state.status}: ${state.error}` : state.status;
}

// events --------------------------------------------------------------------------------------------------
const STATUS_OF = { NodeStarted: "processing", NodeSucceeded: "succeeded", NodeFailed: "failed",
  NodeSkipped: "skipped", NodeCanceled: "canceled", NodeRetrying: "processing" };

function state(id) {
  if (!nodeState.has(id)) nodeState.set(id, { status: "pending", attempts: 0, iterations: 0, error: null, scopes: new Set() });
  return nodeState.get(id);
}

function onEvent(type, data, seq) {
  lastSeq = Math.max(lastSeq, seq);
  if (type === "RunStarted") { if (runStart === null) runStart = data.at; return; }
  if (type === "RunFinished") {  // the engine records no event for a node on a dead path: it did not run
    for (const id of boxes.keys()) if (state(id).status === "pending") { state(id).status = "skipped"; paintNode(id); }
  }
  if (type === "RunFinished" || type === "RunWaiting") { refreshHeader(); return; }
  if (type === "RunResumed") return;
  const id = data.node_id;
  if (!id) return;
  if (runStart === null) runStart = data.at;
  const scope = (data.scope || []).join("/");
  const key = `${id}|${scope}`;
  const node = state(id);
  if (type === "LLMDelta") { tokens.set(id, (tokens.get(id) || "") + data.text); if (selected === id) showTokens(); return; }
  if (type === "NodeProgress") { node.progress = data; if (selected === id) showProgress(); return; }
  if (STATUS_OF[type]) node.status = STATUS_OF[type];
  if (type === "NodeStarted") {
    node.scopes.add(scope);
    node.iterations = node.scopes.size;
    node.attempts = Math.max(node.attempts, data.attempt || 1);
    const known = executions.get(key);
    const execution = known || { node: id, scope, backoff: [], start: data.at };
    execution.attempt = data.attempt || 1; execution.status = "processing"; execution.end = null;
    if (!known) executions.set(key, execution);
  } else if (type === "NodeRetrying") {
    node.attempts = Math.max(node.attempts, data.attempt + 1);  // the attempt that failed, and the next
    const execution = executions.get(key);
    if (execution) execution.backoff.push([data.at, data.at + data.delay_s]);
    if (!retries.has(id)) retries.set(id, []);
    retries.get(id).push({ attempt: data.attempt, error: data.error, delay_s: data.delay_s });
  } else if (type === "NodeSucceeded" || type === "NodeFailed" || type === "NodeCanceled") {
    const execution = executions.get(key);
    if (execution) { execution.end = data.at; execution.status = STATUS_OF[type]; }
    if (type === "NodeFailed") node.error = data.error;
    if (type === "NodeSucceeded") node.cached = data.cached;
  }
  paintNode(id);
  scheduleGantt();
  if (selected === id) showStatus();
}

// the run's events without its log lines, however many: the node panel reads its node's lines apart
function follow() {
  const source = new EventSource(`/api/v1/runs/${encodeURIComponent(runId)}/events?exclude=NodeLog`);
  const types = ["RunStarted", "RunFinished", "RunWaiting", "RunResumed", "NodeStarted", "NodeSucceeded", "NodeFailed",
    "NodeRetrying", "NodeSkipped", "NodeCanceled", "NodeProgress", "LLMDelta"];
  let ended = false;  // the last event ended the run (a resumed run's events come after one that ended it)
  for (const type of types) {
    source.addEventListener(type, (message) => {
      onEvent(type, JSON.parse(message.data), Number(message.lastEventId));
      ended = type === "RunFinished" || type === "RunWaiting";
    });
  }
  // the stream ends with the run; EventSource would come back (after its last id) for ever
  source.addEventListener("error", () => { if (ended) source.close(); });
  // tokens and progress are not in the store: this server hands them over while it runs the run
  const status = document.getElementById("run-status").textContent.trim();
  if (["pending", "processing"].includes(status)) {
    const live = new EventSource(`/api/v1/runs/${encodeURIComponent(runId)}/live`);
    for (const type of ["LLMDelta", "NodeProgress"]) {
      live.addEventListener(type, (message) => onEvent(type, JSON.parse(message.data), 0));
    }
    live.addEventListener("error", () => live.close());  // ended, or the run is not running here
  }
}

// header: the server renders it again when the run ends or waits -----------------------------------------
function refreshHeader() {
  if (window.htmx) htmx.ajax("GET", `/ui/runs/${encodeURIComponent(runId)}/header`, { target: "#run-header", swap: "innerHTML" });
}

// Gantt ---------------------------------------------------------------------------------------------------
let ganttQueued = false;
function scheduleGantt() {
  if (ganttQueued) return;
  ganttQueued = true;
  requestAnimationFrame(() => { ganttQueued = false; drawGantt(); });
}

function drawGantt() {
  const host = document.getElementById("gantt");
  const rows = [...executions.values()];
  if (!rows.length || runStart === null) return;
  const now = Date.now() / 1000;
  const end = Math.max(...rows.map((row) => row.end || Math.max(now, row.start)), runStart + 0.001);
  const span = end - runStart;
  const pct = (at) => `${(100 * (at - runStart)) / span}%`;
  const parts = [];
  for (const row of rows.slice(0, 500)) {
    const label = document.createElement("div");
    label.className = "label";
    label.textContent = row.scope ? `${row.node} [${row.scope}]` : row.node;
    const lane = document.createElement("div");
    lane.className = "lane";
    lane.dataset.node = row.node;
    const stop = row.end || now;
    const bar = document.createElement("div");
    bar.className = `bar ${row.status}`;
    bar.style.left = pct(row.start);
    bar.style.width = `${(100 * Math.max(stop - row.start, 0)) / span}%`;
    bar.title = `${row.node}: ${row.status}, attempt ${row.attempt}, ${((stop - row.start) * 1000).toFixed(0)} ms`;
    lane.append(bar);
    for (const [from, to] of row.backoff) {
      const wait = document.createElement("div");
      wait.className = "bar backoff";
      wait.style.left = pct(from);
      wait.style.width = `${(100 * (Math.min(to, stop) - from)) / span}%`;
      wait.title = "retry backoff";
      lane.append(wait);
    }
    parts.push(label, lane);
  }
  host.replaceChildren(...parts);
}

// node panel ----------------------------------------------------------------------------------------------
const panel = document.getElementById("node-panel");
function text(id, value) { document.getElementById(id).textContent = value; }

function showStatus() {
  const node = state(selected);
  const chip = document.getElementById("node-status");
  chip.textContent = node.status;
  chip.className = `chip status-${node.status}`;
  const badges = [];
  if (node.iterations > 1) badges.push(`${node.iterations} iterations`);
  if (node.attempts > 1) badges.push(`${node.attempts} attempts`);
  text("node-badges", badges.join(" · "));
}
function showTokens() {
  text("node-tokens", tokens.get(selected) || "");
  document.getElementById("node-tokens-section").hidden = !tokens.get(selected);
}
function showProgress() {
  const bar = document.getElementById("node-progress");
  const progress = state(selected).progress;
  bar.hidden = !progress;
  if (progress) { bar.max = progress.total || 1; bar.value = progress.done; bar.title = progress.message || ""; }
}

function appendLog(lines, before) {
  const log = document.getElementById("node-log");
  const fragment = document.createDocumentFragment();
  for (const line of lines) {
    const span = document.createElement("span");
    span.className = line.stream === "stderr" ? "stderr" : "";
    span.textContent = `${line.line}\n`;
    fragment.append(span);
  }
  if (before) log.prepend(fragment); else { log.append(fragment); log.scrollTop = log.scrollHeight; }
}

// the node's new lines as they are recorded, after the last one shown (its own stream: types and node)
function followLog(id, after) {
  stopLog();
  const params = new URLSearchParams({ types: "NodeLog", node: id, last_event_id: String(after) });
  const stream = new EventSource(`/api/v1/runs/${encodeURIComponent(runId)}/events?${params}`);
  let last = after;
  stream.addEventListener("NodeLog", (message) => {
    last = Number(message.lastEventId);
    if (selected === id) appendLog([JSON.parse(message.data)]);
  });
  // it ends with the run; after a broken connection, go on from the last line if the node still runs
  stream.addEventListener("error", () => {
    stream.close();
    if (logStream === stream && selected === id && state(id).status === "processing") {
      setTimeout(() => { if (logStream === stream && selected === id) followLog(id, last); }, 1000);
    }
  });
  logStream = stream;
}
function stopLog() { if (logStream) { logStream.close(); logStream = null; } }

async function loadLog(before) {
  const id = selected;
  const params = new URLSearchParams({ node: id, limit: "200" });
  if (before) params.set("before", before);
  const page = await flowloomApi("GET", `/api/v1/runs/${encodeURIComponent(runId)}/logs?${params}`);
  if (selected !== id) return;
  if (!before) followLog(id, page.lines.length ? page.lines[page.lines.length - 1].seq : 0);
  appendLog(page.lines, Boolean(before));
  const earlier = document.getElementById("load-earlier");
  earlier.hidden = page.earlier === null;
  earlier.dataset.before = page.earlier || "";
}

async function showExecutions() {
  const host = document.getElementById("node-executions");
  host.replaceChildren();
  const run = await flowloomApi("GET", `/api/v1/runs/${encodeURIComponent(runId)}`);
  const report = run.report && run.report.reports && run.report.reports[selected];
  const parts = [];
  for (const retry of retries.get(selected) || []) {
    const block = document.createElement("div");
    block.className = "execution";
    block.innerHTML = "<strong>attempt failed</strong> <span class='error'></span>";
    block.querySelector("strong").textContent = `attempt ${retry.attempt} failed (retried after ${retry.delay_s}s)`;
    block.querySelector(".error").textContent = retry.error;
    parts.push(block);
  }
  for (const snapshot of (report && report.snapshots) || []) {
    const block = document.createElement("div");
    block.className = "execution";
    for (const [name, value] of [["inputs", snapshot.inputs], ["outputs", snapshot.outputs]]) {
      const title = document.createElement("h4");
      title.textContent = name;
      const pre = document.createElement("pre");
      pre.textContent = JSON.stringify(value, null, 2);
      block.append(title, pre);
    }
    if (snapshot.error) {
      const error = document.createElement("p");
      error.className = "error node-error-text";
      error.textContent = snapshot.error;
      block.append(error);
    }
    parts.push(block);
  }
  const node = state(selected);
  if (!parts.length && node.error) {
    const error = document.createElement("p");
    error.className = "error node-error-text";
    error.textContent = node.error;
    parts.push(error);
  }
  host.replaceChildren(...parts);
}

async function openPanel(id) {
  if (selected && boxes.get(selected)) { const previous = selected; selected = id; paintNode(previous); }
  selected = id;
  paintNode(id);
  panel.hidden = false;
  const box = boxes.get(id);
  text("node-title", box ? `${box.node.title} (${box.node.type})` : id);
  panel.dataset.node = id;
  showStatus(); showTokens(); showProgress();
  document.getElementById("node-log").replaceChildren();
  document.getElementById("download-log").href =
    `/api/v1/runs/${encodeURIComponent(runId)}/logs?node=${encodeURIComponent(id)}&download=true`;
  stopLog();
  try { await Promise.all([showExecutions(), loadLog(null)]); } catch (error) { flowloomFlash(error.message); }
}

document.getElementById("close-panel").addEventListener("click", () => {
  const previous = selected;
  selected = null;
  stopLog();
  panel.hidden = true;
  paintNode(previous);
});
document.getElementById("load-earlier").addEventListener("click", (event) => {
  loadLog(Number(event.target.dataset.before)).catch((error) => flowloomFlash(error.message));
});
document.getElementById("rerun-from-node").addEventListener("click", async () => {
  try {
    const run = await flowloomApi("POST", `/api/v1/runs/${encodeURIComponent(runId)}/resume`, { from_nodes: [selected] });
    window.location.assign(`/ui/runs/${encodeURIComponent(run.id)}`);
  } catch (error) { flowloomFlash(error.message); }
});

drawGraph();
follow();
setInterval(() => { if ([...executions.values()].some((row) => !row.end)) scheduleGantt(); }, 500);
