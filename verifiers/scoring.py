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
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from verifiers.pool import pool_map
from verifiers.problem import InputError, load_problems, read_jsonl, write_jsonl
from verifiers.rewards import Rubric

__all__ = ["Summary", "load_completions", "pass_at_k", "score_files"]


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


def _score_group(job: tuple[Rubric, str, dict, list[tuple[int, str]]]) -> list[dict]:
    """One problem's completions scored together (group rewards see the group); a row per completion."""
    rubric, key, problem, items = job
    judged = rubric.score_group([text for _, text in items], problem)
    return [{"line": line, "id": key, **j.to_dict()} for (line, _), j in zip(items, judged)]


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
            vals = [r["total"] if name == "total" else r["parts"].get(name) for r in self.rows]
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
        lines.append(f"  format rate   {_pct(sum(r['well_formed'] for r in self.rows) / max(n, 1))} (strict)")
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


def score_files(problems_path: str | Path, completions_path: str | Path, out_path: str | Path,
                rubric: Rubric, *, workers: int = 1, ks: tuple[int, ...] = (1,), progress: bool = False,
                backend: str = "local", address: str | None = None) -> Summary:
    """Score every completion, appending to ``out_path`` as groups finish; resume from what is there.

    ``backend="ray"`` scores on the Ray cluster at ``address`` instead of ``workers`` local processes
    (``verifiers.pool.pool_map``); the rows are the same.
    """
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
    jobs = [(rubric, key, problems[key], items) for key, items in groups.items() if key not in complete]
    resumed = len(rows)
    total = sum(len(j[3]) for j in jobs)
    bar = tqdm(total=total, disable=not progress, unit="completion", desc="score")
    with out.open("a", encoding="utf-8") as sink:
        # chunks of groups go to the workers and come back as each is done, so an interrupted run keeps them
        chunksize = max(1, min(64, len(jobs) // (8 * workers)))
        for results in pool_map(_score_group, jobs, workers, ordered=False, chunksize=chunksize, backend=backend,
                                address=address):
            for r in results:
                sink.write(json.dumps(r, ensure_ascii=False) + "\n")
            sink.flush()
            rows.extend(results)
            bar.update(len(results))
    bar.close()
    rows.sort(key=lambda r: r["line"])
    return Summary(rows, rubric.names, list(ks), time.perf_counter() - start, resumed)

