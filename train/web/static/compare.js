"use strict";
// Compare: two answers to one prompt side by side, reasoning folded; the person picks with the keyboard
// and the next problem comes. The server keeps the answers and appends the pick to its pairs file.

const PICK_KEYS = {a: "A", 1: "A", b: "B", 2: "B", t: "tie", 3: "tie", x: "both_bad", 4: "both_bad"};
const PICK_WORDS = {A: "A is better", B: "B is better", tie: "a tie", both_bad: "both bad"};
let pairId = null;     // the pair on screen, once sampled
let ready = false;     // both answers finished: a pick may be made
let problem = null;    // the problem on screen, when drawn from the file
let controller = null;
let info = null;

function setPicks(enabled) {
  ready = enabled;
  for (const button of document.querySelectorAll("[data-pick]")) button.disabled = !enabled;
}

function showCount(state) {
  const who = $("#who").value.trim() || "anonymous";
  const mine = (state.by_who || {})[who] || 0;
  $("#count").textContent = `${state.pairs} pairs labelled (${mine} by you), ${state.no_preference} ties or both bad`;
  $("#count").dataset.pairs = state.pairs;
}

async function sample() {
  const message = $("#message").value;
  if (!problem && !message.trim()) { $("#status").textContent = "type a prompt first"; return; }
  if (controller) controller.abort();
  controller = new AbortController();
  setPicks(false);
  pairId = null;
  const views = {};
  for (const side of "AB") {
    $(`#side-${side}`).classList.remove("picked");
    $(`#reply-${side}`).replaceChildren();
    views[side] = new ReplyView($(`#reply-${side}`), {folded: true});
  }
  $("#status").textContent = "sampling…";
  const body = {...samplingSettings()};
  if (problem && message === problem.prompt) body.problem = problem.index;
  else {
    problem = null;
    $("#problem-meta").textContent = "";
    Object.assign(body, {message, gold: $("#gold").value.trim(), verifier: $("#verifier").value});
  }
  try {
    await stream("/api/compare/sample", body, (event) => {
      if (event.type === "pair") { pairId = event.id; return; }
      if (event.type === "ready") { setPicks(true); $("#status").textContent = "which is better?"; return; }
      const view = views[event.side];
      if (event.type === "token") view.add(event);
      else if (event.type === "done") {
        view.set(event.text, event.n, event.thought);
        view.finish([`${event.n} tokens`, event.finish === "length" ? "cut at max tokens" : null]);
      } else if (event.type === "verdict") view.showVerdict(event);
      else if (event.type === "error") view.fail(event.error);
    }, controller.signal);
  } catch (error) {
    if (!controller.signal.aborted) $("#status").textContent = error.message;
  }
}

async function pick(choice) {
  if (!ready || !pairId) return;
  setPicks(false);
  const who = $("#who").value.trim() || "anonymous";
  try {
    const result = await api("/api/compare/pick", {pair: pairId, pick: choice, who});
    if (choice === "A" || choice === "B") $(`#side-${choice}`).classList.add("picked");
    const models = result.models.A === result.models.B ? "" : ` (A: ${result.models.A}, B: ${result.models.B})`;
    $("#saved").textContent = `saved: ${PICK_WORDS[choice]}${models}`;
    showCount(result);
    pairId = null;
    if (problem) await nextProblem();
  } catch (error) {
    $("#status").textContent = error.message;
    setPicks(true);
  }
}

async function nextProblem() {
  if (!info || !info.problems) { $("#status").textContent = "no problem file: start rlvr serve with --problems FILE"; return; }
  const after = problem ? problem.index : -1;
  const data = await api(`/api/compare/next?after=${after}`);
  if (!data.problem) {
    problem = null;
    $("#status").textContent = "every problem of the file is labelled";
    return;
  }
  problem = data.problem;
  $("#message").value = problem.prompt;
  $("#problem-meta").textContent = `problem ${problem.index + 1} of ${info.problems} · ${problem.task || ""} · ` +
    `gold ${problem.answer ?? "-"} · ${data.remaining} left to label`;
  await sample();
}

document.addEventListener("keydown", (event) => {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName);
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  if (key in PICK_KEYS) { event.preventDefault(); pick(PICK_KEYS[key]); }
  else if (key === "n") { event.preventDefault(); nextProblem(); }
});

$("#message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("#message").blur();  // the pick keys work at once
    sample();
  }
});
$("#sample").addEventListener("click", sample);
$("#next").addEventListener("click", nextProblem);
for (const button of document.querySelectorAll("[data-pick]")) {
  button.addEventListener("click", () => pick(button.dataset.pick));
}
$("#show-verdicts").addEventListener("change", () => {
  $("#compare").classList.toggle("hide-verdicts", !$("#show-verdicts").checked);
  localStorage.setItem("compare.verdicts", $("#show-verdicts").checked ? "1" : "");
});
$("#who").addEventListener("change", async () => {
  localStorage.setItem("compare.who", $("#who").value.trim());
  showCount(await api("/api/compare/state"));
});

(async () => {
  $("#who").value = localStorage.getItem("compare.who") || "";
  $("#show-verdicts").checked = Boolean(localStorage.getItem("compare.verdicts"));
  $("#compare").classList.toggle("hide-verdicts", !$("#show-verdicts").checked);
  try {
    info = await loadInfo();
    keepSettings(["template", "temperature", "top_p", "top_k", "max_tokens"], "compare");
    $("#next").disabled = !info.problems;
    showCount(await api("/api/compare/state"));
    if (info.problems) await nextProblem();  // resume: the first problem not labelled yet
  } catch (error) {
    $("#status").textContent = error.message;
  }
})();
