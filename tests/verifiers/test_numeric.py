"""Exact where rational, high precision otherwise, refusals for values no one can compare."""

import threading
from fractions import Fraction

import pytest

from verifiers.budget import Budget
from verifiers.latex import parse
from verifiers.numeric import Evaluator, NotANumber, TooLarge, free_symbols, points


def value(text, env=None, dps=40):
    return Evaluator(Budget(1.0), dps).value(parse(text), env or {})


def test_rational_values_are_exact():
    assert value("2^{100}") == 2**100
    assert value("\\frac{1}{20!}") == Fraction(1, 2432902008176640000)
    assert value("\\sqrt{\\frac{9}{4}}") == Fraction(3, 2)
    assert value("\\sqrt[3]{-27}") == -3
    assert value("\\log_2 \\frac{1}{8}") == -3
    assert value("\\binom{10}{3}") == 120
    assert value("0.1 + 0.2") == Fraction(3, 10)


def test_irrational_values_are_precise():
    ev = Evaluator(Budget(1.0), 50)
    assert ev.equal(value("\\sqrt{8}", dps=50), value("2\\sqrt{2}", dps=50))
    assert not ev.equal(value("\\pi", dps=50), value("3.14159265358979323846264338327950288", dps=50))


@pytest.mark.parametrize("text", ["9^{9^{9^9}}", "(10^{20})!", "e^{10^{20}}", "\\sin(10^{30})"])
def test_huge_values_are_refused_quickly(text):
    with pytest.raises(TooLarge):
        value(text)


@pytest.mark.parametrize("text", ["\\frac{1}{0}", "\\log 0", "x + 1", "\\{1\\}"])
def test_values_that_do_not_exist(text):
    with pytest.raises(NotANumber):
        value(text)


def test_points_are_fixed_and_shared_by_name():
    assert points({"x", "y"}, 3) == points({"y", "x"}, 3)
    assert points({"x"}, 2)[0]["x"] == points({"x", "z"}, 2)[0]["x"]
    assert free_symbols(parse("c_1 x + f(y)")) == {"c_1", "x", "y", "f(1)"}


def test_each_thread_has_its_own_precision():
    seen = {}

    def work(dps):
        ev = Evaluator(Budget(1.0), dps)
        seen[dps] = ev.ctx.dps

    threads = [threading.Thread(target=work, args=(d,)) for d in (30, 300)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {30: 30, 300: 300}
