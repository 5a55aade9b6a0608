r"""``rlvr eval``: evaluate a model on a benchmark file, or score completions made elsewhere.

    rlvr eval --model runs/small/grpo --data tests/data/gsm8k_test.jsonl --n 8 --k 1,8
    rlvr eval --model ~/models/Qwen2.5-0.5B-Instruct --data math500.jsonl --template chat
    rlvr eval --data aime.jsonl --completions outputs.jsonl      # outputs of a model we cannot run

Benchmark files are read as they are, row by row: GSM8K (``question``/``answer`` ending in ``#### N``),
MATH (``problem``/``solution``, the gold is the solution's boxed answer; ``level`` and ``type`` give the
difficulty and task), AIME-style (``problem``/``answer``), our Problem rows (``prompt``/``answer``/
``verifier``: any verifier, code included) and HumanEval-style code (``prompt``/``test``/``entry_point``,
run in the sandbox). Column names are matched without case; ``--prompt-field`` and friends map others.
Rows without an id are numbered from 0 in file order.

The model (an rlvr run folder or a local Llama/Qwen2/Qwen3 Hugging Face folder) answers each prompt
once greedily and, with ``--n`` above 1, ``n`` times at ``--temperature``, on our engine (GPU when
there is one). Every completion is judged as it comes (math with ``extraction="lenient"`` by default:
these are often outputs rlvr did not shape) and appended with its verdict to ``completions.jsonl`` in
the output folder, so a rerun resumes where the last one stopped. Then ``report.md`` gives greedy
accuracy, pass@k (the unbiased estimator), maj@k (the majority among the first k samples, counting
equivalent answers as one: ``1/2`` and ``0.5`` vote together) and mean@k, overall, by task and by
difficulty, with could-not-judge verdicts counted apart with their reasons, beside ``pass_at_k.png``.

>>> majority_correct([("1/2", False), ("0.5", False), ("2", True)], "math")
False
>>> round(pass_at_k(n=8, c=2, k=4), 4)
0.7857
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from verifiers.extract import EXTRACTIONS, gold_answer
from verifiers.problem import InputError, located_rows, read_jsonl
from verifiers.scoring import pass_at_k

__all__ = ["EvalConfig", "Item", "evaluate", "judge_item", "main", "majority_correct", "metrics", "pass_at_k",
           "read_items"]

GREEDY = "greedy"
CHAT_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}."
LEVEL = re.compile(r"(\d+)")


@dataclass
class EvalConfig:
    """Settings of one evaluation; the generation settings must match to resume into the same folder."""

    data: str
    model: str | None = None
    completions: str | None = None
    out: str | None = None
    n: int = 8
    k: str = "1,8"
    temperature: float = 0.6
    top_p: float = 1.0
    max_new_tokens: int = 1024
    template: str = "r1_zero"
    extraction: str = "lenient"
    batch_size: int = 64
    limit: int | None = None
    seed: int = 0
    device: str = "auto"
    fields: dict[str, str] = field(default_factory=dict)

    def ks(self) -> list[int]:
        try:
            ks = sorted({int(k) for k in self.k.split(",") if k.strip()})
        except ValueError:
            raise ValueError(f"--k {self.k!r}: expected positive integers, e.g. 1,8") from None
        if not ks or ks[0] < 1:
            raise ValueError(f"--k {self.k!r}: expected positive integers, e.g. 1,8")
        return ks

    def check(self) -> None:
        if (self.model is None) == (self.completions is None):
            raise ValueError("give --model (to generate) or --completions (outputs made elsewhere), not both")
        if self.n < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("--n, --max-new-tokens and --batch-size must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"bad sampling settings: --temperature {self.temperature}, --top-p {self.top_p}")
        if self.template not in ("r1_zero", "plain", "chat"):
            raise ValueError(f"--template {self.template!r}: expected r1_zero, plain or chat")
        if self.extraction not in EXTRACTIONS:
            raise ValueError(f"--extraction {self.extraction!r}: expected one of {', '.join(EXTRACTIONS)}")
        self.ks()

    def generation(self) -> dict:
        """What decides the completions: a folder holding other settings cannot be resumed."""
        keys = ("data", "model", "completions", "n", "temperature", "top_p", "max_new_tokens", "template", "seed",
                "fields")
        return {key: getattr(self, key) for key in keys}


# ---------------------------------------------------------------------------------------------
# Benchmark rows


@dataclass
class Item:
    """One benchmark row, as the evaluation needs it."""

    id: str
    prompt: str
    kind: str  # "math" (a gold answer), "problem" (a Problem row and its verifier) or "code" (HumanEval-style)
    gold: str | None = None
    task: str = "-"
    difficulty: str = "-"
    row: dict = field(default_factory=dict)


def _rows(path: Path) -> list[tuple[str, dict]]:
    """``(where, row)`` of a JSONL, Parquet, saved-dataset or JSON-list file."""
    if path.suffix == ".json" and path.is_file():
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not JSON ({exc.msg})") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InputError(f"{path}: expected a JSON list of objects")
        return [(f"{path}: row {k + 1}", row) for k, row in enumerate(rows)]
    return located_rows(path)


def read_items(path: str | Path, fields: dict[str, str] | None = None, limit: int | None = None) -> list[Item]:
    """The rows of a benchmark file as items; raises InputError naming the first row it cannot read.

    ``fields`` maps a role (``id``, ``prompt``, ``answer``, ``task``, ``difficulty``) to a column name.
    """
    path, fields = Path(path), dict(fields or {})
    rows = _rows(path)[:limit] if limit else _rows(path)
    if not rows:
        raise InputError(f"{path}: no rows")
    items, seen = [], set()
    for index, (where, row) in enumerate(rows):
        item = _item(row, index, fields)
        if item is None:
            raise InputError(f"{where}: columns {sorted(row)} are not a GSM8K, MATH, AIME, Problem or HumanEval "
                             "row; name the columns with --prompt-field and --answer-field")
        if item.id in seen:
            raise InputError(f"{where}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return items


def _item(row: dict, index: int, fields: dict[str, str]) -> Item | None:
    lower = {str(key).lower(): key for key in row}

    def get(role: str, *names: str):
        if role in fields:
            return row.get(fields[role])
        for name in names:
            if name in lower and row[lower[name]] not in (None, ""):
                return row[lower[name]]
        return None

    ident = get("id", "id", "task_id", "unique_id", "problem_id")
    ident = str(index) if ident is None else str(ident)
    task = str(get("task", "task", "type", "subject") or "-")
    level = get("difficulty", "difficulty", "level")
    difficulty = LEVEL.search(str(level)).group(1) if level is not None and LEVEL.search(str(level)) else "-"
    prompt = get("prompt", "prompt", "question", "problem")
    if prompt is None:
        return None
    test, entry = get("test", "test"), get("entry_point", "entry_point")
    if test is not None and entry is not None and "answer" not in fields:
        return Item(ident, str(prompt), "code", None, task if task != "-" else "code", difficulty, row)
    if get("verifier", "verifier") is not None and "answer" in lower and "answer" not in fields:
        return Item(ident, str(prompt), "problem", str(row[lower["answer"]]), task, difficulty, row)
    answer = get("answer", "answer", "solution", "final_answer")
    if answer is None:
        return None
    if task == "-" and "question" in lower and "####" in str(answer):
        task = "gsm8k"
    return Item(ident, str(prompt), "math", gold_answer(str(answer)), task, difficulty, row)


# ---------------------------------------------------------------------------------------------
# Judging


def judge_item(item: Item, completion: str, extraction: str = "lenient"):
    """The verdict on one completion: math by ``verify_math``, Problem rows by their own verifier, code
    in the sandbox (HumanEval's ``check(candidate)`` after the program). Returns a ``Verdict``."""
    from verifiers import verify_math

    if item.kind == "math" or (item.kind == "problem" and (item.row.get("verifier") or "math") == "math"):
        return verify_math(item.gold, completion, extraction=extraction)
    if item.kind == "problem":
        from verifiers.registry import judge

        return judge(completion, item.row)
    return _judge_code(item, completion)


def _judge_code(item: Item, completion: str):
    from verifiers import run_tests
    from verifiers.code import extract_code

    lower = {str(key).lower(): key for key in item.row}
    entry = str(item.row[lower["entry_point"]])
    code = extract_code(completion).answer
    if code is None:  # a base model continues the prompt's function
        code = completion.split("</think>")[-1]
    if not re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", code, re.M):
        code = item.prompt + code
    tests = {"kind": "assert", "code": str(item.row[lower["test"]]), "entry_point": entry}
    return run_tests(code, tests, extract=False).verdict


def _same_answer(a: str, b: str, kind: str) -> bool:
    if kind == "code":
        return False
    if kind == "math":
        from verifiers import verify_math

        return verify_math(a, b, extract=False, timeout_s=0.5).correct
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def majority_correct(votes: Sequence[tuple[str | None, bool]], kind: str = "math") -> bool:
    """Whether the most frequent answer among ``votes`` (``(answer, correct)``) is correct. Equivalent
    answers count as one (``1/2`` and ``0.5``); ties go to the answer given first; no answer never votes.

    >>> majority_correct([("x+1", True), ("1+x", True), ("2", False)], "math")
    True
    """
    return _majorities(votes, kind)[-1] if votes else False


def _majorities(votes: Sequence[tuple[str | None, bool]], kind: str) -> list[bool]:
    """``majority_correct`` of each prefix of ``votes`` (the first 1, 2, ... votes), in one pass."""
    clusters: list[list] = []  # [answer, votes, correct], in order of first appearance
    out = []
    for answer, correct in votes:
        if answer is not None:
            for cluster in clusters:
                if _same_answer(cluster[0], answer, kind):
                    cluster[1] += 1
                    break
            else:
                clusters.append([answer, 1, correct])
        best = max(clusters, key=lambda c: c[1]) if clusters else None  # max keeps the first of equal counts
        out.append(bool(best and best[2]))
    return out


# ---------------------------------------------------------------------------------------------
# Metrics


def metrics(records: Iterable[dict], ks: Sequence[int], kinds: dict[str, str] | None = None) -> dict:
    """Accuracy (greedy), pass@k, maj@k, mean@k and could-not-judge counts over judged completions.

    ``records`` are completion rows (``id``, ``sample``: ``"greedy"`` or 0.., ``correct``, ``extracted``,
    ``status``, ``reason``). The samples of an item are its sampled completions, or its greedy one when it
    has none. A k above an item's number of samples is left out for that item.
    """
    kinds = kinds or {}
    greedy: dict[str, dict] = {}
    samples: dict[str, list[dict]] = defaultdict(list)
    unjudged: Counter = Counter()
    count = 0
    for r in records:
        count += 1
        if r["sample"] == GREEDY:
            greedy[r["id"]] = r
        else:
            samples[r["id"]].append(r)
        if r["status"] not in ("correct", "incorrect"):
            unjudged[(r["status"], r["reason"])] += 1
    ids = sorted(set(greedy) | set(samples))
    out: dict = {"problems": len(ids), "completions": count, "could_not_judge": sum(unjudged.values()),
                 "unjudged_reasons": [[s, why, n] for (s, why), n in unjudged.most_common()]}
    out["accuracy"] = _mean([bool(greedy[i]["correct"]) for i in ids if i in greedy])
    values: dict[str, list] = defaultdict(list)
    for i in ids:
        pool = sorted(samples[i], key=lambda r: r["sample"]) if samples[i] else [greedy[i]]
        correct = [bool(r["correct"]) for r in pool]
        majority = _majorities([(r["extracted"], c) for r, c in zip(pool[: max(ks)], correct)], kinds.get(i, "math"))
        for k in ks:
            if len(pool) >= k:
                values[f"pass@{k}"].append(pass_at_k(len(pool), sum(correct), k))
                values[f"maj@{k}"].append(majority[k - 1])
                values[f"mean@{k}"].append(sum(correct[:k]) / k)
    for k in ks:
        for name in ("pass", "maj", "mean"):
            out[f"{name}@{k}"] = _mean(values[f"{name}@{k}"])
    return out


def _mean(values: Sequence[float | bool]) -> float | None:
    return sum(values) / len(values) if values else None


# ---------------------------------------------------------------------------------------------
# Generating


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _policy(cfg: EvalConfig):
    """``(model, tokenizer, folder)``: the model on its device, and the folder its tokenizer came from."""
    import torch

    from train.checkpoint import latest_checkpoint
    from train.load import load_policy

    model, tokenizer = load_policy(cfg.model)
    folder = Path(cfg.model)
    if not (folder / "config.json").exists():
        folder = latest_checkpoint(folder) or folder
    device = _device(cfg.device)
    model = model.to(device=device, dtype=torch.bfloat16) if device.type == "cuda" else model.to(device)
    model.eval()
    return model, tokenizer, folder


def render_prompts(items: Sequence[Item], template: str, folder: Path | None = None) -> list[str]:
    """The text each prompt becomes: our R1-Zero or plain template, or the checkpoint's own chat template
    (a math question then also asks for a boxed answer, as the Qwen and DeepSeek evaluations do)."""
    from train.template import TEMPLATES, render_prompt

    if template != "chat":
        return [render_prompt(item.prompt, TEMPLATES[template]) for item in items]
    chat = _chat_template(folder)
    return [chat([{"role": "user", "content": item.prompt + (CHAT_SUFFIX if item.kind != "code" else "")}])
            for item in items]


def _chat_template(folder: Path | None):
    config = (folder / "tokenizer_config.json") if folder is not None else None
    if config is None or not config.exists() or "chat_template" not in json.loads(config.read_text()):
        raise ValueError(f"{folder}: --template chat needs a chat template in tokenizer_config.json (a local "
                         "Hugging Face chat model); use --template r1_zero or plain for rlvr runs")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return lambda messages: tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _stop_ids(tokenizer, folder: Path) -> list[int]:
    """EOS and ``</answer>``, plus every end-of-turn id the checkpoint's generation config names."""
    ids = [tokenizer.eos_id, tokenizer.answer_end_id]
    config = folder / "generation_config.json"
    if config.exists():
        extra = json.loads(config.read_text()).get("eos_token_id")
        ids += extra if isinstance(extra, list) else [extra] if isinstance(extra, int) else []
    return sorted(set(ids))


def _generate(engine, prompts: list[str], num_samples: int, cfg: EvalConfig, temperature: float) -> list:
    """Generations for ``prompts``, with ``max_new_tokens`` cut to what the model's context leaves."""
    context = engine.model.config.max_position_embeddings
    longest = max(len(ids) for ids in engine.tokenizer.encode_batch(prompts, bos=True))
    room = min(cfg.max_new_tokens, context - longest)
    if room < 1:
        raise ValueError(f"a prompt of {longest} tokens leaves no room in the model's context of {context}")
    return engine.generate(prompts, num_samples=num_samples, max_new_tokens=room, temperature=temperature,
                           top_p=cfg.top_p)


# ---------------------------------------------------------------------------------------------
# The run


def _done(path: Path) -> list[dict]:
    """Records already written; a torn last line (a crash mid-write) is cut off."""
    if not path.exists():
        return []
    done, good = [], 0
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                done.append(json.loads(raw))
            except json.JSONDecodeError:
                break
            good += len(raw)
    if good != path.stat().st_size:
        with path.open("r+b") as handle:
            handle.truncate(good)
    return done


def _record(item: Item, sample, completion: str, extraction: str, finish: str | None = None) -> dict:
    verdict = judge_item(item, completion, extraction)
    return {"id": item.id, "sample": sample, "task": item.task, "difficulty": item.difficulty, "gold": item.gold,
            "completion": completion, "status": verdict.status, "correct": verdict.correct,
            "reason": verdict.reason, "extracted": getattr(verdict, "extracted", None), "finish": finish}


def _out_folder(cfg: EvalConfig) -> Path:
    if cfg.out:
        return Path(cfg.out)
    source = Path(cfg.model or cfg.completions or "completions")
    return Path("runs") / "eval" / f"{source.stem or source.name}-{Path(cfg.data).stem}"


def evaluate(cfg: EvalConfig, log=print) -> dict:
    """Run (or resume) an evaluation; returns the summary that ``report.md`` shows."""
    cfg.check()
    items = read_items(cfg.data, cfg.fields, cfg.limit)
    out = _out_folder(cfg)
    out.mkdir(parents=True, exist_ok=True)
    settings_file = out / "settings.json"
    if settings_file.exists():
        before = json.loads(settings_file.read_text())
        if before != json.loads(json.dumps(cfg.generation())):
            changed = sorted(k for k in before if before.get(k) != cfg.generation().get(k))
            raise ValueError(f"{out} holds a run with other settings ({', '.join(changed)}): give another --out")
    settings_file.write_text(json.dumps(cfg.generation(), indent=2) + "\n")
    path = out / "completions.jsonl"
    records = _done(path)
    have = {(r["id"], r["sample"]) for r in records}
    start = time.perf_counter()
    with path.open("a", encoding="utf-8") as sink:
        def write(new: list[dict]) -> None:
            for r in new:
                sink.write(json.dumps(r, ensure_ascii=False) + "\n")
            sink.flush()
            records.extend(new)

        if cfg.completions:
            write(_score_given(cfg, items, have))
        else:
            _run_model(cfg, items, have, write, log)
    summary = _summary(cfg, items, records, time.perf_counter() - start)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot = _plot(summary, out / "pass_at_k.png")
    (out / "report.md").write_text(report_markdown(summary, plot.name if plot else None), encoding="utf-8")
    log(f"{len(records)} completions judged; report in {out / 'report.md'}")
    return summary


def _score_given(cfg: EvalConfig, items: list[Item], have: set) -> list[dict]:
    """Records for completions made elsewhere: ``{"id", "completion"}`` lines (several per id are samples
    0, 1, ... in file order) or ``{"id", "completions": [...]}``."""
    by_id = {item.id: item for item in items}
    path = Path(cfg.completions)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    counts: Counter = Counter()
    new = []
    for number, row in read_jsonl(path):
        if "id" not in row or not ("completion" in row or "completions" in row):
            raise InputError(f"{path}:{number}: expected fields 'id' and 'completion' (or 'completions')")
        key = str(row["id"])
        if key not in by_id:
            raise InputError(f"{path}:{number}: id {key!r} is not a row of {cfg.data}")
        texts = row["completions"] if "completions" in row else [row["completion"]]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise InputError(f"{path}:{number}: completions must be strings")
        for text in texts:
            sample = counts[key]
            counts[key] += 1
            if (key, sample) not in have:
                new.append(_record(by_id[key], sample, text, cfg.extraction))
    return new


def _run_model(cfg: EvalConfig, items: list[Item], have: set, write, log) -> None:
    import torch

    from train.engine import Engine

    model, tokenizer, folder = _policy(cfg)
    prompts = render_prompts(items, cfg.template, folder)
    engine = Engine(model, tokenizer, stop_ids=_stop_ids(tokenizer, folder))
    torch.manual_seed(cfg.seed)
    passes = [(GREEDY, 1, 0.0)] + ([("sampled", cfg.n, cfg.temperature)] if cfg.n > 1 else [])
    for name, num, temperature in passes:
        wanted = [GREEDY] if name == GREEDY else list(range(num))
        todo = [i for i, item in enumerate(items) if any((item.id, s) not in have for s in wanted)]
        log(f"{name}: {len(todo)} of {len(items)} prompts to generate ({num} each)")
        for chunk_start in range(0, len(todo), cfg.batch_size):
            chunk = todo[chunk_start : chunk_start + cfg.batch_size]
            generations = _generate(engine, [prompts[i] for i in chunk], num, cfg, temperature)
            new, seen = [], Counter()
            for g in generations:  # grouped by prompt: the j-th generation of a prompt is its sample j
                item = items[chunk[g.prompt_index]]
                sample = GREEDY if name == GREEDY else seen[item.id]
                seen[item.id] += 1
                if (item.id, sample) not in have:
                    new.append(_record(item, sample, g.text, cfg.extraction, g.finish_reason))
            write(new)
            have.update((r["id"], r["sample"]) for r in new)


def _summary(cfg: EvalConfig, items: list[Item], records: list[dict], seconds: float) -> dict:
    ks = cfg.ks()
    kinds = {item.id: item.kind if item.kind != "problem" else (item.row.get("verifier") or "math") for item in items}
    wanted = {item.id for item in items}
    records = [r for r in records if r["id"] in wanted]
    by = {"task": defaultdict(list), "difficulty": defaultdict(list)}
    for r in records:
        by["task"][r["task"]].append(r)
        by["difficulty"][r["difficulty"]].append(r)
    most = max(Counter(r["id"] for r in records if r["sample"] != GREEDY).values(), default=1)
    curve_ks = list(range(1, most + 1))  # every k the samples allow
    curve = metrics(records, curve_ks, kinds)
    return {
        "settings": {**asdict(cfg), "out": str(_out_folder(cfg))},
        "ks": ks, "seconds": round(seconds, 1),
        "overall": metrics(records, ks, kinds),
        "curve": {k: curve[f"pass@{k}"] for k in curve_ks},
        "curve_maj": {k: curve[f"maj@{k}"] for k in curve_ks},
        "by_task": {t: metrics(rs, ks, kinds) for t, rs in sorted(by["task"].items())},
        "by_difficulty": {d: metrics(rs, ks, kinds) for d, rs in sorted(by["difficulty"].items(), key=_level)},
    }


def _level(pair: tuple[str, list]) -> tuple[int, str]:
    return (int(pair[0]), "") if pair[0].isdigit() else (10**9, pair[0])


# ---------------------------------------------------------------------------------------------
# Report


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _table(rows: dict[str, dict], ks: list[int], first: str) -> list[str]:
    cols = ["accuracy"] + [f"{m}@{k}" for k in ks for m in ("pass", "maj", "mean")]
    lines = [f"| {first} | problems | " + " | ".join(cols) + " | could not judge |",
             "|---|---|" + "---|" * len(cols) + "---|"]
    for name, m in rows.items():
        lines.append(f"| {name} | {m['problems']} | " + " | ".join(_pct(m[c]) for c in cols)
                     + f" | {m['could_not_judge']} |")
    return lines


def report_markdown(summary: dict, plot: str | None) -> str:
    """The Markdown report: settings, the overall table, by task, by difficulty, could-not-judge reasons."""
    s, ks, overall = summary["settings"], summary["ks"], summary["overall"]
    if s["model"]:
        source = (f"model `{s['model']}` on `{s['data']}`; template `{s['template']}`, {s['n']} sample(s) per problem "
                  f"at temperature {s['temperature']} (top-p {s['top_p']}) beside the greedy one, at most "
                  f"{s['max_new_tokens']} new tokens")
    else:
        source = f"completions `{s['completions']}` (made elsewhere; samples in file order) on `{s['data']}`"
    lines = [f"# rlvr eval: {Path(s['data']).name}", "",
             f"{source}; answers found with extraction `{s['extraction']}`. {overall['problems']} problems, "
             f"{overall['completions']} completions, {summary['seconds']} s.", "",
             "Percentages of problems. accuracy: the greedy completion is correct. pass@k: the unbiased estimate "
             "that one of k samples is correct. maj@k: the most common answer among the first k samples (equivalent "
             "answers count as one) is correct. mean@k: the share of the first k samples that are correct. A "
             "completion that could not be judged counts as not correct; they are counted apart below.", "",
             *_table({"all": overall}, ks, "set")]
    if len(summary["by_task"]) > 1:
        lines += ["", "## By task", "", *_table(summary["by_task"], ks, "task")]
    if len(summary["by_difficulty"]) > 1:
        lines += ["", "## By difficulty", "", *_table(summary["by_difficulty"], ks, "difficulty")]
    lines += ["", "## Could not judge", ""]
    reasons = overall["unjudged_reasons"]
    lines += ["| status | reason | completions |", "|---|---|---|",
              *(f"| {status} | {why} | {n} |" for status, why, n in reasons)] if reasons else ["none"]
    if plot:
        lines += ["", f"![pass@k and maj@k against k]({plot})"]
    return "\n".join(lines) + "\n"


def _plot(summary: dict, path: Path) -> Path | None:
    curve = {int(k): v for k, v in summary["curve"].items() if v is not None}
    if not curve:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ks = sorted(curve)
    ax.plot(ks, [100 * curve[k] for k in ks], marker="o", label="pass@k")
    maj = {int(k): v for k, v in summary["curve_maj"].items() if v is not None}
    ax.plot(sorted(maj), [100 * maj[k] for k in sorted(maj)], marker="s", label="maj@k")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("k (samples)")
    ax.set_ylabel("% of problems")
    ax.set_title(Path(summary["settings"]["data"]).name)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlvr eval", description=__doc__.split("\n\n>>>")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="benchmark file: JSONL, JSON list, Parquet or a saved dataset")
    parser.add_argument("--model", help="an rlvr run folder or a local Llama/Qwen2/Qwen3 Hugging Face folder")
    parser.add_argument("--completions", help="score these {id, completion} lines instead of generating")
    parser.add_argument("--out", help="output folder (default runs/eval/MODEL-DATA); a rerun resumes in it")
    parser.add_argument("--n", type=int, default=8, help="samples per problem beside the greedy one (default 8)")
    parser.add_argument("--k", default="1,8", help="k values of pass@k, maj@k and mean@k (default 1,8)")
    parser.add_argument("--temperature", type=float, default=0.6, help="sampling temperature (default 0.6)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling (default 1: off)")
    parser.add_argument("--max-new-tokens", type=int, default=1024, help="completion budget (default 1024)")
    parser.add_argument("--template", default="r1_zero", choices=["r1_zero", "plain", "chat"],
                        help="prompt template: ours (r1_zero, plain) or the checkpoint's chat template")
    parser.add_argument("--extraction", default="lenient", choices=EXTRACTIONS,
                        help="where a math answer may be found (default lenient: as a reader would)")
    parser.add_argument("--batch-size", type=int, default=64, help="prompts generated together (default 64)")
    parser.add_argument("--limit", type=int, help="only the first N rows")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu or cuda")
    for role in ("id", "prompt", "answer", "task", "difficulty"):
        parser.add_argument(f"--{role}-field", metavar="COLUMN", help=f"the column holding the {role}")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["eval"]:
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    fields = {role: getattr(args, f"{role}_field") for role in ("id", "prompt", "answer", "task", "difficulty")
              if getattr(args, f"{role}_field")}
    cfg = EvalConfig(data=args.data, model=args.model, completions=args.completions, out=args.out, n=args.n, k=args.k,
                     temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens,
                     template=args.template, extraction=args.extraction, batch_size=args.batch_size, limit=args.limit,
                     seed=args.seed, device=args.device, fields=fields)
    try:
        summary = evaluate(cfg, log=lambda m: print(m, file=sys.stderr))
    except (InputError, ValueError, FileNotFoundError) as exc:
        print(f"rlvr eval: {exc}", file=sys.stderr)
        return 2
    overall = summary["overall"]
    print(" ".join(f"{key} {_pct(overall[key])}" for key in ["accuracy"] + [f"{m}@{k}" for k in summary["ks"]
                                                                        for m in ("pass", "maj", "mean")]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
