"""``rlvr grpo`` on CPU with a tiny model: it learns a contrived reward, scores rubric rewards the same in a
process pool and in-process, builds the batch the loss sees, resumes exactly, drops flat groups with
dynamic sampling, and reports bad configs with exit code 2."""

import contextlib
import itertools
import json
from pathlib import Path

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import train.grpo
from train.dist import DistInfo
from train.engine import Generation
from train.grpo import Group, GRPOConfig, RewardScorer, _train_on, build_batch, grpo, main
from train.load import load_policy, make_problem_rows
from train.model import ModelConfig, Transformer
from verifiers.rewards import Judged
from verifiers.verdict import Verdict

# timings differ from run to run; everything else in a row must repeat exactly
TIMINGS = ("step_time", "generation_time", "tokens_per_s")
# TRL's GRPOTrainer metrics (TRL 1.16) in every training row (kl only with beta > 0)
TRL_NAMES = ("loss", "reward", "reward_std", "frac_reward_zero_std", "completions/mean_length",
             "completions/min_length", "completions/max_length", "completions/clipped_ratio",
             "completions/mean_terminated_length", "completions/min_terminated_length",
             "completions/max_terminated_length", "entropy", "clip_ratio/low_mean", "clip_ratio/high_mean",
             "clip_ratio/region_mean")


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


def sevens(prompts, completions, **columns):
    """A contrived reward with TRL's signature: the share of characters that are the digit 7."""
    return [c.count("7") / max(1, len(c)) for c in completions]


def config(policy: Path, out: Path, **overrides) -> GRPOConfig:
    settings = dict(init_from=str(policy), out_dir=str(out), rewards="", tasks="arithmetic", difficulty="1",
                    n_problems=60, template="plain", prompts_per_step=4, num_generations=8, max_completion_length=12,
                    lr=1e-2, max_steps=30, reward_workers=0, eval_every=0, eval_problems=4, device="cpu",
                    progress=False, seed=0)
    return GRPOConfig(**{**settings, **overrides})


def rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def latest_step(out: Path) -> int:
    return max(int(p.name.removeprefix("step_")) for p in out.glob("step_*"))


def without_timings(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in TIMINGS}


def test_a_tiny_model_learns_a_contrived_reward(policy, tmp_path):
    """The learning test of issue 7: sevens are rare under the random model and common after 30 steps."""
    out = tmp_path / "run"
    last = grpo(config(policy, out), reward_funcs=[sevens])
    metrics = rows(out)
    assert [r["step"] for r in metrics] == list(range(1, 31))
    rewards = [r["reward"] for r in metrics]
    first, final = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert first < 0.05 and final > 0.5, rewards
    assert metrics[-1]["rewards/sevens/mean"] == metrics[-1]["reward"]
    assert last == metrics[-1] and "eval_accuracy" in last and last["eval_per_task"].keys() == {"arithmetic"}
    for key in (*TRL_NAMES, "rewards/sevens/mean", "rewards/sevens/std", "format", "grad_norm", "ratio/mean", "lr",
                "tokens_per_s", "step_time"):
        assert key in last, key
    assert not {"completion_length", "truncated", "reward/sevens"} & last.keys()  # the names before TRL's
    assert 0 < last["completions/min_length"] <= last["completions/mean_length"] <= last["completions/max_length"]
    assert last["completions/max_length"] <= 12 and 0 <= last["completions/clipped_ratio"] <= 1
    assert last["accuracy"] is None and last["unjudged"] is None  # no rubric: no verifier ran
    assert "kl" not in last  # beta 0: no reference model
    assert all(r["ratio/mean"] == 1.0 for r in metrics)  # mu = 1 is on-policy
    assert latest_step(out) == 30 and (out / "final" / "model.safetensors").is_file()
    # the held-out completions of the last evaluation, judged, and the model card with the last step's results
    lines = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and {r["sample"] for r in lines} == {0} and lines[0]["task"] == "arithmetic"
    assert sum(r["correct"] is True for r in lines) / 4 == last["eval_accuracy"]
    card = (out / "final" / "README.md").read_text()
    assert f"| `reward` | {last['reward']:.4g} |" in card and "| `max_steps` | 30 |" in card
    model, _ = load_policy(out / "final")
    initial, _ = load_policy(policy)
    assert not torch.equal(model.lm_head.weight, initial.lm_head.weight)


# ---------------------------------------------------------------------------------------------
# Rewards


@pytest.fixture(scope="module")
def problems():
    return make_problem_rows("arithmetic", 2, 0, "1")  # "Calculate $1 + 2$." -> 3, "Calculate $1 - 5$." -> -4


def completions_for(problems):
    """Per problem: right, wrong, no <answer>, unparseable answer; all but the third well formed."""
    out, group_problems = [], []
    for p in problems:
        out += [f"<think>so</think> <answer>{p['answer']}</answer>", "<think>so</think> <answer>99</answer>",
                "<think>I cannot say</think>", "<think>so</think> <answer>x + </answer>"]
        group_problems += [p] * 4
    return out, group_problems


def score(scorer: RewardScorer, completions, group_problems) -> list[Judged]:
    with scorer:
        pending = scorer.submit(completions, group_problems, [len(c) for c in completions], group=4)
        return scorer.result(pending, [p["prompt"] for p in group_problems], completions, group_problems)


def totals(judged: list[Judged]) -> list[float | None]:
    return [j.total for j in judged]


def test_rubric_rewards_in_a_process_pool_equal_those_in_process(problems):
    completions, group_problems = completions_for(problems)
    pooled = score(RewardScorer("accuracy,format=0.5", workers=1), completions, group_problems)
    local = score(RewardScorer("accuracy,format=0.5", workers=0), completions, group_problems)
    assert pooled == local
    assert totals(local) == [1.5, 0.5, 0.0, None] * 2  # no answer: 0 (the model's failure); unparseable: excluded
    assert [j.parts["accuracy"] for j in local] == [1.0, 0.0, 0.0, None] * 2
    assert [j.correct for j in local] == [True, False, False, None] * 2
    assert [j.well_formed for j in local] == [True, True, False, True] * 2

    lenient = score(RewardScorer("accuracy,format=0.5", workers=0, punish_no_answer=False), completions,
                    group_problems)
    assert totals(lenient) == [1.5, 0.5, None, None] * 2
    assert [j.correct for j in lenient] == [True, False, None, None] * 2


def test_an_unreadable_answer_outside_the_template_is_the_models_failure(problems):
    """Unreadable and malformed (no think block, text after the answer, bare garbage): 0. Unreadable but well
    formed: the verifier's failure, excluded (None)."""
    p = problems[0]
    completions = ["<answer>x + </answer>", "<think>so</think> <answer>x + </answer> more", "+-*/ x +",
                   "<think>so</think> <answer>x + </answer>"]
    judged = score(RewardScorer("accuracy,format=0.5", workers=0), completions, [p] * 4)
    assert [j.well_formed for j in judged] == [False, False, False, True]
    assert totals(judged) == [0.0, 0.0, 0.0, None] and [j.correct for j in judged] == [False, False, False, None]


def test_reward_callables_are_added_to_the_rubric_and_checked(problems):
    completions, group_problems = completions_for(problems)
    seen = {}

    def bonus(prompts, completions, **columns):
        seen.update(columns, prompts=prompts)
        return [0.25] * (len(completions) - 1) + [None]

    judged = score(RewardScorer("accuracy", workers=0, funcs=[bonus]), completions, group_problems)
    assert totals(judged) == [1.25, 0.25, 0.25, None, 1.25, 0.25, 0.25, None]  # a None from any reward: excluded
    assert judged[0].parts == {"accuracy": 1.0, "bonus": 0.25} and judged[-1].parts["bonus"] is None
    assert seen["answer"] == [p["answer"] for p in group_problems]  # dataset columns, as TRL passes them
    assert seen["prompts"] == [p["prompt"] for p in group_problems]

    only = score(RewardScorer("", workers=0, funcs=[sevens]), ["77", "a7", "ab"], [problems[0]] * 3)
    assert totals(only) == [1.0, 0.5, 0.0] and [(j.correct, j.well_formed) for j in only] == [(None, False)] * 3

    def short(prompts, completions, **columns):
        return [1.0]
    with pytest.raises(ValueError, match="reward function short returned 1 values for 8"):
        score(RewardScorer("accuracy", workers=0, funcs=[short]), completions, group_problems)


# ---------------------------------------------------------------------------------------------
# The batch


def generation(prompt_index: int, token_ids: list[int], finish_reason: str = "stop") -> Generation:
    return Generation(prompt_index, token_ids, "", [0.0] * len(token_ids), finish_reason)


def test_build_batch_masks_exactly_the_completion_targets():
    prompts = [[1, 2, 3], [1, 2, 3], [4, 5], [4, 5]]
    completions = [[10, 11], [12], [13, 14, 15], [16]]
    inputs, targets, mask = build_batch(prompts, completions, pad_id=0)
    assert inputs.shape == targets.shape == mask.shape == (4, 64)
    for i, (prompt, completion) in enumerate(zip(prompts, completions)):
        row = prompt + completion
        assert inputs[i, :len(row) - 1].tolist() == row[:-1] and targets[i, :len(row) - 1].tolist() == row[1:]
        assert targets[i][mask[i].bool()].tolist() == completion  # the completion, and nothing else
        assert (inputs[i, len(row):] == 0).all() and (targets[i, len(row) - 1:] == 0).all()
    long = build_batch([[1] * 40], [[2] * 25], pad_id=0)  # 65 tokens: the next multiple
    assert long[0].shape == (1, 128) and long[2].sum() == 25 and long[2][0, 39:64].all()


def train_on(kept, tokenizer, info=None, **settings) -> dict:
    """One ``_train_on`` call with a tiny model that does not move (lr 0)."""
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1,
                                    num_attention_heads=2, num_key_value_heads=1, intermediate_size=32))
    cfg = GRPOConfig(init_from="unused", num_generations=len(kept[0].generations), **settings)
    return _train_on(kept, cfg, model=model, forward=model,
                     optimizer=torch.optim.SGD(model.parameters(), lr=0.0), pad_id=0,
                     autocast=contextlib.nullcontext(), info=info or DistInfo(), device=torch.device("cpu"))


def group(rewards: list[float | None], truncated: int | None = None, prompt_index: int = 0) -> Group:
    """One group of completions as the sampling loop keeps them: prompt, generations, their judgements, ..."""
    generations = [generation(prompt_index, list(range(10, 12 + i % 2)), "length" if i == truncated else "stop")
                   for i in range(len(rewards))]
    judged = [Judged(r, {"accuracy": r}, None if r is None else r == 1.0, True) for r in rewards]
    return Group([1, 2, 3], generations, judged, [None] * len(rewards), [None] * len(rewards))


def test_excluded_and_masked_truncated_rows_get_no_loss(tokenizer, monkeypatch):
    """Unjudged completions (reward None) never reach the loss; truncated ones only when masked."""
    seen = []
    real = train.grpo.grpo_loss

    def spy(logprobs, old, advantages, mask, **kwargs):
        seen.append((advantages.clone(), mask.clone()))
        return real(logprobs, old, advantages, mask, **kwargs)

    monkeypatch.setattr(train.grpo, "grpo_loss", spy)
    kept = [group([1.0, 0.0, None, 0.8], truncated=1)]
    for masked, expected_rows in ((False, [2, 3, 0, 3]), (True, [2, 0, 0, 3])):
        seen.clear()
        row = train_on(kept, tokenizer, mask_truncated_completions=masked, micro_batch_size=2)
        advantages = torch.cat([a for a, _ in seen])
        mask = torch.cat([m for _, m in seen])
        assert len(seen) == 2  # two micro-batches of 2
        assert mask.sum(1).tolist() == expected_rows
        assert advantages[2] == 0 and advantages[0] > advantages[3] > 0 > advantages[1]
        assert row["reward"] == 0.6 and row["accuracy"] == pytest.approx(1 / 3, abs=1e-5) and row["unjudged"] == 0.25
        assert row["completions/clipped_ratio"] == 0.25 and row["completions/mean_length"] == 2.5
        assert row["completions/mean_terminated_length"] == pytest.approx(7 / 3, abs=1e-5)  # lengths 2, 2, 3


def test_train_on_leaves_the_kept_groups_as_they_were(tokenizer):
    """Groups from two sampling rounds keep their rounds' prompt indices: the batch pairs each completion with its
    group's prompt, renumbering nothing."""
    kept = [group([1.0, 0.0], prompt_index=3), group([0.0, 1.0], prompt_index=0)]
    train_on(kept, tokenizer)
    assert [[g.prompt_index for g in k.generations] for k in kept] == [[3, 3], [0, 0]]


def test_ddp_metrics_are_the_whole_batchs(tokenizer, monkeypatch):
    """Under DDP every rank joins one gather of its judged completions and one sum of its token statistics, also a
    rank whose completions were all unjudged; the reward and completion metrics are those of every rank's
    completions together, as one process holding them all would log them."""
    other = group([1.0, 1.0])  # the second rank's group: flat
    cases = ([1.0, 0.0], [None, None])
    alone = [train_on([group(mine), other], tokenizer) for mine in cases]  # one process holding both groups
    gathered, reduced = [], []

    def all_gather_objects(local):
        gathered.append(len(local))
        them = [(j, len(g.token_ids), g.finish_reason == "length") for j, g in zip(other.judged, other.generations)]
        return [local, them]

    def all_reduce_sum(tensor):
        reduced.append(tensor.numel())
        return tensor * 2  # the other rank's statistics equal this one's

    monkeypatch.setattr(train.grpo, "all_gather_objects", all_gather_objects)
    monkeypatch.setattr(train.grpo, "all_reduce_sum", all_reduce_sum)
    two_ranks = DistInfo(rank=0, world_size=2)
    for mine, expected in zip(cases, alone):
        gathered[:], reduced[:] = [], []
        row = train_on([group(mine)], tokenizer, two_ranks)
        assert gathered == [2] and len(reduced) == 2  # the DAPO token count, then the statistics
        for key in ("reward", "reward_std", "frac_reward_zero_std", "rewards/accuracy/mean", "rewards/accuracy/std",
                    "accuracy", "unjudged", "format", "completions/mean_length", "completions/clipped_ratio"):
            assert row[key] == expected[key], (mine, key)
    assert row["reward"] == 1.0 and row["frac_reward_zero_std"] == 0.5  # the unjudged group has no std


# ---------------------------------------------------------------------------------------------
# TRL's metrics


def trl_reward_metrics(totals: list[float | None], parts: list[float | None], group_size: int, scale_rewards: str):
    """What TRL 1.16's ``GRPOTrainer._generate_and_score_completions`` logs for these rewards, by its own code."""
    from trl.trainer.utils import nanstd

    nan = float("nan")
    # float64: TRL holds rewards in float32, where the mean of equal rewards can miss them by a rounding step, so
    # a group of three 1.7539537172890434 has a std of about 1e-7, above isclose's 1e-8, and TRL counts it as a
    # group with signal; rlvr counts equal rewards as zero std. In float64 TRL's own code says so too
    rewards = torch.tensor([nan if t is None else t for t in totals], dtype=torch.float64)
    per_func = torch.tensor([nan if v is None else v for v in parts], dtype=torch.float64)
    if scale_rewards == "batch":
        std = nanstd(rewards).expand_as(rewards)
    else:
        std = nanstd(rewards.view(-1, group_size), dim=1).repeat_interleave(group_size, dim=0)
    is_std_zero = torch.isclose(std, torch.zeros_like(std))
    return {"rewards/accuracy/mean": torch.nanmean(per_func).item(), "rewards/accuracy/std": nanstd(per_func).item(),
            "reward": torch.nanmean(rewards).item(), "reward_std": nanstd(rewards).item(),
            "frac_reward_zero_std": is_std_zero.float().mean().item()}


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 4).flatmap(lambda size: st.tuples(
    st.just(size), st.lists(st.lists(st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0]), st.floats(-2, 2)),
                                     min_size=size, max_size=size), min_size=1, max_size=4))),
       st.sampled_from(["group", "batch", "none"]))
@example((3, [[1.7539537172890434] * 3]), "group")  # equal rewards whose float32 mean is off by a rounding step
def test_reward_metrics_are_trls(case, scale_rewards):
    """Each reward metric equals TRL's own computation on the same rewards (None: a verifier could not judge)."""
    size, groups = case
    values = [v for g in groups for v in g]
    judged = [Judged(v, {"accuracy": v}) for v in values]
    ours = train.grpo.reward_metrics(judged, size, scale_rewards)
    theirs = trl_reward_metrics(values, values, size, scale_rewards)
    for key, value in theirs.items():
        if value != value:  # NaN in TRL: nothing to average, or a single value's std
            assert ours[key] is None, (key, ours)
        else:
            assert ours[key] == pytest.approx(value, abs=2e-6), (key, ours[key], value)


def test_completion_metrics_are_trls():
    """TRL's completions/* on lengths where one completion was cut: the terminated ones are the others; none
    terminated gives zeros, as TRL logs."""
    m = train.grpo.completion_metrics([5, 12, 3, 12], [False, True, False, True])
    assert (m["completions/mean_length"], m["completions/min_length"], m["completions/max_length"]) == (8.0, 3.0, 12.0)
    assert m["completions/clipped_ratio"] == 0.5
    assert (m["completions/mean_terminated_length"], m["completions/min_terminated_length"],
            m["completions/max_terminated_length"]) == (4.0, 3.0, 5.0)
    cut = train.grpo.completion_metrics([12, 12], [True, True])
    assert cut["completions/clipped_ratio"] == 1.0 and cut["completions/mean_terminated_length"] == 0.0


# ---------------------------------------------------------------------------------------------
# The command line


def test_bad_configs_exit_2_naming_the_flag(policy, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["--no-progress", "--device", "cpu", "--max-steps", "1", "--out-dir", str(out), "--tasks", "arithmetic",
            "--n-problems", "40", "--reward-workers", "0"]
    init = ["--init-from", str(policy)]
    cases = [
        ([], ["--init-from is required"]),
        ([*init, "--num-generations", "1"], ["--num-generations must be at least 2", "got 1"]),
        ([*init, "--temperature", "0"], ["--temperature must be positive"]),
        ([*init, "--temperature", "-1"], ["--temperature must be positive"]),
        ([*init, "--rewards", "accuracy,nosuch=2"], ["--rewards", "unknown reward 'nosuch'"]),
        ([*init, "--rewards", ""], ["--rewards", "no rewards"]),
        (["--init-from", str(tmp_path / "nowhere")], ["nowhere: no such model folder"]),
    ]
    for argv, words in cases:
        code = main([*base, *argv])
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert err.startswith("rlvr grpo: error:"), (argv, err)
        for word in words:
            assert word in err, (argv, word, err)
        assert "Traceback" not in err
    assert not (out / "metrics.jsonl").exists()  # every error came before any training


def test_main_trains_with_the_rubric_in_a_process_pool(policy, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["--init-from", str(policy), "--out-dir", str(out), "--tasks", "arithmetic", "--difficulty", "1",
                 "--n-problems", "40", "--template", "plain", "--prompts-per-step", "2", "--num-generations", "2",
                 "--max-completion-length", "6", "--max-steps", "2", "--reward-workers", "1", "--eval-problems", "2",
                 "--device", "cpu", "--no-progress"])
    stdout = capsys.readouterr().out
    assert code == 0
    last = json.loads(stdout.splitlines()[-1])
    assert last == rows(out)[-1] and last["step"] == 2
    for key in ("reward", "accuracy", "format", "unjudged", "rewards/accuracy/mean", "rewards/format/mean",
                "eval_accuracy", "eval_format"):
        assert key in last, key
    # a random model writes bytes outside the template with no readable answer: the model's failure, scored 0
    # (not "unjudged"); every reward in every group is then 0, so advantages and the gradient are 0
    assert last["format"] == 0 and last["eval_accuracy"] == 0
    assert last["unjudged"] == 0 and last["reward"] == 0 and last["grad_norm"] == 0


def always_right(completion: str, problem: dict) -> Verdict:
    """A user's verifier (at module level, so a spawned reward worker can import it): every answer is right."""
    return Verdict("correct", f"{problem['id']}: the test's own verifier")


def test_a_registered_verifier_scores_in_spawned_reward_workers(policy, tmp_path):
    """``register_verifier`` in this process reaches GRPO's reward workers, which are started with spawn (nothing
    inherited): the problems name the new verifier, and every completion of the random policy, which the math
    verifier would score 0, is judged right."""
    from verifiers import register_verifier, registry
    from verifiers.problem import Problem, write_jsonl

    register_verifier("always_right", always_right)
    try:
        problems = [Problem(f"user/{k}", "user", f"What is {k} + {k}?", str(2 * k), f"{k} + {k} = {2 * k}",
                            "always_right", 1).to_row() for k in range(8)]
        write_jsonl(problems, tmp_path / "problems.jsonl")
        out = tmp_path / "run"
        grpo(config(policy, out, problems=str(tmp_path / "problems.jsonl"), rewards="accuracy", reward_workers=1,
                    max_steps=2, prompts_per_step=2, num_generations=2, max_completion_length=6, eval_problems=0))
    finally:
        registry.VERIFIERS.pop("always_right"), registry._USER.pop("always_right")
    metrics = rows(out)
    assert [r["step"] for r in metrics] == [1, 2]
    assert all(r["accuracy"] == r["rewards/accuracy/mean"] == r["reward"] == 1.0 and r["unjudged"] == 0
               for r in metrics)


# ---------------------------------------------------------------------------------------------
# Resume, dynamic sampling, KL, mu > 1


def test_resume_continues_exactly(policy, tmp_path):
    """Two steps, then --resume to four: steps 3-4 as in an uninterrupted run of four, bit for bit. The end of the
    short run evaluates with sampling (pass@k) before it saves; that must not move the sampling RNG of training."""
    full, part = tmp_path / "full", tmp_path / "part"
    settings = dict(save_every=2, eval_samples=2, eval_problems=2)
    grpo(config(policy, full, max_steps=4, **settings), reward_funcs=[sevens])
    grpo(config(policy, part, max_steps=2, **settings), reward_funcs=[sevens])
    grpo(config(policy, part, max_steps=4, resume=True, **settings), reward_funcs=[sevens])
    expected, resumed = rows(full), rows(part)
    assert [r["step"] for r in resumed] == [1, 2, 3, 4] and "eval_pass@2" in resumed[1] and "eval_pass@2" not in expected[1]
    assert [without_timings(r) for r in resumed[2:]] == [without_timings(r) for r in expected[2:]]
    a, _ = load_policy(full / "final")
    b, _ = load_policy(part / "final")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))

    # a fresh run in a folder with an earlier run's checkpoints: refused, or with --overwrite started afresh (a
    # later --resume must not pick up the old run's step 4)
    with pytest.raises(ValueError, match=r"holds checkpoints of an earlier run.*--resume.*--overwrite"):
        grpo(config(policy, full, max_steps=1), reward_funcs=[sevens])
    grpo(config(policy, full, max_steps=1, overwrite=True), reward_funcs=[sevens])
    assert [r["step"] for r in rows(full)] == [1] and latest_step(full) == 1


def test_dynamic_sampling_drops_flat_groups_and_refills(policy, tmp_path):
    def odd_answers_only(prompts, completions, answer, **columns):
        # problems with an even answer score 0 whatever the completion: their groups carry no signal
        return [0.0 if int(a) % 2 == 0 else sum(map(ord, c)) % 7 / 7 for c, a in zip(completions, answer)]

    out = tmp_path / "run"
    grpo(config(policy, out, max_steps=4, dynamic_sampling=True), reward_funcs=[odd_answers_only])
    metrics = rows(out)
    assert sum(r["dropped_groups"] for r in metrics) > 0
    assert any(r["sampling_rounds"] > 1 for r in metrics)
    assert all(not r.get("skipped") and r["grad_norm"] > 0 for r in metrics)
    assert all(r["reward"] > 0 for r in metrics)  # only groups with an odd answer were kept


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step:UserWarning")  # no update in a skipped step
def test_a_step_where_every_group_is_flat_is_skipped(policy, tmp_path):
    def constant(prompts, completions, **columns):
        return [1.0] * len(completions)

    out = tmp_path / "run"
    grpo(config(policy, out, max_steps=2, dynamic_sampling=True, max_sampling_rounds=2), reward_funcs=[constant])
    for r in rows(out):
        assert r["skipped"] is True and r["sampling_rounds"] == 2 and r["dropped_groups"] == 8, r
        assert "reward" not in r and "grad_norm" not in r
    model, _ = load_policy(out / "final")
    initial, _ = load_policy(policy)
    assert all(torch.equal(x, y) for x, y in zip(model.state_dict().values(), initial.state_dict().values()))


def test_beta_builds_a_reference_model_and_logs_kl(policy, tmp_path):
    out = tmp_path / "run"
    grpo(config(policy, out, max_steps=4, beta=0.1), reward_funcs=[sevens])
    metrics = rows(out)
    assert metrics[0]["kl"] == 0  # the policy starts at the reference
    for before, r in itertools.pairwise(metrics):  # and moves away from it with the first update
        assert (r["kl"] > 0) == (before["kl"] > 0 or before["grad_norm"] > 0), metrics
    assert metrics[-1]["kl"] > 0


def test_num_iterations_reuses_the_batch_with_old_logprobs(policy, tmp_path):
    out = tmp_path / "run"
    grpo(config(policy, out, max_steps=3, num_iterations=2, epsilon=0.05, lr=3e-2), reward_funcs=[sevens])
    metrics = rows(out)
    for r in metrics:
        for key in ("clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean"):
            assert 0 <= r[key] <= 1, (key, r)
        # the second pass sees the policy after the first update (none when every reward was equal)
        assert (r["ratio/mean"] != 1.0) == (r["grad_norm"] > 0), r
    assert any(r["clip_ratio/region_mean"] > 0 for r in metrics)


# ---------------------------------------------------------------------------------------------
# DDP

DDP_SCRIPT = '''
import os, sys
from train.grpo import GRPOConfig, grpo

RANK, calls = int(os.environ["RANK"]), []


def reward(prompts, completions, answer, **columns):
    """Rank 0: every group flat at step 1, then the groups of even answers; rank 1: rewards that differ."""
    calls.append(1)
    varied = [sum(map(ord, c)) % 7 / 7 for c in completions]
    if RANK == 1:
        return varied
    return [1.0 if len(calls) == 1 or int(a) % 2 == 0 else v for v, a in zip(varied, answer)]


grpo(GRPOConfig(init_from=sys.argv[1], out_dir=sys.argv[2], rewards="", tasks="arithmetic", difficulty="1",
                n_problems=60, template="plain", prompts_per_step=2, num_generations=4, max_completion_length=8,
                lr=1e-2, max_steps=3, reward_workers=0, eval_problems=2, device="cpu", progress=False,
                dynamic_sampling=True, max_sampling_rounds=1), reward_funcs=[reward])
'''


def test_ddp_ranks_with_and_without_groups_to_train_on_stay_in_step(policy, tmp_path, torchrun):
    """torchrun, 2 CPU processes (Gloo), dynamic sampling: when one rank is left with no group to learn from, every
    rank skips the step (the others would wait in the collectives of the update forever); the ranks train together
    again when each has groups, also when their numbers of groups differ; rank 0 alone logs."""
    (tmp_path / "run_grpo.py").write_text(DDP_SCRIPT)
    out = tmp_path / "ddp"
    torchrun(str(tmp_path / "run_grpo.py"), str(policy), str(out), timeout=120)
    metrics = rows(out)
    assert [r["step"] for r in metrics] == [1, 2, 3]
    assert metrics[0]["skipped"] is True and "grad_norm" not in metrics[0]
    assert any("grad_norm" in r for r in metrics[1:]), metrics
    assert (out / "final" / "model.safetensors").is_file()


def test_length_rewards_are_sized_to_the_generation_budget(problems):
    """DAPO's overlong punishment over the last quarter of --max-completion-length, in tokens."""
    completions = ["<think>so</think> <answer>3</answer>"] * 4
    with RewardScorer("overlong", workers=0, options=train.grpo.length_options(64)) as scorer:
        pending = scorer.submit(completions, [problems[0]] * 4, [10, 48, 56, 64], group=4)
        judged = scorer.result(pending, ["p"] * 4, completions, [problems[0]] * 4)
    assert totals(judged) == [0.0, 0.0, -0.5, -1.0]


def test_code_rewards_run_the_problems_tests_in_the_sandbox_in_the_workers():
    """The code preset's GRPO reward: a code problem's completion is judged by running its program on the
    problem's tests in the sandbox, inside the spawned reward workers, as it is in process."""
    from datagen.api import make_rows
    from train.sft import sft_reasoning
    from train.template import render_completion

    rows = make_rows("code_function", range(2), 0, [2, 2]) + make_rows("code_stdio", range(2), 0, [2, 2])
    completions, group_problems = [], []
    for row in rows:
        gold = render_completion(sft_reasoning(row), row["answer"])
        completions += [gold, gold.replace("```python\n", "```python\nraise SystemExit(1)\n", 1),
                        "<think>no idea</think>", "<think>so</think> <answer>```python\npass\n```</answer>"]
        group_problems += [row] * 4
    pooled = score(RewardScorer("accuracy,format=0.5", workers=2), completions, group_problems)
    assert [j.correct for j in pooled] == [True, False, False, False] * len(rows)
    assert totals(pooled) == [1.5, 0.5, 0.0, 0.5] * len(rows)
    assert pooled == score(RewardScorer("accuracy,format=0.5", workers=0), completions, group_problems)
