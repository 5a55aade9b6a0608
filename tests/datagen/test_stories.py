"""``word_problem``: gold answers verify, each template's answer is recomputed from the stated quantities."""

import json
import re
from collections import Counter
from fractions import Fraction

from datagen.checks import check_task, difficulty_grows
from datagen.registry import list_tasks, make_problem
from datagen.tasks.stories import NAMES, TEMPLATES


def _whole(value) -> int:
    value = Fraction(value)
    assert value.denominator == 1, value
    return int(value)


def _shopping(q):
    total = sum(n * price for n, price in q["items"])
    total = _whole(Fraction(total * (100 - q["discount"]), 100))
    return q["paid"] - total if q["paid"] else total


def _travel(q):
    dist = sum(_whole(Fraction(speed * minutes, 60)) for speed, minutes in q["legs"])
    if q["ask"] == "time":
        return _whole(Fraction(q["trip"], q["legs"][0][0]))
    return q["trip"] - dist if q["ask"] == "remaining" else dist


def _work_rate(q):
    first_alone = q["rates"][0] * q["head"]
    return q["head"] + _whole(Fraction(q["total"] - first_alone, sum(q["rates"]) - q["drain"]))


def _ages(q):
    if q["kind"] == "older":
        return q["young"] + q["diff"] + q["later"]
    if q["kind"] == "ago":
        return q["times"] * (q["young"] - q["ago"]) + q["ago"] + q["later"]
    young = _whole(Fraction(q["total"] - 2 * q["later"], q["times"] + 1))
    old = q["times"] * young
    return old if q["kind"] == "times_sum" else young + old + (old - q["gap"])


def _sharing(q):
    if q["packs"]:
        _whole(Fraction(q["total"], q["packs"]))
    rest = q["total"] - (_whole(Fraction(q["total"], q["part"])) if q["part"] else 0)
    return _whole(Fraction(rest - q["keep"] - q["give"], q["friends"]))


def _recipe(q):
    need = [_whole(Fraction(a * q["wanted"], q["serves"])) for a in q["amounts"]]
    return need[0] - q["have"] if q["have"] else sum(need)


def _savings(q):
    if q["kind"] == "weekly":
        return q["start"] + q["weekly"] * q["weeks"] - q["spent"]
    if q["kind"] == "goal":
        return _whole(Fraction(q["price"] - q["start"], q["weekly"]))
    rate = Fraction(q["rate"], 100)
    if q["kind"] == "simple":
        return _whole(q["principal"] * (1 + rate * q["years"]))
    money = Fraction(q["principal"])
    for _ in range(q["years"]):
        money = Fraction(_whole(money * (1 + rate)))  # whole dollars every year
    return _whole(money)


def _inventory(q):
    stock, last_sale = 0, 0
    for kind, *args in q["events"]:
        if kind == "boxes":
            stock = args[0] * args[1]
        elif kind == "start":
            stock = args[0]
        elif kind == "sell":
            stock, last_sale = stock - args[0], args[0]
        elif kind == "times":
            stock -= args[0] * last_sale
        elif kind == "deliver":
            stock += args[0] * args[1]
        else:
            stock -= _whole(Fraction(stock, args[0]))
        assert stock >= 0
    return stock


def _schedule(q):
    return q["end"] - q["start"] - sum(q["spans"]) if q["end"] else sum(q["spans"])


def _garden(q):
    fence = (2 * (q["length"] + q["width"]) - q["gate"]) * (q["fence_price"] or 1)
    lawn = (q["length"] * q["width"] - q["patio"] ** 2) * (q["lawn_price"] or 1)
    return {"fence": fence, "lawn": lawn, "both": fence + lawn}[q["ask"]]


def _tickets(q):
    if q["kind"] == "solve":
        extra = q["income"] - q["child_price"] * q["sold"]  # what adults paid beyond a child's price
        return _whole(Fraction(extra, q["adult_price"] - q["child_price"]))
    income = q["adults"] * q["adult_price"] + q["children"] * q["child_price"]
    return income - q["rent"] if q["kind"] == "profit" else income


def _conversion(q):
    if q["kind"] == "simple":
        return q["each"] * q["factor"]
    if q["kind"] == "reverse":
        return _whole(Fraction(q["made"] * q["size"], q["each"] * q["factor"]))
    return _whole(Fraction(q["count"] * q["each"] * q["factor"], q["size"])) - q["used"]


def _wages(q):
    pay = q["hours"] * q["days"] * q["wage"]
    if q["overtime"]:  # time and a half
        pay += _whole(Fraction(3 * q["wage"], 2)) * q["overtime"]
    return (pay - q["spend"]) * q["weeks"] if q["spend"] else pay


def _survey(q):
    first = _whole(Fraction(q["size"] * q["percent"], 100))
    if q["kind"] == "part":
        return first
    rest = q["size"] - first
    return rest if q["kind"] == "rest" else rest - _whole(Fraction(rest, q["part"]))


RECOMPUTE = {"shopping": _shopping, "travel": _travel, "work_rate": _work_rate, "ages": _ages,
             "sharing": _sharing, "recipe": _recipe, "savings": _savings, "inventory": _inventory,
             "schedule": _schedule, "garden": _garden, "tickets": _tickets, "conversion": _conversion,
             "wages": _wages, "survey": _survey}


def _recompute(row: dict) -> bool:
    meta = json.loads(row["meta"])
    answer = RECOMPUTE[meta["template"]](meta["quantities"])
    return answer > 0 and str(answer) == row["answer"]


def _rows(n: int, seed: int = 0) -> list[dict]:
    list_tasks()
    return [make_problem("word_problem", seed, 1 + i % 10, i).to_row() for i in range(n)]


def test_properties():
    check_task("word_problem", independent=_recompute)


def test_every_template_is_used_and_recomputed():
    assert len(TEMPLATES) >= 12 and set(RECOMPUTE) == set(TEMPLATES)
    used = Counter(json.loads(row["meta"])["template"] for row in _rows(1400, seed=1))
    assert set(used) == set(TEMPLATES) and min(used.values()) >= 50, used


def test_wording_varies():
    rows = _rows(500)
    names = re.compile(r"\b(" + "|".join(NAMES) + r")\b")

    def skeleton(sentence: str) -> str:  # the wording alone: names and numbers masked
        return names.sub("NAME", re.sub(r"\d+", "#", sentence))

    sentences = [re.split(r"(?<=[.?!])\s", row["prompt"]) for row in rows]
    assert len({skeleton(s[0]) for s in sentences}) >= 50
    assert len({skeleton(s[-1]) for s in sentences}) >= 50  # the questions too
    assert len({row["prompt"].split()[0] for row in rows}) >= 30


def test_solutions_show_their_arithmetic():
    for row in _rows(300):
        lines = row["solution"].splitlines()
        assert lines[-1] == f"The answer is {row['answer']}."
        shown = re.compile(r"\d+ [-+*/] \d+|\(\d+ \+ \d+\)")
        assert all(shown.search(line) or " is " in line for line in lines[:-1]), lines


def test_difficulty_adds_steps_and_distractors():
    difficulty_grows("word_problem", lambda r: len(r["solution"].splitlines()))
    difficulty_grows("word_problem", lambda r: json.loads(r["meta"])["distractors"])
    difficulty_grows("word_problem", lambda r: max(int(n) for n in re.findall(r"\d+", r["prompt"])))
