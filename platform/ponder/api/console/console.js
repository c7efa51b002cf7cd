// Ponder reasoning console: sends a problem to POST /v1/reason with stream: true and
// draws the plan (DAG) from its server-sent events as they arrive. The bearer token is
// read from its field for each call and kept nowhere else (no URL, no storage). Every
// string from the server is put on the page with textContent, never as HTML.
"use strict";

const KINDS = ["extract", "method", "compute", "verify", "answer"];
const SVG = "http://www.w3.org/2000/svg";
const COLUMN = 118, ROW = 44, TOP = 46, LEFT = 10, NODE_W = 104, NODE_H = 30;

const $ = (id) => document.getElementById(id);
const state = { branches: new Map(), order: [], reasoningId: "", running: false };

function token() { return $("token").value.trim(); }

function headers(json) {
  const out = { Authorization: "Bearer " + token() };
  if (json) out["Content-Type"] = "application/json";
  return out;
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", Boolean(isError));
}

function shortKind(value) {
  return String(value || "").replace(/^NODE_KIND_/, "").toLowerCase();
}

function shortStatus(value) {
  return String(value || "").replace(/^PATH_STATUS_/, "").toLowerCase();
}

function svgElement(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes || {})) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

function logEvent(text) {
  const item = document.createElement("li");
  item.textContent = text;
  $("events").appendChild(item);
  $("events").scrollTop = $("events").scrollHeight;
}

// -- the DAG ---------------------------------------------------------------------------

function branchOf(id, strategy) {
  if (!state.branches.has(id)) {
    state.branches.set(id, { id, strategy: strategy || "", nodes: new Map(), status: "planned" });
    state.order.push(id);
  }
  const branch = state.branches.get(id);
  if (strategy) branch.strategy = strategy;
  return branch;
}

function buildPlan(plan) {
  state.branches.clear();
  state.order = [];
  for (const node of plan || []) {
    if (!node.branch_id) continue;
    const branch = branchOf(node.branch_id, "");
    branch.nodes.set(shortKind(node.kind), { id: node.id, state: "planned", score: null, output: "" });
  }
  for (const branch of state.branches.values()) {
    const match = /-(\w+)$/.exec(branch.id);
    if (match) branch.strategy = match[1];
  }
}

function draw(chosenId) {
  const svg = $("dag");
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const rows = KINDS.filter((kind) => state.order.some((id) => state.branches.get(id).nodes.has(kind)));
  const height = TOP + rows.length * ROW + 40;
  svg.setAttribute("height", String(height));
  svg.setAttribute("viewBox", `0 0 ${Math.max(600, LEFT + state.order.length * COLUMN)} ${height}`);
  state.order.forEach((id, column) => {
    const branch = state.branches.get(id);
    const x = LEFT + column * COLUMN;
    const classes = ["branch", branch.status];
    if (id === chosenId) classes.push("chosen");
    const group = svgElement("g", { class: classes.join(" "), "data-branch": id, "data-status": branch.status });
    group.appendChild(svgElement("text", { x: x, y: 16, class: "head" }, id));
    group.appendChild(svgElement("text", { x: x, y: 32 }, branch.strategy + " · " + branch.status));
    let previous = null;
    rows.forEach((kind, row) => {
      const node = branch.nodes.get(kind);
      if (!node) return;
      const y = TOP + row * ROW;
      if (previous !== null) {
        group.appendChild(svgElement("line", { x1: x + NODE_W / 2, y1: previous + NODE_H, x2: x + NODE_W / 2, y2: y }));
      }
      previous = y;
      const box = svgElement("g", { class: "node " + node.state, "data-kind": kind });
      box.appendChild(svgElement("rect", { x: x, y: y, width: NODE_W, height: NODE_H, rx: 4 }));
      const score = node.score === null ? "" : " " + node.score.toFixed(2);
      box.appendChild(svgElement("text", { x: x + 5, y: y + 12 }, kind + score));
      const output = node.output.replace(/\s+/g, " ").trim();
      box.appendChild(svgElement("text", { x: x + 5, y: y + 25 }, output.length > 17 ? output.slice(0, 16) + "…" : output));
      box.appendChild(svgElement("title", {}, output));
      group.appendChild(box);
    });
    const last = TOP + rows.length * ROW + 14;
    const tail = branch.answer !== undefined && branch.answer !== "" ? "= " + branch.answer : (branch.note || "");
    group.appendChild(svgElement("text", { x: x, y: last, class: "tail" }, tail.length > 20 ? tail.slice(0, 19) + "…" : tail));
    group.appendChild(svgElement("title", {}, branch.note || ""));
    svg.appendChild(group);
  });
}

// -- events ----------------------------------------------------------------------------

function onEvent(event) {
  const kind = String(event.kind || "").replace(/^REASON_EVENT_KIND_/, "");
  const id = event.branch_id || "";
  if (kind === "PLAN_BUILT") {
    buildPlan(event.plan);
    logEvent(`plan: ${state.order.length} branches`);
  } else if (kind === "BRANCH_STARTED") {
    const branch = branchOf(id, event.strategy);
    branch.status = "running";
    const first = branch.nodes.values().next().value;
    if (first) first.state = "running";
    logEvent(`${id} started (${event.strategy || ""})`);
  } else if (kind === "STEP_DONE") {
    const branch = branchOf(id, "");
    const step = event.step || {};
    const node = branch.nodes.get(shortKind(step.kind));
    if (node) {
      node.state = "done";
      node.output = String(step.output || "");
      node.score = typeof event.score === "number" ? event.score : null;
    }
    logEvent(`${id} ${shortKind(step.kind)} done, score ${Number(event.score || 0).toFixed(3)}`);
  } else if (kind === "BRANCH_PRUNED" || kind === "BRANCH_DONE") {
    const branch = branchOf(id, "");
    branch.status = shortStatus(event.status) || (kind === "BRANCH_PRUNED" ? "pruned" : "completed");
    branch.answer = event.answer || "";
    branch.note = event.note || "";
    logEvent(`${id} ${branch.status}${branch.answer ? " = " + branch.answer : ""}${branch.note ? ": " + branch.note : ""}`);
  } else if (kind === "FINAL_ANSWER") {
    finish(event.response || {});
    return;
  }
  draw("");
}

function finish(response) {
  for (const path of response.paths || []) {  // paths the plan did not list (program search)
    const branch = branchOf(path.id, path.strategy);
    branch.status = shortStatus(path.status) || branch.status;
    branch.answer = path.answer || "";
    branch.note = path.note || branch.note || "";
    for (const step of path.steps || []) {
      const kind = shortKind(step.kind);
      const node = branch.nodes.get(kind) || { state: "done", score: null, output: "" };
      node.state = "done";
      node.output = String(step.output || "");
      branch.nodes.set(kind, node);
    }
  }
  draw(response.chosen_path_id || "");
  state.reasoningId = response.reasoning_id || "";
  $("answer-text").textContent = response.answer || "(no answer)";
  const usage = response.usage || {};
  $("answer-meta").textContent = `chosen ${response.chosen_path_id || "-"} · ${usage.decoder_calls || 0} decoder calls · ` +
    `${usage.completion_tokens || 0} tokens · scorer ${response.scorer_version || "-"}`;
  $("answer").hidden = false;
  $("report").hidden = !response.outcome_reportable;
  $("report-status").textContent = "";
  $("dag").setAttribute("data-final", "true");
  setStatus("Done.", false);
  refreshScorer();
}

async function readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = chunk.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (!data || data === "[DONE]") continue;
      const event = JSON.parse(data);
      if (event.error) throw new Error(event.error.message || "the stream failed");
      onEvent(event);
    }
  }
}

async function failure(response) {
  try {
    const body = await response.json();
    return `${response.status}: ${(body.error && body.error.message) || JSON.stringify(body)}`;
  } catch (error) {
    return `${response.status} ${response.statusText}`;
  }
}

async function reason() {
  if (state.running) return;
  if (!token()) { setStatus("A bearer token is needed.", true); return; }
  const problem = $("problem").value.trim();
  if (!problem) { setStatus("Write a problem first.", true); return; }
  const strategies = [...document.querySelectorAll("#strategies input:checked")].map((b) => b.value);
  const body = {
    problem,
    budget: { max_branches: Number($("branches").value), max_tokens: Number($("max-tokens").value) },
    strategies,
    stream: true,
  };
  state.running = true;
  $("send").disabled = true;
  $("answer").hidden = true;
  $("dag").removeAttribute("data-final");
  while ($("events").firstChild) $("events").removeChild($("events").firstChild);
  state.branches.clear(); state.order = []; draw("");
  setStatus("Reasoning…", false);
  try {
    const response = await fetch("v1/reason", { method: "POST", headers: headers(true), body: JSON.stringify(body) });
    if (!response.ok) throw new Error(await failure(response));
    await readEvents(response.body);
    if ($("dag").getAttribute("data-final") !== "true") throw new Error("the stream ended without an answer");
  } catch (error) {
    setStatus(String(error.message || error), true);
  } finally {
    state.running = false;
    $("send").disabled = false;
  }
}

async function report(correct) {
  if (!state.reasoningId) return;
  const response = await fetch("v1/outcomes", {
    method: "POST", headers: headers(true), body: JSON.stringify({ reasoning_id: state.reasoningId, correct }),
  });
  if (!response.ok) { $("report-status").textContent = await failure(response); return; }
  const body = await response.json();
  $("report-status").textContent = body.duplicate ? "already reported" : `logged for scope ${body.scope || "shared"}`;
  refreshScorer();
}

// -- models and scorer -------------------------------------------------------------------

async function refreshModels() {
  const list = $("models");
  const response = await fetch("v1/list-models", { headers: headers(false) });
  while (list.firstChild) list.removeChild(list.firstChild);
  if (!response.ok) { const item = document.createElement("li"); item.textContent = await failure(response); list.appendChild(item); return; }
  const body = await response.json();
  for (const model of body.models || []) {
    const item = document.createElement("li");
    const kind = String(model.kind || "").replace(/^MODEL_KIND_/, "").toLowerCase();
    const extra = [kind, model.version, model.planner_default ? "planner default" : ""].filter(Boolean);
    item.textContent = `${model.name}${extra.length ? " (" + extra.join(", ") + ")" : ""}`;
    list.appendChild(item);
  }
}

async function refreshScorer() {
  const list = $("scorer");
  const response = await fetch("v1/scorer", { headers: headers(false) });
  while (list.firstChild) list.removeChild(list.firstChild);
  const add = (term, value) => {
    const dt = document.createElement("dt"); dt.textContent = term;
    const dd = document.createElement("dd"); dd.textContent = String(value);
    list.appendChild(dt); list.appendChild(dd);
  };
  if (!response.ok) { add("error", await failure(response)); return; }
  const scorer = (await response.json()).scorer || {};
  add("scope", scorer.scope || "shared");
  add("active", (scorer.active && scorer.active.version) || "-");
  add("candidate", (scorer.candidate && scorer.candidate.version) || "-");
  add("reported", scorer.outcomes_reported || 0);
  add("applied", scorer.outcomes_applied || 0);
  add("pending", scorer.outcomes_pending || 0);
}

function refreshPanel() {
  if (!token()) return;
  refreshModels().catch((error) => setStatus(String(error), true));
  refreshScorer().catch((error) => setStatus(String(error), true));
}

document.addEventListener("DOMContentLoaded", () => {
  $("send").addEventListener("click", reason);
  $("report-right").addEventListener("click", () => report(true));
  $("report-wrong").addEventListener("click", () => report(false));
  $("refresh").addEventListener("click", refreshPanel);
  $("token").addEventListener("change", refreshPanel);
});
