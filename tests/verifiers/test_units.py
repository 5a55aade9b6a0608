"""Unit conversion is exact and dimension-checked."""

from fractions import Fraction

from verifiers.units import to_base


def test_conversions_are_exact():
    assert to_base((("yd", 1),))[0] == 3 * to_base((("ft", 1),))[0]
    assert to_base((("h", 1),))[0] == 60 * to_base((("min", 1),))[0]
    assert to_base((("km", 1), ("h", -1)))[0] == Fraction(5, 18)
    assert to_base((("cents", 1),))[0] == Fraction(1, 100)


def test_dimensions_distinguish_area_volume_and_labels():
    assert to_base((("yd", 2),))[1] != to_base((("yd", 3),))[1]
    assert to_base((("apples", 1),))[1] == to_base((("apple", 1),))[1]
    assert to_base((("apples", 1),))[1] != to_base((("pears", 1),))[1]
    assert to_base((("mph", 1),))[1] == to_base((("km", 1), ("h", -1)))[1]
