// flowloom dashboard: actions through the public runs API, run forms, and live rows on the runs page.
"use strict";

function flash(message, ok) {
  const box = document.getElementById("flash");
  box.replaceChildren();
  const line = document.createElement("p");
  line.textContent = message;
  if (ok) line.className = "ok";
  box.append(line);
}

async function api(method, path, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { message: text }; }
  if (!response.ok) throw new Error((data && data.message) || `${response.status} ${response.statusText}`);
  return data;
}
window.flowloomApi = api;
window.flowloomFlash = flash;

function openRun(id) { window.location.assign(`/ui/runs/${encodeURIComponent(id)}`); }

// <button data-post="/api/..." data-body='{}' data-then="reload|open-run">
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-post]");
  if (!button) return;
  button.disabled = true;
  try {
    const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    const answer = await api("POST", button.dataset.post, body);
    if (button.dataset.then === "open-run" && answer && answer.id) openRun(answer.id);
    else window.location.reload();
  } catch (error) {
    flash(error.message);
    button.disabled = false;
  }
});

// Bulk actions on the runs page.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-bulk]");
  if (!button) return;
  const chosen = [...document.querySelectorAll("#runs-table input[name=run]:checked")].map((box) => box.value);
  if (!chosen.length) { flash("Select runs first."); return; }
  const action = button.dataset.bulk;
  const done = await Promise.allSettled(chosen.map((id) => api("POST", `/api/v1/runs/${id}/${action}`)));
  const failed = done.filter((result) => result.status === "rejected");
  const verb = action === "cancel" ? "canceled" : "re-run";
  flash(failed.length ? `${chosen.length - failed.length} ${verb}; ${failed.length} refused: ${failed[0].reason.message}`
    : `${chosen.length} run${chosen.length === 1 ? "" : "s"} ${verb}.`, !failed.length);
  refreshRuns();
});

document.addEventListener("change", (event) => {
  if (event.target.matches("[data-select-all]")) {
    for (const box of document.querySelectorAll("#runs-table input[name=run]")) box.checked = event.target.checked;
  }
});

// Run forms: a stored workflow's (data-start=/api/v1/workflows/H/runs) or a document's (/api/v1/runs).
function formInputs(form) {
  const inputs = {};
  for (const field of form.querySelectorAll("[data-kind]")) {
    const kind = field.dataset.kind;
    if (kind === "checkbox") { inputs[field.name] = field.checked; continue; }
    if (field.value === "") continue;
    if (kind === "json") {
      try { inputs[field.name] = JSON.parse(field.value); }
      catch (_) { throw new Error(`${field.name}: not JSON (${field.value.slice(0, 40)})`); }
    } else if (kind === "number" || kind === "integer") inputs[field.name] = Number(field.value);
    else inputs[field.name] = field.value;
  }
  return inputs;
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (form.dataset.start) {
    event.preventDefault();
    try {
      let body;
      if (form.id === "new-run") {
        let inputs;
        try { inputs = JSON.parse(form.elements.inputs.value || "{}"); }
        catch (_) { throw new Error("inputs: not a JSON object"); }
        body = { workflow: form.elements.workflow.value, inputs };
      } else body = { inputs: formInputs(form) };
      const run = await api("POST", form.dataset.start, body);
      openRun(run.id);
    } catch (error) { flash(error.message); }
  } else if (form.dataset.answer) {
    event.preventDefault();
    const choice = event.submitter && event.submitter.value;
    let payload;
    if (choice) payload = JSON.parse(choice);
    else {
      const text = form.elements.text.value;
      try { const parsed = JSON.parse(text); payload = parsed && typeof parsed === "object" ? parsed : text; }
      catch (_) { payload = text; }
    }
    try {
      await api("POST", `/api/v1/runs/${form.dataset.answer}/resume`, { payload, key: form.dataset.key });
      window.location.reload();
    } catch (error) { flash(error.message); }
  }
});

// The runs page: rows refresh when any run in the store starts, ends, waits or resumes (the every-run
// WebSocket follows the store, so runs of other processes come too); selections survive refreshes.
let refreshTimer = null;
function refreshRuns() {
  const table = document.getElementById("runs-table");
  if (!table || refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; htmx.trigger(table, "refresh"); }, 150);
}
let kept = [];
document.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.target.id === "runs-table") {
    kept = [...document.querySelectorAll("#runs-table input[name=run]:checked")].map((box) => box.value);
  }
});
document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target.id !== "runs-table") return;
  for (const id of kept) {
    const box = document.querySelector(`#runs-table input[name=run][value="${CSS.escape(id)}"]`);
    if (box) box.checked = true;
  }
});

const RUN_EVENTS = ["RunStarted", "RunFinished", "RunWaiting", "RunResumed"];
let runsFollowed = false;
function followRuns() {
  if (!document.getElementById("runs-table")) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/api/v1/events?types=${RUN_EVENTS.join(",")}`);
  socket.onopen = () => { if (runsFollowed) refreshRuns(); runsFollowed = true; };  // what changed meanwhile
  socket.onmessage = (message) => {
    try { if (RUN_EVENTS.includes(JSON.parse(message.data).type)) refreshRuns(); } catch (_) { /* not an event */ }
  };
  socket.onclose = () => setTimeout(followRuns, 3000);
}
document.addEventListener("DOMContentLoaded", followRuns);
