"""How far the code preset's held-out programs are from its training programs.

The code preset splits its problems by reference program (``Budget.split_by="answer"``), so no held-out program
is trained on verbatim. This measures what is left: held-out programs whose *shape* (the program with numbers,
string literals and names other than Python's keywords and builtins masked) some training program has.

    python bench/code_split_overlap.py            # the code preset's data, seed 0
"""

from __future__ import annotations

import argparse
import builtins
import keyword
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.load import make_problem_rows
from train.pipeline import PIPELINES, split_problems

KEEP = set(keyword.kwlist) | set(dir(builtins)) | set(dir(str)) | set(dir(list)) | set(dir(dict))


def shape(code: str, names: bool = True) -> str:
    """``code`` with numbers and string literals masked, and (``names``) every identifier Python does not define.

    >>> shape("def f(x):\\n    return x + 3") == shape("def g(y):\\n    return y + 7")
    True
    """
    code = re.sub(r"'[^']*'|\"[^\"]*\"", "S", re.sub(r"\b\d+\b", "N", code))
    return re.sub(r"\b[A-Za-z_]\w*\b", lambda m: m.group(0) if m.group(0) in KEEP else "X", code) if names else code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    budget = PIPELINES["code"]
    rows = make_problem_rows(budget.tasks, budget.n_problems, args.seed, budget.difficulty)
    train, _, test = split_problems(budget, rows, args.seed)  # the pipeline's SFT and held-out sets
    programs = {r["answer"] for r in train}
    print(f"{len(test)} held-out problems; {len(programs):,} distinct training programs")
    print(f"held-out program trained on verbatim: {sum(r['answer'] in programs for r in test)}")
    for names in (False, True):
        shapes = {shape(r["answer"], names) for r in train}
        what = "numbers, strings and names masked" if names else "numbers and strings masked"
        print(f"same shape as a training program ({what}; {len(shapes):,} training shapes): "
              f"{sum(shape(r['answer'], names) in shapes for r in test)}")


if __name__ == "__main__":
    main()
