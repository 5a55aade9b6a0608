"""``fractions``, ``number_theory``, ``sequence``: gold answers verify, perturbed ones do not, and an
independent computation recomputes every answer from the problem's parameters (and, where it can, from
the prompt's text): exact rational arithmetic for fractions, SymPy for the others (on a hypothesis
sample for sequences, where SymPy's interpolation takes milliseconds)."""

import json
import math
import re
from fractions import Fraction
from functools import reduce
from itertools import pairwise

import sympy

from datagen import generate
from datagen.checks import check_task, completion, difficulty_grows
from datagen.registry import list_tasks, make_problem
from verifiers import verify_math
from verifiers.rewards import judge

TASK_NAMES = ("fractions", "number_theory", "sequence")
N = sympy.Symbol("n")


def _same(gold: str, value) -> bool:
    """The gold answer equals a SymPy value (number or expression in n), as the math verifier sees it."""
    return verify_math(gold, str(value).replace("**", "^"), extract=False).correct


def _digits(row: dict) -> int:
    return len(re.findall(r"\d", row["prompt"]))


# --- fractions ---------------------------------------------------------------------------------


def _exact(expr: str) -> Fraction:
    """Evaluate + - * / ( ) over whole numbers exactly: Python supplies the precedence, Fraction the
    arithmetic (the text is generated, so eval is safe here)."""
    assert re.fullmatch(r"[\d\s+\-*/()]+", expr), expr
    return eval(re.sub(r"\d+", r"Fraction(\g<0>)", expr), {"Fraction": Fraction})


def _prompt_value(prompt: str) -> Fraction:
    """Evaluate the prompt's LaTeX: mixed numbers become sums, fractions quotients."""
    expr = re.search(r"\$(.*)\$", prompt).group(1)
    expr = re.sub(r"(\d+)\\frac\{(\d+)\}\{(\d+)\}", r"(\1+\2/\3)", expr)
    expr = re.sub(r"\\frac\{(\d+)\}\{(\d+)\}", r"(\1/\2)", expr)
    return _exact(expr.replace("\\times", "*").replace("\\div", "/"))


def _gold_value(gold: str, mixed: bool) -> Fraction | None:
    """Read a canonical gold answer exactly; None when it is not in simplest (or the asked) form."""
    if re.fullmatch(r"-?\d+", gold):
        return Fraction(gold)
    m = re.fullmatch(r"(-?)(\d*)\\frac\{(\d+)\}\{(\d+)\}", gold)
    if m is None or bool(m.group(2)) != mixed:
        return None
    whole, p, q = int(m.group(2) or 0), int(m.group(3)), int(m.group(4))
    if math.gcd(p, q) != 1 or q < 2 or (mixed and p >= q) or (mixed and whole == 0):
        return None
    return (-1 if m.group(1) else 1) * (whole + Fraction(p, q))


def _simplify_agrees(row: dict, meta: dict) -> bool:
    """The prompt's fraction is the meta's and not yet reduced; the gold is it in lowest terms."""
    num, den = meta["numerator"], meta["denominator"]
    shown = re.fullmatch(r"Write \$\\frac\{(\d+)\}\{(\d+)\}\$ as a fraction in lowest terms\.", row["prompt"])
    return (shown is not None and (int(shown[1]), int(shown[2])) == (num, den) and math.gcd(num, den) > 1
            and row["verifier"] == "simplest" and _gold_value(row["answer"], False) == Fraction(num, den))


def _fractions_agree(row: dict) -> bool:
    meta = json.loads(row["meta"])
    if meta["kind"] == "simplify":
        return _simplify_agrees(row, meta)
    text = f"({meta['terms'][0]})" + "".join(f" {op} ({t})" for op, t in zip(meta["ops"], meta["terms"][1:]))
    from_meta = _exact(text)
    value = _prompt_value(row["prompt"])
    mixed_ok = not meta["mixed_answer"] or (abs(value) > 1 and value.denominator > 1)
    return value == from_meta and mixed_ok and _gold_value(row["answer"], meta["mixed_answer"]) == value


def test_fractions_properties():
    check_task("fractions", independent=_fractions_agree)


def test_fractions_difficulty_adds_terms_and_digits():
    difficulty_grows("fractions", lambda r: r["prompt"].count("\\frac"))
    difficulty_grows("fractions", _digits)


def test_fractions_simplify_kind_grows_and_refuses_the_unreduced_fraction():
    rows = generate("fractions", 400, seed=3, kinds=["simplify"])
    assert {json.loads(m)["kind"] for m in rows["meta"]} == {"simplify"}
    for row in rows:  # echoing the question, or reducing only part of the way, is not an answer
        meta = json.loads(row["meta"])
        num, den = meta["numerator"], meta["denominator"]
        assert judge(completion(f"{num}/{den}"), row).status == "incorrect", row["id"]
        g = math.gcd(num, den)
        if g % 2 == 0 and g > 2:
            assert judge(completion(f"{num // 2}/{den // 2}"), row).status == "incorrect", row["id"]
    by_level = [generate("fractions", 100, seed=1, difficulty=d, kinds=["simplify"]) for d in (1, 10)]
    easy, hard = (sum(map(_digits, rows)) / len(rows) for rows in by_level)
    assert hard > easy + 2, (easy, hard)


def test_fractions_mix_is_a_quarter_simplify():
    kinds = [json.loads(make_problem("fractions", 0, 1 + i % 10, i).to_row()["meta"])["kind"] for i in range(2000)]
    assert 0.2 < kinds.count("simplify") / len(kinds) < 0.3


# --- number_theory -----------------------------------------------------------------------------


def _number_theory_value(meta: dict) -> int:
    kind = meta["kind"]
    if kind == "gcd":
        return reduce(sympy.gcd, meta["numbers"])
    if kind == "lcm":
        return reduce(sympy.ilcm, meta["numbers"])
    if kind == "mod_pow":
        return sympy.Integer(meta["base"]) ** meta["exponent"] % meta["modulus"]
    if kind == "nth_prime":
        return sympy.prime(meta["n"])
    if kind == "next_prime":
        return sympy.nextprime(meta["after"])
    factors = sympy.factorint(meta["n"])
    return {"largest": max(factors), "sum": sum(factors), "divisors": sympy.divisor_count(meta["n"])}[meta["ask"]]


def _number_theory_agrees(row: dict) -> bool:
    meta = json.loads(row["meta"])
    shown = [v for k, v in meta.items() if k not in ("kind", "ask")]
    numbers = [n for v in shown for n in (v if isinstance(v, list) else [v])]
    in_prompt = {int(x) for x in re.findall(r"\d+", row["prompt"])}
    value = _number_theory_value(meta)
    return set(numbers) <= in_prompt and int(row["answer"]) == value and _same(row["answer"], value)


def test_number_theory_properties():
    check_task("number_theory", independent=_number_theory_agrees)


def test_number_theory_difficulty_grows_the_numbers():
    difficulty_grows("number_theory", _digits)


def test_number_theory_asks_every_kind():
    kinds = {json.loads(make_problem("number_theory", 0, 5, i).to_row()["meta"])["kind"] for i in range(200)}
    assert kinds == {"gcd", "lcm", "mod_pow", "nth_prime", "next_prime", "prime_factors"}


# --- sequence ----------------------------------------------------------------------------------


def _brute_terms(family: str, params: dict, count: int) -> list[int]:
    """The sequence from its rule, one term at a time."""
    if family == "quadratic":
        rule = params["a"] * N**2 + params["b"] * N + params["c"]
        return [int(rule.subs(N, k)) for k in range(1, count + 1)]
    terms = [params["first"]]
    if family == "fibonacci":
        terms.append(params["second"])
    while len(terms) < count:
        if family == "arithmetic":
            terms.append(terms[-1] + params["difference"])
        elif family == "geometric":
            terms.append(terms[-1] * params["ratio"])
        else:
            terms.append(params["p"] * terms[-1] + params["q"] * terms[-2])
    return terms


def _continuations(shown: list[int], upto: int) -> set[tuple]:
    """Terms len(shown)+1 .. upto under every pattern SymPy finds the shown terms fit."""
    ks = range(len(shown) + 1, upto + 1)
    out = set()
    poly = sympy.interpolate(list(zip(range(1, len(shown) + 1), shown)), N)
    if sympy.degree(poly, N) <= 2:
        out.add(tuple(poly.subs(N, k) for k in ks))
    if all(shown) and len({sympy.Rational(b, a) for a, b in pairwise(shown)}) == 1:
        out.add(tuple(shown[0] * sympy.Rational(shown[1], shown[0]) ** (k - 1) for k in ks))
    if all(shown[i] == shown[i - 1] + shown[i - 2] for i in range(2, len(shown))):
        fibonacci = _brute_terms("fibonacci", {"first": shown[0], "second": shown[1], "p": 1, "q": 1}, upto)
        out.add(tuple(fibonacci[len(shown):]))
    return out


def _sequence_agrees(row: dict) -> bool:
    meta = json.loads(row["meta"])
    family, params, shown, n = meta["family"], meta["params"], meta["shown"], meta["n"]
    listed = re.search(r"\$(-?\d+(?:, -?\d+)+), \\ldots\$", row["prompt"]).group(1)
    if [int(x) for x in listed.split(", ")] != shown or _brute_terms(family, params, len(shown)) != shown:
        return False
    if family == "fibonacci":
        target = _brute_terms(family, params, n)[-1]
    elif family == "geometric":
        target = shown[0] * sympy.Rational(shown[1], shown[0]) ** (N - 1)
    else:
        target = sympy.interpolate(list(zip(range(1, len(shown) + 1), shown)), N)
    if not meta["named"] and len(_continuations(shown, n + 2)) != 1:  # unnamed: one pattern fits
        return False
    if meta["ask"] == "formula":
        return family != "fibonacci" and _same(row["answer"], sympy.expand(target))
    value = target if family == "fibonacci" else target.subs(N, n)
    return (meta["ask"] != "next" or n == len(shown) + 1) and int(row["answer"]) == value \
        and _same(row["answer"], value)


def test_sequence_properties():
    check_task("sequence", sample=_sequence_agrees, sample_size=40)


def test_sequence_difficulty_grows_the_numbers():
    difficulty_grows("sequence", _digits)


def test_sequence_asks_every_kind_and_question():
    metas = [json.loads(make_problem("sequence", 0, d, i).to_row()["meta"]) for d in (6, 10) for i in range(200)]
    assert {m["family"] for m in metas} == {"arithmetic", "geometric", "quadratic", "fibonacci"}
    assert {m["ask"] for m in metas} == {"next", "nth", "formula"}
    assert {m["named"] for m in metas} == {True, False}


# --- all three ---------------------------------------------------------------------------------


def test_registered_as_math():
    assert set(TASK_NAMES) <= set(list_tasks("math"))


def test_deterministic_and_seeded():
    for name in TASK_NAMES:
        for d in range(1, 11):
            assert make_problem(name, 0, d, 7).to_row() == make_problem(name, 0, d, 7).to_row()
            differ = sum(make_problem(name, 0, d, i).prompt != make_problem(name, 1, d, i).prompt for i in range(20))
            assert differ >= 15, (name, d, differ)
