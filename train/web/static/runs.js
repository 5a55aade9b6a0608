"use strict";
// Runs: every run under --runs: its report (table, text, plots), its metrics as charts that grow while
// the run writes them, and its judged held-out completions, filtered by stage, task and verdict.

const PAGE = 20;
const PREFERRED = ["loss", "val_loss", "reward", "accuracy", "completions/mean_length", "rewards/margins",
  "rewards/accuracies", "lr"];
let run = null;         // the run's detail from /api/run
let metric = {stage: null, rows: [], offset: 0, keys: new Set()};
let offset = 0;

const query = (params) => new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== ""));
const fileUrl = (name) => `/api/file?${query({run: run.name, name})}`;

// --- the report: headings, tables, images and paragraphs of report.md, built as text
function inline(text) {
  // `code` spans; everything else plain text
  return text.split(/(`[^`]*`)/).map((part) =>
    part.startsWith("`") && part.endsWith("`") && part.length > 1 ? el("code", {text: part.slice(1, -1)}) : part);
}

function cells(line) {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

function renderReport(text) {
  const out = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("|")) {
      const block = [];
      while (i < lines.length && lines[i].startsWith("|")) block.push(lines[i++]);
      i--;
      const rows = block.filter((l) => !/^\|[\s\-:|]+\|?$/.test(l)).map(cells);
      const numeric = (c) => /^[-+]?[\d.,]+%?$/.test(c);
      const table = el("table", {},
        el("thead", {}, el("tr", {}, ...rows[0].map((c) => el("th", {text: c})))),
        el("tbody", {}, ...rows.slice(1).map((r) => el("tr", {}, ...r.map((c) =>
          el("td", {class: numeric(c) ? "num" : null}, ...inline(c)))))));
      out.push(table);
    } else if (/^#{1,6} /.test(line)) {
      out.push(el(line.startsWith("# ") ? "h2" : "h3", {}, ...inline(line.replace(/^#+ /, ""))));
    } else if (/^!\[[^\]]*\]\([^)]+\)$/.test(line.trim())) {
      const [, alt, src] = line.trim().match(/^!\[([^\]]*)\]\(([^)]+)\)$/);
      if (run.plots.includes(src)) out.push(el("img", {src: fileUrl(src), alt}));
      else out.push(el("p", {class: "muted", text: `(image ${src} is not in the run folder)`}));
    } else if (line.trim()) {
      out.push(el("p", {}, ...inline(line)));
    }
  }
  return out;
}

function showReport() {
  const report = $("#report");
  if (run.report) {
    report.replaceChildren(...renderReport(run.report));
    for (const plot of run.plots) {  // plots the report does not show
      if (!run.report.includes(`(${plot})`)) report.append(el("img", {src: fileUrl(plot), alt: plot}));
    }
  } else {
    report.replaceChildren(el("p", {class: "muted", text: "No report.md yet (the run may still be going)."}),
      ...run.plots.map((p) => el("img", {src: fileUrl(p), alt: p})));
  }
}

// --- metrics as charts drawn on canvas, polled for new rows
function numericKeys(rows) {
  const keys = new Set();
  for (const row of rows) {
    for (const [k, v] of Object.entries(row)) if (typeof v === "number" && k !== "step") keys.add(k);
  }
  return [...keys].sort();
}

function drawChart(canvas, key, rows) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  const points = rows.map((r, i) => [typeof r.step === "number" ? r.step : i, r[key]])
    .filter(([, y]) => typeof y === "number" && Number.isFinite(y));
  g.font = "12px system-ui, sans-serif";
  g.fillStyle = "#1d2330";
  g.fillText(key, 8, 14);
  if (!points.length) return;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { const pad = Math.abs(y0) * 0.1 || 0.5; y0 -= pad; y1 += pad; }
  const left = 52, right = 10, top = 24, bottom = 20;
  const X = (x) => left + (x - x0) / (x1 - x0) * (width - left - right);
  const Y = (y) => top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom);
  g.strokeStyle = "#e3e6ec";
  g.beginPath();
  g.moveTo(left, top); g.lineTo(left, height - bottom); g.lineTo(width - right, height - bottom);
  g.stroke();
  g.fillStyle = "#6b7280";
  const label = (v) => Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : v.toPrecision(3);
  g.fillText(label(y1), 4, top + 4);
  g.fillText(label(y0), 4, height - bottom);
  g.fillText(String(x0), left, height - 5);
  g.fillText(String(x1), width - right - g.measureText(String(x1)).width, height - 5);
  const last = ys[ys.length - 1];
  g.fillText(`last ${label(last)}`, width - right - g.measureText(`last ${label(last)}`).width, 14);
  g.strokeStyle = "#2f5bd3";
  g.lineWidth = 1.5;
  g.beginPath();
  points.forEach(([x, y], i) => (i ? g.lineTo(X(x), Y(y)) : g.moveTo(X(x), Y(y))));
  g.stroke();
  if (points.length < 40) {
    g.fillStyle = "#2f5bd3";
    for (const [x, y] of points) { g.beginPath(); g.arc(X(x), Y(y), 2.5, 0, 2 * Math.PI); g.fill(); }
  }
}

function drawCharts() {
  const charts = $("#charts");
  const keys = numericKeys(metric.rows);
  if (!metric.keys.size) {
    for (const k of PREFERRED) if (keys.includes(k)) metric.keys.add(k);
    if (!metric.keys.size) keys.slice(0, 4).forEach((k) => metric.keys.add(k));
  }
  const boxes = $("#metric-keys");
  if (boxes.dataset.keys !== keys.join(",")) {
    boxes.dataset.keys = keys.join(",");
    boxes.replaceChildren(...keys.map((k) => {
      const box = el("input", {type: "checkbox", value: k});
      box.checked = metric.keys.has(k);
      box.addEventListener("change", () => { box.checked ? metric.keys.add(k) : metric.keys.delete(k); drawCharts(); });
      return el("label", {}, box, k);
    }));
  }
  const shown = keys.filter((k) => metric.keys.has(k));
  charts.replaceChildren(...shown.map((k) => {
    const canvas = el("canvas", {"data-key": k});
    return el("div", {class: "chart"}, canvas);
  }));
  charts.dataset.rows = metric.rows.length;
  for (const canvas of charts.querySelectorAll("canvas")) drawChart(canvas, canvas.dataset.key, metric.rows);
}

async function pollMetrics() {
  if (!run || !metric.stage) return;
  const asked = {run: run.name, stage: metric.stage};
  const data = await api(`/api/metrics?${query({...asked, offset: metric.offset})}`);
  if (!run || run.name !== asked.run || metric.stage !== asked.stage) return;  // the page moved on
  if (data.reset) metric.rows = [];
  if (data.rows.length || data.reset) {
    metric.rows.push(...data.rows);
    metric.offset = data.offset;
    drawCharts();
  }
  if (data.more) await pollMetrics();  // a long file comes in pieces
}

function chooseStage(stage) {
  metric = {stage, rows: [], offset: 0, keys: new Set()};
  $("#metric-keys").dataset.keys = "";
  pollMetrics().catch(() => {});
}

// --- completions
async function loadCompletions() {
  const params = {run: run.name, stage: $("#f-stage").value, task: $("#f-task").value,
    verdict: $("#f-verdict").value, offset, limit: PAGE};
  const data = await api(`/api/completions?${query(params)}`);
  const task = $("#f-task");
  if (task.dataset.tasks !== data.tasks.join(",")) {
    const chosen = task.value;
    task.dataset.tasks = data.tasks.join(",");
    task.replaceChildren(el("option", {value: "", text: "all"}), ...data.tasks.map((t) => el("option", {value: t, text: t})));
    task.value = data.tasks.includes(chosen) ? chosen : "";
  }
  const c = data.counts;
  $("#f-count").textContent = `${data.total} completion${data.total === 1 ? "" : "s"} · of this stage and task: ` +
    `${c.correct} correct, ${c.incorrect} incorrect, ${c.unjudged} could not judge`;
  $("#f-count").dataset.total = data.total;
  const list = $("#completions");
  list.replaceChildren();
  const labels = Object.fromEntries(run.stages.map((s) => [s.name, s.label]));
  for (const row of data.rows) {
    const card = el("div", {class: "completion", "data-verdict": row.verdict});
    card.append(el("div", {class: "head"},
      el("span", {text: labels[row.stage] || row.stage}), el("span", {text: row.task || ""}),
      el("span", {text: row.sample ? `sample ${row.sample} (T=${row.temperature ?? "?"})` : "greedy"}),
      row.answer !== undefined ? el("span", {text: `gold ${row.answer}`}) : null,
      row.tokens !== undefined ? el("span", {text: `${row.tokens} tokens`}) : null,
      verdictMark({status: row.status || row.verdict, reason: row.reason})));
    card.append(el("div", {class: "question", text: row.prompt || ""}));
    list.append(card);
    const view = new ReplyView(card, {folded: true});
    view.set(String(row.completion ?? ""), row.tokens, row.thought_tokens);
    view.root.dataset.state = "done";
  }
  $("#page").textContent = data.total ? `${offset + 1}–${offset + data.rows.length} of ${data.total}` : "nothing matches";
  $("#prev").disabled = offset === 0;
  $("#more").disabled = offset + data.rows.length >= data.total;
}

function refilter() {
  offset = 0;
  saveHash();
  loadCompletions().catch((error) => { $("#f-count").textContent = error.message; });
}

// --- choosing a run; the choice and filters live in the address (#run=..&verdict=..)
function saveHash() {
  if (!run) return;
  location.hash = query({run: run.name, stage: $("#f-stage").value, task: $("#f-task").value,
    verdict: $("#f-verdict").value}).toString();
}

async function openRun(name, filters = {}) {
  run = await api(`/api/run?${query({run: name})}`);
  for (const button of document.querySelectorAll("#run-list button")) button.classList.toggle("here", button.dataset.run === name);
  $("#run-title").textContent = name === "." ? $("#runs-root").dataset.title : name;
  showReport();
  const withMetrics = run.stages.filter((s) => s.metrics);
  $("#metrics-section").hidden = !withMetrics.length;
  $("#metric-stage").replaceChildren(...withMetrics.map((s) => el("option", {value: s.name, text: s.label})));
  if (withMetrics.length) {
    $("#metric-stage").value = withMetrics[withMetrics.length - 1].name;  // the latest stage first
    chooseStage($("#metric-stage").value);
  }
  const withCompletions = run.stages.filter((s) => s.completions);
  $("#completions-section").hidden = !withCompletions.length;
  $("#no-completions").hidden = Boolean(withCompletions.length);
  $("#f-stage").replaceChildren(el("option", {value: "", text: "all"}),
    ...withCompletions.map((s) => el("option", {value: s.name, text: s.label})));
  $("#f-stage").value = withCompletions.some((s) => s.name === filters.stage) ? filters.stage : "";
  $("#f-task").dataset.tasks = "";
  $("#f-task").replaceChildren(el("option", {value: filters.task || "", text: filters.task || "all"}));
  $("#f-verdict").value = filters.verdict || "";
  offset = 0;
  if (withCompletions.length) await loadCompletions();
  saveHash();
}

async function listRuns() {
  const data = await api("/api/runs");
  $("#runs-root").textContent = `under ${data.root}`;
  $("#runs-root").dataset.title = data.root.split("/").pop();
  $("#run-list").replaceChildren(...data.runs.map((r) => el("li", {}, el("button", {
    type: "button", "data-run": r.name, text: r.title, onclick: () => openRun(r.name).catch(showError)}))));
  if (!data.runs.length) $("#run-list").append(el("li", {class: "muted", text: "no runs yet"}));
  return data.runs;
}

function showError(error) {
  $("#run-title").textContent = error.message;
}

$("#metric-stage").addEventListener("change", () => chooseStage($("#metric-stage").value));
$("#f-stage").addEventListener("change", refilter);
$("#f-task").addEventListener("change", refilter);
$("#f-verdict").addEventListener("change", refilter);
$("#prev").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadCompletions().catch(showError); });
$("#more").addEventListener("click", () => { offset += PAGE; loadCompletions().catch(showError); });
window.addEventListener("resize", () => { if (metric.rows.length) drawCharts(); });

(async () => {
  loadInfo().catch(() => {});
  try {
    const runs = await listRuns();
    const asked = Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
    const name = runs.some((r) => r.name === asked.run) ? asked.run : runs[0]?.name;
    if (name !== undefined) await openRun(name, name === asked.run ? asked : {});
  } catch (error) {
    showError(error);
  }
  setInterval(() => {
    if (document.visibilityState === "visible") pollMetrics().catch(() => {});
  }, 3000);
})();
