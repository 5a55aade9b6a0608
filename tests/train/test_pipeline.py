"""``rlvr pipeline`` end to end at a small scale of the tiny preset: every stage runs, every stage's model
is evaluated on the same held-out problems (never trained on), and the report, results and plots exist."""

import json

import pytest

from train.cli import main as rlvr
from train.pipeline import PIPELINES, STAGE_NAMES

# the tiny preset at 2% of its steps, except GRPO (both runs): 3 steps, as --overrides sets it; 40 held-out
# questions; every stage also logs to TensorBoard
EVAL_PROBLEMS = 40
ARGS = ["pipeline", "--preset", "tiny", "--scale", "0.02", "--no-progress", "--device", "cpu", "--report-to",
        "tensorboard", "--eval-problems", str(EVAL_PROBLEMS), "--overrides", "grpo.max_steps=3", "grpo.log_every=1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("pipeline")
    try:
        code = rlvr([*ARGS, "--out-dir", str(out)])
    finally:
        torch.set_num_threads(threads)
    return code, out


def test_every_stage_runs_and_is_evaluated(run):
    code, out = run
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["stages"]) == ["pretrain", "sft", "grpo", "dpo", "r1_zero"]
    for name, stage in results["stages"].items():
        assert 0 <= stage["accuracy"] <= 1 and 0 <= stage["format"] <= 1, name
        assert 0 <= stage["sampled_accuracy"] <= stage["pass@4"] <= 1, name  # one of 4 right at least as often
        assert stage["per_task"].keys() == {"arithmetic"}
        assert (out / name / "final" / "config.json").exists() and (out / name / "metrics.jsonl").exists()
    assert set(results["seconds"]) == {"data", "pretrain", "sft", "grpo", "dpo", "r1_zero"}
    # --overrides: exact step counts for both GRPO runs (the preset's 30 steps x 0.02 would be 1), reported
    for name in ("grpo", "r1_zero"):
        steps = [json.loads(line)["step"] for line in (out / name / "metrics.jsonl").read_text().splitlines()]
        assert max(steps) == 3, name
    assert len((out / "sft" / "metrics.jsonl").read_text().splitlines()) <= 3  # the others stay scaled
    assert results["overrides"] == {"grpo": {"max_steps": 3, "log_every": 1}}
    assert "`grpo.max_steps=3`" in (out / "report.md").read_text()


def test_every_stage_saves_its_judged_completions_a_model_card_and_tensorboard_events(run):
    """Each stage's ``completions.jsonl`` (the web app's format): the greedy completion of every held-out problem
    in test.jsonl's order, then EVAL_SAMPLES samples of each, judged, the counts agreeing with the results; the
    exported model's card holds the stage's evaluation; each stage's metrics went to TensorBoard."""
    from train.pipeline import EVAL_SAMPLES
    from train.web.runs import RunsDir

    _, out = run
    test = [json.loads(line) for line in (out / "data" / "test.jsonl").read_text().splitlines()]
    results = json.loads((out / "results.json").read_text())["stages"]
    keys = {"id", "task", "prompt", "answer", "completion", "sample", "temperature", "tokens", "thought_tokens",
            "finish_reason", "status", "reason", "extracted", "well_formed", "correct"}
    for name, result in results.items():
        rows = [json.loads(line) for line in (out / name / "completions.jsonl").read_text().splitlines()]
        assert len(rows) == len(test) * (1 + EVAL_SAMPLES) and all(keys <= r.keys() for r in rows), name
        greedy, sampled = rows[:len(test)], rows[len(test):]
        assert [(r["id"], r["prompt"], r["answer"]) for r in greedy] == [(t["id"], t["prompt"], t["answer"])
                                                                         for t in test]
        assert {(r["sample"], r["temperature"]) for r in greedy} == {(0, 0.0)}
        assert [(r["id"], r["sample"]) for r in sampled] == [(t["id"], k) for t in test
                                                              for k in range(1, EVAL_SAMPLES + 1)]
        assert {r["temperature"] for r in sampled} == {1.0}
        assert sum(r["correct"] is True for r in greedy) / len(test) == pytest.approx(result["accuracy"])
        assert sum(r["correct"] is True for r in sampled) / len(sampled) == pytest.approx(result["sampled_accuracy"])
        assert sum(r["well_formed"] for r in greedy) / len(test) == pytest.approx(result["format"])
        limit = PIPELINES["tiny"].grpo.max_completion_length
        assert all(0 < r["tokens"] <= limit and r["finish_reason"] in ("stop", "length") for r in rows)
        assert not (out / name / "completions.jsonl.tmp").exists()
        card = (out / name / "final" / "README.md").read_text()
        assert "## Held-out evaluation" in card and f"| `accuracy` | {result['accuracy']:.4g} |" in card, name
        assert any((out / name / "tensorboard").glob("events.out.tfevents.*")), name
    # the web app reads them
    page = RunsDir(out.parent).completions(out.name, stage="grpo", limit=1000)
    assert page["total"] == len(test) * (1 + EVAL_SAMPLES) and set(page["stages"]) == set(results)


def test_held_out_problems_are_distinct_and_never_trained_on(run):
    _, out = run
    test = [json.loads(line) for line in (out / "data" / "test.jsonl").read_text().splitlines()]
    train = [json.loads(line) for line in (out / "data" / "train.jsonl").read_text().splitlines()]
    prompts = [r["prompt"] for r in test]
    assert prompts and len(prompts) == len(set(prompts)) <= EVAL_PROBLEMS
    prompts = set(prompts)
    assert not set(prompts) & {r["prompt"] for r in train}
    rl = [json.loads(line) for line in (out / "data" / "rl.jsonl").read_text().splitlines()]
    rl_prompts = {r["prompt"] for r in rl}
    assert rl and not rl_prompts & set(prompts)
    assert not rl_prompts & {r["prompt"] for r in train}  # GRPO/DPO questions were never solved in SFT
    corpus = "\n".join(json.loads(line)["text"] for line in (out / "data" / "corpus.jsonl").read_text().splitlines())
    # neither the held-out nor the RL questions are in the pretraining text (in any of its document forms)
    assert corpus and all(f"{p}\n" not in corpus for p in prompts | rl_prompts)


def test_grpo_questions_kept_out_of_pretraining_and_sft(tmp_path, monkeypatch):
    """With ``rl_size`` > 0 (the GPU presets), GRPO and DPO get questions that neither the pretraining text nor
    SFT contains; the data stage alone is run here (every training stage is stubbed out)."""
    import dataclasses

    import train.pipeline as pipeline_module

    budget = dataclasses.replace(PIPELINES["tiny"], difficulty="3-4", n_problems=600, rl_size=0.25, tagged_share=0.2,
                                 chat_share=0.2)  # the dialogues hold no GRPO question either
    monkeypatch.setitem(PIPELINES, "tiny", budget)

    class Stop(Exception):
        pass

    def stop(config):
        raise Stop

    monkeypatch.setattr("train.pretrain.pretrain", stop)
    out = tmp_path / "run"
    with pytest.raises(Stop):
        pipeline_module.pipeline(pipeline_module.PipelineConfig(out_dir=str(out), progress=False, device="cpu"))
    read = lambda name: [json.loads(x) for x in (out / "data" / name).read_text().splitlines()]  # noqa: E731
    train, rl, test = read("train.jsonl"), read("rl.jsonl"), read("test.jsonl")
    train_prompts, rl_prompts = {r["prompt"] for r in train}, {r["prompt"] for r in rl}
    assert train and rl and test and not train_prompts & rl_prompts
    assert not rl_prompts & {r["prompt"] for r in test}
    corpus = "\n".join(json.loads(line)["text"] for line in (out / "data" / "corpus.jsonl").read_text().splitlines())
    assert corpus and all(f"{p}\n" not in corpus for p in rl_prompts)
    assert 0.15 < len(rl) / (len(rl) + len(train)) < 0.35


def test_report_has_the_table_and_the_plots(run):
    _, out = run
    report = (out / "report.md").read_text()
    for name in STAGE_NAMES.values():
        assert f"| {name} |" in report
    assert "| sampled (T=1) | pass@4 |" in report
    plots = ["loss.png", "grpo.png"]
    dpo_rows = [json.loads(line) for line in (out / "dpo" / "metrics.jsonl").read_text().splitlines()]
    if any("loss" in r for r in dpo_rows):
        plots.append("dpo.png")
    else:  # this barely trained SFT model may give no pair at all: the rounds say so instead of training
        assert dpo_rows and all(r["skipped"] for r in dpo_rows) and not (out / "dpo.png").exists()
    for plot in plots:
        assert (out / plot).read_bytes()[:4] == b"\x89PNG" and f"({plot})" in report


def test_bad_options_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:  # argparse rejects an unknown preset, naming the choices
        rlvr(["pipeline", "--preset", "huge"])
    assert exit_info.value.code == 2 and "choose from 'tiny', 'small', 'code', 'base'" in capsys.readouterr().err
    assert rlvr(["pipeline", "--scale", "0"]) == 2
    assert "--scale must be positive" in capsys.readouterr().err
    assert rlvr(["pipeline", "--tagged-share", "0.7", "--chat-share", "0.5"]) == 2
    assert "add up to at most 1" in capsys.readouterr().err
    for item, words in (("grpo.max_step=3", "GRPOConfig has no field 'max_step'"), ("grpo.max_steps=x", "expected int"),
                        ("rl.lr=1", "unknown stage 'rl'; choose from pretrain, sft, grpo, dpo, rm"),
                        ("sft.out_dir=/tmp", "the pipeline sets out_dir itself"), ("grpo.lr", "STAGE.FIELD=VALUE")):
        assert rlvr(["pipeline", "--overrides", item]) == 2, item
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, (item, err)


def test_overrides_reach_the_reward_model_of_rlhf():
    from train.pipeline import stage_overrides

    assert stage_overrides(["rm.pack_pairs=false", "rm.lr=1e-5"]) == {"rm": {"pack_pairs": False, "lr": 1e-5}}
    with pytest.raises(ValueError, match="RMConfig has no field 'lrr'"):
        stage_overrides(["rm.lrr=1"])


def test_resume_keeps_finished_stages_and_reruns_the_rest(run, tmp_path, capsys, monkeypatch):
    import dataclasses
    import shutil

    _, first = run
    out = tmp_path / "copy"
    shutil.copytree(first, out)
    shutil.rmtree(out / "r1_zero" / "final")  # as if the run had been cut off during its last stage
    before = json.loads((first / "results.json").read_text())
    args = [*ARGS, "--out-dir", str(out)]
    capsys.readouterr()
    assert rlvr([*args, "--resume"]) == 0
    printed = capsys.readouterr().out
    for name in ("pretrain", "sft", "grpo", "dpo"):
        assert f"{name:<13} kept from the earlier run" in printed
    assert "r1_zero       kept" not in printed and (out / "r1_zero" / "final" / "config.json").exists()
    after = json.loads((out / "results.json").read_text())
    for name in ("pretrain", "sft", "grpo", "dpo"):  # the kept stages' evaluations and times are the earlier ones
        assert after["stages"][name] == before["stages"][name]
        assert after["seconds"][name] == before["seconds"][name]
    # how often a stage logs and saves, and how many checkpoints it keeps, change nothing it learns
    assert rlvr([*args, "--overrides", "grpo.max_steps=3", "pretrain.save_every=1", "pretrain.keep_last=1",
                 "sft.log_every=1", "--resume"]) == 0  # and grpo.log_every back to its default
    printed = capsys.readouterr().out
    for name in STAGE_NAMES:
        assert f"{name:<13} kept from the earlier run" in printed, name
    # other settings than the earlier run's are refused, not mixed in
    assert rlvr([*args, "--seed", "1", "--resume"]) == 2
    assert "other settings" in capsys.readouterr().err
    # other GRPO settings: GRPO and R1-Zero (which takes GRPO's settings) train again, from the kept models
    assert rlvr([*args, "--overrides", "grpo.max_steps=2", "grpo.log_every=1", "--resume"]) == 0
    printed = capsys.readouterr().out
    for name in ("pretrain", "sft", "dpo"):
        assert f"{name:<13} kept from the earlier run" in printed
    for name in ("grpo", "r1_zero"):
        assert f"{name:<13} settings changed since the earlier run: trained again" in printed
        steps = [json.loads(line)["step"] for line in (out / name / "metrics.jsonl").read_text().splitlines()]
        assert steps == [1, 2], name  # a fresh run of 2 steps, not a resumed one of 3
    # other SFT settings: SFT and everything that starts from it
    assert rlvr([*args, "--overrides", "grpo.max_steps=2", "grpo.log_every=1", "sft.worked_share=0.4", "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "pretrain      kept" in printed and "r1_zero       kept" in printed
    assert "sft           settings changed since the earlier run: trained again" in printed
    for name in ("grpo", "dpo"):
        assert f"{name:<13} starts from the sft model, which is new: trained again" in printed
    # the report keeps the recipe's order, not the order --resume trained the stages in
    assert list(json.loads((out / "results.json").read_text())["stages"]) == list(STAGE_NAMES)
    assert "40% of its problems show the worked solution" in (out / "report.md").read_text()
    # a preset whose values changed (a new version of rlvr) counts as changed settings too
    sft_budget = dataclasses.replace(PIPELINES["tiny"].sft, lr=PIPELINES["tiny"].sft.lr / 2)
    monkeypatch.setitem(PIPELINES, "tiny", dataclasses.replace(PIPELINES["tiny"], sft=sft_budget))
    assert rlvr([*args, "--overrides", "grpo.max_steps=2", "grpo.log_every=1", "sft.worked_share=0.4", "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "pretrain      kept" in printed and "r1_zero       kept" in printed
    assert "sft           settings changed since the earlier run: trained again" in printed


def test_corpus_shares_write_the_template_dialogues():
    """R1-Zero's start: seeded shares of the pretraining documents are the template's dialogue, with the
    worked solution in <think> and the answer in <answer> (tagged_share) or with the answer alone
    (chat_share); the rest stay plain text; every document keeps its problem's answer."""
    from train.pipeline import corpus_documents
    from train.template import PLAIN, render_prompt
    from verifiers import check_format

    rows = [{"prompt": f"Calculate ${a} + {b}$.", "solution": f"Step 1: add: {a} + {b} = {a + b}.\nThe answer is {a + b}.",
             "answer": str(a + b), "verifier": "math"} for a in range(40) for b in range(40)]
    docs = corpus_documents(rows, "plain", seed=3, tagged_share=0.2, chat_share=0.3)
    forms = {"tagged": 0, "chat": 0, "plain": 0}
    for row, doc in zip(rows, docs):
        prompt = render_prompt(row["prompt"], PLAIN)
        if "<think>" in doc:
            forms["tagged"] += 1
            assert doc.startswith(prompt) and check_format(doc[len(prompt):]).ok
            assert doc.endswith(f"<answer>{row['answer']}</answer>") and row["solution"] in doc
        elif doc.startswith(prompt):
            forms["chat"] += 1
            assert doc == f"{prompt} The answer is {row['answer']}."
        else:
            forms["plain"] += 1
            assert doc.startswith(f"Problem: {row['prompt']}\n") and f"Answer: {row['answer']}" in doc
    assert 0.16 < forms["tagged"] / len(rows) < 0.24 and 0.25 < forms["chat"] / len(rows) < 0.35
    # the form hangs on the prompt and the seed alone
    assert corpus_documents(rows[::-1], "plain", seed=3, tagged_share=0.2, chat_share=0.3) == docs[::-1]
    assert corpus_documents(rows, "plain", seed=4, tagged_share=0.2, chat_share=0.3) != docs
    assert all(d.startswith("Problem: ") for d in corpus_documents(rows, "plain", seed=3))
    with pytest.raises(ValueError, match="add up to at most 1"):
        corpus_documents(rows, "plain", seed=3, tagged_share=0.6, chat_share=0.6)


def test_code_preset_runs_end_to_end_with_sandboxed_rewards(tmp_path, monkeypatch):
    """The code preset at a tiny scale on CPU (the tiny model, a few steps): every stage runs and is evaluated
    on held-out code questions (pass@1 per task), and every GRPO completion gets a reward (one with no program
    scores 0; test_grpo runs programs on their tests in the reward workers)."""
    import dataclasses

    import torch

    code = PIPELINES["code"]
    budget = dataclasses.replace(
        code, n_problems=400, eval_problems=6, tagged_share=0.1, chat_share=0.2,
        pretrain=dataclasses.replace(code.pretrain, preset="tiny", batch_size=4, seq_len=256),
        sft=dataclasses.replace(code.sft, batch_size=4, max_len=1024),
        grpo=dataclasses.replace(code.grpo, prompts_per_step=2, num_generations=2, max_completion_length=24,
                                 reward_workers=2),
        dpo=dataclasses.replace(code.dpo, prompts_per_round=4, num_generations=2, batch_size=2,
                                max_completion_length=24))
    monkeypatch.setitem(PIPELINES, "code", budget)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path / "code"
    try:
        assert rlvr(["pipeline", "--preset", "code", "--scale", "0.01", "--no-progress", "--device", "cpu",
                     "--overrides", "grpo.max_steps=2", "--out-dir", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    results = json.loads((out / "results.json").read_text())
    assert list(results["stages"]) == ["pretrain", "sft", "grpo", "dpo", "r1_zero"]
    for stage in results["stages"].values():
        assert set(stage["per_task"]) <= {"code_function", "code_stdio"} and 0 <= stage["accuracy"] <= 1
    for name in ("grpo", "r1_zero"):
        rows = [json.loads(line) for line in (out / name / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows if "reward" in r] == [1, 2]
        assert all(r["unjudged"] == 0 and r["rewards/accuracy/mean"] is not None for r in rows if "reward" in r)
    assert "| SFT + GRPO |" in (out / "report.md").read_text()
    # split by program: no held-out or RL problem's reference program is in a row SFT trained on
    programs = {name: {json.loads(line)["answer"] for line in (out / "data" / f"{name}.jsonl").read_text().splitlines()}
                for name in ("train", "rl", "test")}
    assert programs["test"] and programs["rl"] and not programs["test"] & (programs["train"] | programs["rl"])
    assert not programs["rl"] & programs["train"]
