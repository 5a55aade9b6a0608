"""The Python tour in README.md runs, and says what the code does."""

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "GRPOTrainer" not in b]


def test_readme_python_tour_runs_and_its_comments_are_true():
    assert len(BLOCKS) >= 2
    namespace: dict = {}
    for line in "\n".join(BLOCKS).splitlines():
        code, _, comment = line.partition("  # ")
        if not code.strip():
            continue
        if not code.startswith((" ", "from", "import")) and "=" not in code.split("(")[0] and comment:
            value = eval(code, namespace)  # our own documentation, not model text
            claimed = comment.split()[0].rstrip(":")
            assert repr(value).startswith(claimed.rstrip(",")) or str(value) == claimed, (code, value)
        else:
            exec(code, namespace)


def test_readme_shows_both_commands():
    assert "make demo" in README and "make test" in README
