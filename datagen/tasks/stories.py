"""``word_problem``: GSM8K-style multi-step stories with whole-number answers.

Fourteen templates (``TEMPLATES``): shopping, travel, work rates, ages, sharing, recipes, savings,
inventory, schedules, gardens, tickets, unit conversion, wages and surveys. Each is built forward
from numbers chosen so that every step divides exactly, with several phrasings per sentence and
random names, items and units. Difficulty adds steps (more items, a discount, interest, more legs,
a head start...), larger numbers, and from 3 on irrelevant sentences with numbers in them.
``meta`` holds the template and the quantities the story states, so the answer can be recomputed.

Generators run in hot loops, so draws are inlined: ``lo + int(r() * k)`` is uniform on
``lo .. lo+k-1`` (``r`` is ``rng.random``), several times cheaper than ``randint``; sentences with
several phrasings are ``%`` templates that take their arguments in the same order.

>>> import random
>>> item = word_problem(random.Random(0), 6)
>>> item.solution.endswith(f"The answer is {item.answer}.")
True
>>> item.meta["template"] in TEMPLATES
True
"""

from __future__ import annotations

import random
from math import gcd

from datagen.registry import Item, task

__all__ = ["TEMPLATES", "word_problem"]

_HER = ("Ava", "Maya", "Lena", "Sofia", "Priya", "Amara", "Chloe", "Hana", "Isabel", "Zoe", "Fatima",
        "Mei", "Nora", "Rosa", "Tara", "Yuki", "Elena", "Grace", "Leila", "Olivia", "Aisha", "Ines")
_HIS = ("Liam", "Omar", "Diego", "Kenji", "Noah", "Ravi", "Mateo", "Samuel", "Tariq", "Ethan", "Jamal",
        "Lucas", "Arjun", "Felix", "Hugo", "Ivan", "Kwame", "Marco", "Owen", "Theo", "Pablo", "Yusuf")
NAMES = _HER + _HIS
# (name, subject, possessive, capitalised subject)
_PEOPLE = tuple((n, "she", "her", "She") for n in _HER) + tuple((n, "he", "his", "He") for n in _HIS)


def _pick(r, seq):
    return seq[int(r() * len(seq))]


def _distinct(r, seq, k: int) -> list:
    """``k`` different elements of ``seq`` (k is small next to len(seq))."""
    out: list = []
    while len(out) < k:
        x = seq[int(r() * len(seq))]
        if x not in out:
            out.append(x)
    return out


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _plus(values) -> str:
    return " + ".join(map(str, values))


def _hours(n: int) -> str:
    return "1 hour" if n == 1 else f"{n} hours"


_FRACTION = {2: "half", 3: "a third", 4: "a quarter", 5: "a fifth"}

# Each template: (r, difficulty, person) -> (context sentences, question, steps, answer, quantities).

_STORES = ("grocery store", "bookstore", "stationery shop", "farmers' market", "toy store", "bakery",
           "hardware store", "sports shop")
_GOODS = ("notebooks", "pens", "apples", "mangoes", "comic books", "candles", "tennis balls", "muffins",
          "boxes of crayons", "jars of honey", "potted plants", "T-shirts", "puzzles", "loaves of bread")
_BILLS = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
_SHOP_OPEN = ("%s goes to the %s.", "%s is shopping at the %s.", "%s stops by the %s on the way home.",
              "On Saturday %s visits the %s.", "After school, %s heads to the %s.")
_SHOP_ITEM = ("%d %s at $%d each", "%d %s for $%d each", "%d %s costing $%d apiece",
              "%d %s priced at $%d each")
_SHOP_VERB = ("buys", "gets", "picks up", "orders", "chooses")
_SHOP_SALE = ("Everything in the store is %d%% off today.", "A coupon takes %d%% off the whole bill.",
              "At the register there is a %d%% discount on the total.")
_SHOP_PAY = ("%s pays with $%d.", "%s hands the cashier $%d.", "%s gives the cashier $%d.")
_SHOP_CHANGE = ("How much change does %s get, in dollars?", "How many dollars of change does %s receive?",
                "How much money, in dollars, does %s get back?")
_SHOP_TOTAL = ("How much does %s spend in total, in dollars?", "How many dollars does %s pay altogether?",
               "What does %s pay in all, in dollars?")


def _shopping(r, d, who):
    name, he, _, He = who
    disc = (10, 20, 25, 50)[int(r() * 4)] if d >= 4 and r() < 0.7 else 0
    unit = 100 // gcd(disc, 100) if disc else 1  # prices in multiples of unit make the discount whole
    lo, hi = (2, 4 + 4 * d) if unit == 1 else (1, max(2, (4 + 4 * d) // unit))
    phrase = _pick(r, _SHOP_ITEM)
    items, said, costs, steps = [], [], [], []
    for goods in _distinct(r, _GOODS, min(4, 1 + d // 3)):
        q, p = 2 + int(r() * (d + 1)), unit * (lo + int(r() * (hi - lo + 1)))
        items.append([q, p])
        said.append(phrase % (q, goods, p))
        costs.append(q * p)
        steps.append(f"{q} {goods} cost {q} * {p} = ${q * p}.")
    context = [_pick(r, _SHOP_OPEN) % (name, _pick(r, _STORES)),
               f"{He} {_pick(r, _SHOP_VERB)} {_join(said)}."]
    total = sum(costs)
    if len(costs) > 1:
        steps.append(f"Altogether that is {_plus(costs)} = ${total}.")
    if disc:
        context.append(_pick(r, _SHOP_SALE) % disc)
        off = total * disc // 100
        steps.append(f"The discount is {total} * {disc} / 100 = ${off}, so {he} pays {total} - {off} = "
                     f"${total - off}.")
        total -= off
    if d >= 2 and r() < 0.6:
        paid = next(b for b in _BILLS if b > total)
        context.append(_pick(r, _SHOP_PAY) % (He, paid))
        steps.append(f"The change is {paid} - {total} = ${paid - total}.")
        return context, _pick(r, _SHOP_CHANGE) % he, steps, paid - total, {"items": items, "discount": disc,
                                                                              "paid": paid}
    return context, _pick(r, _SHOP_TOTAL) % he, steps, total, {"items": items, "discount": disc, "paid": 0}

_VEHICLES = (("drives", 30, 90), ("cycles", 8, 24), ("rides the train", 60, 150), ("rides a scooter", 10, 30),
             ("sails", 10, 30), ("rides the bus", 30, 70))
_LEG_FIRST = ("%s %s at %d %s for %s.", "%s %s at a steady %d %s for %s.",
              "Setting off, %s %s at %d %s for %s.")
_LEG_NEXT = ("Then %s goes at %d %s for %s.", "After that, %s keeps up %d %s for %s.",
             "Next %s travels at %d %s for %s.")
_TRIP = ("%s is on a trip of %d %s.", "%s has a journey of %d %s ahead.", "%s must travel %d %s in all.")
_TRIP_SPEED = ("%s goes at a steady %d %s.", "%s keeps to %d %s the whole way.")
_TRIP_TIME = ("How many hours does %s travel?", "How many hours does %s spend on the road?")
_TRIP_LEFT = ("How many %s does %s still have to go?", "How many more %s must %s travel?")
_TRIP_ALL = ("How many %s does %s travel in total?", "How far, in %s, does %s go altogether?")


def _travel(r, d, who):
    name, he, _, He = who
    verb, lo, hi = _pick(r, _VEHICLES)
    unit, speed_unit = ("km", "km/h") if r() < 0.5 else ("miles", "miles per hour")
    legs = []
    for _ in range(min(3, 1 + d // 4)):
        if d >= 5 and r() < 0.5:
            minutes = (15, 20, 30, 40, 45, 90, 150)[int(r() * 7)]
            step = 60 // gcd(minutes, 60)  # speed * minutes / 60 is whole
            speed = step * (max(1, lo // step) + int(r() * (hi // step - max(1, lo // step) + 1)))
        else:
            minutes = 60 * (1 + int(r() * (2 + d // 3)))
            speed = lo + int(r() * (hi - lo + 1))
        legs.append([speed, minutes])
    if len(legs) == 1 and d <= 3 and r() < 0.5:
        speed, minutes = legs[0]
        trip = speed * minutes // 60
        context = [_pick(r, _TRIP) % (name, trip, unit), _pick(r, _TRIP_SPEED) % (He, speed, speed_unit)]
        steps = [f"Time = distance / speed = {trip} / {speed} = {_hours(minutes // 60)}."]
        return context, _pick(r, _TRIP_TIME) % he, steps, minutes // 60, {"legs": legs, "trip": trip,
                                                                          "ask": "time"}
    context, steps, dists = [], [], []
    for i, (speed, minutes) in enumerate(legs):
        span = _hours(minutes // 60) if minutes % 60 == 0 else f"{minutes} minutes"
        if i == 0:
            context.append(_pick(r, _LEG_FIRST) % (name, verb, speed, speed_unit, span))
        else:
            context.append(_pick(r, _LEG_NEXT) % (he, speed, speed_unit, span))
        dist = speed * minutes // 60
        if minutes % 60 == 0:
            steps.append(f"Part {i + 1}: {speed} * {minutes // 60} = {dist} {unit}.")
        else:
            steps.append(f"Part {i + 1}: {minutes} minutes is {minutes}/60 of an hour, so "
                         f"{speed} * {minutes} / 60 = {dist} {unit}.")
        dists.append(dist)
    total = sum(dists)
    if len(dists) > 1:
        steps.append(f"In all: {_plus(dists)} = {total} {unit}.")
    if d >= 6 and r() < 0.6:
        trip = total + 5 + int(r() * 20 * d)
        context.insert(0, _pick(r, _TRIP) % (name, trip, unit))
        steps.append(f"Still to go: {trip} - {total} = {trip - total} {unit}.")
        return context, _pick(r, _TRIP_LEFT) % (unit, he), steps, trip - total, {"legs": legs, "trip": trip,
                                                                                 "ask": "remaining"}
    quantities = {"legs": legs, "trip": 0, "ask": "distance"}
    return context, _pick(r, _TRIP_ALL) % (unit, he), steps, total, quantities


# (worker, verb, what, per, the job)
_CREWS = (("Machine", "makes", "toys", "hour", "An order of %d toys has to be made."),
          ("Printer", "prints", "pages", "minute", "A report of %d pages has to be printed."),
          ("Pipe", "pours in", "liters", "minute", "A tank holds %d liters and starts empty."),
          ("Oven", "bakes", "cookies", "hour", "A bakery needs %d cookies for a party."),
          ("Crew", "paints", "square meters", "hour", "A wall of %d square meters needs painting."))
_CREW_ASK = ("How many %ss does the whole job take?", "How many %ss until the job is done?",
             "How long does it take to finish, in %ss?")


def _work_rate(r, d, who):
    label, verb, thing, per, job = _pick(r, _CREWS)
    crew = 1 if d <= 2 else 2 if d <= 6 else 3
    rates = [2 + int(r() * (4 + 3 * d)) for _ in range(crew)]
    speed = sum(rates)
    drain = 1 + int(r() * (speed // 2)) if thing == "liters" and d >= 7 and r() < 0.6 else 0
    head = 1 + int(r() * (2 + d // 3)) if crew > 1 and d >= 5 and r() < 0.5 else 0
    net = speed - drain
    together = 2 + int(r() * (2 + d))
    total = rates[0] * head + net * together
    said = [f"{label} A {verb} {rates[0]} {thing} per {per}"] + [f"{label} {c} {verb} {n}" for c, n in
                                                                 zip("BC", rates[1:])]
    context = [job % total, _join(said) + "."]
    if drain:
        context.append(f"A leak lets out {drain} liters per {per}.")
    if head:
        context.append(f"{label} A starts alone and works {head} {per}s before the others join in.")
    steps = []
    if crew > 1:
        steps.append(f"Together they manage {_plus(rates)} = {speed} {thing} per {per}.")
    if drain:
        steps.append(f"The leak takes away {drain}, so {speed} - {drain} = {net} {thing} per {per}.")
    left = total
    if head:
        left = total - rates[0] * head
        steps.append(f"Alone first: {rates[0]} * {head} = {rates[0] * head} {thing}, leaving {total} - "
                     f"{rates[0] * head} = {left}.")
    steps.append(f"Time for the rest: {left} / {net} = {together} {per}s.")
    if head:
        steps.append(f"Total time: {head} + {together} = {head + together} {per}s.")
    return context, _pick(r, _CREW_ASK) % per, steps, head + together, {"rates": rates, "drain": drain,
                                                                          "head": head, "total": total}


_AGE_NOW = ("%s is %d years old.", "%s just turned %d.", "%s is %d.")
_AGE_OLDER = ("%s is %d years older than %s.", "%s was born %d years before %s.")
_AGE_AGO = ("%d years ago, %s was %d times as old as %s.", "%d years ago, %s's age was %d times that of %s.")
_AGE_TIMES = ("%s is %d times as old as %s.", "%s's age is %d times the age of %s.")
_AGE_SUM = ("In %d years, their ages will add up to %d.", "In %d years, the sum of their ages will be %d.")
_AGE_YOUNGER = ("%s is %d years younger than %s.", "%s was born %d years after %s.")


def _ages(r, d, who):
    a, b, c = _distinct(r, NAMES, 3)
    if d <= 3:
        young, diff = 3 + int(r() * (8 + 3 * d)), 2 + int(r() * (9 + 2 * d))
        later = 2 + int(r() * (4 + 2 * d)) if d >= 2 else 0
        context = [_pick(r, _AGE_NOW) % (b, young), _pick(r, _AGE_OLDER) % (a, diff, b)]
        steps = [f"{a} is {young} + {diff} = {young + diff} years old."]
        quantities = {"kind": "older", "young": young, "diff": diff, "later": later}
        if not later:
            return context, f"How old is {a}?", steps, young + diff, quantities
        steps.append(f"In {later} years: {young + diff} + {later} = {young + diff + later}.")
        return context, f"How old will {a} be in {later} years?", steps, young + diff + later, quantities
    k, young = 2 + int(r() * (2 + d // 3)), 3 + int(r() * (2 + 2 * d))
    if d <= 6 and r() < 0.5:
        ago = 1 + int(r() * (young - 1))
        later = 2 + int(r() * 9) if d >= 6 else 0
        then = young - ago
        context = [_pick(r, _AGE_NOW) % (b, young), _pick(r, _AGE_AGO) % (ago, a, k, b)]
        now = k * then + ago
        steps = [f"{ago} years ago {b} was {young} - {ago} = {then}.",
                 f"Then {a} was {k} * {then} = {k * then}.",
                 f"Now {a} is {k * then} + {ago} = {now}."]
        quantities = {"kind": "ago", "young": young, "times": k, "ago": ago, "later": later}
        if not later:
            return context, f"How old is {a} now?", steps, now, quantities
        steps.append(f"In {later} years: {now} + {later} = {now + later}.")
        return context, f"How old will {a} be in {later} years?", steps, now + later, quantities
    later = 2 + int(r() * (4 + d))
    total = (k + 1) * young + 2 * later
    old = k * young
    context = [_pick(r, _AGE_TIMES) % (a, k, b), _pick(r, _AGE_SUM) % (later, total)]
    steps = [f"In {later} years each is {later} years older, so now their ages add up to "
             f"{total} - 2 * {later} = {total - 2 * later}.",
             f"That sum is {k} + 1 = {k + 1} times {b}'s age, so {b} is {total - 2 * later} / {k + 1} = "
             f"{young}.",
             f"{a} is {k} * {young} = {old}."]
    if d <= 6:
        return context, f"How old is {a} now?", steps, old, {"kind": "times_sum", "times": k, "later": later,
                                                              "total": total}
    gap = 1 + int(r() * (old - 1))
    context.append(_pick(r, _AGE_YOUNGER) % (c, gap, a))
    steps.append(f"{c} is {old} - {gap} = {old - gap}.")
    answer = young + old + old - gap
    steps.append(f"All three: {young} + {old} + {old - gap} = {answer}.")
    return context, f"What is the sum of the ages of {a}, {b} and {c} now?", steps, answer, {
        "kind": "three", "times": k, "later": later, "total": total, "gap": gap}


_THINGS = ("stickers", "marbles", "candies", "cookies", "pencils", "trading cards", "beads", "balloons")
_PACKS = ("packs", "bags", "boxes", "jars")
_KIN = ("sister", "brother", "cousin", "neighbor")
_HAVE = ("%s has %d %s.", "%s collected %d %s.", "%s won %d %s at the fair.")
_SPLIT = ("%s shares %s equally among %d friends.", "%s splits %s evenly between %d friends.",
          "%s divides %s equally among %d friends.")
_SHARE_ASK = ("How many %s does each friend get?", "How many %s does each friend receive?",
              "How many %s end up with each friend?")


def _sharing(r, d, who):
    name, _, his, He = who
    thing = _pick(r, _THINGS)
    each, friends = 2 + int(r() * (2 + 2 * d)), 2 + int(r() * (1 + d // 2))
    keep = 1 + int(r() * (5 + d)) if d >= 3 else 0
    give = 2 + int(r() * (4 + d)) if d >= 5 else 0
    left = friends * each + keep + give
    part = 0
    if d >= 6 and r() < 0.7:
        part = 2 + int(r() * 3)
        fix = -left % (part - 1)  # keeping a few more makes the amount before the gift divide exactly
        keep += fix
        left += fix
    total = left * part // (part - 1) if part else left
    packs = 0
    if d >= 2:  # say it as packs when the total splits into some
        packs = next((q for q in (12, 10, 8, 6, 5, 4, 3) if total % q == 0 and total // q >= 2), 0)
    if packs:
        context = [f"{name} buys {total // packs} {_pick(r, _PACKS)} of {thing} with {packs} in each."]
        steps = [f"{name} has {total // packs} * {packs} = {total} {thing}."]
    else:
        context, steps = [_pick(r, _HAVE) % (name, total, thing)], []
    rest = total
    if part:
        context.append(f"{He} gives {_FRACTION[part]} of them to {his} {_pick(r, _KIN)}.")
        steps.append(f"{He} gives away {total} / {part} = {total // part}, leaving "
                     f"{total} - {total // part} = {left}.")
        rest = left
    if keep:
        context.append(f"{He} keeps {keep} for later.")
    if give:
        context.append(f"{He} gives {give} to {his} teacher.")
    if keep or give:
        shared = rest - keep - give
        steps.append(f"Left to share: {' - '.join(str(v) for v in (rest, keep, give) if v)} = {shared}.")
    context.append(_pick(r, _SPLIT) % (He, "the rest" if rest != friends * each else "them", friends))
    steps.append(f"Each friend gets {friends * each} / {friends} = {each}.")
    quantities = {"total": total, "packs": packs, "part": part, "keep": keep, "give": give,
                  "friends": friends}
    return context, _pick(r, _SHARE_ASK) % thing, steps, each, quantities


_PANTRY = (("grams", ("flour", "sugar", "butter", "oats", "rice", "cocoa powder", "chocolate chips")),
           ("milliliters", ("milk", "water", "cream", "orange juice", "broth", "yogurt")))
_DISHES = ("pancakes", "a cake", "soup", "cookies", "a smoothie", "bread", "muffins")
_RECIPE = ("A recipe for %s that serves %d uses %s.", "A recipe makes %s for %d people with %s.",
           "To make %s for %d, you need %s.")
_GUESTS = ("%s wants to make enough for %d people.", "%s is cooking for %d people.",
           "%s has %d guests coming.")


def _recipe(r, d, who):
    name, he, _, _ = who
    unit, pantry = _pick(r, _PANTRY)
    foods = _distinct(r, pantry, 1 + (d >= 3) + (d >= 7))
    serves = 2 + int(r() * 5)
    wanted = 2 + int(r() * (5 + 2 * d))
    wanted += wanted >= serves  # never the recipe's own count
    amounts, said, need, steps = [], [], [], []
    for food in foods:
        per = 5 * (1 + int(r() * (4 + 2 * d)))
        amounts.append(per * serves)
        said.append(f"{per * serves} {unit} of {food}")
        need.append(per * wanted)
        steps.append(f"Per person: {per * serves} / {serves} = {per} {unit} of {food}; for {wanted} people: "
                     f"{per} * {wanted} = {per * wanted} {unit}.")
    context = [_pick(r, _RECIPE) % (_pick(r, _DISHES), serves, _join(said)),
               _pick(r, _GUESTS) % (name, wanted)]
    quantities = {"serves": serves, "wanted": wanted, "amounts": amounts, "have": 0}
    if d >= 5 and r() < 0.5:
        have = 1 + int(r() * (need[0] - 1))
        quantities["have"] = have
        context.append(f"There are already {have} {unit} of {foods[0]} in the kitchen.")
        steps.append(f"Still needed: {need[0]} - {have} = {need[0] - have} {unit}.")
        question = f"How many more {unit} of {foods[0]} does {he} need?"
        return context, question, steps, need[0] - have, quantities
    if len(foods) == 1:
        return context, f"How many {unit} of {foods[0]} does {he} need?", steps, need[0], quantities
    steps.append(f"In total: {_plus(need)} = {sum(need)} {unit}.")
    question = f"How many {unit} of {_join(foods)} does {he} need in total?"
    return context, question, steps, sum(need), quantities

_EARN = ("%s saves $%d every week.", "%s gets $%d of pocket money each week.",
         "%s earns $%d a week walking dogs.")
_START = ("%s has $%d in a piggy bank.", "%s has already saved $%d.")
_WANTS = ("bike", "guitar", "tablet", "pair of skates", "telescope")
_DEPOSIT = ("%s puts $%d in a savings account.", "%s deposits $%d at the bank.",
            "%s opens a savings account with $%d.")


def _savings(r, d, who):
    name, he, _, He = who
    kinds = (("weekly",), ("weekly", "goal"), ("weekly", "goal", "simple"), ("goal", "simple", "compound"))
    kind = _pick(r, kinds[0 if d <= 2 else 1 if d <= 4 else 2 if d <= 7 else 3])
    if kind in ("weekly", "goal"):
        start = 5 + int(r() * (20 * d - 4)) if d >= 2 else 0
        weekly, weeks = 3 + int(r() * (3 + 5 * d)), 2 + int(r() * (3 + 2 * d))
        context = [_pick(r, _EARN) % (He if start else name, weekly)]
        if start:
            context.insert(0, _pick(r, _START) % (name, start))
        saved = start + weekly * weeks
        if kind == "goal":
            item = _pick(r, _WANTS)
            context.append(f"{He} wants to buy a {item} that costs ${saved}.")
            steps = [f"{He} still needs {saved} - {start} = ${saved - start}."] if start else []
            steps.append(f"Weeks: {saved - start} / {weekly} = {weeks}.")
            return context, f"After how many weeks can {he} buy the {item}?", steps, weeks, {
                "kind": kind, "start": start, "weekly": weekly, "price": saved}
        steps = [f"In {weeks} weeks {he} saves {weekly} * {weeks} = ${weekly * weeks}."]
        if start:
            steps.append(f"With what {he} had: {start} + {weekly * weeks} = ${saved}.")
        spent = 1 + int(r() * (saved - 1)) if d >= 3 else 0
        if spent:
            context.append(f"Then {he} spends ${spent} on a {_pick(r, ('game', 'book', 'gift', 'jacket'))}.")
            steps.append(f"After spending: {saved} - {spent} = ${saved - spent}.")
        return context, f"How many dollars does {he} have after {weeks} weeks?", steps, saved - spent, {
            "kind": kind, "start": start, "weekly": weekly, "weeks": weeks, "spent": spent}
    rates = (2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25) if kind == "simple" else (5, 10, 20, 25)
    rate = rates[int(r() * len(rates))]
    years = 2 + int(r() * (2 + d // 3)) if kind == "simple" else 2 + (d == 10)
    if kind == "simple":  # deposits in multiples of unit earn whole dollars every year
        unit = 100 // gcd(rate, 100)
    else:
        unit = 100**years // gcd((100 + rate) ** years, 100**years)
    lo = max(1, 100 // unit)
    principal = unit * (lo + int(r() * (max(2, 2000 * d // unit) - lo + 1)))
    context = [_pick(r, _DEPOSIT) % (name, principal),
               f"The account pays {rate}% interest per year"
               + (", compounded yearly." if kind == "compound" else " (simple interest).")]
    question = f"How many dollars are in the account after {years} years?"
    quantities = {"kind": kind, "principal": principal, "rate": rate, "years": years}
    if kind == "simple":
        interest = principal * rate // 100
        steps = [f"Interest each year: {principal} * {rate} / 100 = ${interest}.",
                 f"Over {years} years: {interest} * {years} = ${interest * years}.",
                 f"Total: {principal} + {interest * years} = ${principal + interest * years}."]
        return context, question, steps, principal + interest * years, quantities
    steps, money = [], principal
    for year in range(1, years + 1):
        interest = money * rate // 100
        steps.append(f"Year {year}: interest {money} * {rate} / 100 = ${interest}, so {money} + {interest} = "
                     f"${money + interest}.")
        money += interest
    return context, question, steps, money, quantities


_STOCK = ("books", "cans of soup", "phone cases", "toy cars", "bottles of water", "notebooks")
_SHOPS = ("A store", "A warehouse", "A school supply shop", "A corner shop", "An online shop")
_STOCK_ASK = ("How many %s are left?", "How many %s does it have now?",
              "How many %s are in stock at the end?")


def _inventory(r, d, who):
    thing, shop = _pick(r, _STOCK), _pick(r, _SHOPS)
    if d >= 2:
        boxes, per = 3 + int(r() * (3 + 2 * d)), 6 + int(r() * (5 + 3 * d))
        stock = boxes * per
        context = [f"{shop} gets {boxes} boxes of {thing} with {per} in each box."]
        steps = [f"It starts with {boxes} * {per} = {stock} {thing}."]
        events = [["boxes", boxes, per]]
    else:
        stock = 20 + int(r() * 61)
        context, steps, events = [f"{shop} has {stock} {thing}."], [], [["start", stock]]
    mult = 2 + int(r() * 2) if d >= 3 else 0
    sold = 1 + int(r() * max(1, stock // (2 * (1 + mult))))
    context.append(f"It sells {sold} on Monday." if r() < 0.5 else
                   f"On Monday, {sold} {'is' if sold == 1 else 'are'} sold.")
    steps.append(f"After Monday: {stock} - {sold} = {stock - sold}.")
    stock -= sold
    events.append(["sell", sold])
    if mult:
        context.append(f"On Tuesday it sells {'twice' if mult == 2 else 'three times'} as many as on Monday.")
        steps.append(f"Tuesday's sales: {mult} * {sold} = {mult * sold}, leaving {stock} - {mult * sold} = "
                     f"{stock - mult * sold}.")
        stock -= mult * sold
        events.append(["times", mult])
    if d >= 5:
        crates, per = 2 + int(r() * (3 + d // 2)), 5 + int(r() * (1 + 2 * d))
        context.append(f"On Wednesday a delivery of {crates} crates with {per} {thing} each arrives.")
        steps.append(f"The delivery adds {crates} * {per} = {crates * per}, making "
                     f"{stock} + {crates * per} = {stock + crates * per}.")
        stock += crates * per
        events.append(["deliver", crates, per])
    if d >= 7:
        part = 2 + int(r() * 3)
        broken = stock % part  # throwing these away makes the fraction below whole
        if broken:
            context.append(f"{broken} of them {'is' if broken == 1 else 'are'} damaged and thrown away.")
            steps.append(f"Without the damaged ones: {stock} - {broken} = {stock - broken}.")
            stock -= broken
            events.append(["sell", broken])
        context.append(f"On Thursday it sells {_FRACTION[part]} of what is left.")
        steps.append(f"Thursday: {stock} / {part} = {stock // part} sold, leaving "
                     f"{stock} - {stock // part} = {stock - stock // part}.")
        stock -= stock // part
        events.append(["fraction", part])
    return context, _pick(r, _STOCK_ASK) % thing, steps, stock, {"events": events}


_CHORES = ("doing homework", "practicing piano", "cleaning the kitchen", "reading", "walking the dog",
           "doing laundry", "gardening", "writing emails", "painting", "baking bread")
_BEGIN = ("%s starts on a list of jobs at %s.", "%s gets to work at %s.", "%s begins the day's tasks at %s.")
_PLAN = ("%s spends %s.", "%s plans %s, one after another.")
_LEAVE = ("%s has to leave at %s.", "%s's bus leaves at %s.", "%s is meeting a friend at %s.")
_SPARE = ("How many minutes of free time does %s have before %s?",
          "How many spare minutes does %s have before %s?")
_BUSY = ("How many minutes of work is that in total?",
         "How many minutes are spent on these tasks altogether?")


def _clock(minutes: int) -> str:
    h, m = divmod(minutes, 60)
    return f"{(h - 1) % 12 + 1}:{m:02d} {'AM' if h < 12 else 'PM'}"


def _schedule(r, d, who):
    name, he, _, He = who
    spans, said, steps = [], [], []
    for chore in _distinct(r, _CHORES, min(5, 2 + d // 3)):
        minutes = 5 * (2 + int(r() * (5 + 2 * d)))
        spans.append(minutes)
        if minutes >= 60 and d >= 3:  # said in hours and minutes
            h, m = divmod(minutes, 60)
            text = _hours(h) + (f" and {m} minutes" if m else "")
            steps.append(f"{text} is {minutes} minutes.")
        else:
            text = f"{minutes} minutes"
        said.append(f"{text} {chore}")
    busy = sum(spans)
    spare = 5 * (1 + int(r() * (4 + 2 * d))) if d >= 4 else 0
    start = 5 * (72 + int(r() * ((23 * 60 - busy - spare) // 5 - 71)))  # from 6:00 AM, done before 11 PM
    begin = _clock(start)
    context = [_pick(r, _BEGIN) % (name, begin), _pick(r, _PLAN) % (He, _join(said))]
    steps.append(f"Busy time: {_plus(spans)} = {busy} minutes.")
    if not spare:
        return context, _pick(r, _BUSY), steps, busy, {"start": start, "spans": spans, "end": 0}
    end = start + busy + spare
    leave = _clock(end)
    context.append(_pick(r, _LEAVE) % (name, leave))
    steps.append(f"From {begin} to {leave} is {end - start} minutes.")
    steps.append(f"Free time: {end - start} - {busy} = {spare} minutes.")
    return context, _pick(r, _SPARE) % (he, leave), steps, spare, {"start": start, "spans": spans, "end": end}

_PLOT = ("%s's garden is a rectangle %d %s long and %d %s wide.",
         "%s has a vegetable plot %d %s long and %d %s wide.",
         "Behind %s's house is a rectangular yard, %d %s by %d %s.")


def _garden(r, d, who):
    name = who[0]
    unit, one = ("meters", "meter") if r() < 0.5 else ("feet", "foot")
    width = 3 + int(r() * (3 + 2 * d))
    length = width + 1 + int(r() * (5 + 2 * d))
    ask = ("fence", "lawn", "both")[int(r() * (3 if d >= 8 else 2))]
    fence_price = 2 + int(r() * (4 + d)) if d >= 3 or ask == "both" else 0
    gate = 1 + int(r() * 3) if d >= 5 and r() < 0.5 else 0
    patio = 1 + int(r() * (width - 1)) if d >= 4 and r() < 0.6 else 0
    lawn_price = 2 + int(r() * (2 + d // 2)) if d >= 6 or ask == "both" else 0
    context = [_pick(r, _PLOT) % (name, length, unit, width, unit)]
    steps, answer = [], 0
    if ask != "lawn":
        context.append("A fence will go all the way around it" + (f", leaving a {gate}-{one} gap for a gate."
                                                                   if gate else "."))
        if fence_price:
            context.append(f"Fencing costs ${fence_price} per {one}.")
        perimeter = 2 * (length + width)
        steps.append(f"Perimeter: 2 * ({length} + {width}) = {perimeter} {unit}.")
        if gate:
            steps.append(f"Without the gate: {perimeter} - {gate} = {perimeter - gate} {unit} of fence.")
        answer = perimeter - gate
        if fence_price:
            steps.append(f"Fence cost: {answer} * {fence_price} = ${answer * fence_price}.")
            answer *= fence_price
    if ask != "fence":
        if patio:
            context.append(f"A square patio {patio} {unit} on each side takes up one corner.")
        context.append("The rest is sown with grass" + (f", and seed costs ${lawn_price} per square {one}."
                                                        if lawn_price else "."))
        area = length * width
        steps.append(f"Area: {length} * {width} = {area} square {unit}.")
        if patio:
            steps.append(f"Minus the patio: {area} - {patio} * {patio} = {area - patio * patio} "
                         f"square {unit}.")
        lawn = area - patio * patio
        if lawn_price:
            steps.append(f"Seed cost: {lawn} * {lawn_price} = ${lawn * lawn_price}.")
            lawn *= lawn_price
        if ask == "both":
            steps.append(f"Fence and seed together: {answer} + {lawn} = ${answer + lawn}.")
        answer += lawn
    if ask == "fence":
        question = ("How much does the fence cost, in dollars?" if fence_price
                    else f"How many {unit} of fence are needed?")
    elif ask == "lawn":
        question = ("How much does the seed cost, in dollars?" if lawn_price
                    else f"How many square {unit} get grass?")
    else:
        question = "How many dollars do the fence and the seed cost altogether?"
    return context, question, steps, answer, {
        "length": length, "width": width, "ask": ask, "gate": gate, "fence_price": fence_price,
        "patio": patio, "lawn_price": lawn_price}


_EVENTS = ("school play", "concert", "science fair", "circus show", "football match", "puppet show")
_PRICES = ("Tickets for the %s cost $%d for adults and $%d for children.",
           "At the %s, an adult ticket is $%d and a child ticket is $%d.",
           "The %s charges $%d per adult and $%d per child.")
_PRICE = ("Tickets for the %s cost $%d each.", "Entry to the %s is $%d per person.")
_RENT = ("Renting the hall cost $%d.", "The organizers spent $%d on the venue.",
         "Setting up the stage cost $%d.")


def _tickets(r, d, who):
    event = _pick(r, _EVENTS)
    child_price = 2 + int(r() * (3 + d))
    adult_price = child_price + 1 + int(r() * (3 + d))
    adults = 10 + int(r() * (20 * d - 9))
    children = 10 + int(r() * (25 * d - 9)) if d >= 2 else 0
    income = adults * adult_price + children * child_price
    if not children:
        context = [_pick(r, _PRICE) % (event, adult_price), f"{adults} people came."]
        steps = [f"Ticket money: {adults} * {adult_price} = ${income}."]
        return context, "How many dollars did the tickets bring in?", steps, income, {
            "kind": "revenue", "adult_price": adult_price, "child_price": 0, "adults": adults, "children": 0}
    context = [_pick(r, _PRICES) % (event, adult_price, child_price)]
    if d >= 7:
        sold = adults + children
        context.append(f"{sold} tickets were sold, bringing in ${income}.")
        steps = [f"If all {sold} were child tickets: {sold} * {child_price} = ${sold * child_price}.",
                 f"The extra money is {income} - {sold * child_price} = ${income - sold * child_price}.",
                 f"Each adult ticket adds {adult_price} - {child_price} = ${adult_price - child_price}.",
                 f"Adult tickets: {income - sold * child_price} / {adult_price - child_price} = {adults}."]
        return context, "How many adult tickets were sold?", steps, adults, {
            "kind": "solve", "adult_price": adult_price, "child_price": child_price, "sold": sold,
            "income": income}
    context.append(f"{adults} adults and {children} children came.")
    steps = [f"Adults: {adults} * {adult_price} = ${adults * adult_price}.",
             f"Children: {children} * {child_price} = ${children * child_price}.",
             f"Ticket money: {adults * adult_price} + {children * child_price} = ${income}."]
    quantities = {"kind": "revenue", "adult_price": adult_price, "child_price": child_price, "adults": adults,
                  "children": children}
    if d <= 3:
        return context, "How many dollars did the tickets bring in?", steps, income, quantities
    rent = 1 + int(r() * (income - 1))
    context.append(_pick(r, _RENT) % rent)
    steps.append(f"Profit: {income} - {rent} = ${income - rent}.")
    quantities.update(kind="profit", rent=rent)
    return context, "How many dollars of profit did the event make?", steps, income - rent, quantities


# (stuff, containers, big unit, one big unit, small unit, small per big, portions, portion sizes)
_MEASURES = (("juice", "bottles", "liters", "liter", "milliliters", 1000, "glasses",
              (100, 125, 200, 250, 500)),
             ("rice", "bags", "kilograms", "kilogram", "grams", 1000, "bowls", (50, 100, 125, 200, 250)),
             ("ribbon", "rolls", "meters", "meter", "centimeters", 100, "pieces", (10, 20, 25, 50)),
             ("rope", "coils", "feet", "foot", "inches", 12, "pieces", (3, 4, 6, 8, 9)),
             ("lemonade", "jugs", "gallons", "gallon", "quarts", 4, "pitchers", (1, 2)),
             ("soup", "pots", "liters", "liter", "milliliters", 1000, "bowls", (200, 250, 400, 500)))


def _conversion(r, d, who):
    name, he, _, He = who
    stuff, holders, big, one, small, factor, portions, sizes = _pick(r, _MEASURES)
    each = 2 + int(r() * (2 + d))
    if d <= 2:
        context = [f"{name} has {each} {big} of {stuff}."]
        steps = [f"1 {one} is {factor} {small}, so {each} * {factor} = {each * factor} {small}."]
        quantities = {"kind": "simple", "factor": factor, "each": each}
        return context, f"How many {small} is that?", steps, each * factor, quantities
    size = _pick(r, sizes)
    step = size // gcd(size, factor)
    step //= gcd(each, step)  # count * each * factor is then a multiple of size
    count = step * (1 + int(r() * (2 + d // 2)))
    count += count == 1
    total = count * each * factor
    made = total // size
    steps = [f"1 {one} is {factor} {small}, so each of the {holders} holds {each} * {factor} = "
             f"{each * factor} {small}."]
    quantities = {"kind": "portions", "factor": factor, "each": each, "size": size}
    if d >= 6 and r() < 0.5:
        context = [f"{name} needs {made} {portions} of {stuff} with {size} {small} in each.",
                   f"The {stuff} comes in {holders} of {each} {big}."]
        steps += [f"Needed in all: {made} * {size} = {total} {small}.",
                  f"{holders.capitalize()}: {total} / {each * factor} = {count}."]
        quantities.update(kind="reverse", made=made)
        return context, f"How many {holders} does {he} need?", steps, count, quantities
    context = [f"{name} has {count} {holders} of {stuff}, each with {each} {big}.",
               f"{He} pours it all into {portions} of {size} {small} each." if r() < 0.5 else
               f"{He} divides it into {portions} of {size} {small}."]
    steps += [f"All {count} {holders}: {count} * {each * factor} = {total} {small}.",
              f"{portions.capitalize()}: {total} / {size} = {made}."]
    used = 1 + int(r() * (made - 1)) if d >= 4 else 0
    quantities.update(count=count, used=used)
    if not used:
        return context, f"How many {portions} does {he} fill?", steps, made, quantities
    context.append(f"{used} of the {portions} are given away.")
    steps.append(f"Left: {made} - {used} = {made - used}.")
    return context, f"How many {portions} are left?", steps, made - used, quantities


_JOBS = ("works at a café", "tutors students", "works at the library", "delivers packages",
         "works at a bike shop")
_WAGE = ("%s %s and earns $%d an hour.", "%s %s for $%d per hour.")


def _wages(r, d, who):
    name, he, _, He = who
    wage = 2 * (4 + int(r() * (3 + 2 * d))) if d >= 3 else 8 + int(r() * (5 + 2 * d))  # even: time and a half
    hours, days = 2 + int(r() * 7), 2 + int(r() * 5)
    extra = 1 + int(r() * (4 + d // 2)) if d >= 3 else 0
    context = [_pick(r, _WAGE) % (name, _pick(r, _JOBS), wage),
               f"{He} works {hours} hours a day, {days} days a week."]
    base = hours * days
    steps = [f"Hours per week: {hours} * {days} = {base}.", f"Regular pay: {base} * {wage} = ${base * wage}."]
    pay = base * wage
    if extra:
        context.append(f"{He} also works {extra} hours of overtime a week at time and a half.")
        rate = wage * 3 // 2
        steps += [f"Overtime rate: {wage} * 3 / 2 = ${rate} an hour.",
                  f"Overtime pay: {extra} * {rate} = ${extra * rate}.",
                  f"Weekly pay: {pay} + {extra * rate} = ${pay + extra * rate}."]
        pay += extra * rate
    spend, weeks = (1 + int(r() * (pay // 2)), 2 + int(r() * (1 + d // 2))) if d >= 5 else (0, 0)
    quantities = {"wage": wage, "hours": hours, "days": days, "overtime": extra, "spend": spend,
                  "weeks": weeks}
    if not spend:
        return context, f"How many dollars does {he} earn in a week?", steps, pay, quantities
    context.append(f"Each week {he} spends ${spend} and saves the rest.")
    steps += [f"Saved per week: {pay} - {spend} = ${pay - spend}.",
              f"In {weeks} weeks: {pay - spend} * {weeks} = ${(pay - spend) * weeks}."]
    question = f"How many dollars does {he} save in {weeks} weeks?"
    return context, question, steps, (pay - spend) * weeks, quantities


# (ways to say how many there are, who, what some do, the rest, what the rest are called,
#  an activity, its negation)
_GROUPS = ((("A class has %d students.", "There are %d students in a class."), "students", "are girls",
            "the rest are boys", "boys", "play soccer", "do not play soccer"),
           (("A survey asked %d people about their drinks.", "%d people answered a survey about drinks."),
            "people", "prefer tea", "the rest prefer coffee", "coffee drinkers", "add sugar",
            "do not add sugar"),
           (("A chess club has %d members.", "There are %d members in a chess club."), "members",
            "are adults", "the rest are children", "children", "ride bikes to meetings",
            "do not ride bikes to meetings"),
           (("An orchard has %d trees.", "There are %d trees in an orchard."), "trees", "are apple trees",
            "the rest are pear trees", "pear trees", "are in bloom", "are not in bloom"))


def _survey(r, d, who):
    intros, folks, some, rest, others, act, not_act = _pick(r, _GROUPS)
    pct = (10, 20, 25, 30, 40, 50, 60, 75, 80)[int(r() * 9)]
    part = 2 + int(r() * 4) if d >= 6 else 1
    size = 100 // gcd(pct, 100) * part * (1 + int(r() * (2 + d // 2)))  # every share is whole
    first = size * pct // 100
    context = [_pick(r, intros) % size]
    steps = [f"{pct}% of {size} is {size} * {pct} / 100 = {first}."]
    if d <= 2:
        context.append(f"{pct}% of them {some}.")
        return context, f"How many {folks} {some}?", steps, first, {"kind": "part", "size": size,
                                                                     "percent": pct}
    context.append(f"{pct}% of them {some} and {rest}.")
    steps.append(f"The rest: {size} - {first} = {size - first} {others}.")
    if d <= 5:
        return context, f"How many {others} are there?", steps, size - first, {"kind": "rest", "size": size,
                                                                               "percent": pct}
    share = (size - first) // part
    context.append(f"{_FRACTION[part].capitalize()} of the {others} {act}.")
    steps += [f"{_FRACTION[part].capitalize()} of {size - first} is {size - first} / {part} = {share}.",
              f"Those who do not: {size - first} - {share} = {size - first - share}."]
    return context, f"How many {others} {not_act}?", steps, size - first - share, {
        "kind": "rest_not", "size": size, "percent": pct, "part": part}


TEMPLATES = {"shopping": _shopping, "travel": _travel, "work_rate": _work_rate, "ages": _ages,
             "sharing": _sharing, "recipe": _recipe, "savings": _savings, "inventory": _inventory,
             "schedule": _schedule, "garden": _garden, "tickets": _tickets, "conversion": _conversion,
             "wages": _wages, "survey": _survey}
_ORDER = tuple(TEMPLATES.items())

_ASIDES = ("%s's cousin is %d years old.", "%s's house is %d blocks from the park.",
           "%s's favorite number is %d.",
           "%s lives on floor %d of a tall building.", "%s read %d books last summer.",
           "The town where %s lives was founded %d years ago.", "%s's school has %d classrooms.",
           "%s has %d posters on the bedroom wall.", "%s's family has lived in town for %d years.",
           "%s's bus ride to school takes %d minutes.")


@task("word_problem")
def word_problem(rng: random.Random, difficulty: int) -> Item:
    """A GSM8K-style story problem with several steps and a whole-number answer."""
    r = rng.random
    template, make = _ORDER[int(r() * len(_ORDER))]
    who = _PEOPLE[int(r() * len(_PEOPLE))]
    context, question, steps, answer, quantities = make(r, difficulty, who)
    asides = difficulty // 3
    for aside in _distinct(r, _ASIDES, asides):  # first, or last before the question: pronouns still hold
        aside %= (who[0], 2 + int(r() * (8 + 7 * difficulty)))
        context.insert(0 if r() < 0.4 else len(context), aside)
    context.append(question)
    steps.append(f"The answer is {answer}.")
    meta = {"template": template, "quantities": quantities, "distractors": asides}
    return Item(" ".join(context), str(answer), "\n".join(steps), meta)
