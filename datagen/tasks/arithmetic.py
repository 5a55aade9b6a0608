"""``arithmetic``: multi-digit + − × ÷ with order of operations, parentheses and negative numbers.

Difficulty adds operands (2 at difficulty 1, then one more every second level: 3 at 2 and 3, 7 at 10),
digits (1 to 4), operators (× and ÷ from 3; parentheses wherever three operands group so) and negative
numbers (from 5). Difficulty 2 is three single-digit operands with + and −: two steps of difficulty 1's
facts. Division is built exact: the dividend is made as divisor × quotient.

>>> import random
>>> item = arithmetic(random.Random(0), 5)
>>> item.solution.endswith(f"The answer is {item.answer}.")
True
"""

from __future__ import annotations

import random

from datagen.registry import Item, task

_SYMBOL = {"+": "+", "-": "-", "*": "\\times", "/": "\\div"}
_WORDS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}
_OPS = ("+", "-", "*", "/")


def _number(r, digits: int, negative: bool) -> int:
    low = 10 ** (digits - 1) if digits > 1 else 1
    n = low + int(r() * (10**digits - low))
    return -n if negative and r() < 0.3 else n


def _build(r, leaves: int, difficulty: int) -> tuple[object, int]:
    """A random expression tree (ints at the leaves, (op, left, right) inside) and its value.

    Every value is an integer: a division's dividend is made as divisor × quotient.
    """
    digits = 1 + difficulty // 3
    if leaves == 1:
        n = _number(r, digits, difficulty >= 5)
        return n, n
    split = 1 + int(r() * (leaves - 1))
    op = _OPS[int(r() * (4 if difficulty >= 3 else 2))]
    (left, a), (right, b) = _build(r, split, difficulty), _build(r, leaves - split, difficulty)
    if op == "*" and abs(a * b) > 10 ** (3 + difficulty):
        op = "+"
    if op == "/":
        if b == 0 or abs(b) > 99:
            right = b = 2 + int(r() * (8 if difficulty < 7 else 18))
        quotient = _number(r, max(1, digits - 1), difficulty >= 5)
        return (op, b * quotient, right), quotient  # the dividend becomes a number that divides exactly
    return (op, left, right), a + b if op == "+" else a - b if op == "-" else a * b


def _prec(op: str) -> int:
    return 1 if op in "+-" else 2


def _text(node, parent_prec: int = 0, right_side: bool = False) -> str:
    if type(node) is int:
        return f"({node})" if node < 0 else str(node)
    op, left, right = node
    inner = f"{_text(left, _prec(op))} {_SYMBOL[op]} {_text(right, _prec(op), True)}"
    needs = _prec(op) < parent_prec or (right_side and _prec(op) == parent_prec)
    return f"({inner})" if needs else inner


def _steps(node, out: list[str]) -> int:
    if type(node) is int:
        return node
    op, left, right = node
    a, b = _steps(left, out), _steps(right, out)
    result = a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a // b
    shown = [f"({x})" if x < 0 else str(x) for x in (a, b)]
    out.append(f"Step {len(out) + 1}: {_WORDS[op]}: {shown[0]} {_SYMBOL[op]} {shown[1]} = {result}.")
    return result


@task("arithmetic")
def arithmetic(rng: random.Random, difficulty: int) -> Item:
    """Evaluate an integer expression with + - × ÷, parentheses and negatives."""
    leaves = 2 + difficulty // 2
    tree, value = _build(rng.random, leaves, difficulty)
    expression = _text(tree)
    steps: list[str] = []
    assert _steps(tree, steps) == value
    solution = "\n".join(["Follow the order of operations: parentheses first, then × and ÷, then + and −, left to right.",
                          *steps, f"The answer is {value}."])
    return Item(f"Calculate ${expression}$.", str(value), solution, {"expression": expression, "leaves": leaves})
