"""The answer parser: shapes of trees, normalisation, and refusals that are ParseErrors."""

from fractions import Fraction

import pytest

from verifiers.budget import Budget, OutOfTime
from verifiers.latex import ParseError, normalize, parse, text_key


def num(v, decimals=None):
    return ("num", Fraction(v), decimals)


@pytest.mark.parametrize(("text", "tree"), [
    ("7{,}425{,}000", num(7425000)),
    ("1\\,000", num(1000)),
    ("1,234.5", num(Fraction(2469, 2), 1)),
    ("1.5e3", num(1500, 1)),
    ("3\\frac12", ("add", [num(3), ("div", num(1), num(2))])),
    ("1 1/2", ("add", [num(1), ("div", num(1), num(2))])),
    ("\\tfrac34", ("div", num(3), num(4))),
    ("x^23", ("mul", [("pow", ("sym", "x"), num(2)), num(3)])),
    ("c_{1}x", ("mul", [("sym", "c_1"), ("sym", "x")])),
    ("\\sin 2x", ("func", "sin", ("mul", [num(2), ("sym", "x")]))),
    ("\\sin^{-1} x", ("func", "arcsin", ("sym", "x"))),
    ("\\log_2 8", ("log", num(2), num(8))),
    ("\\ln x", ("log", None, ("sym", "x"))),
    ("|x-1|", ("abs", ("add", [("sym", "x"), ("neg", num(1))]))),
    ("50\\%", ("pct", num(50))),
    ("30^{\\circ}", ("deg", num(30))),
    ("\\$18.50", ("qty", num(Fraction(37, 2), 2), ("unit", (("dollars", 1),)))),
    ("5\\text{ cm}^2", ("qty", num(5), ("unit", (("cm", 2),)))),
    ("3 \\mathrm{~m} / \\mathrm{s}", ("qty", num(3), ("unit", (("m", 1), ("s", -1))))),
    ("twenty-one", num(21)),
    ("x \\leqslant 3", ("rel", ["<="], [("sym", "x"), num(3)])),
    ("[1, 2)", ("brk", "[", ")", [num(1), num(2)])),
    ("\\{1, 2\\}", ("set", [num(1), num(2)])),
    ("\\emptyset", ("set", [])),
    ("\\mathbb{R}", ("reals",)),
    ("\\{x \\mid x > 0\\}", ("setof", "x", ("rel", [">"], [("sym", "x"), num(0)]))),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", ("matrix", [[num(1), num(2)], [num(3), num(4)]])),
    ("\\pm 2", ("pm", None, num(2))),
    ("f(x) = 2", ("rel", ["="], [("call", "f", [("sym", "x")]), num(2)])),
    ("No solution", ("text", "no solution")),
    ("\\overline{1+i}", ("func", "conj", ("add", [num(1), ("const", "i")]))),
])
def test_parse(text, tree):
    assert parse(text) == tree


def test_normalize_strips_presentation_only():
    assert normalize("$\\left( \\dfrac{1}{2} \\right).$") == "(\\frac{1}{2})"
    assert normalize("$$ x \\leq 3 $$") == "x\\le 3"
    assert normalize("3.5") == "3.5"
    assert text_key("\\text{All Real Numbers.}") == "all real numbers"


@pytest.mark.parametrize("bad", ["\\frac{1}{2", "(1, 2", "x +", "\\int_0^1 x dx", "a @ b", "\\begin{cases}1\\end{cases}"])
def test_refusals_are_parse_errors(bad):
    with pytest.raises(ParseError):
        parse(bad)


def test_deep_nesting_is_a_parse_error_not_a_recursion_error():
    with pytest.raises(ParseError):
        parse("{" * 400 + "1" + "}" * 400)
    assert parse("{" * 20 + "1" + "}" * 20) == num(1)


def test_parser_checks_the_budget():
    with pytest.raises(OutOfTime):
        parse("+".join(["x"] * 500), Budget(0.0))
