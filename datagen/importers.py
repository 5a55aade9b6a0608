"""Bring existing data into the ``Problem`` record: local GSM8K and MATH JSONL, reasoning-gym.

Nothing is downloaded: importers read files you have, or datasets reasoning-gym generates locally.

>>> rows = import_gsm8k_rows([{"question": "1+1?", "answer": "One and one <<1+1=2>>2.\\n#### 2"}])
>>> rows[0]["answer"], rows[0]["solution"].splitlines()[-1]
('2', 'The answer is 2.')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from verifiers.extract import boxed_contents
from verifiers.problem import Problem, read_jsonl

__all__ = ["import_gsm8k", "import_gsm8k_rows", "import_math", "import_reasoning_gym"]

_CALCULATOR = re.compile(r"<<[^<>]*>>")


def _read_jsonl(path: str | Path) -> list[dict]:
    return [row for _, row in read_jsonl(path)]


def _dataset(rows: list[dict]):
    import datasets

    from datagen.api import features

    return datasets.Dataset.from_list(rows, features=features())


def import_gsm8k_rows(records: Iterable[dict], source: str = "gsm8k") -> list[dict]:
    """GSM8K records (``question``, ``answer`` ending in ``#### N``) as Problem rows."""
    rows = []
    for k, rec in enumerate(records):
        if "####" not in rec.get("answer", ""):
            raise ValueError(f"{source} record {k + 1}: answer has no '#### N' line")
        work, final = rec["answer"].rsplit("####", 1)
        answer = final.strip().replace(",", "")
        steps = _CALCULATOR.sub("", work).strip()
        rows.append(Problem(id=f"{source}/{k:06d}", task=source, prompt=rec["question"].strip(), answer=answer,
                            solution=f"{steps}\nThe answer is {answer}.", verifier="math", difficulty=5,
                            meta={"source": source, "index": k}).to_row())
    return rows


def import_gsm8k(path: str | Path):
    """A local GSM8K JSONL file as a Dataset of Problem rows (task ``gsm8k``)."""
    return _dataset(import_gsm8k_rows(_read_jsonl(path)))


def import_math(path: str | Path):
    """A local MATH-style JSONL (``problem``, ``solution`` with a final ``\\boxed{}``, ``level``)."""
    rows = []
    for k, rec in enumerate(_read_jsonl(path)):
        boxes = boxed_contents(rec.get("solution", ""))
        if not boxes:
            raise ValueError(f"{path}:{k + 1}: solution has no \\boxed{{}} answer")
        level = re.search(r"\d+", str(rec.get("level", "")))
        difficulty = min(10, max(1, 2 * int(level.group(0)))) if level else 5
        rows.append(Problem(id=f"math/{k:06d}", task="math", prompt=rec["problem"].strip(), answer=boxes[-1],
                            solution=rec["solution"].strip() + f"\nThe answer is {boxes[-1]}.", verifier="math",
                            difficulty=difficulty, meta={"type": rec.get("type", ""), "level": rec.get("level", "")}
                            ).to_row())
    return _dataset(rows)


def import_reasoning_gym(name: str, size: int, seed: int = 0, **config):
    """A reasoning-gym dataset (generated locally) as Problem rows; numeric answers use ``math``."""
    import reasoning_gym

    rows = []
    for k, entry in enumerate(reasoning_gym.create_dataset(name, size=size, seed=seed, **config)):
        answer = str(entry["answer"])
        numeric = re.fullmatch(r"-?\d+(?:\.\d+)?(?:/\d+)?", answer.strip()) is not None
        rows.append(Problem(id=f"rg-{name}/s{seed}/{k:06d}", task=f"rg-{name}", prompt=entry["question"],
                            answer=answer, solution=f"The answer is {answer}.",
                            verifier="math" if numeric else "exact", difficulty=5,
                            meta={"source": "reasoning-gym", "dataset": name}).to_row())
    return _dataset(rows)
