"""Decide whether two parsed answers are mathematically the same.

The rules, in the order :meth:`Judge.same` applies them:

- text: compared as lower-case words; "no solution" is the empty set, "all real numbers" is R;
- ``x = 2`` against ``2``: the value of a variable is compared with the bare value;
- collections: lists and sets are unordered, tuples and vectors ordered, intervals compare ends
  and brackets; inequalities in one variable become intervals, so ``x<3`` equals ``(-\\infty,3)``;
- equations are equal when one is a nonzero multiple of the other, inequalities a positive one;
- quantities: a unit is ignored when the gold has none; otherwise it must convert exactly;
- percent and degrees: ``50\\%`` matches ``50`` and ``0.5``; ``30^\\circ`` matches ``30`` and
  ``\\pi/6``;
- values: rationals exactly; irrationals to the working precision; expressions with variables at
  fixed pseudo-random points; a written decimal with at least 3 significant digits matches a gold
  with a non-terminating expansion when correctly rounded.

>>> from verifiers.budget import Budget
>>> from verifiers.latex import parse
>>> Judge(Budget(1.0), dps=40).same(parse("(x+1)^2"), parse("x^2+2x+1"))
True
"""

from __future__ import annotations

from fractions import Fraction

from verifiers.budget import Budget
from verifiers.numeric import Evaluator, NotANumber, TooLarge, free_symbols, points, wide_points
from verifiers.units import to_base

__all__ = ["Judge", "canon", "is_name"]

EMPTY_WORDS = {"no solution", "no solutions", "no real solution", "no real solutions", "none",
               "empty set", "the empty set", "no real roots", "no roots", "no real number", "no value",
               "no such number", "no real values", "emptyset"}
REAL_WORDS = {"all real numbers", "all reals", "all real number", "real numbers", "all real values",
              "all real x", "any real number", "every real number", "all x", "r", "mathbb r",
              "x is any real number", "all real values of x", "infinitely many real numbers"}
N_POINTS = 3
MAX_DPS = 20_000
MAX_ITEMS = 64

_ONE_HUNDRED = ("num", Fraction(100), None)


def _num(v: Fraction) -> tuple:
    return ("num", v, None)


class Judge:
    """Compares answer trees under a time budget; ``note`` says why the last comparison failed."""

    def __init__(self, budget: Budget, dps: int):
        self.budget = budget
        self.ev = Evaluator(budget, dps)
        self.note = ""

    # ------------------------------------------------------------------ entry
    def same(self, g: tuple, a: tuple) -> bool:
        self.budget.check()
        g, a = canon(g), canon(a)
        if _chain_length(g) != _chain_length(a):  # working shown on one side only: compare what it states
            g, a = canon(_settled(g)), canon(_settled(a))
        kinds = {g[0], a[0]}
        if "text" in kinds:
            return self._same_text(g, a)
        if "assign" in kinds:
            return self._same_assign(g, a)
        if kinds & {"union", "reals", "setof"} or _interval_like(g) or _interval_like(a):
            gi, ai = to_intervals(g), to_intervals(a)
            if gi is not None and ai is not None:
                return self._same_intervals(gi, ai)
        if g[0] == "rel" or a[0] == "rel":
            return self._same_relation(g, a)
        if _is_collection(g) or _is_collection(a):
            return self._same_collection(g, a)
        if "qty" in kinds:
            return self._same_quantity(g, a)
        if "pct" in kinds or "deg" in kinds:
            return self._same_marked(g, a)
        return self.same_value(g, a)

    # ------------------------------------------------------------------ text
    def _same_text(self, g: tuple, a: tuple) -> bool:
        gk, ak = _text_of(g), _text_of(a)
        if gk is not None and ak is not None:
            if gk == ak:
                return True
            for group in (EMPTY_WORDS, REAL_WORDS):
                if gk in group and ak in group:
                    return True
            self.note = "different words"
            return False
        text, other = (gk, a) if gk is not None else (ak, g)
        if text in EMPTY_WORDS:
            return other == ("set", []) or (other[0] == "list" and not other[1])
        if text in REAL_WORDS:
            intervals = to_intervals(other)
            return intervals is not None and self._same_intervals([(_NEG_INF, _INF, False, False)], intervals)
        self.note = "text against math"
        return False

    # ------------------------------------------------------------------ collections
    def _same_assign(self, g: tuple, a: tuple) -> bool:
        if g[0] == "assign" and a[0] == "assign":
            gd, ad = dict(g[1]), dict(a[1])
            if gd.keys() != ad.keys():
                self.note = "different variables"
                return False
            return all(self.same(gd[k], ad[k]) for k in gd)
        assign, other = (g, a) if g[0] == "assign" else (a, g)
        # a=1, b=2 against (1, 2) or 1, 2; not against a=1, a=2
        items = _items(other) if other[0] == "brk" or (other[0] == "list" and len(other) == 2) else None
        if items is None or len(items) != len(assign[1]):
            self.note = "different number of values"
            return False
        values = [v for _, v in assign[1]]
        pairs = zip(values, items) if assign is g else zip(items, values)
        return all(self.same(x, y) for x, y in pairs)

    def _same_collection(self, g: tuple, a: tuple) -> bool:
        if g[0] == "matrix" and a[0] == "matrix":
            if len(g[1]) != len(a[1]) or len(g[1][0]) != len(a[1][0]):
                self.note = "different matrix shapes"
                return False
            return all(self.same(x, y) for rg, ra in zip(g[1], a[1]) for x, y in zip(rg, ra))
        gi, ai = _items(g), _items(a)
        if gi is None or ai is None:
            coll, items = (a, ai) if gi is None else (g, gi)
            if items is not None and 1 < len(items) <= 4 and coll[0] in ("set", "list"):
                items = self._distinct(items)  # \boxed{\frac12} and \boxed{0.5}: one value, written twice
            if items is not None and len(items) == 1 and coll[0] in ("set", "list"):  # {3} and x = 3
                return self.same(g, items[0]) if coll is a else self.same(items[0], a)
            self.note = "a collection against a single value"
            return False
        ordered = (_ordered(g) or _ordered(a)) and not (_unordered(g) or _unordered(a))
        if (g[0] == "set" and a[0] == "set") or (len(gi) != len(ai) and not ordered):
            gi, ai = self._distinct(gi), self._distinct(ai)  # {1,2,2,3} is {1,2,3}; a listed twice is listed
        if len(gi) != len(ai):
            self.note = f"{len(ai)} items where the gold has {len(gi)}"
            return False
        if len(gi) > MAX_ITEMS:
            return gi == ai
        if g[0] == "brk" and a[0] == "brk" and len(gi) == 2 and g[1:3] != a[1:3]:
            self.note = "different brackets"
            return False
        if ordered:
            return all(self.same(x, y) for x, y in zip(gi, ai))
        return self._match_unordered(gi, ai)

    def _distinct(self, items: list) -> list:
        out: list = []
        for x in items[:MAX_ITEMS]:
            if not any(self.same(x, y) for y in out):
                out.append(x)
        return out + items[MAX_ITEMS:]

    def _match_unordered(self, gi: list, ai: list) -> bool:
        unused = list(range(len(ai)))
        for x in gi:
            for j in unused:
                if self.same(x, ai[j]):
                    unused.remove(j)
                    break
            else:
                self.note = "an item of the gold is missing"
                return False
        return True

    def _same_intervals(self, gi: list, ai: list) -> bool:
        if len(gi) != len(ai):
            self.note = "different number of intervals"
            return False
        unused = list(range(len(ai)))
        for lo, hi, lc, hc in gi:
            for j in unused:
                lo2, hi2, lc2, hc2 = ai[j]
                if (lc, hc) == (lc2, hc2) and self.same_value(lo, lo2) and self.same_value(hi, hi2):
                    unused.remove(j)
                    break
            else:
                self.note = "different interval"
                return False
        return True

    # ------------------------------------------------------------------ relations
    def _same_relation(self, g: tuple, a: tuple) -> bool:
        if a[0] == "rel" and "~" in a[1] and not (g[0] == "rel" and "~" in g[1]):
            return self.same(g, _approximated(a))  # x = 1/3 ~ 0.33 answers 1/3
        if g[0] == "rel" and a[0] == "rel":
            if "~" in g[1] + a[1] or not (free_symbols(g) | free_symbols(a)):  # compare side by side
                if g[1] != a[1]:
                    self.note = "different relations"
                    return False
                return all(self.same(x, y) for x, y in zip(g[2], a[2]))
            if g[1] == ["="] and a[1] == ["="]:
                return self._same_equation(g[2], a[2])
            gi, ai = _inequality(g), _inequality(a)
            if gi and ai and len(gi) == len(ai):
                return all(s1 == s2 and self._proportional(e1, e2, positive=True)
                           for (e1, s1), (e2, s2) in zip(gi, ai))
            self.note = "different relations"
            return False
        rel, other = (g, a) if g[0] == "rel" else (a, g)
        if rel is g and "~" in rel[1]:  # pi ~ 3.14: either the exact or the approximate value
            return any(self.same(side, other) for side in (rel[2][0], rel[2][-1]))
        value = _assigned_value(rel)
        if value is None:
            self.note = "a relation against a value"
            return False
        return self.same(value, other) if rel is a else self.same(other, value)

    def _same_equation(self, g: list, a: list) -> bool:
        gl, al = g[0], a[0]
        if is_name(gl) and _name_key(gl) == _name_key(al):
            return self.same(g[1], a[1])
        if _is_collection(g[1]) or _is_collection(a[1]):
            return self.same(("list", g), ("list", a))
        return self._proportional(("add", [g[0], ("neg", g[1])]), ("add", [a[0], ("neg", a[1])]),
                                  positive=False)

    def _proportional(self, f: tuple, h: tuple, positive: bool) -> bool:
        """True when h = c*f for one nonzero constant c (positive c for inequalities)."""
        names = free_symbols(f) | free_symbols(h)
        ratio = None
        seen = 0
        for env in points(names, N_POINTS + 2):
            try:
                fv, hv = self.ev.value(f, env), self.ev.value(h, env)
            except NotANumber:
                continue
            fz, hz = self.ev.equal(fv, 0), self.ev.equal(hv, 0)
            if fz or hz:
                if fz != hz:
                    self.note = "different equations"
                    return False
                continue
            r = self.ev.to_mp(hv) / self.ev.to_mp(fv) if not (
                isinstance(hv, Fraction) and isinstance(fv, Fraction)) else hv / fv
            if ratio is None:
                ratio = r
            elif not self.ev.equal(ratio, r):
                self.note = "different equations"
                return False
            seen += 1
            if seen == N_POINTS:
                break
        if ratio is None:
            return False
        if self._wide_disagree(names, lambda env: self._ratio_at(f, h, env, ratio)):
            self.note = "different equations at negative or large values"
            return False
        if positive:
            mp = self.ev.to_mp(ratio)
            return bool(getattr(mp, "imag", 0) == 0 and mp > 0)
        return True

    def _ratio_at(self, f: tuple, h: tuple, env: dict, ratio: object) -> bool:
        fv, hv = self.ev.value(f, env), self.ev.value(h, env)
        fz, hz = self.ev.equal(fv, 0), self.ev.equal(hv, 0)
        if fz or hz:
            return fz == hz
        return self.ev.equal(ratio, self.ev.to_mp(hv) / self.ev.to_mp(fv))

    def _wide_disagree(self, names: set[str], agree) -> bool:
        """True when ``agree(env)`` is False at a wide point where everything stays real (points where
        either side is undefined or complex are skipped: they refute nothing)."""
        if not names:
            return False
        self.ev.real_only = True
        try:
            for env in wide_points(names):
                try:
                    if not agree(env):
                        return True
                except (NotANumber, TooLarge, ZeroDivisionError, OverflowError, ValueError):
                    continue
        finally:
            self.ev.real_only = False
        return False

    # ------------------------------------------------------------------ units, percent, degrees
    def _same_quantity(self, g: tuple, a: tuple) -> bool:
        if g[0] == "qty" and a[0] == "qty":
            fg, dg = to_base(g[2][1])
            fa, da = to_base(a[2][1])
            if dg != da:
                self.note = "different units"
                return False
            if fg == fa:
                return self.same(g[1], a[1])
            return self.same_value(("mul", [g[1], _num(fg)]), ("mul", [a[1], _num(fa)]))
        if g[0] == "qty":
            return self.same(g[1], a)
        return self.same(g, a[1])  # a unit in the answer is ignored when the gold has none

    def _same_marked(self, g: tuple, a: tuple) -> bool:
        if g[0] == a[0]:
            return self.same(g[1], a[1])
        if g[0] == "pct":  # 50% matches 50 and 0.5
            return self.same(g[1], a) or self.same_value(("div", g[1], _ONE_HUNDRED), a)
        if a[0] == "pct":
            return self.same(g, a[1]) or self.same_value(g, ("div", a[1], _ONE_HUNDRED))
        if g[0] == "deg":  # 30 degrees matches 30 and pi/6
            return self.same(g[1], a) or self.same_value(g, a)
        return self.same(g, a[1]) or self.same_value(g, a)

    # ------------------------------------------------------------------ values
    def same_value(self, g: tuple, a: tuple) -> bool:
        names = free_symbols(g) | free_symbols(a)
        envs = points(names, N_POINTS + 2) if names else [{}]
        checked = 0
        for env in envs:
            try:
                gv, av = self._values(g, a, env)
            except TooLarge:
                if g == a:
                    return True
                self.note = "too large to compare exactly"
                return False
            except NotANumber as exc:
                if not names:
                    self.note = str(exc)
                    return g == a
                continue
            except (ZeroDivisionError, OverflowError, ValueError) as exc:
                self.note = f"cannot evaluate: {exc}"
                return g == a
            if not self.ev.equal(gv, av) and not (not names and self._rounded(g, gv, a, av)):
                self.note = "different values"
                return False
            checked += 1
            if checked == N_POINTS:
                break
        if not checked:
            self.note = "could not evaluate"
            return g == a
        if g != a and self._wide_disagree(names, lambda env: self.ev.equal(*self._values(g, a, env))):
            self.note = "different values at negative or large values"
            return False
        return True

    def _values(self, g: tuple, a: tuple, env: dict) -> tuple:
        """Both values at a precision that resolves units: a+1 must never equal a, however large."""
        while True:
            gv, av = self.ev.value(g, env), self.ev.value(a, env)
            if isinstance(gv, Fraction) and isinstance(av, Fraction):
                return gv, av
            digits = max(self.ev.magnitude_digits(gv), self.ev.magnitude_digits(av))
            if digits + 25 <= self.ev.dps:
                return gv, av
            if digits + 25 > MAX_DPS:
                raise TooLarge("too large to compare at any precision")
            self.ev.set_dps(digits + 25)

    def _rounded(self, g: tuple, gv: object, a: tuple, av: object) -> bool:
        """The answer is a decimal correctly rounded from a gold whose expansion does not terminate.

        Only the answer may be rounded: a decimal gold (``3.14``) asks for that decimal, not ``\\pi``.
        """
        if a[0] != "num" or not a[2] or _terminates(gv) or _is_decimal(g):
            return False
        if _significant_digits(a[1], a[2]) < 3:
            return False
        ctx = self.ev.ctx
        x = self.ev.to_mp(gv)
        if getattr(x, "imag", 0) != 0:
            return False
        half_ulp = ctx.mpf(5) / ctx.mpf(10) ** (a[2] + 1)
        return bool(abs(x - self.ev.to_mp(av)) <= half_ulp * (1 + ctx.mpf(10) ** -20))


# ---------------------------------------------------------------------- tree helpers
def canon(node: tuple) -> tuple:
    """Normalise the shape of a top-level answer (see the module docstring)."""
    while node[0] == "list" and len(node[1]) == 1:
        node = node[1][0]
    expanded = _expand_pm(node)
    if len(expanded) > 1:
        node = ("list", expanded)
    if node[0] == "rel" and node[1] == ["in"] and is_name(node[2][0]):
        return canon(node[2][1])
    if node[0] == "list":
        return _canon_list(node[1])
    if node[0] == "rel" and node[1] == ["="] and node[2][0][0] == "sym" and node[2][1][0] == "list":
        return ("list", node[2][1][1])
    return node


def _canon_list(items: list) -> tuple:
    """``x=1, x=2`` and ``x=1, 2`` are the values of x (``W(n)=1, W(n)=-1`` the values of W); ``a=1, b=2``
    assigns values to names; ``p=5, q=2; p=7, q=2`` is a list of such assignments."""
    flat: list[tuple] = []
    for item in items:
        flat.extend(_expand_pm(item))
    items = flat
    rels = [it for it in items if it[0] == "rel"]
    if not rels or items[0] is not rels[0] or not all(_is_assignment(r) for r in rels):
        return ("list", items)
    keys = [_name_key(r[2][0]) for r in rels]
    if len(rels) == len(items) and len(keys) > 1 and len(set(keys)) > 1:
        if len(set(keys)) == len(keys):
            return ("assign", [(k, r[2][1]) for k, r in zip(keys, rels)])
        period = _period(keys)
        if period:
            return ("list", [("assign", [(k, r[2][1]) for k, r in zip(keys[i : i + period], rels[i : i + period])])
                             for i in range(0, len(rels), period)])
    if all(k == keys[0] for k in keys):  # the values of one variable; remember which
        return ("list", [it[2][1] if it[0] == "rel" else it for it in items], keys[0])
    return ("list", items)


def _is_assignment(rel: tuple) -> bool:
    return rel[1] == ["="] and len(rel[2]) == 2 and is_name(rel[2][0])


def _period(keys: list) -> int:
    """The length of the repeating group of names (``p, q, p, q`` -> 2), or 0 when they do not repeat."""
    for k in range(2, len(keys) // 2 + 1):
        if len(keys) % k == 0 and len(set(keys[:k])) == k and all(keys[i] == keys[i % k] for i in range(len(keys))):
            return k
    return 0


def is_name(node: tuple) -> bool:
    """A named quantity, not an expression to solve: ``x``, ``f(x)``, ``AB``, ``\\frac{NO}{BO}``,
    ``V_1:V_2``, ``|AB|``, ``\\angle ABC``, ``\\sin A``; never a number, a sum or a power.

    >>> from verifiers.latex import parse
    >>> is_name(parse(r"\\frac{NO}{BO}")), is_name(parse("2x+z"))
    (True, False)
    """
    kind = node[0]
    if kind in ("sym", "call"):
        return True
    if kind in ("mul", "ratio"):
        return all(is_name(part) for part in node[1])
    if kind == "div":
        return is_name(node[1]) and is_name(node[2])
    if kind == "abs":
        return is_name(node[1])
    return kind == "func" and isinstance(node[2], tuple) and bool(node[2]) and isinstance(node[2][0], str) \
        and is_name(node[2])


def _name_key(node: tuple) -> str:
    """Names compare as written, a function by its name alone (``W(n)`` and ``W(x)`` both name W)."""
    if node[0] == "sym":
        return node[1]
    return f"{node[1]}()" if node[0] == "call" else repr(node)


def _chain_length(node: tuple) -> int:
    """Sides of a chain of working that ends in a value (``x = 5+5+1 = 11``: 3; a computation such as
    ``1+2+4 = 7``: 2), else 0."""
    if node[0] != "rel" or any(op != "=" for op in node[1]) or free_symbols(node[2][-1]):
        return 0
    if len(node[2]) < 3 and free_symbols(node[2][0]):
        return 0
    return len(node[2])


def _settled(rel: tuple) -> tuple:
    """Working shown in a chain states its last side: ``x = 5+5+1 = 11`` is ``x = 11``; ``1 = y = 0`` and
    ``3 \\times 4 = 12`` state 0 and 12.

    Two chains of the same length are compared side by side instead (a changed step is a changed answer).
    """
    if not _chain_length(rel):
        return rel
    sides = rel[2]
    return ("rel", ["="], [sides[0], sides[-1]]) if is_name(sides[0]) else sides[-1]


def _approximated(rel: tuple) -> tuple:
    """What an answer with ``\\approx`` states: its exact part (``x = 1/3`` of ``x = 1/3 \\approx 0.3``), or
    the approximation when nothing exact comes before it (``x \\approx 11``)."""
    i = rel[1].index("~")
    sides = rel[2]
    if i == 0:
        return sides[1] if is_name(sides[0]) else sides[0]
    return ("rel", rel[1][:i], sides[: i + 1])


def _expand_pm(node: tuple, limit: int = 8) -> list[tuple]:
    """``1 \\pm \\sqrt 2`` is two answers."""
    if not isinstance(node, tuple) or not node or node[0] in ("set", "setof", "text", "num", "sym"):
        return [node]
    if node[0] == "pm":
        rights = _expand_pm(node[2], limit)
        if node[1] is None:
            return [r for x in rights for r in (x, ("neg", x))][:limit]
        lefts = _expand_pm(node[1], limit)
        return [r for left in lefts for x in rights for r in (("add", [left, x]),
                                                               ("add", [left, ("neg", x)]))][:limit]
    out = [()]
    for child in node[1:]:
        if isinstance(child, tuple) and child:
            options = _expand_pm(child, limit)
        elif isinstance(child, list):
            options = [list(combo) for combo in _product([_expand_pm(c, limit) if isinstance(c, tuple)
                                                          else [c] for c in child], limit)]
        else:
            options = [child]
        out = [(*prefix, opt) for prefix in out for opt in options][:limit]
    return [(node[0], *rest) for rest in out]


def _product(choices: list[list], limit: int) -> list[tuple]:
    out: list[tuple] = [()]
    for opts in choices:
        out = [(*p, o) for p in out for o in opts][:limit]
    return out


def _text_of(node: tuple) -> str | None:
    if node[0] == "text":
        return node[1]
    if node[0] == "sym" and len(node[1]) == 1 and node[1].isupper():
        return node[1].lower()  # a multiple-choice letter
    return None


def _is_collection(node: tuple) -> bool:
    return node[0] in ("list", "set", "brk", "matrix", "ratio")


def _items(node: tuple) -> list | None:
    if node[0] in ("list", "set", "ratio"):
        return node[1]
    if node[0] == "brk":
        return node[3]
    if node[0] == "matrix":
        rows = node[1]
        if len(rows) == 1:
            return rows[0]
        if all(len(r) == 1 for r in rows):
            return [r[0] for r in rows]
    return None


def _ordered(node: tuple) -> bool:
    return node[0] in ("brk", "matrix", "ratio")


def _unordered(node: tuple) -> bool:
    return node[0] == "set"


def _interval_like(node: tuple) -> bool:
    if node[0] == "brk" and len(node[3]) == 2 and (node[1], node[2]) != ("(", ")"):
        return True
    if node[0] == "rel" and any(op in ("<", "<=", ">", ">=", "!=") for op in node[1]):
        return True
    return node[0] == "list" and any(_interval_like(x) or x[0] in ("union", "reals") for x in node[1])


_INF = ("const", "inf")
_NEG_INF = ("neg", ("const", "inf"))


def to_intervals(node: tuple) -> list | None:
    """A union of intervals ``[(lo, hi, lo_closed, hi_closed)]``, or None if not a subset of R."""
    kind = node[0]
    if kind == "reals":
        return [(_NEG_INF, _INF, False, False)]
    if kind == "set" and not node[1]:
        return []
    if kind == "brk" and len(node[3]) == 2:
        lo, hi = node[3]
        return [(lo, hi, node[1] == "[", node[2] == "]")]
    if kind in ("union", "list"):
        out = []
        for part in node[1]:
            sub = to_intervals(canon(part))
            if sub is None:
                return None
            out.extend(sub)
        return out
    if kind == "setof":
        return to_intervals(node[2])
    if kind == "rel":
        return _rel_intervals(node)
    return None


def _rel_intervals(node: tuple) -> list | None:
    """Where the one named quantity of ``x < 3``, ``0 < f(x) < 1`` or ``1 \\le |z| \\le 2`` may lie."""
    var_at = [k for k, e in enumerate(node[2]) if free_symbols(e)]
    if len(var_at) != 1:
        return None
    target = node[2][var_at[0]]
    if target[0] == "abs" and is_name(target[1]):
        return _mirrored(_bounds(node[1], node[2], var_at[0]))
    return _bounds(node[1], node[2], var_at[0]) if is_name(target) else None


def _mirrored(intervals: list | None) -> list | None:
    """Where z lies when |z| lies in one interval: ``1 \\le |z| \\le 2`` is ``[-2,-1] \\cup [1,2]``."""
    if intervals is None or len(intervals) != 1:
        return None
    lo, hi, lc, hc = intervals[0]
    if lo == _NEG_INF:
        return [(("neg", hi), hi, hc, hc)]
    return [(("neg", hi), ("neg", lo), hc, lc), (lo, hi, lc, hc)]


def _bounds(ops: list, exprs: list, v: int) -> list | None:
    if len(exprs) == 2:
        op = ops[0]
        other = exprs[1 - v]
        if v == 1:  # 3 > x is x < 3
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!=", "=": "="}.get(op, op)
        if op in ("<", "<="):
            return [(_NEG_INF, other, False, op == "<=")]
        if op in (">", ">="):
            return [(other, _INF, op == ">=", False)]
        if op == "!=":
            return [(_NEG_INF, other, False, False), (other, _INF, False, False)]
        return None
    if len(exprs) == 3 and v == 1:
        if ops[0] in ("<", "<=") and ops[1] in ("<", "<="):
            return [(exprs[0], exprs[2], ops[0] == "<=", ops[1] == "<=")]
        if ops[0] in (">", ">=") and ops[1] in (">", ">="):
            return [(exprs[2], exprs[0], ops[1] == ">=", ops[0] == ">=")]
    return None


def _inequality(node: tuple) -> list | None:
    """Each link of a chain as (expression > 0 or >= 0, strict)."""
    out = []
    for op, left, right in zip(node[1], node[2], node[2][1:]):
        if op in ("<", "<="):
            out.append((("add", [right, ("neg", left)]), op == "<"))
        elif op in (">", ">="):
            out.append((("add", [left, ("neg", right)]), op == ">"))
        else:
            return None
    return out


def _assigned_value(rel: tuple) -> tuple | None:
    """The value in ``x = 2`` or ``2 = x`` (or ``f(x) = ...``, ``\\frac{NO}{BO} = ...``), else None."""
    if rel[1] != ["="] or len(rel[2]) != 2:
        return None
    left, right = rel[2]
    if is_name(left) or (left[0] == "brk" and all(x[0] == "sym" for x in left[3])):
        return right  # x = 2, f(x) = 2x, |AB| = 1, V_1:V_2 = 11:21, (x, y) = (1, 2)
    if right[0] == "sym":
        return left
    return None


def _terminates(v: object) -> bool:
    if not isinstance(v, Fraction):
        return False
    d = v.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def _is_decimal(node: tuple) -> bool:
    return node[0] == "num" and bool(node[2])


def _significant_digits(v: Fraction, decimals: int) -> int:
    scaled = int(abs(v) * 10**decimals)
    return len(str(scaled)) if scaled < 10**60 else 60
