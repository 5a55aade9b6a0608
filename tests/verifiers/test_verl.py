"""verl's contract: ``compute_score`` on verl's own GSM8K rows and on ``rlvr gen --format verl`` data read
back by verl's loader (``datasets.load_dataset("parquet")``, then the chat template on ``prompt``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from datagen.audit import wrong_solution
from datagen.checks import completion, perturb
from datagen.cli import main as gen
from verifiers.verl import compute_score, from_verl

DATA = Path(__file__).resolve().parents[1] / "data"
VERL_GSM8K = [json.loads(line) for line in (DATA / "verl_gsm8k.jsonl").read_text().splitlines()]


def _score(row: dict, response: str, **kwargs) -> dict:
    return compute_score(row["data_source"], response, row["reward_model"]["ground_truth"], row["extra_info"], **kwargs)


def test_verls_own_gsm8k_rows_score_like_verls_gsm8k_scorer():
    for row in VERL_GSM8K:
        gold = row["reward_model"]["ground_truth"]
        # verl's gsm8k.compute_score: 1 for "#### gold", 0 for another number (format_score 0)
        assert _score(row, f"Step by step... so\n#### {gold}", rewards="accuracy")["score"] == 1.0
        wrong = _score(row, f"Step by step... so\n#### {int(gold) + 1}", rewards="accuracy")
        assert (wrong["score"], wrong["acc"], wrong["status"]) == (0.0, 0.0, "incorrect")
        # and the worked solution verl keeps in extra_info["answer"] ends in the gold
        assert _score(row, row["extra_info"]["answer"], rewards="accuracy")["acc"] == 1.0


def test_the_dict_form_has_the_same_plain_keys_for_every_response():
    row = VERL_GSM8K[0]
    responses = ["<think>16-3-4=9, 9*2</think>\n<answer>18</answer>", "<think>x</think><answer>19</answer>", "I am not sure how to solve this one, sorry about that.", "",
                 "<think>" + "x" * 5000]
    results = [_score(row, r) for r in responses]
    keys = {frozenset(r) for r in results}
    assert keys == {frozenset({"score", "acc", "pred", "status", "reason", "unjudged", "accuracy", "format"})}
    for r in results:  # verl appends each value to a list per key and averages the numbers: no None
        assert all(v is not None for v in r.values())
        assert all(isinstance(r[k], float) for k in ("score", "acc", "unjudged", "accuracy", "format"))
    assert [r["score"] for r in results] == [2.0, 1.0, 0.0, 0.0, 0.0]
    assert [r["unjudged"] for r in results] == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert results[2]["status"] == "no_answer" and results[2]["reason"]


class _DictConfig(Mapping):
    """What verl passes from YAML ``reward_kwargs``: a mapping that is not a dict."""

    def __init__(self, **items):
        self._items = items

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)


def test_reward_kwargs_choose_rewards_and_think_in_prompt():
    row = VERL_GSM8K[0]
    inside = "16-3-4=9 eggs, 9*2=18</think>\n<answer>18</answer>"
    assert _score(row, inside)["format"] == 0.0
    assert _score(row, inside, think_in_prompt=True)["format"] == 1.0
    weighted = _score(row, inside, rewards=_DictConfig(accuracy=1.0, format=0.5), think_in_prompt=True)
    assert weighted["score"] == 1.5
    # keywords verl adds in some managers are accepted
    assert _score(row, inside, reward_router_address=None, reward_model_tokenizer=None)["acc"] == 1.0


def _chat_tokenizer():
    """A tokenizer with a ChatML template, as verl's RLHFDataset applies it to ``prompt``."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    tokenizer.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                               "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    return tokenizer


def test_gen_format_verl_is_read_back_by_verls_loader_and_scored(tmp_path):
    import datasets

    out = tmp_path / "train.parquet"
    mix = "arithmetic=1,countdown=1,code_function=1,code_stdio=1,linear_system=1,diophantine=1"
    assert gen([mix, "--n", "30", "--format", "verl", "--out", str(out), "--workers", "1", "--seed", "2"]) == 0
    rows = datasets.load_dataset("parquet", data_files=str(out))["train"]  # verl's RLHFDataset does this
    assert set(rows.column_names) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    tokenizer = _chat_tokenizer()
    originals = {}
    assert gen([mix, "--n", "30", "--out", str(tmp_path / "rlvr.jsonl"), "--workers", "1", "--seed", "2"]) == 0
    for line in (tmp_path / "rlvr.jsonl").read_text().splitlines():
        originals[json.loads(line)["id"]] = json.loads(line)
    abilities = set()
    for k, row in enumerate(rows):
        text = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False)
        original = originals[row["extra_info"]["id"]]
        assert original["prompt"] in text and text.endswith("<|im_start|>assistant\n")
        assert row["reward_model"]["style"] == "rule" and row["extra_info"]["index"] == k
        abilities.add(row["ability"])
        gold = row["reward_model"]["ground_truth"]
        right = _score(row, completion(gold))
        assert (right["acc"], right["status"]) == (1.0, "correct"), (row["extra_info"]["id"], right)
        code = row["ability"] == "code"
        wrong = _score(row, completion(wrong_solution(row["extra_info"]["tests"]) if code else perturb(gold)))
        assert wrong["acc"] == 0.0, (row["extra_info"]["id"], wrong)
        assert from_verl(row) == original  # the layout keeps the whole Problem row
    assert abilities == {"math", "code"}


def test_gen_format_verl_wants_parquet(tmp_path, capsys):
    assert gen(["arithmetic", "--n", "5", "--format", "verl", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "--format verl writes .parquet files" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.parametrize("extra_info", [None, {}, {"split": "train", "index": 3}])
def test_rows_without_rlvr_fields_use_the_math_verifier(extra_info):
    assert compute_score("lighteval/MATH", "so \\boxed{\\frac{1}{2}}", "0.5", extra_info)["acc"] == 1.0
