"""The Python tour in README.md runs, and its ``# value`` comments say what the code returns."""

import ast
import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "GRPOTrainer" not in b]


def _checked(block: str) -> str:
    """Turn ``expr  # 'value' ...`` lines into assertions that repr(expr) starts with the claim."""
    out = []
    for line in block.splitlines():
        code, _, comment = line.partition("  # ")
        indent = code[: len(code) - len(code.lstrip())]
        claim = comment.split(" ")[0].rstrip(":,") if comment else ""
        try:
            is_expr = isinstance(ast.parse(code.strip()).body[0], ast.Expr) if code.strip() else False
        except SyntaxError:
            is_expr = False
        if is_expr and claim and claim[0] in "'\"[(0123456789TFN-":
            out.append(f"{indent}_claim(({code.strip()}), {claim!r})")
        else:
            out.append(line)
    return "\n".join(out)


def _claim(value, claim: str) -> None:
    assert repr(value).startswith(claim.rstrip(",")), (value, claim)


def test_readme_python_tour_runs_and_its_comments_are_true():
    assert len(BLOCKS) >= 3
    namespace: dict = {"_claim": _claim}
    for block in BLOCKS:
        exec(compile(_checked(block), "README.md", "exec"), namespace)  # our own documentation


def test_readme_shows_both_commands():
    assert "make demo" in README and "make test" in README
