"""``arithmetic``: multi-digit + − × ÷ with order of operations, parentheses and negative numbers.

Difficulty adds operands (2 to 7), digits (1 to 4), operators (× and ÷ from 3, parentheses from 4,
negative numbers from 5). Division is built exact: the dividend is made as divisor × quotient.

>>> import random
>>> item = arithmetic(random.Random(0), 5)
>>> item.solution.endswith(f"The answer is {item.answer}.")
True
"""

from __future__ import annotations

import random
from fractions import Fraction

from datagen.registry import Item, task

_SYMBOL = {"+": "+", "-": "-", "*": "\\times", "/": "\\div"}
_WORDS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}


def _number(rng: random.Random, digits: int, negative: bool) -> int:
    n = rng.randint(10 ** (digits - 1) if digits > 1 else 1, 10**digits - 1)
    return -n if negative and rng.random() < 0.3 else n


def _build(rng: random.Random, leaves: int, difficulty: int):
    """A random expression tree: ints at the leaves, (op, left, right) inside."""
    digits = 1 + difficulty // 3
    ops = ["+", "-"] + (["*", "/"] if difficulty >= 3 else [])
    if leaves == 1:
        return _number(rng, digits, difficulty >= 5)
    split = rng.randint(1, leaves - 1)
    op = rng.choice(ops)
    left, right = _build(rng, split, difficulty), _build(rng, leaves - split, difficulty)
    if op == "*" and abs(_value(left) * _value(right)) > 10 ** (3 + difficulty):
        op = "+"
    if op == "/":
        divisor = _value(right)
        if divisor.denominator != 1 or divisor == 0 or abs(divisor) > 99:
            right = divisor = rng.randint(2, 9 if difficulty < 7 else 19)
        quotient = _number(rng, max(1, digits - 1), difficulty >= 5)
        left = int(divisor) * quotient  # the dividend becomes a number that divides exactly
    return (op, left, right)


def _value(node) -> Fraction:
    if isinstance(node, int):
        return Fraction(node)
    op, left, right = node
    return _apply(op, _value(left), _value(right))


def _apply(op: str, a: Fraction, b: Fraction) -> Fraction:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b if b else Fraction(0)  # a zero divisor is replaced before it is ever shown


def _prec(op: str) -> int:
    return 1 if op in "+-" else 2


def _text(node, parent_prec: int = 0, right_side: bool = False) -> str:
    if isinstance(node, int):
        return f"({node})" if node < 0 else str(node)
    op, left, right = node
    inner = f"{_text(left, _prec(op))} {_SYMBOL[op]} {_text(right, _prec(op), True)}"
    needs = _prec(op) < parent_prec or (right_side and _prec(op) == parent_prec)
    return f"({inner})" if needs else inner


def _steps(node, out: list[str]) -> int:
    if isinstance(node, int):
        return node
    op, left, right = node
    a, b = _steps(left, out), _steps(right, out)
    result = int(_apply(op, Fraction(a), Fraction(b)))
    shown = [f"({x})" if x < 0 else str(x) for x in (a, b)]
    out.append(f"Step {len(out) + 1}: {_WORDS[op]}: {shown[0]} {_SYMBOL[op]} {shown[1]} = {result}.")
    return result


@task("arithmetic")
def arithmetic(rng: random.Random, difficulty: int) -> Item:
    """Evaluate an integer expression with + - × ÷, parentheses and negatives."""
    leaves = 2 + (difficulty - 1) * 5 // 9
    tree = _build(rng, leaves, difficulty)
    value = _value(tree)
    assert value.denominator == 1
    expression = _text(tree)
    steps: list[str] = []
    _steps(tree, steps)
    prompt = f"Calculate ${expression}$."
    solution = "\n".join(
        ["Follow the order of operations: parentheses first, then × and ÷, then + and −, left to right.",
         *steps, f"The answer is {int(value)}."])
    return Item(prompt, str(int(value)), solution, {"expression": expression, "leaves": leaves})
