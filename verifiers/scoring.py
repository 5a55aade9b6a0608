"""Score a file of completions against a dataset of problems, at scale and resumably.

Problems are ``Problem`` rows (Parquet, JSONL or a folder saved by ``Dataset.save_to_disk``);
completions are JSONL lines ``{"id": ..., "completion": ...}``, several per id allowed. The
completions of one id are scored together (group rewards such as ``length`` need the group) in a
process pool, and each result is appended to the output as soon as its group is done, so an
interrupted run loses nothing and a rerun picks up where it stopped.

>>> from verifiers.scoring import pass_at_k
>>> round(pass_at_k(n=4, c=1, k=2), 3)
0.5
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from verifiers.format import check_format
from verifiers.rewards import Rubric

__all__ = ["InputError", "Summary", "load_completions", "load_problems", "pass_at_k", "read_jsonl", "score_files", "write_jsonl"]


class InputError(ValueError):
    """Input that cannot be scored; the message names the file and line."""


def load_problems(path: str | Path) -> dict[str, dict]:
    """Problems by id, from JSONL, Parquet or a saved Hugging Face dataset folder."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir() or path.suffix == ".parquet":
        try:
            import datasets
        except ImportError as exc:  # pragma: no cover - datasets is a dependency
            raise InputError(f"{path}: reading Parquet or saved datasets needs the 'datasets' package") from exc
        data = datasets.load_from_disk(str(path)) if path.is_dir() else datasets.Dataset.from_parquet(str(path))
        rows: list[tuple[str, dict]] = [(f"{path}: row {k + 1}", dict(r)) for k, r in enumerate(data)]
    else:
        rows = [(f"{path}:{number}", row) for number, row in read_jsonl(path)]
    problems: dict[str, dict] = {}
    for where, row in rows:
        if "id" not in row:
            raise InputError(f"{where}: problem has no 'id'")
        key = str(row["id"])
        if key in problems:
            raise InputError(f"{where}: duplicate problem id {key!r}")
        problems[key] = row
    if not problems:
        raise InputError(f"{path}: no problems")
    return problems


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line of a JSONL file (``-``: stdin).

    Raises InputError naming the file and line of the first line that is not a JSON object.
    """
    path = Path(path)
    try:
        handle = sys.stdin if str(path) == "-" else path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            yield number, row


def load_completions(path: str | Path, problems: dict[str, dict]) -> dict[str, list[tuple[int, str]]]:
    """Completions grouped by problem id, each with its line number (its identity for resuming)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for number, row in read_jsonl(path):
        if "id" not in row or "completion" not in row:
            missing = "id" if "id" not in row else "completion"
            raise InputError(f"{path}:{number}: missing field {missing!r}")
        key = str(row["id"])
        if key not in problems:
            raise InputError(f"{path}:{number}: id {key!r} is not among the problems")
        if not isinstance(row["completion"], str):
            raise InputError(f"{path}:{number}: 'completion' must be a string")
        groups[key].append((number, row["completion"]))
    if not groups:
        raise InputError(f"{path}: no completions")
    return dict(groups)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


# ---------------------------------------------------------------------------------------------
# Worker side: one rubric per process, built once.

_RUBRIC: Rubric | None = None


def _init(weights: dict[str, float], options: dict[str, dict]) -> None:
    global _RUBRIC
    _RUBRIC = Rubric(weights, options=options)


def _score_group(job: tuple[str, dict, list[tuple[int, str]]]) -> list[dict]:
    key, problem, items = job
    assert _RUBRIC is not None
    scores = _RUBRIC.score_group([text for _, text in items], problem)
    out = []
    for (line, text), s in zip(items, scores):
        verdict = s.verdict
        out.append({
            "line": line, "id": key, "total": s.total, "rewards": s.parts,
            "status": verdict.status if verdict else None, "reason": verdict.reason if verdict else None,
            "format_ok": check_format(text).ok,
        })
    return out


# ---------------------------------------------------------------------------------------------


@dataclass
class Summary:
    """What a scoring run found; ``str()`` gives the printed report."""

    rows: list[dict]
    reward_names: list[str]
    ks: list[int]
    seconds: float
    resumed: int = 0
    statuses: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.statuses = Counter(r["status"] for r in self.rows if r["status"] is not None)

    def accuracy(self) -> float | None:
        judged = self.statuses["correct"] + self.statuses["incorrect"]
        return self.statuses["correct"] / judged if judged else None

    def pass_at(self, k: int) -> float | None:
        by_id: dict[str, list[bool]] = defaultdict(list)
        for r in self.rows:
            by_id[r["id"]].append(r["status"] == "correct")
        values = [pass_at_k(len(v), sum(v), k) for v in by_id.values() if len(v) >= k]
        return sum(values) / len(values) if values else None

    def means(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name in [*self.reward_names, "total"]:
            vals = [r["total"] if name == "total" else r["rewards"].get(name) for r in self.rows]
            vals = [v for v in vals if v is not None]
            out[name] = sum(vals) / len(vals) if vals else None
        return out

    def unjudged_reasons(self) -> Counter:
        return Counter((r["status"], r["reason"]) for r in self.rows
                       if r["status"] in ("no_answer", "unparseable", "timeout"))

    def __str__(self) -> str:
        n, ids = len(self.rows), len({r["id"] for r in self.rows})
        lines = [f"{n} completions for {ids} problems"
                 + (f" ({self.resumed} from an earlier run)" if self.resumed else "")
                 + f"; {self.seconds:.2f} s ({(n - self.resumed) / max(self.seconds, 1e-9):,.0f}/s)"]
        acc = self.accuracy()
        judged = self.statuses["correct"] + self.statuses["incorrect"]
        if self.statuses:
            lines.append(f"  accuracy      {_pct(acc)} of {judged} judged")
            for k in self.ks:
                lines.append(f"  pass@{k:<8} {_pct(self.pass_at(k))}")
        lines.append(f"  format rate   {_pct(sum(r['format_ok'] for r in self.rows) / max(n, 1))} (strict)")
        lines.append("  reward means  " + ", ".join(
            f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in self.means().items()))
        unjudged = self.unjudged_reasons()
        if unjudged:
            lines.append(f"  could not judge: {sum(unjudged.values())}")
            for (status, reason), count in unjudged.most_common(8):
                lines.append(f"    {count:>6}  {status}: {reason}")
        return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{100 * x:5.1f}%"


def _done_lines(out: Path) -> dict[int, dict]:
    """Results already in ``out``; a torn last line (a crash mid-write) is cut off."""
    if not out.exists():
        return {}
    done: dict[int, dict] = {}
    good_bytes = 0
    with out.open("rb") as handle:
        for raw in handle:
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                break
            if not raw.endswith(b"\n"):
                break
            done[row["line"]] = row
            good_bytes += len(raw)
    if good_bytes != out.stat().st_size:
        with out.open("r+b") as handle:
            handle.truncate(good_bytes)
    return done


def write_jsonl(rows: list[dict], path: str | Path) -> None:
    """Write JSONL atomically: a temporary file in the same folder, renamed over ``path`` when complete."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def score_files(problems_path: str | Path, completions_path: str | Path, out_path: str | Path,
                rubric: Rubric, *, workers: int = 1, ks: tuple[int, ...] = (1,), progress: bool = False) -> Summary:
    """Score every completion, appending to ``out_path`` as groups finish; resume from what is there."""
    from tqdm.auto import tqdm

    start = time.perf_counter()
    problems = load_problems(problems_path)
    groups = load_completions(completions_path, problems)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _done_lines(out)
    complete = {key for key, items in groups.items() if all(line in done for line, _ in items)}
    rows = [r for r in done.values() if r["id"] in complete]
    if len(rows) != len(done):  # a group cut short by a crash is scored again whole (group rewards)
        write_jsonl(rows, out)
    jobs = [(key, problems[key], items) for key, items in groups.items() if key not in complete]
    resumed = len(rows)
    total = sum(len(j[2]) for j in jobs)
    bar = tqdm(total=total, disable=not progress, unit="completion", desc="score")
    with out.open("a", encoding="utf-8") as sink:
        for results in _run(jobs, rubric, workers):
            for r in results:
                sink.write(json.dumps(r, ensure_ascii=False) + "\n")
            sink.flush()
            rows.extend(results)
            bar.update(len(results))
    bar.close()
    rows.sort(key=lambda r: r["line"])
    return Summary(rows, rubric.names, list(ks), time.perf_counter() - start, resumed)


def _run(jobs: list, rubric: Rubric, workers: int) -> Iterator[list[dict]]:
    if workers <= 1 or len(jobs) < 2:
        _init(rubric.weights, rubric.options)
        yield from map(_score_group, jobs)
        return
    import multiprocess

    ctx = multiprocess.get_context("spawn")
    with ctx.Pool(workers, initializer=_init, initargs=(rubric.weights, rubric.options)) as pool:
        yield from pool.imap_unordered(_score_group, jobs, chunksize=max(1, min(64, len(jobs) // (8 * workers))))
