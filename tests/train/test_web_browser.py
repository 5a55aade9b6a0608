"""The three pages in a real headless browser (Debian's chromium driven by Playwright): a chat streams, its
reasoning block is open and grey while the model thinks and folds to "Thought for N tokens" at </think>,
the verdict shows with a gold answer, model text stays text; Compare labels with the keyboard and the
pair lands in the JSONL, resuming after a reload; Runs shows the report, live charts, and completions
filtered by verdict. The replies come from a script behind the bridge's interface, so every run is the
same (a real tiny model is tested through the same API in test_web_app.py)."""

import json
import shutil
from pathlib import Path

import pytest

from train.web.app import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="no chromium: the browser tests need Debian's (apt-get install chromium)")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (the dev extra)")

THINK = ["<think>", "2", " + ", "3", " = ", "5", "</think>", " ", "<answer>", "5", "</answer>"]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield page
    context.close()
    assert not errors, errors  # no script error, no resource refused by the page's security policy


def test_chat_streams_then_folds_the_reasoning_and_marks_the_verdict(page, live_server, scripted_generator):
    url = live_server(create_app(generator=scripted_generator([THINK], delay=0.15), template="plain"))
    page.goto(f"{url}/chat")
    page.fill("#gold", "5")
    page.fill("#message", "What is 2 + 3?")
    page.press("#message", "Enter")
    fold = page.locator("details.think").first
    # thinking: the block is open and grey, and its text grows token by token
    page.wait_for_function("() => document.querySelector('details.think')?.dataset.state === 'thinking' && "
                           "document.querySelector('.think-body').textContent.includes('+')")
    assert fold.evaluate("d => d.open") is True
    partial = page.locator(".think-body").first.text_content()
    assert partial.startswith("2 +") and "5" not in partial
    assert page.locator(".think-body").first.evaluate("e => getComputedStyle(e).color") == "rgb(138, 143, 153)"
    assert page.locator(".answer").first.text_content() == ""
    # </think> arrived: folded to one line; the answer beneath; the verdict with its reason
    page.wait_for_function("() => document.querySelector('details.think').dataset.state === 'thought'")
    assert fold.evaluate("d => d.open") is False
    assert page.locator("details.think summary").first.text_content() == "Thought for 5 tokens"
    page.wait_for_selector(".verdict")
    assert page.locator(".answer").first.text_content() == "5"
    verdict = page.locator(".verdict").first
    assert verdict.get_attribute("data-verdict") == "correct" and verdict.text_content().startswith("✓ correct — ")
    assert "11 tokens" in page.locator(".facts").first.text_content()
    # the fold opens again on a click
    page.click("details.think summary")
    assert fold.evaluate("d => d.open") is True and page.locator(".think-body").first.text_content() == "2 + 3 = 5"


def test_model_output_is_shown_as_text_never_as_html(page, live_server, scripted_generator):
    reply = ["<answer>", "<img src=x onerror=\"document.title='owned'\">", "<b>bold</b>", "</answer>"]
    url = live_server(create_app(generator=scripted_generator([reply], delay=0.01)))
    page.goto(f"{url}/chat")
    page.fill("#message", "<script>document.title='owned'</script>")
    page.click("#send")
    page.wait_for_selector(".reply[data-state='done']")
    assert page.locator(".answer img, .answer b, .bubble script").count() == 0
    assert page.locator(".answer").first.text_content() == "<img src=x onerror=\"document.title='owned'\"><b>bold</b>"
    assert page.locator(".bubble.user").first.text_content() == "<script>document.title='owned'</script>"
    assert page.title() != "owned"


def test_several_chats_stream_at_once(page, live_server, scripted_generator):
    url = live_server(create_app(generator=scripted_generator([THINK], delay=0.1)))
    page.goto(f"{url}/chat")
    for question in ("one", "two", "three"):
        page.fill("#message", question)
        page.press("#message", "Enter")
    # all three are streaming together before any has finished
    page.wait_for_function("() => document.querySelectorAll(\".reply[data-state='streaming']\").length === 3")
    page.wait_for_function("() => document.querySelectorAll(\".reply[data-state='done']\").length === 3")


def test_compare_picks_with_the_keyboard_and_resumes(page, live_server, scripted_generator, tmp_path):
    problems = [{"id": f"q{i}", "task": "arithmetic", "prompt": f"What is {i} + 3?", "answer": str(i + 3),
                 "verifier": "math"} for i in range(2)]
    good = ["<think>", "0 + 3", "</think>", "<answer>", "3", "</answer>"]
    bad = ["<think>", "hmm", "</think>", "<answer>", "4", "</answer>"]
    pairs = tmp_path / "prefs.jsonl"
    url = live_server(create_app(generator=scripted_generator([good, bad], delay=0.02), pairs_out=pairs,
                                 problems=problems, template="plain"))
    page.goto(f"{url}/compare")
    page.fill("#who", "ana")
    page.press("#who", "Tab")
    # the first problem came and was sampled; both replies show with the reasoning folded
    page.wait_for_selector(".picks button:not([disabled])")
    assert page.locator("#message").input_value() == "What is 0 + 3?"
    assert page.locator("#reply-A details.think").evaluate("d => d.open") is False
    assert page.locator("#reply-A .answer").text_content() == "3" and page.locator("#reply-B .answer").text_content() == "4"
    # a key typed into the prompt box is text, not a pick
    page.focus("#message")
    page.keyboard.press("End")
    page.keyboard.type("b")
    assert not pairs.exists()
    page.fill("#message", "What is 0 + 3?")
    page.locator("#message").blur()  # out of the box: keys pick again
    page.keyboard.press("a")
    page.wait_for_function("() => document.querySelector('#count').dataset.pairs === '1'")
    assert page.locator("#saved").text_content() == "saved: A is better"
    row = json.loads(pairs.read_text())
    assert (row["prompt"], row["chosen"], row["rejected"], row["who"]) == (
        "User: What is 0 + 3?\nAssistant:", "".join(good), "".join(bad), "ana")
    assert row["chosen_verdict"]["status"] == "correct" and row["rejected_verdict"]["status"] == "incorrect"
    # the next problem came by itself; a reload resumes there, with the count kept
    page.wait_for_function("() => document.querySelector('#message').value === 'What is 1 + 3?'")
    page.reload()
    page.wait_for_function("() => document.querySelector('#message').value === 'What is 1 + 3?'")
    page.wait_for_function("() => document.querySelector('#count').dataset.pairs === '1'")
    assert "(1 by you)" in page.locator("#count").text_content()
    page.wait_for_selector(".picks button:not([disabled])")
    page.keyboard.press("x")  # both bad: beside the pairs, not among them
    page.wait_for_selector("#status:has-text('every problem of the file is labelled')")
    assert json.loads((tmp_path / "prefs.ties.jsonl").read_text())["label"] == "both_bad"


def test_runs_shows_the_report_live_charts_and_completions_by_verdict(page, live_server, web_run):
    url = live_server(create_app(runs=web_run))
    page.goto(f"{url}/runs")
    page.wait_for_selector("#report table")
    assert page.locator("#run-title").text_content() == "demo"
    assert page.locator("#report th").first.text_content() == "stage"
    assert page.locator("#report td").first.text_content() == "SFT"
    page.wait_for_function("() => [...document.querySelectorAll('#report img')].every(i => i.complete && i.naturalWidth)")
    # charts of the last stage with metrics, and they grow while the run writes
    page.wait_for_function("() => document.querySelector('#charts').dataset.rows === '20'")
    assert page.locator("#charts canvas[data-key='reward']").count() == 1
    metrics = web_run / "demo" / "grpo" / "metrics.jsonl"
    original = metrics.read_bytes()
    try:
        with open(metrics, "a") as f:
            f.write(json.dumps({"step": 21, "reward": 0.9, "lr": 0.001}) + "\n")
        page.wait_for_function("() => document.querySelector('#charts').dataset.rows === '21'", timeout=10_000)
    finally:
        metrics.write_bytes(original)
    # completions, filtered by verdict; reasoning folded
    assert page.locator("#f-count").get_attribute("data-total") == "9"
    page.select_option("#f-verdict", "incorrect")
    page.wait_for_function("() => document.querySelector('#f-count').dataset.total === '1'")
    card = page.locator(".completion")
    assert card.count() == 1 and card.get_attribute("data-verdict") == "incorrect"
    assert card.locator(".verdict").text_content().startswith("✗ incorrect")
    assert card.locator("details.think").evaluate("d => d.open") is False
    assert card.locator("summary").text_content() == "Thought for 5 tokens"
    assert card.locator(".answer").text_content() == "3"
    page.select_option("#f-verdict", "unjudged")
    page.wait_for_function("() => document.querySelector('#f-count').dataset.total === '1'")
    assert page.locator(".completion .verdict").text_content().startswith("? could not judge (no_answer)")
    page.select_option("#f-stage", "grpo")
    page.wait_for_function("() => document.querySelector('#f-count').dataset.total === '0'")
    assert "verdict=unjudged" in page.url and "stage=grpo" in page.url
    page.reload()  # the filters live in the address
    page.wait_for_function("() => document.querySelector('#f-count')?.dataset.total === '0'")
    assert page.locator("#f-verdict").input_value() == "unjudged"
