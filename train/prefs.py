"""``rlvr prefs``: preference pairs for DPO, sampled from a policy and judged by our verifiers.

For each problem, ``num_generations`` completions are sampled with the engine and judged (correct,
incorrect, or could-not-judge; strict R1-Zero format). :func:`build_pairs` then picks (chosen,
rejected) pairs by one or more strategies:

- ``correct_vs_incorrect``: a correct, well-formed completion over one judged incorrect;
- ``shorter_correct``: of two correct, well-formed completions, the one with fewer tokens;
- ``format_broken``: a correct, well-formed completion over one that breaks the format.

A completion that no verifier could judge is never chosen, and never rejected for being wrong: we do
not know that it is. The pairs are written with TRL's column names (``prompt``, ``chosen``,
``rejected``; ``prompt`` is the templated prompt the samples came from), plus each side's score, the
reason, the problem's ``id``, ``task``, ``answer`` and raw ``question``, and the template's name.
:func:`load_preferences` reads such a dataset, ours or a user's, and checks it.

    rlvr prefs --init-from runs/tiny/sft --tasks arithmetic --difficulty 1-2 --template plain \\
               --strategies correct_vs_incorrect,format_broken --pairs-per-prompt 2 --out runs/tiny/prefs.jsonl
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from train.config import run_stage
from train.engine import Engine
from train.load import ProblemSource
from train.template import render_prompt, resolve_template
from verifiers.rewards import Judged

__all__ = ["STRATEGIES", "PrefsConfig", "Sample", "build_pairs", "load_preferences", "main", "make_preferences",
           "parse_strategies", "prefs", "read_preference_rows", "write_preferences"]

STRATEGIES = ("correct_vs_incorrect", "shorter_correct", "format_broken")

# the columns of a pair row, in order: TRL's three, then what we know about the pair
COLUMNS = ("prompt", "chosen", "rejected", "chosen_score", "rejected_score", "reason", "id", "task", "answer",
           "question", "template", "templated")
TEXT_COLUMNS = ("prompt", "chosen", "rejected")


@dataclass(frozen=True)
class Sample:
    """One sampled completion and how it was judged (``judged.correct`` None: no verifier could judge;
    ``judged.well_formed``: the strict R1-Zero format)."""

    text: str
    tokens: int  # completion length in tokens
    judged: Judged


def parse_strategies(strategies: str | Sequence[str]) -> tuple[str, ...]:
    """Strategy names from a comma list or a sequence, checked against :data:`STRATEGIES`; duplicates dropped.

    >>> parse_strategies("correct_vs_incorrect, format_broken")
    ('correct_vs_incorrect', 'format_broken')
    """
    names = [s.strip() for s in strategies.split(",")] if isinstance(strategies, str) else list(strategies)
    names = [s for s in names if s]
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategy {unknown[0]!r}; choose from {', '.join(STRATEGIES)}")
    if not names:
        raise ValueError(f"no strategy given; choose from {', '.join(STRATEGIES)}")
    return tuple(dict.fromkeys(names))


def _rejectable(strategy: str, chosen: Sample, other: Sample) -> bool:
    """Whether ``other`` may be the rejected side against ``chosen`` (correct and well-formed) under ``strategy``."""
    if strategy == "correct_vs_incorrect":
        return other.judged.correct is False
    if strategy == "shorter_correct":
        return other.judged.correct is True and other.judged.well_formed and chosen.tokens < other.tokens
    return not other.judged.well_formed  # format_broken


def build_pairs(samples: Sequence[Sample], *, strategies: Sequence[str] = ("correct_vs_incorrect",),
                pairs_per_prompt: int = 1, seed: int = 0) -> list[tuple[int, int, str]]:
    """``(chosen index, rejected index, reason)`` pairs for ONE prompt's samples.

    The chosen side is always judged correct and well-formed; an unjudged completion is never chosen,
    and the correctness strategies never reject it either (we do not know it is wrong). The two sides
    never share an index or a text, and no (chosen text, rejected text) pair repeats. Strategies take
    turns in the order given; within one, candidates come in a seeded random order, those whose texts
    are not used yet by an earlier pair first. At most ``pairs_per_prompt`` pairs; ``[]`` when there
    are none (all correct under ``correct_vs_incorrect``, all wrong under any strategy).

    >>> good, bad = Judged(1.0, correct=True, well_formed=True), Judged(0.0, correct=False, well_formed=True)
    >>> right = Sample("<think>2+2</think> <answer>4</answer>", 9, good)
    >>> short = Sample("<think></think> <answer>4</answer>", 6, good)
    >>> wrong = Sample("<think>2+2</think> <answer>5</answer>", 9, bad)
    >>> broken = Sample("4", 1, Judged(1.0, correct=True, well_formed=False))
    >>> build_pairs([right, wrong, broken])
    [(0, 1, 'correct_vs_incorrect')]
    >>> build_pairs([right, short, broken], strategies=["shorter_correct", "format_broken"], pairs_per_prompt=5)
    [(1, 0, 'shorter_correct'), (0, 2, 'format_broken'), (1, 2, 'format_broken')]
    >>> build_pairs([right, short])   # all correct: nothing judged incorrect to reject
    []
    """
    strategies = parse_strategies(strategies)
    if pairs_per_prompt < 1:
        raise ValueError(f"pairs_per_prompt must be at least 1, got {pairs_per_prompt}")
    rng = random.Random(seed)
    good = [i for i, s in enumerate(samples) if s.judged.correct is True and s.judged.well_formed]
    queues: list[tuple[str, list[tuple[int, int]]]] = []
    for strategy in strategies:
        candidates = [(i, j) for i in good for j, other in enumerate(samples)
                      if other.text != samples[i].text and _rejectable(strategy, samples[i], other)]
        rng.shuffle(candidates)
        queues.append((strategy, candidates))

    pairs: list[tuple[int, int, str]] = []
    seen: set[tuple[str, str]] = set()  # (chosen text, rejected text) already paired
    used: set[str] = set()  # texts on either side of a pair so far
    while len(pairs) < pairs_per_prompt and any(candidates for _, candidates in queues):
        for strategy, candidates in queues:
            candidates[:] = [(i, j) for i, j in candidates if (samples[i].text, samples[j].text) not in seen]
            if not candidates:
                continue
            fresh = [k for k, (i, j) in enumerate(candidates) if samples[i].text not in used
                     and samples[j].text not in used]
            i, j = candidates.pop(fresh[0] if fresh else 0)
            seen.add((samples[i].text, samples[j].text))
            used.update((samples[i].text, samples[j].text))
            pairs.append((i, j, strategy))
            if len(pairs) == pairs_per_prompt:
                break
    return pairs


def _score(correct: bool | None) -> float | None:
    return None if correct is None else float(correct)


def _rate(count: int, total: int) -> float | None:
    return round(count / total, 5) if total else None


def make_preferences(model, tokenizer, rows: list[dict], *, template: str, num_generations: int = 8,
                     max_new_tokens: int = 256, temperature: float = 1.0, top_p: float = 1.0,
                     strategies: str | Sequence[str] = ("correct_vs_incorrect",), pairs_per_prompt: int = 1,
                     seed: int = 0, engine: Engine | None = None, progress: bool = False) -> tuple[list[dict], dict]:
    """Sample ``num_generations`` completions per problem row, judge them, and pair them with :func:`build_pairs`.

    ``template`` is a name of ``train.template.TEMPLATES`` or a template text. Sampling draws on torch's
    global RNG (seed it for repeatable samples); ``seed`` picks the pairs. Problems whose templated prompt
    plus ``max_new_tokens`` would exceed the model's positions are skipped (``prompts_skipped`` counts them).

    Returns ``(pair rows, stats)``. A pair row has TRL's columns ``prompt`` (the templated prompt the
    completions were sampled from, so TRL's ``DPOTrainer`` trains on exactly what the model saw),
    ``chosen`` and ``rejected`` (completion texts), then ``chosen_score`` and ``rejected_score`` (1.0
    correct, 0.0 incorrect, None unjudged), ``reason`` (the strategy), the problem's ``id``, ``task``,
    ``answer`` and raw ``question``, the ``template`` name and ``templated: True`` (``rlvr dpo`` then
    uses the prompt as it is). ``stats``: ``prompts`` sampled,
    ``samples``, their ``accuracy``, ``unjudged`` and ``format`` rates, ``pairs`` (and ``pairs_by_reason``),
    ``prompts_all_correct`` (every sample judged correct), ``prompts_all_wrong`` (no sample judged
    correct), ``prompts_with_pairs`` and ``prompts_skipped``.
    """
    from train.evaluate import judge_completions

    strategies = parse_strategies(strategies)
    if num_generations < 2:
        raise ValueError(f"num_generations must be at least 2 (a pair needs two samples), got {num_generations}")
    name, text = resolve_template(template)
    engine = engine or Engine(model, tokenizer)
    prompts = [render_prompt(r["prompt"], text) for r in rows]
    prompt_ids = tokenizer.encode_batch(prompts, bos=True)
    limit = model.config.max_position_embeddings
    keep = [i for i, ids in enumerate(prompt_ids) if len(ids) + max_new_tokens <= limit]

    pairs: list[dict] = []
    counts: Counter = Counter()
    reasons: Counter = Counter()
    chunk = max(1, engine.max_batch_size // num_generations)  # the prompts the engine decodes together
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(keep), desc="prefs", unit="problem", dynamic_ncols=True)
    try:
        for start in range(0, len(keep), chunk):
            indices = keep[start:start + chunk]
            generations = engine.generate([prompt_ids[i] for i in indices], num_samples=num_generations,
                                          max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
            judged = judge_completions([g.text for g in generations],
                                       [rows[indices[g.prompt_index]] for g in generations])
            groups: dict[int, list[Sample]] = defaultdict(list)
            for g, j in zip(generations, judged):
                groups[g.prompt_index].append(Sample(g.text, len(g.token_ids), j))
            for k, i in enumerate(indices):
                samples, row = groups[k], rows[i]
                correct = [s.judged.correct for s in samples]
                counts["samples"] += len(samples)
                counts["correct"] += correct.count(True)
                counts["unjudged"] += correct.count(None)
                counts["well_formed"] += sum(s.judged.well_formed for s in samples)
                counts["all_correct"] += correct.count(True) == len(samples)
                counts["all_wrong"] += True not in correct
                found = build_pairs(samples, strategies=strategies, pairs_per_prompt=pairs_per_prompt,
                                    seed=seed * 1_000_003 + i)
                counts["with_pairs"] += bool(found)
                for c, r, reason in found:
                    reasons[reason] += 1
                    pairs.append({"prompt": prompts[i], "chosen": samples[c].text, "rejected": samples[r].text,
                                  "chosen_score": _score(samples[c].judged.correct),
                                  "rejected_score": _score(samples[r].judged.correct), "reason": reason,
                                  "id": str(row.get("id", "")), "task": str(row.get("task", "")),
                                  "answer": str(row.get("answer", "")), "question": row["prompt"],
                                  "template": name, "templated": True})
            if bar is not None:
                bar.update(len(indices))
    finally:
        if bar is not None:
            bar.close()
    n = counts["samples"]
    stats = {
        "prompts": len(keep),
        "prompts_skipped": len(rows) - len(keep),
        "samples": n,
        "accuracy": _rate(counts["correct"], n),
        "unjudged": _rate(counts["unjudged"], n),
        "format": _rate(counts["well_formed"], n),
        "pairs": len(pairs),
        "pairs_by_reason": {s: reasons[s] for s in strategies},
        "prompts_all_correct": counts["all_correct"],
        "prompts_all_wrong": counts["all_wrong"],
        "prompts_with_pairs": counts["with_pairs"],
    }
    return pairs, stats


# ---------------------------------------------------------------------------------------------
# Files


def _features():
    import datasets

    kind = {"chosen_score": "float64", "rejected_score": "float64", "templated": "bool"}
    return datasets.Features({c: datasets.Value(kind.get(c, "string")) for c in COLUMNS})


def _check_out(out: Path) -> None:
    if out.suffix not in (".jsonl", ".parquet", "") and not out.is_dir():
        raise ValueError(f"--out {out}: expected a .jsonl or .parquet file, or a folder (Dataset.save_to_disk)")


def write_preferences(rows: list[dict], out: str | Path) -> None:
    """Write pair rows to ``.jsonl``, ``.parquet`` or a folder (``Dataset.save_to_disk``), atomically:
    to a temporary sibling, renamed into place when complete."""
    from verifiers.problem import write_jsonl

    out = Path(out)
    _check_out(out)
    if out.suffix == ".jsonl":
        write_jsonl(rows, out)
        return
    import datasets

    datasets.disable_progress_bars()
    data = datasets.Dataset.from_dict({c: [r.get(c) for r in rows] for c in COLUMNS}, features=_features())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.is_dir():
        shutil.rmtree(tmp)  # left by an interrupted run
    if out.suffix == ".parquet":
        data.to_parquet(str(tmp))
    else:
        data.save_to_disk(str(tmp))
        if out.is_dir():
            shutil.rmtree(out)
    os.replace(tmp, out)


def read_preference_rows(path: str | Path) -> list[tuple[str, dict]]:
    """``(where, row)`` for every row of a pair file (JSONL, Parquet or a saved dataset, its ``train`` split if it
    has several), unchecked; ``where`` names the row in errors (``prefs.jsonl:3``, ``prefs.parquet: row 3``)."""
    from verifiers.problem import located_rows

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    return located_rows(path)


def load_preferences(path: str | Path) -> list[dict]:
    """Pair rows in TRL's columns from JSONL, Parquet or a saved dataset (its ``train`` split if it has
    several); every row must have non-empty string ``prompt``, ``chosen`` and ``rejected``. Other columns
    are kept. ValueError naming the file and row otherwise.

    >>> import json, tempfile
    >>> path = Path(tempfile.mkdtemp()) / "prefs.jsonl"
    >>> _ = path.write_text(json.dumps({"prompt": "2+2?", "chosen": "<answer>4</answer>", "rejected": "5"}) + "\\n")
    >>> load_preferences(path)[0]["chosen"]
    '<answer>4</answer>'
    """
    rows = read_preference_rows(path)
    for where, row in rows:
        for column in TEXT_COLUMNS:
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                got = "missing" if column not in row else f"got {type(value).__name__} {str(value)[:40]!r}"
                raise ValueError(f"{where}: {column!r} must be a non-empty string ({got})")
    if not rows:
        raise ValueError(f"{path}: no preference pairs")
    return [row for _, row in rows]


# ---------------------------------------------------------------------------------------------
# The command


@dataclass
class PrefsConfig(ProblemSource):
    out: str = field(default="", metadata={
        "help": "required: where the pairs go, FILE.jsonl, FILE.parquet or a folder (Dataset.save_to_disk)"})
    eval_problems: int = field(default=0, metadata={
        "help": "leave out the held-out split that sft/grpo evaluate on with the same data and seed (0: use all)"})
    num_generations: int = field(default=8, metadata={"help": "completions sampled per problem"})
    max_new_tokens: int = field(default=256, metadata={"help": "new tokens per completion"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling"})
    strategies: str = field(default="correct_vs_incorrect", metadata={
        "help": f"how pairs are chosen, a comma list of {', '.join(STRATEGIES)}"})
    pairs_per_prompt: int = field(default=1, metadata={"help": "most pairs kept per problem"})
    seed: int = field(default=0, metadata={"help": "seed for the problems, sampling and pair choice"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, cuda:1 (default: cuda if available)"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing --out"})

    def __post_init__(self) -> None:
        if not self.out:
            raise ValueError("--out is required: FILE.jsonl, FILE.parquet or a folder for the pairs")
        _check_out(Path(self.out))
        try:
            parse_strategies(self.strategies)
        except ValueError as exc:
            raise ValueError(f"--strategies {self.strategies!r}: {exc}") from None
        if self.num_generations < 2:
            raise ValueError(f"--num-generations must be at least 2 (a pair needs two samples), "
                             f"got {self.num_generations}")
        for name in ("max_new_tokens", "pairs_per_prompt"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ValueError(f"--temperature must be positive for sampling, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"--top-p must be in (0, 1], got {self.top_p}")


def prefs(cfg: PrefsConfig) -> dict:
    """Sample, judge and pair; write the pairs to ``cfg.out``; print a summary and return the stats.

    Raises ValueError, writing nothing, when ``out`` exists (without ``overwrite``) or no pair was found.
    """
    from train.dist import shutdown
    from train.load import problem_splits
    from train.run import open_policy

    out = Path(cfg.out)
    if out.exists() and not cfg.overwrite:
        raise ValueError(f"--out {out} exists; pass --overwrite to replace it")
    _, model, tokenizer = open_policy(cfg)
    try:
        rows, _ = problem_splits(cfg, cfg.seed)
        pairs, stats = make_preferences(model, tokenizer, rows, template=cfg.template,
                                        num_generations=cfg.num_generations, max_new_tokens=cfg.max_new_tokens,
                                        temperature=cfg.temperature, top_p=cfg.top_p, strategies=cfg.strategies,
                                        pairs_per_prompt=cfg.pairs_per_prompt, seed=cfg.seed, progress=cfg.progress)
    finally:
        shutdown()

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    sampled = (f"{stats['prompts']} problems x {cfg.num_generations} samples (accuracy {pct(stats['accuracy'])}, "
               f"format {pct(stats['format'])}, unjudged {pct(stats['unjudged'])}; "
               f"{stats['prompts_all_correct']} problems all correct, {stats['prompts_all_wrong']} none correct)")
    if not pairs:
        raise ValueError(f"no preference pairs from {sampled} with --strategies {cfg.strategies}; nothing written "
                         f"to {out}. A pair needs a correct, well-formed sample and one to reject: sample more "
                         "(--num-generations), add a strategy, or start from a model that answers in the format")
    write_preferences(pairs, out)
    stats["out"] = str(out)
    skipped = f", {stats['prompts_skipped']} prompts too long skipped" if stats["prompts_skipped"] else ""
    print(f"prefs: {sampled}{skipped}\nprefs: {stats['pairs']} pairs from {stats['prompts_with_pairs']} problems "
          f"({', '.join(f'{k} {v}' for k, v in stats['pairs_by_reason'].items())}) -> {out}")
    return stats


def main(argv: list[str] | None = None) -> int:
    return run_stage(PrefsConfig, prefs, argv, prog="rlvr prefs", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
