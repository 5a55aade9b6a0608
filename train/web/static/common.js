"use strict";
// Shared by the three pages: DOM building (text only: model output and file contents are never parsed
// as HTML), the JSON API, server-sent event streams, and the view of one reply with its reasoning.

const $ = (selector, root = document) => root.querySelector(selector);

// el("div", {class: "x", text: "hi", onclick: f}, child, "text child"): strings become text nodes
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({error: response.statusText}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

// POST body to path and call onEvent with each server-sent event (a JSON object) as it arrives
async function stream(path, body, onEvent, signal) {
  const response = await fetch(path, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body), signal});
  if (!response.ok) {
    const data = await response.json().catch(() => ({error: response.statusText}));
    throw new Error(data.error || `${response.status} ${response.statusText}`);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of block.split("\n")) {
        if (line.startsWith("data: ")) onEvent(JSON.parse(line.slice(6)));
      }
    }
  }
}

// "<think>a</think> <answer>b</answer>" -> {thinking: "a", closed: true, answer: "b"}; thinking is null
// before any reasoning shows, and the text before </think> is reasoning even without <think> (a template
// may end with it)
function splitReasoning(text) {
  const open = text.indexOf("<think>");
  const close = text.indexOf("</think>");
  let before = "", thinking = null, closed = false, rest = text;
  if (close >= 0) {
    const opened = open >= 0 && open < close;
    before = opened ? text.slice(0, open) : "";
    thinking = text.slice(opened ? open + 7 : 0, close);
    closed = true;
    rest = text.slice(close + 8);
  } else if (open >= 0) {
    before = text.slice(0, open);
    thinking = text.slice(open + 7);
    rest = "";
  }
  const answer = (before + rest).replace(/<\/?answer>/g, "").trim();
  return {thinking: thinking === null ? null : thinking.trim(), closed, answer};
}

const VERDICT_MARKS = {correct: "✓ correct", incorrect: "✗ incorrect"};

// a verdict {status, reason} as a mark: correct, incorrect, or could not judge
function verdictMark(verdict) {
  const kind = verdict.status === "correct" || verdict.status === "incorrect" ? verdict.status : "unjudged";
  const label = VERDICT_MARKS[kind] || `? could not judge (${verdict.status})`;
  return el("span", {class: `verdict ${kind}`, "data-verdict": kind, title: verdict.reason || ""},
    label, verdict.reason ? el("span", {class: "reason", text: ` — ${verdict.reason}`}) : null);
}

// One reply: the reasoning in a fold (open and grey while thinking unless `folded`, closed to "Thought for
// N tokens" once </think> arrives, open again on a click), the answer beneath, and a line of facts.
class ReplyView {
  constructor(container, {folded = false} = {}) {
    this.root = el("div", {class: "reply", "data-state": "waiting"});
    this.summary = el("summary", {text: "Thinking…"});
    this.thoughts = el("div", {class: "think-body"});
    this.fold = el("details", {class: "think", "data-state": "none", hidden: ""}, this.summary, this.thoughts);
    this.answer = el("div", {class: "answer"});
    this.facts = el("div", {class: "facts"});
    this.root.append(this.fold, this.answer, this.facts);
    container.append(this.root);
    this.folded = folded;
    this.text = "";
    this.streamed = false;
    this.tokens = 0;
    this.thinkStart = null;
    this.thought = null;
  }

  // a "token" event: the new text and the tokens so far (and "thought" on the </think> token)
  add(event) {
    this.streamed = true;  // token by token: the reasoning's tokens can be counted here
    this.text += event.text;
    this.tokens = event.n;
    if (event.thought !== undefined) this.thought = event.thought;
    this.render();
  }

  // the text as a whole (a "done" event, or a stored completion)
  set(text, tokens, thought) {
    this.text = text;
    if (tokens !== undefined) this.tokens = tokens;
    if (thought !== undefined && thought !== null) this.thought = thought;
    this.render();
  }

  render() {
    const parts = splitReasoning(this.text);
    this.root.dataset.state = "streaming";
    if (parts.thinking !== null) {
      if (this.fold.hidden) {  // reasoning starts: shown open (unless folded) and greyed
        this.fold.hidden = false;
        this.fold.open = !this.folded;
        this.thinkStart = this.tokens;
      }
      this.thoughts.textContent = parts.thinking;
      if (!parts.closed) {
        this.fold.dataset.state = "thinking";
        this.summary.textContent = `Thinking… ${Math.max(0, this.tokens - this.thinkStart)} tokens`;
      } else if (this.fold.dataset.state !== "thought") {  // </think> arrived: fold it, once
        this.fold.dataset.state = "thought";
        this.fold.open = false;
        const n = this.thought ?? (this.streamed ? Math.max(0, this.tokens - this.thinkStart - 1) : null);
        const words = parts.thinking.split(/\s+/).filter(Boolean).length;
        this.summary.textContent = n === null ? `Thought for ${words} word${words === 1 ? "" : "s"}`
          : `Thought for ${n} token${n === 1 ? "" : "s"}`;
      }
    }
    this.answer.textContent = parts.answer;
  }

  finish(facts) {
    this.root.dataset.state = "done";
    this.facts.replaceChildren(...facts.filter(Boolean).map((f) => typeof f === "string" ? el("span", {text: f}) : f));
  }

  showVerdict(verdict) {
    this.root.dataset.verdict = verdict.status;
    this.facts.append(verdictMark(verdict));
  }

  fail(message) {
    this.root.dataset.state = "error";
    this.facts.replaceChildren(el("span", {class: "error", text: message}));
  }
}

// settings kept across visits in localStorage, keyed by input id
function keepSettings(ids, prefix) {
  for (const id of ids) {
    const input = document.getElementById(id);
    const saved = localStorage.getItem(`${prefix}.${id}`);
    if (saved !== null && !(input.tagName === "SELECT" && ![...input.options].some((o) => o.value === saved))) {
      input.value = saved;
    }
    if (input.max && Number(input.value) > Number(input.max)) input.value = input.max;
    input.addEventListener("change", () => localStorage.setItem(`${prefix}.${id}`, input.value));
  }
}

// fill the template and verifier selects and the model name from /api/info
async function loadInfo() {
  const info = await api("/api/info");
  const template = $("#template");
  if (template) {
    for (const name of Object.keys(info.templates)) template.append(el("option", {value: name, text: name}));
    template.value = info.template in info.templates ? info.template : Object.keys(info.templates)[0];
  }
  const verifier = $("#verifier");
  if (verifier) {
    for (const name of info.verifiers) verifier.append(el("option", {value: name, text: name}));
    verifier.value = "math";
  }
  const maxTokens = $("#max_tokens");
  if (maxTokens && info.max_new_tokens) {
    maxTokens.max = info.max_new_tokens;
    maxTokens.value = Math.min(Number(maxTokens.value), info.max_new_tokens);
  }
  const model = $("#model-name");
  if (model) model.textContent = info.models.length ? `model: ${info.models.join(" · ")}` : "no model loaded";
  return info;
}

// the sampling settings of the page's inputs, as the API takes them
function samplingSettings() {
  return {
    template: $("#template").value,
    temperature: Number($("#temperature").value),
    top_p: Number($("#top_p").value),
    top_k: Number($("#top_k").value),
    max_tokens: Number($("#max_tokens").value),
  };
}

function markNav() {
  const page = document.body.dataset.page;
  for (const link of document.querySelectorAll("header nav a")) {
    if (link.getAttribute("href") === `/${page}`) link.classList.add("here");
  }
}

markNav();
