"""The runs under one folder, read for the Runs page: reports, plots, metrics and judged completions.

A run is a folder holding ``report.md``, ``results.json``, ``stages.json``, ``metrics.jsonl`` or
``completions.jsonl``, or whose sub-folders (its stages) hold ``metrics.jsonl`` or ``completions.jsonl``:
a finished or running ``rlvr pipeline`` folder, or one stage's ``--out-dir``. Runs are looked for in the
root itself and two levels below it. Nothing outside the root is ever read: every run, stage and file
is looked up among what was found inside it (after resolving links), never built from the request.

The held-out completions of a stage are ``STAGE/completions.jsonl``, one judged completion a line
(the format asked of the pipeline in the web app's notes)::

    {"id": "a3f..", "task": "arithmetic", "prompt": "What is 2 + 3?", "answer": "5",
     "completion": " <think>2 + 3 = 5</think> <answer>5</answer>", "sample": 0, "temperature": 0.0,
     "tokens": 14, "thought_tokens": 5, "finish_reason": "stop", "status": "correct", "reason": "equivalent",
     "extracted": "5", "well_formed": true}

``status`` is a :class:`verifiers.verdict.Verdict` status: correct, incorrect, or one that could not
judge (no_answer, unparseable, timeout). ``sample`` 0 is the greedy completion. ``thought_tokens``: the
tokens between ``<think>`` and ``</think>`` (null without reasoning); the page counts words without it.

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> (root / "demo" / "sft").mkdir(parents=True)
>>> _ = (root / "demo" / "sft" / "metrics.jsonl").write_text('{"step": 1, "loss": 2.5}\\n')
>>> runs = RunsDir(root)
>>> list(runs.runs()), [s["name"] for s in runs.run("demo")["stages"]]
(['demo'], ['sft'])
>>> runs.metrics("demo", "sft")["rows"]
[{'step': 1, 'loss': 2.5}]
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["COMPLETIONS_FILE", "IMAGE_TYPES", "VERDICTS", "NotFound", "RunsDir", "verdict_of"]

COMPLETIONS_FILE = "completions.jsonl"
RUN_FILES = ("report.md", "results.json", "stages.json", "metrics.jsonl", COMPLETIONS_FILE)
STAGE_FILES = ("metrics.jsonl", COMPLETIONS_FILE)
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}  # never SVG: an SVG can carry script
VERDICTS = ("correct", "incorrect", "unjudged")
MAX_TEXT = 1 << 20  # the longest report.md / results.json served
MAX_METRICS_CHUNK = 1 << 20  # metrics bytes per request: a long file comes in several


class NotFound(LookupError):
    """No such run, stage or file under the root (the app answers 404)."""


def verdict_of(row: dict) -> str:
    """``correct``, ``incorrect`` or ``unjudged`` (the verifier could not decide) of a completion row.

    >>> verdict_of({"status": "no_answer"}), verdict_of({"correct": True})
    ('unjudged', 'correct')
    """
    status = row.get("status")
    if status is None and "correct" in row:
        status = {True: "correct", False: "incorrect"}.get(row["correct"])
    return status if status in ("correct", "incorrect") else "unjudged"


def _stage_order(name: str) -> tuple:
    from train.pipeline import STAGE_NAMES

    order = list(STAGE_NAMES)
    return (order.index(name) if name in order else len(order), name)


class RunsDir:
    """The runs found under ``root`` (looked for again at every call: runs appear while serving)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self._completions_cache: dict[Path, tuple[tuple, list[dict]]] = {}

    def _inside(self, path: Path) -> Path | None:
        """``path`` resolved, if it lies inside the root; None otherwise (a link pointing out)."""
        try:
            resolved = path.resolve()
        except OSError:
            return None
        return resolved if resolved == self.root or resolved.is_relative_to(self.root) else None

    def _folders(self, folder: Path) -> list[Path]:
        try:
            children = sorted(folder.iterdir())
        except OSError:
            return []
        return [c for c in children if not c.name.startswith(".") and c.is_dir() and self._inside(c)]

    def _is_run(self, folder: Path) -> bool:
        return any((folder / f).is_file() for f in RUN_FILES) or any(
            (sub / f).is_file() for sub in self._folders(folder) for f in STAGE_FILES)

    def runs(self) -> dict[str, Path]:
        """Run name (its path under the root, ``.`` for the root itself) -> folder."""
        if not self.root.is_dir():
            return {}
        if self._is_run(self.root):
            return {".": self.root}
        found = {}
        for child in self._folders(self.root):
            if self._is_run(child):
                found[child.name] = child
            else:
                found.update({f"{child.name}/{g.name}": g for g in self._folders(child) if self._is_run(g)})
        return found

    def _run_folder(self, name: str) -> Path:
        folder = self.runs().get(name)
        if folder is None:
            raise NotFound(f"no run {name!r} under {self.root}")
        return folder

    def _stages(self, folder: Path) -> dict[str, Path]:
        """Stage name -> folder: sub-folders with metrics or completions, and ``.`` for the run's own."""
        stages = {sub.name: sub for sub in self._folders(folder) if any((sub / f).is_file() for f in STAGE_FILES)}
        if any((folder / f).is_file() for f in STAGE_FILES):
            stages["."] = folder
        return {name: stages[name] for name in sorted(stages, key=_stage_order)}

    def _stage_folder(self, run: str, stage: str) -> Path:
        folder = self._stages(self._run_folder(run)).get(stage)
        if folder is None:
            raise NotFound(f"run {run!r} has no stage {stage!r}")
        return folder

    @staticmethod
    def _images(folder: Path) -> list[str]:
        return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_TYPES and p.is_file())

    @staticmethod
    def _text(path: Path) -> str | None:
        if not path.is_file():
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(MAX_TEXT)

    def listing(self) -> list[dict]:
        """Every run: name, whether it has a report, its stages, and when it last changed."""
        out = []
        for name, folder in self.runs().items():
            stages = self._stages(folder)
            times = [p.stat().st_mtime for s in stages.values() for p in s.iterdir() if p.is_file()]
            out.append({"name": name, "title": folder.name if name == "." else name,
                        "report": (folder / "report.md").is_file(), "stages": list(stages),
                        "modified": max(times, default=folder.stat().st_mtime)})
        return sorted(out, key=lambda r: -r["modified"])

    def run(self, name: str) -> dict:
        """One run: ``report`` (report.md's text), ``results`` (results.json), ``plots`` (image names) and
        ``stages`` (name, label, whether it has metrics and completions)."""
        from train.pipeline import STAGE_NAMES

        folder = self._run_folder(name)
        results = self._text(folder / "results.json")
        try:
            results = json.loads(results) if results else None
        except json.JSONDecodeError:
            results = None  # being written: the page asks again
        stages = [{"name": stage, "label": STAGE_NAMES.get(stage, stage if stage != "." else folder.name),
                   "metrics": (path / "metrics.jsonl").is_file(), "completions": (path / COMPLETIONS_FILE).is_file()}
                  for stage, path in self._stages(folder).items()]
        return {"name": name, "report": self._text(folder / "report.md"), "results": results,
                "plots": self._images(folder), "stages": stages}

    def metrics(self, run: str, stage: str, offset: int = 0) -> dict:
        """Metrics rows of a stage from byte ``offset`` on (whole lines, at most about 1 MiB): ``rows``, the
        ``offset`` to ask from next, ``more`` when whole lines are left beyond it, and ``reset`` when the file
        got shorter (a resumed run cut it back) and the rows start again from its beginning."""
        path = self._stage_folder(run, stage) / "metrics.jsonl"
        if not path.is_file():
            return {"rows": [], "offset": 0, "more": False, "reset": False}
        size = path.stat().st_size
        reset = offset > size
        offset = 0 if reset else offset
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(MAX_METRICS_CHUNK)
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next request
        rows = []
        for line in data[:end].splitlines():
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(row, dict):
                rows.append(row)
        more = len(data) == MAX_METRICS_CHUNK and end > 0
        return {"rows": rows, "offset": offset + end, "more": more, "reset": reset}

    def _completion_rows(self, stage: str, folder: Path) -> list[dict]:
        path = folder / COMPLETIONS_FILE
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._completions_cache.get(path)
        if cached and cached[0] == key:
            return cached[1]
        rows = []
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line being written
                if isinstance(row, dict):
                    rows.append({**row, "stage": stage, "verdict": verdict_of(row)})
        self._completions_cache[path] = (key, rows)
        return rows

    def completions(self, run: str, *, stage: str | None = None, task: str | None = None,
                    verdict: str | None = None, offset: int = 0, limit: int = 50) -> dict:
        """Judged held-out completions of a run, filtered by stage, task and verdict (``VERDICTS``), one page:
        ``rows``, ``total`` (after filtering), the ``stages`` and ``tasks`` there are, and ``counts`` per verdict."""
        if verdict is not None and verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        stages = {name: path for name, path in self._stages(self._run_folder(run)).items()
                  if (path / COMPLETIONS_FILE).is_file()}
        if stage is not None and stage not in stages:
            raise NotFound(f"run {run!r} has no completions of stage {stage!r}")
        rows = [row for name, path in stages.items() if stage in (None, name)
                for row in self._completion_rows(name, path)]
        tasks = sorted({str(r.get("task", "")) for r in rows})
        if task is not None:
            rows = [r for r in rows if str(r.get("task", "")) == task]
        counts = {v: 0 for v in VERDICTS}
        for r in rows:
            counts[r["verdict"]] += 1
        if verdict is not None:
            rows = [r for r in rows if r["verdict"] == verdict]
        return {"rows": rows[offset:offset + limit], "total": len(rows), "stages": list(stages), "tasks": tasks,
                "counts": counts}

    def file(self, run: str, name: str, stage: str | None = None) -> Path:
        """An image of a run (or of one of its stages) by its bare file name; NotFound for anything else."""
        folder = self._run_folder(run) if stage is None else self._stage_folder(run, stage)
        if name not in self._images(folder):
            raise NotFound(f"no image {name!r} in run {run!r}" + (f" stage {stage!r}" if stage else ""))
        path = self._inside(folder / name)
        if path is None:
            raise NotFound(f"{name!r} points outside the runs folder")
        return path
