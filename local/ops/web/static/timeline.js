// The local timeline page: recent tasks from GET /tasks, and one task's lifecycle from GET /tasks/{taskId},
// drawn per life (a redrive starts a new lane) with each retry's visibility timeout as a hatched window; and
// whether its history verifies against the signed digests (GET /tasks/{taskId}/proof): "verified up to T", or, in
// red, each finding.
"use strict";

const state = { config: null, selected: null, timer: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("data-")) node.setAttribute(name, String(value));
    else node[name] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

async function api(path, options) {
  const headers = state.config.apiKey ? { "x-api-key": state.config.apiKey } : {};
  const response = await fetch(state.config.apiUrl + path, { ...options, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${response.status} ${body.message || response.statusText}`);
  return body;
}

function showError(error) {
  $("error").hidden = !error;
  $("error").textContent = error ? String(error.message || error) : "";
}

const shortTime = (at) => at.replace("T", " ").replace("Z", "");

async function loadTasks() {
  const status = $("status-filter").value;
  const page = await api(`/tasks?limit=50${status ? `&status=${status}` : ""}`);
  const body = $("tasks").tBodies[0];
  body.replaceChildren(
    ...page.tasks.map((task) => {
      const row = el(
        "tr",
        { class: `task${task.taskId === state.selected ? " selected" : ""}`, "data-task-id": task.taskId,
          "data-status": task.status },
        el("td", { class: "task-id" }, task.taskId),
        el("td", {}, el("span", { class: `badge status ${task.status}` }, task.status)),
        el("td", {}, shortTime(task.statusAt)),
        el("td", {}, task.life),
        el("td", {}, task.attempts),
      );
      row.addEventListener("click", () => { location.hash = `task=${encodeURIComponent(task.taskId)}`; });
      return row;
    }),
  );
  $("no-tasks").hidden = page.tasks.length > 0;
}

function describe(event) {
  const parts = [];
  if (event.attempt !== undefined) parts.push(`attempt ${event.attempt}`);
  if (event.visibilityTimeout !== undefined) parts.push(`visibility timeout ${event.visibilityTimeout}s`);
  if (event.attempts !== undefined) parts.push(`after ${event.attempts} attempts`);
  if (event.requestedBy) parts.push(`by ${event.requestedBy}`);
  if (event.reason) parts.push(event.reason);
  return parts.join(" · ");
}

function drawTimeline(history) {
  const lives = new Map();
  for (const event of history.events) {
    if (!lives.has(event.life)) lives.set(event.life, []);
    lives.get(event.life).push(event);
  }
  const lanes = [];
  for (const [life, events] of lives) {
    const times = events.map((e) => Date.parse(e.at));
    const ends = events.map((e) => Date.parse(e.at) + 1000 * (e.visibilityTimeout || 0));
    const start = Math.min(...times);
    const span = Math.max(1, Math.max(...ends, ...times) - start);
    const x = (ms) => `${(100 * (ms - start)) / span}%`;
    const lane = el("div", { class: "lane", "data-life": life },
      el("span", { class: "lane-label" }, `life ${life}`), el("div", { class: "axis" }));
    for (const event of events) {
      const at = Date.parse(event.at);
      if (event.type === "RETRY_SCHEDULED") {
        lane.append(el("div", {
          class: "retry-window", "data-attempt": event.attempt, "data-visibility-timeout": event.visibilityTimeout,
          title: `attempt ${event.attempt} failed; hidden ${event.visibilityTimeout}s before the next receive`,
          style: `left:${x(at)};width:${(100 * 1000 * event.visibilityTimeout) / span}%`,
        }));
      }
      const marker = el("div", { class: `marker ${event.type}`, title: `${event.type} ${event.at} ${describe(event)}` });
      marker.style.left = x(at);
      const label = el("span", { class: "marker-label" },
        event.type === "RETRY_SCHEDULED" ? `retry ${event.attempt} (+${event.visibilityTimeout}s)` : event.type);
      label.style.left = x(at);
      lane.append(marker, label);
    }
    lanes.push(lane);
  }
  $("timeline").replaceChildren(...lanes);
}

function drawEvents(history, proof) {
  const statuses = proof && !proof.unavailable ? proof.events : [];
  $("events").replaceChildren(
    ...history.events.map((event, index) =>
      el("li", { class: "event", "data-type": event.type, "data-life": event.life, "data-attempt": event.attempt,
                 "data-visibility-timeout": event.visibilityTimeout, "data-proof": statuses[index]?.status },
        el("time", { dateTime: event.at }, shortTime(event.at)), " ",
        el("span", { class: "type" }, event.type), " ",
        el("span", { class: "detail" }, describe(event)), " ",
        el("span", { class: "error" }, event.error || event.lastError || ""),
      ),
    ),
  );
}

function drawProof(proof) {
  const node = $("proof");
  if (proof.unavailable) {
    node.className = "proof unavailable";
    node.setAttribute("data-verified", "unknown");
    node.replaceChildren(`proof unavailable: ${proof.unavailable}`);
    return;
  }
  node.setAttribute("data-verified", String(proof.verified));
  if (proof.verified) {
    const pending = proof.events.filter((event) => event.status === "pending").length;
    node.className = "proof verified";
    node.replaceChildren(
      proof.verifiedUpTo ? `✓ verified up to ${shortTime(proof.verifiedUpTo)} UTC` : "no digest sealed yet",
      pending ? ` · ${pending} event(s) pending the next digest` : "",
    );
    return;
  }
  node.className = "proof failed";
  node.replaceChildren(
    "✗ does not verify:",
    el("ul", {}, ...proof.findings.map((finding) =>
      el("li", { class: "finding", "data-kind": finding.kind },
        el("strong", {}, finding.kind), ` ${finding.subject}: ${finding.detail}`))),
  );
}

async function loadProof(id) {
  try {
    return await api(`/tasks/${encodeURIComponent(id)}/proof`);
  } catch (error) {
    return { unavailable: error.message || String(error) };
  }
}

async function loadTask() {
  const id = state.selected;
  $("pick").hidden = Boolean(id);
  $("task").hidden = !id;
  if (!id) return;
  const [history, proof] = await Promise.all([api(`/tasks/${encodeURIComponent(id)}`), loadProof(id)]);
  if (id !== state.selected) return;
  $("task-id").textContent = history.taskId;
  $("task-status").textContent = history.status;
  $("task-status").className = `badge ${history.status}`;
  $("task").setAttribute("data-task-id", history.taskId);
  $("task").setAttribute("data-status", history.status);
  $("task-summary").textContent =
    `life ${history.life} · ${history.attempts} attempt(s) in it · ${history.events.length} events`;
  $("redrive").hidden = history.status !== "DEAD_LETTERED";
  drawTimeline(history);
  drawEvents(history, proof);
  drawProof(proof);
}

async function refresh() {
  try {
    await Promise.all([loadTasks(), loadTask()]);
    showError(null);
  } catch (error) {
    showError(error);
  }
  document.body.setAttribute("data-loaded", "true");
}

function selectFromHash() {
  const found = /task=([^&]+)/.exec(location.hash);
  state.selected = found ? decodeURIComponent(found[1]) : null;
}

function schedule() {
  clearInterval(state.timer);
  if ($("auto-refresh").checked) state.timer = setInterval(refresh, 3000);
}

async function main() {
  try {
    state.config = await (await fetch("/ui/config.json")).json();
    $("stack-name").textContent = `${state.config.stack || "local"} timeline`;
  } catch (error) {
    showError(error);
    return;
  }
  selectFromHash();
  window.addEventListener("hashchange", () => { selectFromHash(); refresh(); });
  $("status-filter").addEventListener("change", refresh);
  $("auto-refresh").addEventListener("change", schedule);
  $("redrive").addEventListener("click", async () => {
    try {
      await api(`/tasks/${encodeURIComponent(state.selected)}/redrive`, { method: "POST" });
    } catch (error) {
      showError(error);
    }
    refresh();
  });
  await refresh();
  schedule();
}

main();
