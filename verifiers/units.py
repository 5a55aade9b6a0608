"""Units of measure: each word maps to a factor and a dimension, so answers convert exactly.

>>> to_base((("cm", 2),))
(Fraction(1, 10000), (('L', 2),))
>>> to_base((("km", 1), ("h", -1)))[0]
Fraction(5, 18)
"""

from __future__ import annotations

from fractions import Fraction

__all__ = ["UNIT_WORDS", "to_base"]

F = Fraction
_M, _KG, _S, _USD = (("L", 1),), (("M", 1),), (("T", 1),), (("USD", 1),)
_M3 = (("L", 3),)

# word -> (factor to the base unit, dimension); plural and abbreviated spellings included
_TABLE: dict[str, tuple[Fraction, tuple]] = {}


def _add(names: str, factor: Fraction, dim: tuple) -> None:
    for name in names.split():
        _TABLE[name] = (factor, dim)


_add("m meter meters metre metres", F(1), _M)
_add("cm centimeter centimeters centimetre centimetres", F(1, 100), _M)
_add("mm millimeter millimeters millimetre millimetres", F(1, 1000), _M)
_add("km kilometer kilometers kilometre kilometres", F(1000), _M)
_add("inch inches", F(254, 10000), _M)
_add("ft foot feet", F(3048, 10000), _M)
_add("yd yard yards", F(9144, 10000), _M)
_add("mi mile miles", F(1609344, 1000), _M)
_add("g gram grams", F(1, 1000), _KG)
_add("kg kilogram kilograms", F(1), _KG)
_add("mg milligram milligrams", F(1, 10**6), _KG)
_add("lb lbs pound pounds", F(45359237, 10**8), _KG)
_add("oz ounce ounces", F(45359237, 16 * 10**8), _KG)
_add("ton tons", F(2000 * 45359237, 10**8), _KG)
_add("tonne tonnes", F(1000), _KG)
_add("s sec secs second seconds", F(1), _S)
_add("min mins minute minutes", F(60), _S)
_add("h hr hrs hour hours", F(3600), _S)
_add("day days", F(86400), _S)
_add("week weeks", F(7 * 86400), _S)
_add("L l liter liters litre litres", F(1, 1000), _M3)
_add("mL ml milliliter milliliters millilitre millilitres", F(1, 10**6), _M3)
_add("gal gallon gallons", F(3785411784, 10**12), _M3)
_add("dollar dollars USD usd $", F(1), _USD)
_add("cent cents", F(1, 100), _USD)
_add("EUR euro euros", F(1), (("EUR", 1),))
_add("GBP", F(1), (("GBP", 1),))
_add("JPY yen", F(1), (("JPY", 1),))
_add("INR rupee rupees", F(1), (("INR", 1),))
_add("mph", F(1609344, 3600 * 1000), (("L", 1), ("T", -1)))
_add("kph", F(1000, 3600), (("L", 1), ("T", -1)))
_add("N newton newtons", F(1), (("L", 1), ("M", 1), ("T", -2)))
_add("J joule joules", F(1), (("L", 2), ("M", 1), ("T", -2)))
_add("W watt watts", F(1), (("L", 2), ("M", 1), ("T", -3)))
_add("Hz hertz", F(1), (("T", -1),))
_add("Pa pascal pascals", F(1), (("L", -1), ("M", 1), ("T", -2)))
_add("per", F(1), ())

UNIT_WORDS = frozenset(_TABLE)


def to_base(parts: tuple[tuple[str, int], ...]) -> tuple[Fraction, tuple]:
    """Factor to base units and the dimension of a product of ``(word, power)`` parts.

    A word that is not a known unit (``apples``) is a dimension of its own, so ``5 apples`` equals
    ``5 apples`` and not ``5 pears``; plural and singular spellings of it agree.
    """
    factor = F(1)
    dims: dict[str, int] = {}
    for word, power in parts:
        if word in _TABLE:
            f, dim = _TABLE[word]
        else:
            label = word.lower()
            label = label[:-1] if label.endswith("s") and len(label) > 3 else label
            f, dim = F(1), (("word:" + label, 1),)
        factor *= f**power
        for name, p in dim:
            dims[name] = dims.get(name, 0) + p * power
    return factor, tuple(sorted((k, v) for k, v in dims.items() if v))
