// The Ordinaut web UI: plain JavaScript over the REST API, no build step.
// The secret lives in sessionStorage (this tab only) and goes out as a bearer header.
"use strict";

const KEY = "ordinaut.secret";
const $ = (id) => document.getElementById(id);
let selected = null; // the task whose runs are shown

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY)}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(problemText(data, response.status));
  return data;
}

function problemText(problem, status) {
  if (!problem || typeof problem !== "object") return `HTTP ${status}`;
  const fields = (problem.errors || []).map((e) => `${(e.loc || []).join(".")}: ${e.msg}`);
  return [problem.detail || problem.title || `HTTP ${status}`, ...fields].join("\n");
}

function cell(row, text) {
  const td = row.insertCell();
  td.textContent = text ?? "";
  return td;
}

function button(label, onClick, className) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (className) b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

// ---------------------------------------------------------------- sign in and out

async function signIn(secret) {
  sessionStorage.setItem(KEY, secret);
  try {
    await api("GET", "/tasks?limit=1");
  } catch (error) {
    sessionStorage.removeItem(KEY);
    $("sign-in-error").textContent = `Could not sign in: ${error.message}`;
    return;
  }
  $("sign-in-error").textContent = "";
  show(true);
  const zone = document.querySelector("#new-task [name=timezone]");
  zone.value ||= Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  await loadTasks();
}

function show(signedIn) {
  $("sign-in-view").hidden = signedIn;
  $("app-view").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  $("who").textContent = signedIn ? "signed in" : "";
}

// ---------------------------------------------------------------------- tasks

async function loadTasks() {
  try {
    const page = await api("GET", "/tasks?limit=200");
    renderTasks(page.items);
    $("tasks-error").textContent = "";
  } catch (error) {
    $("tasks-error").textContent = error.message;
  }
  if (selected) await loadRuns(selected);
}

function renderTasks(tasks) {
  const body = $("tasks");
  body.replaceChildren();
  for (const task of tasks) {
    const row = body.insertRow();
    row.dataset.taskId = task.id;
    cell(row, "").append(button(task.title, () => selectTask(task), "link"));
    cell(row, `${task.schedule_kind} ${task.schedule_expr} (${task.timezone})`);
    cell(row, task.status).className = "status";
    cell(row, when(task.next_run_at));
    const actions = cell(row, "");
    actions.className = "actions";
    for (const action of ["run_now", "pause", "resume", "cancel"]) {
      actions.append(button(action.replace("_", " "), () => act(task, action)));
    }
  }
}

async function act(task, action) {
  try {
    await api("POST", `/tasks/${task.id}/${action}`, {});
    $("tasks-error").textContent = "";
    if (action === "run_now") selected = task;
  } catch (error) {
    $("tasks-error").textContent = `${action}: ${error.message}`;
  }
  await loadTasks();
}

async function selectTask(task) {
  selected = task;
  await loadRuns(task);
}

// ----------------------------------------------------------------------- runs

async function loadRuns(task) {
  $("detail").hidden = false;
  $("detail-title").textContent = task.title;
  const [schedule, page] = await Promise.all([
    api("GET", `/tasks/${task.id}/schedule?count=5`),
    api("GET", `/runs?task_id=${task.id}&include_errors=true&limit=50`),
  ]);
  $("upcoming").replaceChildren(...schedule.occurrences.map(occurrenceItem));
  const body = $("runs");
  body.replaceChildren();
  for (const run of page.items) {
    const row = body.insertRow();
    cell(row, when(run.started_at));
    cell(row, String(run.attempt));
    const result = cell(row, run.success ? "succeeded" : `failed: ${run.error ?? ""}`);
    result.className = run.success ? "ok" : "failed";
    cell(row, run.duration_ms == null ? "" : String(Math.round(run.duration_ms)));
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(run.output, null, 2);
    cell(row, "").append(pre);
  }
}

function occurrenceItem(o) {
  const item = document.createElement("li");
  item.textContent = `${o.local} (${o.utc} UTC)${o.note ? ` — ${o.note}` : ""}`;
  return item;
}

// ------------------------------------------------------------------ new task

function draft() {
  const form = new FormData($("new-task"));
  let payload;
  try {
    payload = JSON.parse(form.get("payload"));
  } catch (error) {
    throw new Error(`Pipeline: not JSON (${error.message})`);
  }
  return {
    title: form.get("title"),
    schedule_kind: form.get("schedule_kind"),
    schedule_expr: form.get("schedule_expr"),
    timezone: form.get("timezone") || undefined,
    payload,
  };
}

async function preview() {
  const list = $("preview-list");
  list.replaceChildren();
  try {
    const task = draft();
    const result = await api("POST", "/schedules/preview", {
      schedule_kind: task.schedule_kind, schedule_expr: task.schedule_expr,
      timezone: task.timezone, count: 5,
    });
    list.append(...result.occurrences.map(occurrenceItem));
    $("form-error").textContent = "";
  } catch (error) {
    $("form-error").textContent = error.message;
  }
}

async function create(event) {
  event.preventDefault();
  try {
    await api("POST", "/tasks", draft());
    $("form-error").textContent = "";
    $("preview-list").replaceChildren();
    $("new-task").querySelector("[name=title]").value = "";
  } catch (error) {
    $("form-error").textContent = error.message;
  }
  await loadTasks();
}

// ----------------------------------------------------------------------- wiring

$("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("secret").value.trim());
});
$("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  selected = null;
  show(false);
});
$("preview").addEventListener("click", preview);
$("new-task").addEventListener("submit", create);
$("refresh").addEventListener("click", loadTasks);
setInterval(() => { if (sessionStorage.getItem(KEY)) loadTasks(); }, 3000);
if (sessionStorage.getItem(KEY)) signIn(sessionStorage.getItem(KEY));
