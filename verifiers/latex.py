"""Parse a LaTeX or plain-text math answer into a small tree, without ever calling ``eval``.

The tree is made of tuples whose first item names the node:

    ("num", Fraction, decimals)   a literal; ``decimals`` is the number of written decimal places,
                                  or None for integers and exact forms
    ("sym", name)                 a variable such as ``x`` or ``c_1``
    ("const", "pi"|"e"|"i"|"inf") a constant
    ("add", [terms]) ("mul", [factors]) ("neg", x) ("div", a, b) ("pow", a, b)
    ("func", name, arg) ("log", base, arg) ("root", index, arg) ("fact", x) ("binom", n, k)
    ("abs", x) ("pct", x) ("deg", x) ("pm", a, b)     ``a ± b``; a is None for a bare ``±b``
    ("rel", [ops], [exprs])       a chain of = < <= > >= != and 'in'
    ("list", [items])             answers separated by commas, semicolons or 'or'/'and'
    ("brk", open, close, [items]) a parenthesised tuple, interval or vector
    ("set", [items]) ("setof", var, condition) ("union", [parts]) ("reals",)
    ("matrix", [[rows]]) ("qty", value, unit) ("text", words)
    ("call", name, [args])        ``f(x)``
    ("ratio", [parts])            ``a:b``

>>> parse(r"\\frac{1}{2}")
('div', ('num', Fraction(1, 1), None), ('num', Fraction(2, 1), None))
>>> parse("x = 2")[0]
'rel'
"""

from __future__ import annotations

import re
from fractions import Fraction

from verifiers.budget import Budget
from verifiers.units import UNIT_WORDS

__all__ = ["AMBIGUOUS_COMMA", "ParseError", "normalize", "parse", "text_key"]

MAX_DEPTH = 120
MAX_LENGTH = 4000


AMBIGUOUS_COMMA = re.compile(r"\d,\d{3}(?!\d)")  # 158,157: a thousand-separated number, or two


class ParseError(ValueError):
    """The text is not a math answer this parser understands."""


# ---------------------------------------------------------------------------------------------
# Normalisation: remove presentation, keep meaning.

_DELIMS = re.compile(r"^\s*(\$\$|\$|\\\(|\\\[)(.*?)(\$\$|\$|\\\)|\\\])\s*$", re.S)
_SIMPLE_SUBS = [
    (re.compile(r"\\(left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)(?![A-Za-z])\s*\.?"), ""),
    (re.compile(r"\\(displaystyle|textstyle|scriptstyle|limits|nolimits|mathstrut|strut)(?![A-Za-z])"), ""),
    (re.compile(r"\\(?:[dt]frac|cfrac)(?![A-Za-z])"), r"\\frac"),
    (re.compile(r"\\[dt]binom(?![A-Za-z])"), r"\\binom"),
    (re.compile(r"\\(?:leqslant|leq|le)(?![A-Za-z])|≤"), r" \\le "),
    (re.compile(r"\\(?:geqslant|geq|ge)(?![A-Za-z])|≥"), r" \\ge "),
    (re.compile(r"\\(?:neq|ne)(?![A-Za-z])|≠"), r" \\ne "),
    (re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![A-Za-z])|°|\\degree(?![A-Za-z])"), r" \\deg "),
    (re.compile(r"\\(?:lvert|rvert|vert)(?![A-Za-z])|\\\||∣"), "|"),
    (re.compile(r"\\(?:varnothing|emptyset)(?![A-Za-z])|∅"), r" \\emptyset "),
    (re.compile(r"\\\\|\\(?:!|,|:|;|>| |quad|qquad|hfill|enspace|thinspace)|~"),
     lambda m: m.group(0) if m.group(0) == "\\\\" else " "),  # keep the row break \\
    (re.compile(r"\\(?:cdot|times|ast)(?![A-Za-z])|×|·|∗"), "*"),
    (re.compile(r"\\div(?![A-Za-z])|÷"), "/"),
    (re.compile(r"−|–"), "-"),
    (re.compile(r"π"), r"\\pi "),
    (re.compile(r"∞"), r"\\infty "),
    (re.compile(r"√"), r"\\sqrt"),
    (re.compile(r"±"), r"\\pm "),
    (re.compile(r"²"), "^2"),
    (re.compile(r"³"), "^3"),
    (re.compile(r"\\dots|\\ldots|\\cdots"), r"\\dots "),
]
# thousands separators: 7{,}425{,}000, 1\,000 and 1\;000 (after \, became a space: handled here first)
_THOUSANDS = re.compile(r"(?<=\d)(?:\s*\{\s*,\s*\}\s*|,\\!\s*|\\,|\\;|\\ |\\!)(?=\d{3}(?!\d))")


_CURRENCY = re.compile(r"\\\$\s*(-?\d[\d,]*(?:\.\d+)?)")
_OTHER_CURRENCY = re.compile(r"(€|£|¥|₹|\\euro|\\pounds)\s*(-?\d[\d,]*(?:\.\d+)?)")
_CURRENCY_AFTER = re.compile(r"(?<![\w.])(-?\d[\d,]*(?:\.\d+)?)\s*(€|£|¥|₹)")  # 1,000.99€
_CURRENCY_CODES = {"€": "EUR", "\\euro": "EUR", "£": "GBP", "\\pounds": "GBP", "¥": "JPY", "₹": "INR"}
_AREA = re.compile(r"(?<=\d)\s*(mm|cm|km|m|ft|in|yd)([²³])")  # 12m², written in prose
_GLUED_WORD = re.compile(r"(?<=[\d)\]}])(or|and)(?=[A-Za-z(\\-])")  # 1orW(x)=-1: spaces lost
_MIXED = re.compile(r"^(-?\d+)\s+(\d+)\s*/\s*(\d+)$")  # 1 1/2
_CHOOSE = re.compile(r"\{([^{}]*)\\choose([^{}]*)\}")
_REPEATING = re.compile(r"(?<![\d.])(\d*)\.(\d*)\\(?:overline|bar|dot)\s*\{?(\d+)\}?")  # 0.1\overline{6}


def _repeating(m: re.Match) -> str:
    """0.1\\overline{6} -> \\frac{1}{6}: the exact value of a repeating decimal."""
    whole, fixed, cycle = m.group(1) or "0", m.group(2), m.group(3)
    if len(fixed) + len(cycle) > 200:
        return m.group(0)
    value = Fraction(int(whole)) + Fraction(int(fixed or "0"), 10 ** len(fixed)) + Fraction(
        int(cycle), (10 ** len(cycle) - 1) * 10 ** len(fixed))
    return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def normalize(text: str) -> str:
    """Strip presentation (``$`` delimiters, ``\\left``, spacing commands, a final period).

    >>> normalize(r"$\\left( \\dfrac{1}{2} \\right).$")
    '(\\\\frac{1}{2})'
    """
    s = text.strip()
    for _ in range(3):
        m = _DELIMS.match(s)
        if not m or "$" in m.group(2):
            break
        s = m.group(2).strip()
    s = _THOUSANDS.sub("", s)
    s = _CURRENCY.sub(r"\1 \\text{dollars}", s)  # \$18.50 -> 18.50 dollars
    s = _OTHER_CURRENCY.sub(lambda m: f"{m.group(2)} \\text{{{_CURRENCY_CODES[m.group(1)]}}}", s)
    s = _CURRENCY_AFTER.sub(lambda m: f"{m.group(1)} \\text{{{_CURRENCY_CODES[m.group(2)]}}}", s)
    s = _AREA.sub(lambda m: f" \\text{{{m.group(1)}}}^{'2' if m.group(2) == '²' else '3'}", s)
    s = _GLUED_WORD.sub(r" \1 ", s)
    s = _MIXED.sub(r"\1\\frac{\2}{\3}", s)
    s = _CHOOSE.sub(r"\\binom{\1}{\2}", s)
    s = _REPEATING.sub(_repeating, s)
    s = s.replace("\\$", " ").replace("$", " ")
    for pattern, repl in _SIMPLE_SUBS:
        s = pattern.sub(repl, s)
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"(?<!\\)[.\s]+$", "", s)  # a final period is punctuation, not a decimal point
    s = re.sub(r"\s*([{}()\[\]=+*/^_<>|-])\s*", r"\1", s)
    s = re.sub(r"\s*,(\s*)", lambda m: ", " if m.group(1) else ",", s)  # "1, 234" is a list, "1,234" a number
    s = re.sub(r"\s+(?=\\)", "", s)  # a space before a command never matters
    return s


def text_key(text: str) -> str:
    """A lower-case, punctuation-light form of a text answer, for comparing words."""
    s = re.sub(r"\\(?:text|textbf|textit|textrm|textsf|textnormal|mathrm|mathbf|mathit|mbox|operatorname|emph)"
               r"(?![A-Za-z])\s*", "", text)
    s = s.replace("{", " ").replace("}", " ").replace("\\", " ").replace("$", " ")
    s = re.sub(r"[\s.,;:!?\"']+", " ", s.lower())
    return s.strip()


# ---------------------------------------------------------------------------------------------
# Tokens: (kind, value). Kinds: num, ident, word, unit, text, cmd, op, begin, end, eof.

FUNCTIONS = {
    "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan", "arccot", "arcsec",
    "arccsc", "sinh", "cosh", "tanh", "coth", "sech", "csch", "arsinh", "arcosh", "artanh",
    "exp", "ln", "log", "lg", "sqrt", "gcd", "lcm", "max", "min", "floor", "ceil", "sgn",
}
GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
    "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi",
    "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega",
}
SEPARATOR_WORDS = {"or", "and"}
NUMBER_WORDS = {
    w: i for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
    )
} | {w: 10 * (i + 2) for i, w in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])}
_NUMBER_PHRASE = re.compile(
    r"\b(?:(?:" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")(?:[\s-]+|\b))+(?:hundred\b(?:[\s-]*(?:and[\s-]+)?(?:"
    + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")\b[\s-]*)*)?",
    re.I,
)
TEXT_COMMANDS = {"text", "textbf", "textit", "textrm", "textsf", "mathrm", "mathbf", "mathit", "mbox",
                 "operatorname", "mathsf", "mathtt", "emph", "textnormal", "boldsymbol", "bm"}
DECORATIONS = {"vec", "hat", "bar", "overline", "tilde", "widehat", "widetilde", "overrightarrow",
               "underline", "dot", "ddot", "mathcal", "mathscr", "mathfrak"}
MATRIX_ENVS = {"pmatrix", "bmatrix", "Bmatrix", "vmatrix", "matrix", "array", "smallmatrix"}


def _number_words(s: str) -> str:
    """Replace small number words (``twenty-one``, ``seven``) by digits."""

    def value(m: re.Match) -> str:
        words = re.findall(r"[a-z]+", m.group(0).lower())
        total, current = 0, 0
        for w in words:
            if w == "hundred":
                current = max(current, 1) * 100
            elif w in NUMBER_WORDS:
                current += NUMBER_WORDS[w]
        total += current
        tail = " " if m.group(0)[-1:].isspace() else ""
        return str(total) + tail

    return _NUMBER_PHRASE.sub(value, s)


_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class _Lexer:
    def __init__(self, s: str, budget: Budget, thousands: bool = True):
        self.s, self.i, self.budget, self.thousands = s, 0, budget, thousands
        self.tokens: list[tuple[str, object]] = []
        # in a formula, capital runs are point names (\frac{NO}{BO}, \angle ABC); alone, "NO" is a word
        self.formula = bool(re.search(r"[\\=^_{}<>]", s))

    def run(self) -> list[tuple[str, object]]:
        s = self.s
        while self.i < len(s):
            self.budget.check()
            c = s[self.i]
            if c.isspace():
                self.i += 1
            elif c in _DIGITS or (c == "." and s[self.i + 1 : self.i + 2] in _DIGITS and self.i + 1 < len(s)):
                self._number()
            elif c in _LETTERS:
                self._letters()
            elif c == "\\":
                self._command()
            elif c in "+-*/^_!=<>(),;[]{}|&':":
                self._op(c)
            elif c == "%":
                self.tokens.append(("op", "%"))
                self.i += 1
            else:
                raise ParseError(f"unexpected character {c!r}")
        self.tokens.append(("eof", None))
        return self.tokens

    def _op(self, c: str) -> None:
        s, i = self.s, self.i
        if c in "<>!" and s[i + 1 : i + 2] == "=":
            self.tokens.append(("op", {"<": "<=", ">": ">=", "!": "!="}[c]))
            self.i += 2
            return
        self.tokens.append(("op", c))
        self.i += 1

    def _number(self) -> None:
        s = self.s
        m = re.compile(r"[0-9]*(?:\.[0-9]+)?|[0-9]+\.").match(s, self.i)
        assert m is not None
        text = m.group(0)
        end = m.end()
        if self.thousands and "." not in text and len(text) <= 3:  # 1,234,567 (groups of three digits)
            groups = re.compile(r"(?:,\d{3}(?!\d))+").match(s, end)
            if groups and not re.match(r",\d", s[groups.end():]):
                text += groups.group(0).replace(",", "")
                end = groups.end()
                dec = re.compile(r"\.\d+").match(s, end)
                if dec:
                    text += dec.group(0)
                    end = dec.end()
        exp = re.compile(r"[eE]([+-]?\d+)(?![a-zA-Z\d])").match(s, end)
        value = _decimal(text)
        decimals = len(text.split(".")[1]) if "." in text else None
        if exp and abs(int(exp.group(1)[:6])) < 10_000:
            value *= Fraction(10) ** int(exp.group(1))
            end = exp.end()
        self.tokens.append(("num", (value, decimals, text)))
        self.i = end

    def _letters(self) -> None:
        m = re.compile(r"[A-Za-z]+").match(self.s, self.i)
        assert m is not None
        self.i = m.end()
        self._emit_word(m.group(0), in_text=False)

    def _emit_word(self, word: str, in_text: bool) -> None:
        low = word.lower()
        if low in SEPARATOR_WORDS:
            self.tokens.append(("word", low))
        elif in_text and word in UNIT_WORDS:
            self.tokens.append(("unit", word))
        elif word in FUNCTIONS or low in {"sqrt"}:
            self.tokens.append(("cmd", word))
        elif word in {"pi"}:
            self.tokens.append(("cmd", "pi"))
        elif low in {"infinity", "inf"}:
            self.tokens.append(("cmd", "infty"))
        elif low in {"degree", "degrees"}:  # "30 degrees" is 30^\circ
            self.tokens.append(("cmd", "deg"))
        elif (len(word) > 1 or in_text) and (word in UNIT_WORDS or low in UNIT_WORDS):
            self.tokens.append(("unit", word if word in UNIT_WORDS else low))
        elif (len(word) == 1 and not in_text) or (len(word) == 1 and in_text):
            self.tokens.append(("ident", word))
        elif not in_text and self.formula and word.isupper() and len(word) <= 4:
            self.tokens.extend(("ident", ch) for ch in word)
        elif len(word) == 2 and not in_text and low not in _ENGLISH_2:
            self.tokens.extend(("ident", ch) for ch in word)  # xy means x*y
        else:
            self.tokens.append(("text", low))

    def _command(self) -> None:
        s = self.s
        m = re.compile(r"\\([A-Za-z]+)\s*|\\(.)").match(s, self.i)
        if not m:
            raise ParseError("dangling backslash")
        self.i = m.end()
        name = m.group(1) or m.group(2)
        if name in TEXT_COMMANDS:
            content = self._braced_raw()
            self._text_content(content)
        elif name in ("begin", "end"):
            env = self._braced_raw().strip().rstrip("*")
            if name == "begin" and env == "array":
                self._braced_raw()  # column specification
            self.tokens.append((name, env))
        elif name == "mathbb":
            content = self._braced_raw().strip()
            self.tokens.append(("cmd", "mathbb_" + content))
        elif name in ("overline", "bar") and s[self.i : self.i + 1] == "{" and re.search(
                r"[\d+\-]", content := self._peek_braced()):
            self.tokens.append(("cmd", "conj"))
            self.tokens.extend(_Lexer("{" + content + "}", self.budget).run()[:-1])
            self._braced_raw()
        elif name in DECORATIONS:
            content = self._braced_raw() if s[self.i : self.i + 1] == "{" else s[self.i : self.i + 1]
            if not content.startswith("{"):
                self.i += 0 if s[self.i - 1 : self.i] == "}" else len(content)
            self.tokens.append(("ident", f"{name}({content.strip()})"))
        elif name in ("{", "}", "$", "%", "&", "#", "_"):
            self.tokens.append(("op", {"{": "\\{", "}": "\\}", "$": "$", "%": "%", "&": "&", "#": "#",
                                       "_": "_"}[name]))
        elif name == "\\":
            self.tokens.append(("op", "\\\\"))
        else:
            self.tokens.append(("cmd", name))

    def _peek_braced(self) -> str:
        start = self.i
        try:
            return self._braced_raw()
        finally:
            self.i = start

    def _braced_raw(self) -> str:
        s = self.s
        while self.i < len(s) and s[self.i] == " ":
            self.i += 1
        if self.i >= len(s) or s[self.i] != "{":
            if self.i < len(s):  # \text x: a single character
                self.i += 1
                return s[self.i - 1]
            raise ParseError("command without argument")
        depth, start = 0, self.i
        while self.i < len(s):
            ch = s[self.i]
            if ch == "\\":
                self.i += 2
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    self.i += 1
                    return s[start + 1 : self.i - 1]
            self.i += 1
        raise ParseError("unbalanced braces")

    def _text_content(self, content: str) -> None:
        """``\\text{...}``: units, words, choice letters, or math written in text mode."""
        stripped = content.strip()
        if not stripped:
            return
        sub = _Lexer(stripped, self.budget)
        sub.tokens = []
        try:
            while sub.i < len(sub.s):
                c = sub.s[sub.i]
                if c in _LETTERS:
                    m = re.compile(r"[A-Za-z]+").match(sub.s, sub.i)
                    assert m is not None
                    sub.i = m.end()
                    sub._emit_word(m.group(0), in_text=True)
                elif c.isspace():
                    sub.i += 1
                elif c in _DIGITS or (c == "." and sub.s[sub.i + 1 : sub.i + 2] in _DIGITS and sub.i + 1 < len(sub.s)):
                    sub._number()
                elif c == "\\":
                    sub._command()
                elif c in "+-*/^_!=<>(),;[]{}|&':%":
                    sub._op(c)
                else:
                    raise ParseError(f"unexpected character {c!r}")
        except ParseError:
            self.tokens.append(("text", text_key(stripped)))
            return
        self.tokens.extend(sub.tokens)


_ENGLISH_2 = {"no", "is", "at", "of", "to", "if", "in", "on", "by", "as", "an", "be", "it", "we", "so",
              "do", "up", "he", "my", "me", "us", "am"}


def _decimal(text: str) -> Fraction:
    """Exact value of a digit string; long strings are split to stay under int()'s digit limit."""
    whole, _, frac = text.partition(".")
    digits = (whole or "0") + frac
    value = 0
    for k in range(0, len(digits), 4000):
        chunk = digits[k : k + 4000]
        value = value * 10 ** len(chunk) + int(chunk)
    return Fraction(value, 10 ** len(frac))


# ---------------------------------------------------------------------------------------------
# Parser: recursive descent over the tokens.

RELATIONS = {"=": "=", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "!=": "!=", "le": "<=",
             "ge": ">=", "ne": "!=", "lt": "<", "gt": ">", "in": "in", "approx": "~", "equiv": "=",
             "cong": "="}
_STOP_CMDS = {"cup", "cap", "pm", "mp", "setminus", "mid", "rangle", "dots", "to", "rightarrow",
              "Rightarrow", "implies", "iff", "quad", "and", "or", "lor", "land", "deg"} | set(RELATIONS)
CONSTANTS = {"pi": "pi", "infty": "inf", "infinity": "inf", "e": "e", "i": "i", "imath": "i"}


class _Parser:
    def __init__(self, tokens: list[tuple[str, object]], budget: Budget):
        self.t, self.k, self.budget, self.depth = tokens, 0, budget, 0
        self.in_abs = 0
        self.in_set = False

    # -- helpers
    def peek(self, ahead: int = 0) -> tuple[str, object]:
        return self.t[min(self.k + ahead, len(self.t) - 1)]

    def next(self) -> tuple[str, object]:
        tok = self.t[self.k]
        self.k += 1
        self.budget.check()
        return tok

    def at(self, kind: str, value: object = None) -> bool:
        tok = self.peek()
        return tok[0] == kind and (value is None or tok[1] == value)

    def at_op(self, *ops: str) -> bool:
        tok = self.peek()
        return tok[0] == "op" and tok[1] in ops

    def expect_op(self, op: str) -> None:
        tok = self.next()
        if tok != ("op", op):
            raise ParseError(f"expected {op!r}, found {tok[1]!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError("nesting too deep")

    # -- grammar
    def answer(self) -> tuple:
        items = [self.item()]
        while self.at_op(",", ";") or self.at("word") or self.at("cmd", "quad"):
            while self.at_op(",", ";") or self.at("word") or self.at("cmd", "quad"):  # "19, 46, and 82"
                self.next()
            if self.at("eof"):
                break
            items.append(self.item())
        if not self.at("eof"):
            raise ParseError(f"unexpected {self.peek()[1]!r}")
        return items[0] if len(items) == 1 else ("list", items)

    def item(self) -> tuple:
        first = self.ratio()
        ops, exprs = [], [first]
        while True:
            tok = self.peek()
            if tok[0] == "op" and tok[1] in ("=", "<", ">", "<=", ">=", "!=", "~"):
                op = str(tok[1])
            elif tok[0] == "cmd" and tok[1] in RELATIONS:
                op = RELATIONS[str(tok[1])]
            else:
                break
            self.next()
            ops.append(op)
            exprs.append(self.ratio())
        node = first if not ops else ("rel", ops, exprs)
        if self.at("unit") or self.at("text"):
            node = ("qty", node, self.unit())
        return node

    def unit(self) -> tuple:
        """A unit: words with optional integer powers, joined by ``/``, ``*``, ``per`` or nothing."""
        parts: list[tuple[str, int]] = []
        sign = 1
        while True:
            tok = self.peek()
            if tok[0] in ("unit", "text", "ident") and (tok[0] != "ident" or parts):
                if tok[0] == "ident" and str(tok[1]) not in UNIT_WORDS:
                    raise ParseError(f"unknown unit {tok[1]!r}")
                self.next()
                power = 1
                if self.at_op("^"):
                    self.next()
                    power = self._small_int()
                name = str(tok[1])
                if name == "per":
                    sign = -1
                    continue
                parts.append((name, sign * power))
                sign = 1
            elif self.at_op("/") and parts:
                self.next()
                sign = -1
            elif self.at_op("*") and parts:
                self.next()
            else:
                break
        if not parts:
            raise ParseError("expected a unit")
        return ("unit", tuple(parts))

    def _small_int(self) -> int:
        braced = self.at_op("{")
        if braced:
            self.next()
        neg = self.at_op("-")
        if neg:
            self.next()
        tok = self.next()
        if tok[0] != "num" or tok[1][0].denominator != 1:
            raise ParseError("expected an integer power")
        if braced:
            self.expect_op("}")
        return -int(tok[1][0]) if neg else int(tok[1][0])

    def ratio(self) -> tuple:
        """``a:b`` (``V_1:V_2``, ``11:21``); not inside set-builder braces, where ``:`` means "such that"."""
        parts = [self.union()]
        while self.at_op(":") and not self.in_set:
            self.next()
            parts.append(self.union())
        return parts[0] if len(parts) == 1 else ("ratio", parts)

    def union(self) -> tuple:
        parts = [self.expr()]
        while self.at("cmd", "cup") or self.at("cmd", "bigcup") or self.at_op("U"):
            self.next()
            parts.append(self.expr())
        return parts[0] if len(parts) == 1 else ("union", parts)

    def expr(self) -> tuple:
        self.enter()
        if self.at("cmd", "pm") or self.at("cmd", "mp"):
            self.next()
            node: tuple = ("pm", None, self.term())
        elif self.at_op("-"):
            self.next()
            node = ("neg", self.term())
        else:
            if self.at_op("+"):
                self.next()
            node = self.term()
        terms = [node]
        while True:
            if self.at_op("+"):
                self.next()
                terms.append(self.term())
            elif self.at_op("-"):
                self.next()
                terms.append(("neg", self.term()))
            elif self.at("cmd", "pm") or self.at("cmd", "mp"):
                self.next()
                rest = self.term()
                left = terms[0] if len(terms) == 1 else ("add", terms)
                terms = [("pm", left, rest)]
            else:
                break
        self.depth -= 1
        return terms[0] if len(terms) == 1 else ("add", terms)

    def term(self) -> tuple:
        factors = [self.signed_power()]
        while True:
            if self.at_op("*"):
                self.next()
                factors.append(self.signed_power())
            elif self.at_op("/"):
                self.next()
                den = self.signed_power()
                num = factors[0] if len(factors) == 1 else ("mul", factors)
                factors = [("div", num, den)]
            elif self._starts_factor():
                if factors[-1][0] == "num" and self.peek()[0] == "num":
                    factors[-1] = self._digit_group(factors[-1])
                    continue
                nxt = self.power()
                prev = factors[-1]
                if _is_mixed_number(prev, nxt):
                    factors[-1] = ("add", [prev, nxt])
                else:
                    factors.append(nxt)
            else:
                break
        return factors[0] if len(factors) == 1 else ("mul", factors)

    def _digit_group(self, prev: tuple) -> tuple:
        """``1 000`` is a thousand (a space as thousands separator); other side-by-side numbers are
        ambiguous (``1 1`` typesets as 11), so they are refused rather than multiplied."""
        value, _, text = self.next()[1]  # type: ignore[misc]
        if prev[2] is None and prev[1].denominator == 1 and prev[1] >= 0 and len(text) == 3 and text.isdigit():
            return ("num", prev[1] * 1000 + value, None)
        raise ParseError("two numbers side by side")

    def signed_power(self) -> tuple:
        if self.at_op("-"):
            self.next()
            return ("neg", self.signed_power())
        if self.at_op("+"):
            self.next()
        return self.power()

    def _starts_factor(self) -> bool:
        kind, value = self.peek()
        if kind in ("num", "ident"):
            return True
        if kind == "op":
            return value in ("(", "{", "\\{") or (value == "|" and not self.in_abs)
        if kind == "cmd":
            return value not in _STOP_CMDS and value not in ("right", "end")
        return kind == "begin"

    def power(self) -> tuple:
        self.enter()
        base = self.postfix(self.primary())
        if self.at_op("^"):
            self.next()
            exponent = self.exponent()
            base = self.postfix(("pow", base, exponent))
        self.depth -= 1
        return base

    def exponent(self) -> tuple:
        if self.at_op("-"):
            self.next()
            return ("neg", self.exponent())
        if self.at_op("{"):
            return self.primary()
        tok = self.peek()
        if tok[0] == "num":  # x^23 in LaTeX means x^2 3; keep the first digit only
            self.next()
            value, _, text = tok[1]
            if len(text) > 1 and text.isdigit():
                self.t.insert(self.k, ("num", (Fraction(int(text[1:])), None, text[1:])))
                return ("num", Fraction(int(text[0])), None)
            return ("num", value, None)
        return self.primary()

    def postfix(self, node: tuple) -> tuple:
        while True:
            if self.at_op("!"):
                self.next()
                node = ("fact", node)
            elif self.at_op("%"):
                self.next()
                node = ("pct", node)
            elif self.at("cmd", "deg"):
                self.next()
                node = ("deg", node)
            elif self.at_op("'"):
                self.next()
                if node[0] == "sym":
                    node = ("sym", node[1] + "'")
            else:
                return node

    def arg(self) -> tuple:
        """A command argument: ``{...}`` or a single token (``\\frac12`` takes one digit)."""
        if self.at_op("{"):
            self.next()
            inner = self.inner_answer("}")
            return inner
        tok = self.peek()
        if tok[0] == "num":
            self.next()
            value, decimals, text = tok[1]
            if text.isdigit() and len(text) > 1:
                self.t.insert(self.k, ("num", (Fraction(int(text[1:])), None, text[1:])))
                return ("num", Fraction(int(text[0])), None)
            return ("num", value, decimals)
        return self.primary()

    def inner_answer(self, close: str) -> tuple:
        """Items up to a closing token; a single item is returned bare, several as a list."""
        self.enter()
        items = [self.item()]
        while self.at_op(",", ";"):
            self.next()
            items.append(self.item())
        self.expect_op(close)
        self.depth -= 1
        return items[0] if len(items) == 1 else ("list", items)

    def primary(self) -> tuple:
        self.enter()
        node = self._primary()
        self.depth -= 1
        return node

    def _primary(self) -> tuple:
        kind, value = self.next()
        if kind == "num":
            v, decimals, _ = value  # type: ignore[misc]
            return ("num", v, decimals)
        if kind == "ident":
            name = str(value)
            if name in ("e", "i") and not self.at_op("_"):
                return ("const", CONSTANTS[name])
            name = self._subscripted(name)
            if len(name) == 1 and self.at_op("(") and self._call_ahead(name):
                self.next()
                args = self.inner_answer(")")
                return ("call", name, args[1] if args[0] == "list" else [args])
            return ("sym", name)
        if kind == "op":
            return self._bracketed(str(value))
        if kind == "cmd":
            return self._command(str(value))
        if kind == "begin":
            return self._environment(str(value))
        if kind in ("unit", "text"):
            raise ParseError(f"unexpected word {value!r}")
        raise ParseError(f"unexpected {value!r}")

    def _call_ahead(self, name: str) -> bool:
        """``f(x)``/``y(0)``: a parenthesised list of symbols or numbers right after a function name, or
        after any letter when ``=`` follows (``W(n) = 1`` names a value of W)."""
        j = self.k + 1
        while self.t[j][0] in ("ident", "num") or self.t[j] == ("op", ","):
            j += 1
        if self.t[j] != ("op", ")") or j == self.k + 1:
            return False
        return name in "fghFGHPQy" or self.t[j + 1] == ("op", "=")

    def _subscripted(self, name: str) -> str:
        if not self.at_op("_"):
            return name
        self.next()
        if self.at_op("{"):
            self.next()
            parts = []
            depth = 1
            while depth:
                tok = self.next()
                if tok[0] == "eof":
                    raise ParseError("unbalanced subscript")
                if tok == ("op", "{"):
                    depth += 1
                elif tok == ("op", "}"):
                    depth -= 1
                    if not depth:
                        break
                parts.append(str(tok[1][2] if tok[0] == "num" else tok[1]))  # type: ignore[index]
            return f"{name}_{''.join(parts)}"
        tok = self.next()
        if tok[0] == "num":
            text = tok[1][2]  # type: ignore[index]
            if len(text) > 1 and text.isdigit():  # x_12 is x_1 times 2 in LaTeX; keep x_1
                self.t.insert(self.k, ("num", (Fraction(int(text[1:])), None, text[1:])))
                text = text[0]
            return f"{name}_{text}"
        return f"{name}_{tok[1]}"

    def _bracketed(self, op: str) -> tuple:
        if op == "{":
            return self.inner_answer("}")
        if op in ("(", "["):
            items = [self.item()]
            while self.at_op(",", ";"):
                self.next()
                items.append(self.item())
            close = self.next()
            if close not in (("op", ")"), ("op", "]")):
                raise ParseError(f"unclosed {op!r}")
            if len(items) == 1 and op == "(" and close[1] == ")":
                return items[0]
            if len(items) == 1 and op == "[" and close[1] == "]":
                return items[0]
            return ("brk", op, str(close[1]), items)
        if op == "\\{":
            return self._set()
        if op == "|":
            self.in_abs += 1
            inner = self.expr()
            self.in_abs -= 1
            self.expect_op("|")
            return ("abs", inner)
        raise ParseError(f"unexpected {op!r}")

    def _set(self) -> tuple:
        if self.at_op("\\}"):
            self.next()
            return ("set", [])
        self.in_set, outer = True, self.in_set
        try:
            first = self.item()
        finally:
            self.in_set = outer
        if self.at_op("|", ":") or self.at("cmd", "mid"):
            self.next()
            cond = self.item()
            self.expect_op("\\}")
            var = first[1] if first[0] == "sym" else None
            return ("setof", var, cond)
        items = [first]
        while self.at_op(",", ";"):
            self.next()
            items.append(self.item())
        self.expect_op("\\}")
        return ("set", items)

    def _environment(self, env: str) -> tuple:
        if env not in MATRIX_ENVS:
            raise ParseError(f"environment {env!r} is not an answer")
        rows: list[list[tuple]] = [[]]
        while True:
            if self.at("end"):
                self.next()
                break
            if self.at("eof"):
                raise ParseError("unterminated matrix")
            rows[-1].append(self.expr())
            if self.at_op("&"):
                self.next()
            elif self.at_op("\\\\"):
                self.next()
                rows.append([])
        rows = [r for r in rows if r]
        if not rows or len({len(r) for r in rows}) != 1:
            raise ParseError("ragged matrix")
        return ("matrix", rows)

    def _command(self, name: str) -> tuple:
        if name in CONSTANTS:
            return ("const", CONSTANTS[name])
        if name == "frac":
            num = self.arg()
            den = self.arg()
            return ("div", num, den)
        if name == "sqrt":
            index = None
            if self.at_op("["):
                self.next()
                index = self.expr()
                self.expect_op("]")
            return ("root", index, self.arg())
        if name == "conj":
            return ("func", "conj", self.arg())
        if name in ("binom", "choose"):
            return ("binom", self.arg(), self.arg())
        if name in FUNCTIONS:
            return self._function(name)
        if name in ("emptyset",):
            return ("set", [])
        if name.startswith("mathbb_"):
            if name in ("mathbb_R", "mathbb_{R}"):
                return ("reals",)
            raise ParseError(f"unsupported set {name[7:]}")
        if name == "langle":
            items = [self.expr()]
            while self.at_op(","):
                self.next()
                items.append(self.expr())
            if not self.at("cmd", "rangle"):
                raise ParseError("unclosed \\langle")
            self.next()
            return ("brk", "(", ")", items)
        if name in ("lfloor", "lceil"):
            inner = self.expr()
            self.next()
            return ("func", "floor" if name == "lfloor" else "ceil", inner)
        if name in ("pm", "mp"):
            return ("pm", None, self.power())
        if name in GREEK:
            return ("sym", self._subscripted(name))
        if name in ("dots", "to", "rightarrow", "Rightarrow", "implies", "iff", "int", "sum", "prod",
                    "lim", "forall", "exists", "neg", "partial", "nabla", "circ", "mid"):
            raise ParseError(f"\\{name} is not supported")
        if name.isalpha() and len(name) > 1:
            return ("sym", self._subscripted(name))  # an unknown command names a symbol
        raise ParseError(f"unexpected \\{name}")

    def _function(self, name: str) -> tuple:
        base = None
        power = None
        if name == "log" and self.at_op("_"):
            self.next()
            base = self.arg()
        if self.at_op("^"):
            self.next()
            power = self.exponent()
        if name == "log" and base is None and self.at_op("_"):
            self.next()
            base = self.arg()
        if self.at_op("("):
            self.next()
            inner = self.inner_answer(")")
            arg = inner
            arg = self.postfix(arg)
        elif self.at_op("{"):
            arg = self.arg()
        else:  # \sin 2x: the argument is the product of the factors that follow
            factors = [self.power()]
            while self._starts_factor() and not (self.peek()[0] == "cmd" and self.peek()[1] in FUNCTIONS):
                factors.append(self.power())
            arg = factors[0] if len(factors) == 1 else ("mul", factors)
        if name in ("max", "min", "gcd", "lcm"):
            args = arg[1] if arg[0] == "list" else [arg]
            node: tuple = ("func", name, tuple(args))
        elif name in ("log", "lg"):
            node = ("log", base if base is not None else ("num", Fraction(10), None), arg)
        elif name == "ln":
            node = ("log", None, arg)
        elif name == "sqrt":
            node = ("root", None, arg)
        else:
            if power is not None and power == ("neg", ("num", Fraction(1), None)):
                return ("func", "arc" + name if not name.startswith("arc") else name, arg)
            node = ("func", name, arg)
        return ("pow", node, power) if power is not None else node


def _is_mixed_number(prev: tuple, nxt: tuple) -> bool:
    """``3\\frac12`` is three and a half, not three halves."""
    if prev[0] != "num" or prev[1].denominator != 1 or prev[2] is not None or nxt[0] != "div":
        return False
    num, den = nxt[1], nxt[2]
    return (num[0] == "num" and den[0] == "num" and num[1].denominator == 1 and den[1].denominator == 1
            and 0 < num[1] < den[1])


def parse(text: str, budget: Budget | None = None, thousands: bool = True) -> tuple:
    """Parse an answer into a tree (see the module docstring for the nodes).

    ``thousands=False`` reads ``158,157`` as two numbers rather than one (an ambiguous spelling).
    """
    budget = budget or Budget(1.0)
    s = normalize(text)
    if len(s) > MAX_LENGTH:
        raise ParseError(f"answer longer than {MAX_LENGTH} characters")
    s = _number_words(s)
    tokens = _Lexer(s, budget, thousands).run()
    if any(kind == "text" for kind, _ in tokens) and not _only_trailing_words(tokens):
        return ("text", text_key(text))
    try:
        return _Parser(tokens, budget).answer()
    except RecursionError as exc:
        raise ParseError("nesting too deep") from exc


def _only_trailing_words(tokens: list[tuple[str, object]]) -> bool:
    """True when free words appear only as labels after values (``5 apples, 3 pears``)."""
    seen_value = False
    for kind, value in tokens:
        if kind == "text":
            if not seen_value:
                return False
        elif kind in ("num", "ident", "cmd"):
            seen_value = True
        elif (kind == "op" and value in (",", ";")) or kind == "word":
            seen_value = False
    return True
