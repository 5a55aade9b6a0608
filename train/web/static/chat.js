"use strict";
// Chat: each message streams a reply; several may stream at once (the server batches them).

async function send(message) {
  await ready;  // the limits and settings of the server first
  $("#empty")?.remove();
  const gold = $("#gold").value.trim();
  $("#gold").value = "";  // a gold answer belongs to one question
  const body = {message, ...samplingSettings(), gold, verifier: $("#verifier").value};
  const turn = el("div", {class: "turn"});
  const bubble = el("div", {class: "bubble assistant"});
  turn.append(el("div", {class: "bubble user", text: message}), bubble);
  $("#messages").append(turn);
  const reply = new ReplyView(bubble);
  const controller = new AbortController();
  const stop = el("button", {class: "stop", type: "button", text: "Stop", onclick: () => controller.abort()});
  reply.facts.append(stop);
  if (gold) reply.root.dataset.gold = gold;
  turn.scrollIntoView({block: "end"});
  const began = performance.now();
  try {
    await stream("/api/chat", body, (event) => {
      if (event.type === "token") reply.add(event);
      else if (event.type === "done") {
        reply.set(event.text, event.n, event.thought);
        const seconds = event.seconds;
        reply.finish([`${event.n} tokens`, `${(event.n / Math.max(seconds, 1e-3)).toFixed(1)} tokens/s`,
          `first token ${(event.ttft * 1000).toFixed(0)} ms`, event.finish === "length" ? "cut at max tokens" : null]);
      } else if (event.type === "verdict") reply.showVerdict(event);
      else if (event.type === "error") reply.fail(event.error);
      turn.scrollIntoView({block: "end"});
    }, controller.signal);
    if (!["done", "error"].includes(reply.root.dataset.state)) reply.fail("the reply ended early");
  } catch (error) {
    reply.fail(controller.signal.aborted ? `stopped after ${((performance.now() - began) / 1000).toFixed(1)} s`
      : error.message);
  } finally {
    stop.remove();
  }
}

$("#composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const message = $("#message").value;
  if (!message.trim()) return;
  $("#message").value = "";
  send(message);
});

$("#message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("#composer").requestSubmit();
  }
});

const ready = loadInfo()
  .then(() => keepSettings(["template", "temperature", "top_p", "top_k", "max_tokens", "verifier"], "chat"))
  .catch((error) => { $("#model-name").textContent = error.message; });
$("#message").focus();
