"""``code_function`` and ``code_stdio``: write a Python function, or a stdin-to-stdout program, from a
description. The code verifier runs the answer on the problem's tests in the sandbox.

Each template holds a reference solution as source text with ``$`` placeholders for the function
name, the parameter names and its constants (a rotation's k, a cipher's shift). A problem fills them
in at random; the filled-in source is the gold answer, and that same text, run here (it is our own
code, so trusted), computes every expected value: the answer and its tests cannot drift apart.
Function references are called directly. Program references read with ``input()`` and write with
``print()``, and run here with those two names bound to string buffers.

Difficulty picks the template (each has a base difficulty, the lowest that uses it, and harder ones
are drawn more often as difficulty rises), the number of test cases (call: 3 + difficulty random
cases, stdio: 2 + difficulty // 2, plus each template's edge cases) and the size of the inputs
(list lengths up to 2 + 2 × difficulty, larger numbers, more lines). Edge cases cover empty and
one-element inputs, negatives and duplicates, and random cases are added until the expected results
differ, so no constant answer passes.

>>> import json, random
>>> item = code_function(random.Random(0), 3)
>>> item.answer.startswith("```python"), json.loads(item.tests)["kind"], item.solution.endswith(item.answer)
(True, 'call', True)
>>> json.loads(code_stdio(random.Random(0), 3).tests)["kind"]
'stdio'
"""

from __future__ import annotations

import functools
import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from string import Template
from types import CodeType
from typing import Any

from datagen.registry import Item, task

_VOCAB = ("apple", "river", "stone", "cloud", "tiger", "lemon", "green", "house", "light", "storm", "bread",
          "chair", "music", "ocean", "pilot", "quiet", "sun", "map", "ink", "owl", "fox", "tea", "day", "red")
_PRIMES = [p for p in range(2, 400) if all(p % q for q in range(2, int(p**0.5) + 1))]
_CLOSE = {"(": ")", "[": "]", "{": "}"}
_WORD_PAIRS = (("Fizz", "Buzz"), ("Foo", "Bar"), ("Ping", "Pong"), ("Tick", "Tock"))


def _none(rng: random.Random) -> dict:
    return {}


def _one(*names: str) -> tuple[tuple[str, ...], ...]:
    """Signatures of one parameter, one per name."""
    return tuple((name,) for name in names)


_NUMS = _one("nums", "values", "numbers", "arr", "data", "seq")
_TEXT = _one("s", "text", "sentence", "line", "phrase")
_STRS = _one("words", "strings", "names", "tokens")
_INT = _one("n", "num", "number")
_GRID = _one("matrix", "grid", "rows", "table")


@dataclass(frozen=True)
class _Function:
    """A ``code_function`` template. ``text`` completes "Write a function `f(a)` that ..."."""

    name: str
    base: int
    fns: tuple[str, ...]
    params: tuple[tuple[str, ...], ...]  # whole signatures to choose from; ``$a``, ``$b`` in the texts
    text: str
    how: str
    source: str
    inputs: Callable[[random.Random, int, dict], list]  # one random argument list at a difficulty
    edges: tuple[tuple, ...] = ()  # each a tuple of arguments
    consts: Callable[[random.Random], dict] = _none
    float_tol: float | None = None


@dataclass(frozen=True)
class _Program:
    """A ``code_stdio`` template: ``text`` says what the input holds and what to print."""

    name: str
    base: int
    text: str
    how: str
    source: str
    inputs: Callable[[random.Random, int, dict], str]  # one random stdin at a difficulty
    edges: tuple[str, ...] = ()  # may use the constants' placeholders
    consts: Callable[[random.Random], dict] = _none


# ---------------------------------------------------------------------------------------------
# Random inputs. ``d`` is the difficulty.


def _length(rng: random.Random, d: int, low: int = 0) -> int:
    return rng.randint(low, 2 + 2 * d)


def _nums(rng: random.Random, d: int, low: int = 0, mag: int | None = None, neg: bool = True) -> list[int]:
    m = mag or 5 + 5 * d
    return [rng.randint(-m if neg else 0, m) for _ in range(_length(rng, d, low))]


def _words(rng: random.Random, d: int, low: int = 1, vocab: tuple[str, ...] = _VOCAB) -> list[str]:
    return [rng.choice(vocab) for _ in range(_length(rng, d, low))]


def _mixed_case(rng: random.Random, text: str) -> str:
    return "".join(ch.upper() if rng.random() < 0.3 else ch for ch in text)


def _letters(rng: random.Random, n: int, alphabet: str = "abc") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _palindrome(rng: random.Random, d: int, alphabet: str = "abc") -> str:
    if rng.random() < 0.5:
        return _letters(rng, rng.randint(1, 2 + d), alphabet)
    half = _letters(rng, rng.randint(0, 1 + d // 2), alphabet)
    return half + _letters(rng, rng.randint(0, 1), alphabet) + half[::-1]


def _decorated(rng: random.Random, text: str) -> str:
    """Letters with random capitals, spaces and punctuation between them."""
    return "".join(rng.choice(("", "", "", " ", ",", "!")) + _mixed_case(rng, ch) for ch in text)


def _brackets(rng: random.Random, d: int) -> str:
    out, stack = [], []
    for _ in range(rng.randint(1, 2 + d)):
        if stack and rng.random() < 0.5:
            out.append(_CLOSE[stack.pop()])
        else:
            stack.append(rng.choice("([{"))
            out.append(stack[-1])
        if rng.random() < 0.2:
            out.append(rng.choice("xyz"))
    out += [_CLOSE[b] for b in reversed(stack)]
    if rng.random() < 0.5:  # break it: drop one character or swap in another bracket
        i = rng.randrange(len(out))
        out[i : i + 1] = [] if rng.random() < 0.5 else [rng.choice("()[]{}")]
    return "".join(out)


def _balanced_parens(rng: random.Random, d: int) -> str:
    out, depth = [], 0
    for _ in range(rng.randint(1, 2 + 2 * d)):
        if depth and rng.random() < 0.45:
            out.append(")")
            depth -= 1
        elif rng.random() < 0.75:
            out.append("(")
            depth += 1
        else:
            out.append(rng.choice("xy"))
    return "".join(out) + ")" * depth


def _matrix(rng: random.Random, rows: int, cols: int, mag: int = 9) -> list[list[int]]:
    return [[rng.randint(-mag, mag) for _ in range(cols)] for _ in range(rows)]


def _two_sum_args(rng: random.Random, d: int, c: dict) -> list:
    nums = _nums(rng, d, low=2)
    if rng.random() < 0.7:
        i, j = rng.sample(range(len(nums)), 2)
        return [nums, nums[i] + nums[j]]
    return [nums, rng.randint(-20, 20)]


def _prefixed_words(rng: random.Random, d: int, c: dict) -> list:
    prefix = _letters(rng, rng.randint(0, 3), "ab")
    words = [prefix + _letters(rng, rng.randint(0, 3), "abc") for _ in range(rng.randint(1, 2 + d // 2))]
    if rng.random() < 0.2:
        words.insert(rng.randint(0, len(words)), _letters(rng, rng.randint(0, 3), "abc"))
    return [words]


def _anagram_pair(rng: random.Random, d: int, c: dict) -> list:
    first = _letters(rng, rng.randint(1, 2 + d), "abcd")
    other = list(first) if rng.random() < 0.5 else list(_letters(rng, len(first) + rng.randint(0, 1), "abcd"))
    rng.shuffle(other)
    return [first, "".join(other)]


def _scrambled(rng: random.Random, word: str) -> str:
    letters = list(word)
    rng.shuffle(letters)
    return "".join(letters)



# ---------------------------------------------------------------------------------------------
# code_function templates. Each edge case is a tuple of arguments.


_FUNCTIONS: tuple[_Function, ...] = (
    _Function(
        "sum_parity", 1, ("sum_${kind}s", "${kind}_total", "add_${kind}s"), _NUMS,
        "returns the sum of the $kind numbers in the list of integers `$a` (0 when there are none).",
        "Keep the numbers whose remainder mod 2 is $r and add them up.",
        "def $fn($a):\n    return sum(v for v in $a if v % 2 == $r)\n",
        lambda rng, d, c: [_nums(rng, d)], edges=(([],), ([-3],), ([2, -4, 5, 7],)),
        consts=lambda rng: dict(zip(("kind", "r"), rng.choice((("even", 0), ("odd", 1))))),
    ),
    _Function(
        "count_above", 1, ("count_above", "count_greater", "num_above"), _NUMS,
        "returns how many elements of the list of integers `$a` are strictly greater than $t.",
        "Compare each element with the threshold $t and count.",
        "def $fn($a):\n    return sum(1 for v in $a if v > $t)\n",
        lambda rng, d, c: [_nums(rng, d)], edges=(([],), ([0],)),
        consts=lambda rng: {"t": rng.randint(-5, 6)},  # values reach 10 at difficulty 1
    ),
    _Function(
        "prefix_sums", 1, ("prefix_sums", "running_total", "cumulative_sum"), _NUMS,
        "returns the list of running totals of `$a`: element i is the sum of the first i + 1 elements.",
        "Carry a running total through the list and record it after each element.",
        "def $fn($a):\n    out, total = [], 0\n    for v in $a:\n        total += v\n        out.append(total)\n"
        "    return out\n",
        lambda rng, d, c: [_nums(rng, d)], edges=(([],), ([-4],)),
    ),
    _Function(
        "pairwise_diff", 1, ("pairwise_diff", "consecutive_differences", "deltas"), _NUMS,
        "returns the list of differences between consecutive elements of `$a`: element i + 1 minus element i "
        "(an empty list when `$a` has fewer than two elements).",
        "Subtract each element from the one after it.",
        "def $fn($a):\n    return [$a[i + 1] - $a[i] for i in range(len($a) - 1)]\n",
        lambda rng, d, c: [_nums(rng, d)], edges=(([],), ([5],), ([3, 3, -3],)),
    ),
    _Function(
        "fizzbuzz", 1, ("fizzbuzz", "${w1}_${w2}", "label_numbers"), _INT,
        "returns a list of strings for the numbers 1 to `$a` inclusive: '$w1$w2' when the number is divisible "
        "by both $p and $q, '$w1' when only by $p, '$w2' when only by $q, otherwise the number itself as a "
        "string.",
        "Build each label from the two divisibility tests; an empty label means the number itself.",
        "def $fn($a):\n    out = []\n    for i in range(1, $a + 1):\n        label = ''\n"
        "        if i % $p == 0:\n            label += $w1\n        if i % $q == 0:\n            label += $w2\n"
        "        out.append(label or str(i))\n    return out\n",
        lambda rng, d, c: [rng.randint(2, 5 + 3 * d)], edges=((0,), (1,)),
        consts=lambda rng: dict(zip(("p", "q", "w1", "w2"), (*rng.sample(range(2, 8), 2), *rng.choice(_WORD_PAIRS)))),
    ),
    _Function(
        "digit_sum", 1, ("digit_sum", "sum_of_digits", "add_digits"), _INT,
        "returns the sum of the decimal digits of the integer `$a` (ignore its sign).",
        "Write the absolute value in decimal and add up its digits.",
        "def $fn($a):\n    return sum(int(ch) for ch in str(abs($a)))\n",
        lambda rng, d, c: [rng.choice((-1, 1)) * rng.randint(0, 10 ** (1 + d // 2))], edges=((0,), (-7,)),
    ),
    _Function(
        "reverse_words", 1, ("reverse_words", "words_backwards", "flip_sentence"), _TEXT,
        "returns the words of the string `$a` (separated by whitespace) in reverse order, joined by single "
        "spaces.",
        "Split on whitespace, reverse the list of words, join with spaces.",
        "def $fn($a):\n    return ' '.join(reversed($a.split()))\n",
        lambda rng, d, c: [" " * rng.randint(0, d // 4) + " ".join(_words(rng, d)) + " " * rng.randint(0, 2)],
        edges=(("",), ("one",)),
    ),
    _Function(
        "is_palindrome", 1, ("is_palindrome", "reads_same_backwards", "palindromic"), _TEXT,
        "returns True when the string `$a` reads the same forwards and backwards (exactly, character by "
        "character), else False.",
        "Compare the string with its reverse.",
        "def $fn($a):\n    return $a == $a[::-1]\n",
        lambda rng, d, c: [_palindrome(rng, d)], edges=(("",), ("a",), ("ab",)),
    ),
    _Function(
        "count_vowels", 1, ("count_vowels", "vowel_count", "num_vowels"), _TEXT,
        "returns how many characters of the string `$a` are vowels, taking the vowels to be the letters "
        "$shown in upper or lower case.",
        "Lower-case the string and count the characters that are in the vowel set.",
        "def $fn($a):\n    return sum(1 for ch in $a.lower() if ch in $vowels)\n",
        lambda rng, d, c: [_mixed_case(rng, " ".join(_words(rng, d)))], edges=(("",), ("BCD",)),
        consts=lambda rng: (lambda v: {"vowels": v, "shown": ", ".join(v)})(rng.choice(("aeiou", "aeiouy"))),
    ),
    _Function(
        "title_case", 1, ("title_case", "capitalize_words", "headline"), _TEXT,
        "splits the string `$a` on single spaces and returns it with the first character of each piece in "
        "upper case and the rest in lower case, joined again by single spaces.",
        "Capitalise each space-separated piece by hand: upper first character, lower the rest.",
        "def $fn($a):\n    return ' '.join(w[:1].upper() + w[1:].lower() for w in $a.split(' '))\n",
        lambda rng, d, c: [_mixed_case(rng, " ".join(_words(rng, d)))], edges=(("",), ("x",)),
    ),
    _Function(
        "running_max", 2, ("running_max", "prefix_max", "max_so_far"), _NUMS,
        "returns a list whose element i is the largest of the first i + 1 elements of `$a`.",
        "Keep the maximum seen so far while walking the list.",
        "def $fn($a):\n    out = []\n    for v in $a:\n        out.append(v if not out else max(out[-1], v))\n"
        "    return out\n",
        lambda rng, d, c: [_nums(rng, d)], edges=(([],), ([-4],), ([3, 1, 3, 2],)),
    ),
    _Function(
        "rotate", 2, ("rotate", "rotate_$dir", "shift_list"), _NUMS,
        "returns a new list with the elements of `$a` rotated $dir by $k positions (elements that fall off "
        "one end come back at the other; an empty list stays empty).",
        "Rotating by the length changes nothing, so reduce the shift modulo the length and slice.",
        "def $fn($a):\n    if not $a:\n        return []\n    k = $shift % len($a)\n"
        "    return $a[len($a) - k:] + $a[:len($a) - k]\n",
        lambda rng, d, c: [_nums(rng, d)], edges=(([],), ([9],)),
        consts=lambda rng: (lambda k, right: {"k": k, "dir": "right" if right else "left",
                                              "shift": k if right else -k})(rng.randint(1, 6), rng.random() < 0.5),
    ),
    _Function(
        "dedupe", 2, ("dedupe", "unique_in_order", "remove_duplicates"), _NUMS,
        "returns the elements of `$a` without duplicates, keeping the first occurrence of each value, in order.",
        "Walk the list with a set of values already seen.",
        "def $fn($a):\n    seen, out = set(), []\n    for v in $a:\n        if v not in seen:\n"
        "            seen.add(v)\n            out.append(v)\n    return out\n",
        lambda rng, d, c: [_nums(rng, d, mag=3 + d)], edges=(([],), ([2, 2, 2],)),
    ),
    _Function(
        "move_zeros", 2, ("move_zeros", "zeros_to_end", "push_zeros"), _NUMS,
        "returns a new list with the same elements as `$a` where every 0 is moved to the end and the other "
        "elements keep their order.",
        "Keep the non-zero elements in order, then append as many zeros as were removed.",
        "def $fn($a):\n    kept = [v for v in $a if v != 0]\n    return kept + [0] * (len($a) - len(kept))\n",
        lambda rng, d, c: [[v if rng.random() < 0.6 else 0 for v in _nums(rng, d)]],
        edges=(([],), ([0],), ([0, -1, 0, 2],)),
    ),
    _Function(
        "flatten", 2, ("flatten", "flatten_once", "unnest"), _NUMS,
        "takes a list `$a` whose elements are integers or lists of integers and returns one flat list of all "
        "the integers, in order.",
        "Extend the output with each inner list and append each plain integer.",
        "def $fn($a):\n    out = []\n    for v in $a:\n        if isinstance(v, list):\n            out.extend(v)\n"
        "        else:\n            out.append(v)\n    return out\n",
        lambda rng, d, c: [[rng.randint(-9, 9) if rng.random() < 0.5 else _nums(rng, 1, mag=9)
                            for _ in range(_length(rng, d))]], edges=(([],), ([[]],), ([[1, 2], 3, [], [4]],)),
    ),
    _Function(
        "gcd_list", 2, ("gcd_list", "common_divisor", "gcd_all"), _NUMS,
        "returns the greatest common divisor of the integers in `$a` (a non-negative number; 0 for an empty "
        "list or a list of zeros).",
        "Fold math.gcd over the list starting from 0, since gcd(0, v) = |v|.",
        "import math\n\n\ndef $fn($a):\n    g = 0\n    for v in $a:\n        g = math.gcd(g, v)\n    return g\n",
        lambda rng, d, c: (lambda f: [[f * v for v in _nums(rng, d, low=1, mag=3 + 2 * d)]])(rng.randint(1, 12)),
        edges=(([],), ([0, 0],), ([-12],)),
    ),
    _Function(
        "chunk", 2, ("chunk", "split_into_chunks", "batches"), _NUMS,
        "splits `$a` into consecutive chunks of $k elements and returns the list of chunks (the last chunk may "
        "be shorter).",
        "Slice from every multiple of $k.",
        "def $fn($a):\n    return [$a[i:i + $k] for i in range(0, len($a), $k)]\n",
        lambda rng, d, c: [_nums(rng, d)], edges=(([],), ([1],)),
        consts=lambda rng: {"k": rng.randint(2, 5)},
    ),
    _Function(
        "binary_to_int", 2, ("binary_to_int", "parse_binary", "bits_value"), _one("bits", "s", "binary", "code"),
        "takes a string `$a` of the characters 0 and 1 and returns the non-negative integer it writes in base "
        "2 (0 for the empty string).",
        "Read the bits left to right, doubling the value and adding each bit.",
        "def $fn($a):\n    value = 0\n    for ch in $a:\n        value = value * 2 + int(ch)\n    return value\n",
        lambda rng, d, c: [_letters(rng, rng.randint(1, 2 + 3 * d), "01")], edges=(("",), ("0",), ("1",)),
    ),
    _Function(
        "is_prime", 2, ("is_prime", "prime", "check_prime"), _INT,
        "returns True when the integer `$a` is a prime number, else False (numbers below 2 are not prime).",
        "Trial division by every i with i * i <= n.",
        "def $fn($a):\n    if $a < 2:\n        return False\n    i = 2\n    while i * i <= $a:\n"
        "        if $a % i == 0:\n            return False\n        i += 1\n    return True\n",
        lambda rng, d, c: [rng.choice(_PRIMES[: 10 + 8 * d]) if rng.random() < 0.4 else rng.randint(0, 40 * d)],
        edges=((0,), (1,), (2,), (-7,)),
    ),
    _Function(
        "palindrome_loose", 2, ("is_palindrome", "is_loose_palindrome", "palindrome_phrase"), _TEXT,
        "returns True when the string `$a` reads the same forwards and backwards once case is ignored and "
        "every character that is not a letter or digit is dropped, else False.",
        "Keep the lower-cased letters and digits, then compare with the reverse.",
        "def $fn($a):\n    kept = [ch.lower() for ch in $a if ch.isalnum()]\n    return kept == kept[::-1]\n",
        lambda rng, d, c: [_decorated(rng, _palindrome(rng, d, "abcd"))], edges=(("",), ("!!",), ("Ab",)),
    ),
    _Function(
        "caesar", 2, ("caesar", "shift_letters", "encode"), _TEXT,
        "shifts every ASCII letter of the string `$a` forward by $k places in the alphabet, wrapping around "
        "from z to a and keeping its case, leaves every other character as it is, and returns the result.",
        "Map each letter to its alphabet index, add $k modulo 26, and map back in the same case.",
        "def $fn($a):\n    out = []\n    for ch in $a:\n        if 'a' <= ch <= 'z':\n"
        "            out.append(chr((ord(ch) - 97 + $k) % 26 + 97))\n        elif 'A' <= ch <= 'Z':\n"
        "            out.append(chr((ord(ch) - 65 + $k) % 26 + 65))\n        else:\n            out.append(ch)\n"
        "    return ''.join(out)\n",
        lambda rng, d, c: [_mixed_case(rng, " ".join(_words(rng, d))) + rng.choice(("", "!", ".", "?"))],
        edges=(("",), ("Zz!",)),
        consts=lambda rng: {"k": rng.randint(1, 25)},
    ),
    _Function(
        "char_frequency", 2, ("char_frequency", "count_chars", "letter_counts"), _TEXT,
        "returns a dict mapping each character of the string `$a` other than the space to the number of "
        "times it occurs.",
        "One pass with a dict of counts, skipping spaces.",
        "def $fn($a):\n    freq = {}\n    for ch in $a:\n        if ch != ' ':\n"
        "            freq[ch] = freq.get(ch, 0) + 1\n    return freq\n",
        lambda rng, d, c: [" ".join(_letters(rng, rng.randint(1, 4), "abcde") for _ in range(_length(rng, d, 1)))],
        edges=(("",), ("  ",)),
    ),
    _Function(
        "word_count", 2, ("word_count", "count_words", "word_frequencies"), _TEXT,
        "returns a dict mapping each word of the string `$a`, lower-cased, to how many times it occurs (words "
        "are separated by whitespace).",
        "Lower-case, split on whitespace, count with a dict.",
        "def $fn($a):\n    freq = {}\n    for w in $a.lower().split():\n        freq[w] = freq.get(w, 0) + 1\n"
        "    return freq\n",
        lambda rng, d, c: [_mixed_case(rng, " ".join(_words(rng, d, vocab=_VOCAB[:6])))], edges=(("",),),
    ),
    _Function(
        "is_anagram", 2, ("is_anagram", "same_letters", "anagrams"),
        (("s", "t"), ("a", "b"), ("first", "second"), ("word1", "word2")),
        "returns True when the strings `$a` and `$b` are anagrams (the same characters with the same counts, "
        "case-sensitive), else False.",
        "Two strings are anagrams exactly when their sorted characters are equal.",
        "def $fn($a, $b):\n    return sorted($a) == sorted($b)\n",
        _anagram_pair, edges=(("", ""), ("a", "b"), ("ab", "ba")),
    ),
    _Function(
        "mean", 2, ("mean", "average", "avg"), _NUMS,
        "returns the arithmetic mean of the integers in `$a` as a float (0.0 for an empty list).",
        "Divide the sum by the count, guarding the empty list.",
        "def $fn($a):\n    return sum($a) / len($a) if $a else 0.0\n",
        lambda rng, d, c: [_nums(rng, d, low=1)], edges=(([],), ([5],), ([-1, 2],)), float_tol=1e-9,
    ),
    _Function(
        "second_largest", 3, ("second_largest", "runner_up", "second_max"), _NUMS,
        "returns the second largest distinct value in `$a`, or None when it has fewer than two distinct "
        "values.",
        "Sort the distinct values; the second from the end is the answer when there are at least two.",
        "def $fn($a):\n    distinct = sorted(set($a))\n    return distinct[-2] if len(distinct) >= 2 else None\n",
        lambda rng, d, c: [_nums(rng, d, low=2, mag=2 + 2 * d)], edges=(([],), ([5],), ([3, 3],)),
    ),
    _Function(
        "merge_sorted", 3, ("merge_sorted", "merge", "combine_sorted"),
        (("left", "right"), ("xs", "ys"), ("first", "second"), ("a", "b")),
        "takes two lists `$a` and `$b`, each sorted in ascending order, and returns one ascending list of all "
        "their elements (duplicates kept).",
        "Two pointers: repeatedly take the smaller head, then append what is left of either list.",
        "def $fn($a, $b):\n    i = j = 0\n    out = []\n    while i < len($a) and j < len($b):\n"
        "        if $a[i] <= $b[j]:\n            out.append($a[i])\n            i += 1\n        else:\n"
        "            out.append($b[j])\n            j += 1\n    return out + $a[i:] + $b[j:]\n",
        lambda rng, d, c: [sorted(_nums(rng, d)), sorted(_nums(rng, d))],
        edges=(([], []), ([1], []), ([], [-2, 0])),
    ),
    _Function(
        "two_sum", 3, ("two_sum", "pair_indices", "find_pair"), (("nums", "target"), ("values", "goal"), ("arr", "k")),
        "returns the indices [i, j], i < j, of two elements of `$a` that add up to `$b`; when several pairs "
        "do, the one with the smallest j, and for that j the smallest i; [] when no pair does.",
        "Walk j left to right, remembering the first index of each value; look up `$b` minus the current value.",
        "def $fn($a, $b):\n    first = {}\n    for j, v in enumerate($a):\n        if $b - v in first:\n"
        "            return [first[$b - v], j]\n        first.setdefault(v, j)\n    return []\n",
        _two_sum_args, edges=(([], 0), ([3], 6), ([3, 3], 6)),
    ),
    _Function(
        "transpose", 3, ("transpose", "flip_matrix", "columns_of"), _GRID,
        "returns the transpose of the rectangular matrix `$a` (a list of rows, each a list of integers): row "
        "i of the result is column i of `$a`. An empty matrix gives [].",
        "zip(*rows) yields the columns; turn each into a list.",
        "def $fn($a):\n    return [list(col) for col in zip(*$a)]\n",
        lambda rng, d, c: [_matrix(rng, rng.randint(1, 2 + d // 2), rng.randint(1, 2 + d // 2))],
        edges=(([],), ([[1, 2, 3]],)),
    ),
    _Function(
        "most_frequent", 3, ("most_frequent", "mode", "commonest"), _NUMS,
        "returns the value that occurs most often in `$a`, the smallest such value on a tie, or None for an "
        "empty list.",
        "Count with a dict, then take the minimum by (minus count, value).",
        "def $fn($a):\n    freq = {}\n    for v in $a:\n        freq[v] = freq.get(v, 0) + 1\n    if not freq:\n"
        "        return None\n    return min(freq, key=lambda v: (-freq[v], v))\n",
        lambda rng, d, c: [_nums(rng, d, low=1, mag=3 + d // 2)], edges=(([],), ([4, -4],)),
    ),
    _Function(
        "collatz_steps", 3, ("collatz_steps", "steps_to_one", "collatz_length"), _INT,
        "returns how many steps the Collatz process takes to reach 1 from the positive integer `$a` (a step "
        "halves an even number and sends an odd number m to 3m + 1).",
        "Simulate the process and count the steps.",
        "def $fn($a):\n    steps = 0\n    while $a != 1:\n        $a = $a // 2 if $a % 2 == 0 else 3 * $a + 1\n"
        "        steps += 1\n    return steps\n",
        lambda rng, d, c: [rng.randint(1, 10 * d * d)], edges=((1,), (2,)),
    ),
    _Function(
        "run_length", 3, ("run_length_encode", "rle", "compress"), _TEXT,
        "returns the run-length encoding of the string `$a`: each maximal run of one repeated character "
        "becomes the character followed by the run's length, so 'aaab' becomes 'a3b1'.",
        "Find each run's end with a second pointer and emit the character and the run length.",
        "def $fn($a):\n    out = []\n    i = 0\n    while i < len($a):\n        j = i\n"
        "        while j < len($a) and $a[j] == $a[i]:\n            j += 1\n        out.append($a[i] + str(j - i))\n"
        "        i = j\n    return ''.join(out)\n",
        lambda rng, d, c: ["".join(rng.choice("abc") * rng.randint(1, 2 + d // 2) for _ in range(_length(rng, d, 1)))],
        edges=(("",), ("z",)),
    ),
    _Function(
        "common_prefix", 3, ("longest_common_prefix", "common_prefix", "shared_prefix"), _STRS,
        "returns the longest string that is a prefix of every string in the list `$a` ('' for an empty list).",
        "Start from the first string and shorten it until every other string starts with it.",
        "def $fn($a):\n    if not $a:\n        return ''\n    prefix = $a[0]\n    for w in $a[1:]:\n"
        "        while not w.startswith(prefix):\n            prefix = prefix[:-1]\n    return prefix\n",
        _prefixed_words, edges=(([],), (["alone"],), (["", "abc"],)),
    ),
    _Function(
        "max_depth", 3, ("max_depth", "nesting_depth", "deepest"), _TEXT,
        "takes a string `$a` of balanced parentheses mixed with other characters and returns the maximum "
        "nesting depth of the parentheses (0 when there are none).",
        "Track the current depth, +1 on '(' and -1 on ')', and remember its maximum.",
        "def $fn($a):\n    depth = best = 0\n    for ch in $a:\n        if ch == '(':\n            depth += 1\n"
        "            best = max(best, depth)\n        elif ch == ')':\n            depth -= 1\n    return best\n",
        lambda rng, d, c: [_balanced_parens(rng, d)], edges=(("",), ("abc",)),
    ),
    _Function(
        "invert_dict", 3, ("invert_dict", "invert", "group_by_value"), _one("d", "mapping", "table", "lookup"),
        "takes a dict `$a` from strings to strings and returns a dict mapping each value to the sorted list of "
        "the keys that map to it.",
        "Collect the keys per value, then sort each list.",
        "def $fn($a):\n    out = {}\n    for key, val in $a.items():\n        out.setdefault(val, []).append(key)\n"
        "    return {val: sorted(keys) for val, keys in out.items()}\n",
        lambda rng, d, c: [{key: rng.choice("xyz") for key in rng.sample(_VOCAB, _length(rng, d, 1))}],
        edges=(({},), ({"a": "a"},)),
    ),
    _Function(
        "merge_counts", 3, ("merge_counts", "add_counts", "combine_tallies"),
        (("a", "b"), ("left", "right"), ("counts1", "counts2"), ("first", "second")),
        "takes two dicts `$a` and `$b` from strings to integers and returns a new dict with every key of "
        "either, mapped to the sum of its values in the two (a missing key counts as 0).",
        "Copy the first dict and add the second's values key by key.",
        "def $fn($a, $b):\n    out = dict($a)\n    for key, val in $b.items():\n"
        "        out[key] = out.get(key, 0) + val\n    return out\n",
        lambda rng, d, c: [{key: rng.randint(-5, 9) for key in rng.sample(_VOCAB[:8], rng.randint(0, 2 + d // 2))}
                           for _ in range(2)], edges=(({}, {}), ({"a": 1}, {})),
    ),
    _Function(
        "longest_run", 4, ("longest_increasing_run", "longest_run", "max_streak"), _NUMS,
        "returns the length of the longest contiguous run of strictly increasing elements in `$a` (0 for an "
        "empty list).",
        "Extend the current run while each element exceeds the previous one, else restart it at 1.",
        "def $fn($a):\n    best = cur = 0\n    prev = None\n    for v in $a:\n"
        "        cur = cur + 1 if prev is not None and v > prev else 1\n        best = max(best, cur)\n"
        "        prev = v\n    return best\n",
        lambda rng, d, c: [_nums(rng, d, mag=4 + d)], edges=(([],), ([1],), ([3, 3, 3],)),
    ),
    _Function(
        "count_pairs_diff", 4, ("count_pairs", "pairs_with_difference", "diff_pairs"), _NUMS,
        "returns the number of index pairs i < j such that the absolute difference of elements i and j of "
        "`$a` is exactly $k.",
        "Check every pair of positions.",
        "def $fn($a):\n    n = len($a)\n"
        "    return sum(1 for i in range(n) for j in range(i + 1, n) if abs($a[i] - $a[j]) == $k)\n",
        lambda rng, d, c: [_nums(rng, d, mag=2 + d)], edges=(([],), ([1],)),
        consts=lambda rng: {"k": rng.randint(1, 4)},
    ),
    _Function(
        "to_base", 4, ("to_base_$b", "in_base_$b", "convert_base"), _one("value", "num", "number"),
        "returns the representation of the non-negative integer `$a` in base $b as a string of digits ('0' "
        "for 0).",
        "Repeatedly take the remainder mod $b as the next digit from the right, then divide.",
        "def $fn($a):\n    if $a == 0:\n        return '0'\n    digits = ''\n    while $a > 0:\n"
        "        digits = str($a % $b) + digits\n        $a //= $b\n    return digits\n",
        lambda rng, d, c: [rng.randint(1, 20 * d * d)], edges=((0,), (1,)),
        consts=lambda rng: {"b": rng.randint(2, 9)},
    ),
    _Function(
        "balanced", 4, ("is_balanced", "balanced_brackets", "brackets_ok"), _TEXT,
        "returns True when the brackets (), [] and {} in the string `$a` are balanced and properly nested "
        "(other characters are ignored), else False.",
        "Push opening brackets on a stack; each closing bracket must match the top; the stack must end empty.",
        "def $fn($a):\n    pairs = {')': '(', ']': '[', '}': '{'}\n    stack = []\n    for ch in $a:\n"
        "        if ch in '([{':\n            stack.append(ch)\n        elif ch in pairs:\n"
        "            if not stack or stack.pop() != pairs[ch]:\n                return False\n    return not stack\n",
        lambda rng, d, c: [_brackets(rng, d)], edges=(("",), ("(",), (")(",), ("a",)),
    ),
    _Function(
        "group_anagrams", 4, ("group_anagrams", "anagram_groups", "cluster_anagrams"), _STRS,
        "groups the strings of the list `$a` that are anagrams of each other and returns the list of groups, "
        "each group sorted and the groups sorted (as lists, in Python's order).",
        "Key each string by its sorted characters, collect the groups in a dict, then sort.",
        "def $fn($a):\n    groups = {}\n    for w in $a:\n        groups.setdefault(''.join(sorted(w)), []).append(w)\n"
        "    return sorted(sorted(g) for g in groups.values())\n",
        lambda rng, d, c: [[_scrambled(rng, rng.choice(("abc", "aab", "tea", "stop", "xy")))
                            for _ in range(_length(rng, d, 1))]], edges=(([],), (["a"],)),
    ),
    _Function(
        "rank_names", 4, ("rank_names", "leaderboard", "order_by_score"), _one("pairs", "records", "entries"),
        "takes a list `$a` of [name, score] pairs (a string and an integer) and returns the names ordered by "
        "score from highest to lowest, ties in alphabetical order.",
        "Sort by the key (minus score, name) and keep the names.",
        "def $fn($a):\n    return [name for name, score in sorted($a, key=lambda p: (-p[1], p[0]))]\n",
        lambda rng, d, c: [[[name, rng.randint(0, 3 + d)] for name in rng.sample(_VOCAB, _length(rng, d))]],
        edges=(([],), ([["solo", 1]],)),
    ),
    _Function(
        "max_subarray", 5, ("max_subarray_sum", "best_segment", "kadane"), _NUMS,
        "returns the largest sum of a non-empty contiguous sublist of the non-empty list of integers `$a`.",
        "Kadane: the best sum ending here is this element or this element plus the best ending just before.",
        "def $fn($a):\n    best = cur = $a[0]\n    for v in $a[1:]:\n        cur = max(v, cur + v)\n"
        "        best = max(best, cur)\n    return best\n",
        lambda rng, d, c: [_nums(rng, d, low=1)], edges=(([-3],), ([-5, -2, -9],), ([4],)),
    ),
    _Function(
        "product_except_self", 5, ("product_except_self", "products_of_others", "exclusive_products"), _NUMS,
        "returns a list whose element i is the product of all elements of `$a` except element i (the empty "
        "product is 1).",
        "Multiply the prefix product before i by the suffix product after i, in two passes.",
        "def $fn($a):\n    out = [1] * len($a)\n    left = 1\n    for i in range(len($a)):\n        out[i] = left\n"
        "        left *= $a[i]\n    right = 1\n    for i in range(len($a) - 1, -1, -1):\n        out[i] *= right\n"
        "        right *= $a[i]\n    return out\n",
        lambda rng, d, c: [[rng.randint(-4, 4) for _ in range(rng.randint(0, 2 + d))]],
        edges=(([],), ([7],), ([0, 0],)),
    ),
    _Function(
        "top_k_words", 5, ("top_words", "most_common_words", "top_${k}_words"), _STRS,
        "returns the $k most frequent strings in the list `$a`, most frequent first, ties in alphabetical "
        "order (fewer when there are fewer distinct strings).",
        "Count with a dict, sort the distinct strings by (minus count, string), keep the first $k.",
        "def $fn($a):\n    freq = {}\n    for w in $a:\n        freq[w] = freq.get(w, 0) + 1\n"
        "    return sorted(freq, key=lambda w: (-freq[w], w))[:$k]\n",
        lambda rng, d, c: [_words(rng, d, vocab=_VOCAB[: 3 + d // 2])], edges=(([],), (["one"],)),
        consts=lambda rng: {"k": rng.randint(1, 4)},
    ),
    _Function(
        "summary_ranges", 5, ("summary_ranges", "compress_ranges", "describe_runs"), _NUMS,
        "takes a list `$a` of distinct integers in ascending order and returns its runs of consecutive "
        "integers as strings: 'a->b' for a run from a to b, or 'a' for a run of one number.",
        "Extend each run while the next number is one more, then emit it.",
        "def $fn($a):\n    out = []\n    i = 0\n    while i < len($a):\n        j = i\n"
        "        while j + 1 < len($a) and $a[j + 1] == $a[j] + 1:\n            j += 1\n"
        "        out.append(str($a[i]) if i == j else f'{$a[i]}->{$a[j]}')\n        i = j + 1\n    return out\n",
        lambda rng, d, c: [sorted(set(_nums(rng, d, mag=3 + d)))], edges=(([],), ([5],), ([-2, -1, 0],)),
    ),
    _Function(
        "spiral", 6, ("spiral_order", "spiral", "walk_spiral"), _GRID,
        "returns the elements of the rectangular matrix `$a` (a list of rows) in clockwise spiral order, "
        "starting at the top-left corner ([] for an empty matrix).",
        "Take the top row, rotate the rest counter-clockwise, repeat.",
        "def $fn($a):\n    out = []\n    rest = [list(r) for r in $a]\n    while rest:\n"
        "        out.extend(rest.pop(0))\n        rest = [list(r) for r in zip(*rest)][::-1]\n    return out\n",
        lambda rng, d, c: [_matrix(rng, rng.randint(1, 1 + d // 2), rng.randint(1, 1 + d // 2))],
        edges=(([],), ([[1], [2]],)),
    ),
)


# ---------------------------------------------------------------------------------------------
# code_stdio templates


def _lines(*rows: Any) -> str:
    return "".join(f"{row}\n" for row in rows)


def _row(values: list) -> str:
    return " ".join(map(str, values))


def _grid(rng: random.Random, d: int) -> str:
    rows, cols = rng.randint(1, 2 + d // 2), rng.randint(1, 2 + d // 2)
    density = rng.uniform(0.2, 0.6)
    return _lines(f"{rows} {cols}", *("".join("#" if rng.random() < density else "." for _ in range(cols))
                                      for _ in range(rows)))


def _rows_of(rng: random.Random, d: int) -> str:
    rows, cols = rng.randint(1, 2 + d // 2), rng.randint(1, 2 + d // 2)
    return _lines(f"{rows} {cols}", *(_row(r) for r in _matrix(rng, rows, cols, 5 * d)))


_PROGRAMS: tuple[_Program, ...] = (
    _Program(
        "sum_line", 1,
        "Input: one line of space-separated integers.\nOutput: their sum.",
        "Split the line, convert each piece to int, add them up.",
        "print(sum(int(t) for t in input().split()))\n",
        lambda rng, d, c: _lines(_row(_nums(rng, d, low=1))), edges=("5\n", "-3 3\n"),
    ),
    _Program(
        "max_of_n", 1,
        "Input: a line with n (n >= 1), then n lines with one integer each.\nOutput: the largest of the n "
        "integers.",
        "Read n, then take the maximum of the next n lines.",
        "n = int(input())\nprint(max(int(input()) for _ in range(n)))\n",
        lambda rng, d, c: (lambda v: _lines(len(v), *v))(_nums(rng, d, low=1)), edges=("1\n-5\n",),
    ),
    _Program(
        "reverse_each_word", 1,
        "Input: one line of words separated by single spaces.\nOutput: the same words in the same order, each "
        "spelled backwards, separated by single spaces.",
        "Reverse each word with a slice and join them again.",
        "print(' '.join(w[::-1] for w in input().split()))\n",
        lambda rng, d, c: _lines(" ".join(_words(rng, d))), edges=("a\n",),
    ),
    _Program(
        "sort_numbers", 1,
        "Input: one line of space-separated integers.\nOutput: the same integers sorted in $order order, on one "
        "line, separated by single spaces.",
        "Parse the integers and sort them ($order).",
        "nums = sorted(map(int, input().split()), reverse=$reverse)\nprint(*nums)\n",
        lambda rng, d, c: _lines(_row(_nums(rng, d, low=1))), edges=("42\n", "2 -2 2\n"),
        consts=lambda rng: (lambda rev: {"reverse": rev, "order": "descending" if rev else "ascending"})(
            rng.random() < 0.5),
    ),
    _Program(
        "fizzbuzz", 1,
        "Input: one integer n.\nOutput: for each i from 1 to n, one line: $w1$w2 when i is divisible by both $p "
        "and $q, $w1 when only by $p, $w2 when only by $q, otherwise i itself.",
        "Build each line's label from the two divisibility tests; an empty label means the number itself.",
        "n = int(input())\nfor i in range(1, n + 1):\n    label = ''\n    if i % $p == 0:\n        label += $w1\n"
        "    if i % $q == 0:\n        label += $w2\n    print(label or i)\n",
        lambda rng, d, c: _lines(rng.randint(2, 5 + 3 * d)), edges=("1\n",),
        consts=lambda rng: dict(zip(("p", "q", "w1", "w2"), (*rng.sample(range(2, 8), 2), *rng.choice(_WORD_PAIRS)))),
    ),
    _Program(
        "count_at_least", 1,
        "Input: a line with n, then a line of n integer scores.\nOutput: how many scores are at least $t.",
        "Compare each score with $t and count.",
        "n = int(input())\nprint(sum(1 for t in input().split() if int(t) >= $t))\n",
        lambda rng, d, c: (lambda v: _lines(len(v), _row(v)))(_nums(rng, d, low=1, mag=50 + 10 * d, neg=False)),
        edges=("1\n$t\n",),
        consts=lambda rng: {"t": rng.randint(10, 60)},
    ),
    _Program(
        "count_matching", 2,
        "Input: a line with n, then n lines of text.\nOutput: how many of the n lines contain the text "
        "'$needle'.",
        "Read each line and test it with the `in` operator.",
        "n = int(input())\ncount = 0\nfor _ in range(n):\n    if $needle in input():\n        count += 1\n"
        "print(count)\n",
        lambda rng, d, c: (lambda rows: _lines(len(rows), *rows))(
            [_letters(rng, rng.randint(1, 3 + d), "abc") for _ in range(rng.randint(1, 2 + d))]),
        edges=("1\nzzz\n",),
        consts=lambda rng: {"needle": _letters(rng, 2, "abc")},
    ),
    _Program(
        "row_sums", 2,
        "Input: a line with r and c, then r lines of c integers each.\nOutput: r lines, the sum of each row.",
        "Read each row and print its sum.",
        "r, c = map(int, input().split())\nfor _ in range(r):\n    print(sum(map(int, input().split())))\n",
        lambda rng, d, c: _rows_of(rng, d), edges=("1 1\n7\n",),
    ),
    _Program(
        "min_max", 2,
        "Input: integers separated by spaces and newlines, over one or more lines (some lines may be empty), up "
        "to the end of input; at least one integer in all.\nOutput: the smallest and the largest, on one line, "
        "separated by a space.",
        "Read lines until end of input, collect every integer, print min and max.",
        "nums = []\nwhile True:\n    try:\n        line = input()\n    except EOFError:\n        break\n"
        "    nums.extend(int(t) for t in line.split())\nprint(min(nums), max(nums))\n",
        lambda rng, d, c: _lines(*(_row(_nums(rng, d, mag=10 * d)) for _ in range(rng.randint(1, 1 + d // 2))),
                                 _row(_nums(rng, d, low=1, mag=10 * d))),
        edges=("7\n", "3 -1\n\n2\n"),
    ),
    _Program(
        "prefix_sums", 2,
        "Input: a line with n, then a line of n integers.\nOutput: one line with the n running totals (the i-th "
        "is the sum of the first i integers), separated by spaces.",
        "Carry a running total and print all of them.",
        "n = int(input())\ntotal = 0\nout = []\nfor t in input().split():\n    total += int(t)\n"
        "    out.append(total)\nprint(*out)\n",
        lambda rng, d, c: (lambda v: _lines(len(v), _row(v)))(_nums(rng, d, low=1)), edges=("1\n-4\n",),
    ),
    _Program(
        "longest_line", 2,
        "Input: a line with n, then n non-empty lines of text.\nOutput: the longest of the n lines (the first "
        "one when several are equally long).",
        "Keep the longest line so far, replacing it only when a strictly longer one comes.",
        "n = int(input())\nbest = ''\nfor _ in range(n):\n    line = input()\n    if len(line) > len(best):\n"
        "        best = line\nprint(best)\n",
        lambda rng, d, c: (lambda rows: _lines(len(rows), *rows))(
            [" ".join(_words(rng, 1)) for _ in range(rng.randint(1, 2 + d))]),
        edges=("1\nonly\n",),
    ),
    _Program(
        "digit_sums", 2,
        "Input: a line with t, the number of test cases, then t lines each holding a non-negative integer.\n"
        "Output: t lines, the sum of the decimal digits of each integer.",
        "For each test case add up the digits of the string.",
        "t = int(input())\nfor _ in range(t):\n    print(sum(int(ch) for ch in input().strip()))\n",
        lambda rng, d, c: (lambda v: _lines(len(v), *v))(
            [rng.randint(0, 10 ** rng.randint(1, 2 + d)) for _ in range(rng.randint(1, 2 + d))]),
        edges=("1\n0\n",),
    ),
    _Program(
        "word_frequency", 3,
        "Input: one line of words separated by spaces.\nOutput: each distinct word and the number of times it "
        "occurs, separated by a space, one word per line, words in alphabetical order.",
        "Count the words with a dict and print the counts in sorted order of the words.",
        "freq = {}\nfor w in input().split():\n    freq[w] = freq.get(w, 0) + 1\nfor w in sorted(freq):\n"
        "    print(w, freq[w])\n",
        lambda rng, d, c: _lines(" ".join(_words(rng, d, vocab=_VOCAB[: 3 + d]))), edges=("one\n",),
    ),
    _Program(
        "column_sums", 3,
        "Input: a line with r and c, then r lines of c integers each.\nOutput: one line with the c column sums, "
        "separated by spaces.",
        "Keep one running total per column while reading the rows.",
        "r, c = map(int, input().split())\ntotals = [0] * c\nfor _ in range(r):\n"
        "    for j, v in enumerate(map(int, input().split())):\n        totals[j] += v\nprint(*totals)\n",
        lambda rng, d, c: _rows_of(rng, d), edges=("1 3\n1 2 3\n",),
    ),
    _Program(
        "caesar_line", 3,
        "Input: a line with an integer k (0 <= k <= 25), then a line of text.\nOutput: the text with every ASCII "
        "letter shifted forward k places in the alphabet (wrapping from z to a, keeping its case); other "
        "characters unchanged.",
        "Shift each letter's alphabet index by k modulo 26 in its own case.",
        "k = int(input())\nout = []\nfor ch in input():\n    if 'a' <= ch <= 'z':\n"
        "        out.append(chr((ord(ch) - 97 + k) % 26 + 97))\n    elif 'A' <= ch <= 'Z':\n"
        "        out.append(chr((ord(ch) - 65 + k) % 26 + 65))\n    else:\n        out.append(ch)\nprint(''.join(out))\n",
        lambda rng, d, c: _lines(rng.randint(0, 25), _mixed_case(rng, " ".join(_words(rng, d))) + "!"),
        edges=("0\nAbc\n", "25\nz\n"),
    ),
    _Program(
        "pair_count", 4,
        "Input: a line with n and k, then a line of n integers.\nOutput: the number of index pairs i < j whose "
        "two integers add up to k.",
        "Check every pair of positions.",
        "n, k = map(int, input().split())\nnums = list(map(int, input().split()))\ncount = 0\nfor i in range(n):\n"
        "    for j in range(i + 1, n):\n        if nums[i] + nums[j] == k:\n            count += 1\nprint(count)\n",
        lambda rng, d, c: (lambda v: _lines(f"{len(v)} {rng.randint(-4, 4) + 2 * rng.choice(v)}", _row(v)))(
            _nums(rng, d, low=1, mag=3 + d)),
        edges=("1 10\n5\n",),
    ),
    _Program(
        "islands", 6,
        "Input: a line with r and c, then r lines of c characters, each '#' (land) or '.' (water).\nOutput: the "
        "number of islands: groups of land cells connected up, down, left or right.",
        "Scan the grid; from each unvisited land cell, flood-fill its island with a stack and count one.",
        "r, c = map(int, input().split())\ngrid = [input() for _ in range(r)]\nseen = set()\ncount = 0\n"
        "for i in range(r):\n    for j in range(c):\n        if grid[i][j] != '#' or (i, j) in seen:\n"
        "            continue\n        count += 1\n        seen.add((i, j))\n        stack = [(i, j)]\n"
        "        while stack:\n            y, x = stack.pop()\n"
        "            for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):\n"
        "                if 0 <= ny < r and 0 <= nx < c and grid[ny][nx] == '#' and (ny, nx) not in seen:\n"
        "                    seen.add((ny, nx))\n                    stack.append((ny, nx))\nprint(count)\n",
        lambda rng, d, c: _grid(rng, d), edges=("1 1\n#\n", "2 2\n..\n..\n"),
    ),
)


# ---------------------------------------------------------------------------------------------
# Generation


def _pick(rng: random.Random, templates: tuple, difficulty: int):
    """A template whose base difficulty is at most ``difficulty``, harder ones drawn more often."""
    eligible = [t for t in templates if t.base <= difficulty]
    return rng.choices(eligible, weights=[t.base for t in eligible])[0]


def _fill(text: str, values: dict) -> str:
    return Template(text).substitute(values)


def _literals(consts: dict) -> dict:
    return {key: repr(value) for key, value in consts.items()}


def _words_of(consts: dict) -> dict:
    return {key: str(value) for key, value in consts.items()}


def _fence(source: str) -> str:
    return f"```python\n{source.strip()}\n```"


def _cases(rng: random.Random, edges: list, make: Callable[[], Any], run: Callable[[Any], Any],
           n_random: int) -> tuple[list[tuple[Any, Any]], int]:
    """(input, output) pairs: the edge cases, then ``n_random`` distinct random ones, more while every
    output is the same. Returns the pairs and the index of the first random one (the prompt's example)."""
    outputs: dict[str, Any] = {}
    for key in edges:
        outputs.setdefault(key, run(key))
    first, added = len(outputs), 0
    for _ in range(20 * n_random):
        distinct = {json.dumps(v, sort_keys=True) for v in outputs.values()}
        if added >= n_random and len(distinct) >= 2:
            break
        key = make()
        if key not in outputs:
            outputs[key] = run(key)
            added += 1
    return list(outputs.items()), first


def _run_function(fn: Callable, key: str) -> Any:
    return fn(*json.loads(key))  # fresh arguments, exactly as the sandbox will see them


def _run_program(code: CodeType, stdin: str) -> str:
    """Run a reference program on ``stdin`` here, with ``input`` and ``print`` bound to buffers."""
    source, out = io.StringIO(stdin), io.StringIO()

    def read() -> str:
        line = source.readline()
        if not line:
            raise EOFError("EOF when reading a line")
        return line[:-1] if line.endswith("\n") else line

    exec(code, {"__name__": "__main__", "input": read, "print": functools.partial(print, file=out)})
    return out.getvalue()


@task("code_function", verifier="code", domain="code")
def code_function(rng: random.Random, difficulty: int) -> Item:
    """Write a Python function from a description; judged by calling it on tests."""
    t: _Function = _pick(rng, _FUNCTIONS, difficulty)
    consts = t.consts(rng)
    fn = _fill(rng.choice(t.fns), _words_of(consts))
    params = rng.choice(t.params)
    names = {"fn": fn, **dict(zip("ab", params))}
    source = _fill(t.source, {**_literals(consts), **names})
    namespace: dict[str, Any] = {"__name__": "reference"}
    exec(compile(source, "<reference>", "exec"), namespace)  # our own reference: the gold answer itself
    cases, first = _cases(rng, [json.dumps(list(e)) for e in t.edges],
                          lambda: json.dumps(t.inputs(rng, difficulty, consts)),
                          functools.partial(_run_function, namespace[fn]), 3 + difficulty)
    example_args, example = json.loads(cases[first][0]), cases[first][1]
    call = f"{fn}({', '.join(params)})"
    prompt = (f"Write a Python function `{call}` that {_fill(t.text, {**_words_of(consts), **names})}\n\n"
              f"Example: `{fn}({', '.join(map(repr, example_args))})` returns `{example!r}`.")
    tests: dict[str, Any] = {"kind": "call", "fn": fn,
                             "cases": [{"args": json.loads(key), "expected": value} for key, value in cases]}
    if t.float_tol is not None:
        tests["float_tol"] = t.float_tol
    answer = _fence(source)
    return Item(prompt, answer, f"{_fill(t.how, {**_words_of(consts), **names})}\n\n{answer}",
                {"template": t.name, "fn": fn, "params": list(params), "consts": consts, "cases": len(cases)},
                json.dumps(tests))


@task("code_stdio", verifier="code", domain="code")
def code_stdio(rng: random.Random, difficulty: int) -> Item:
    """Write a Python program that reads standard input and prints the answer; judged on stdin/stdout tests."""
    t: _Program = _pick(rng, _PROGRAMS, difficulty)
    consts = t.consts(rng)
    source = _fill(t.source, _literals(consts))
    code = compile(source, "<reference>", "exec")
    cases, first = _cases(rng, [_fill(e, _words_of(consts)) for e in t.edges],
                          lambda: t.inputs(rng, difficulty, consts),
                          functools.partial(_run_program, code), 2 + difficulty // 2)
    example_in, example_out = cases[first]
    prompt = (f"Write a Python program that reads standard input and writes the answer to standard output.\n\n"
              f"{_fill(t.text, _words_of(consts))}\n\n"
              f"Example input:\n```\n{example_in}```\nExample output:\n```\n{example_out}```")
    tests = {"kind": "stdio", "cases": [{"stdin": stdin, "stdout": stdout} for stdin, stdout in cases]}
    answer = _fence(source)
    return Item(prompt, answer, f"{_fill(t.how, _words_of(consts))}\n\n{answer}",
                {"template": t.name, "consts": consts, "cases": len(cases)}, json.dumps(tests))
