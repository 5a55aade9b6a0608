"""Every docstring example in the packages runs and shows what the code returns."""

import doctest
import importlib
import pkgutil

import pytest

import datagen
import sandbox
import train
import verifiers

MODULES = sorted(
    name for package in (verifiers, sandbox, datagen, train)
    for _, name, _ in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    if not name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} failing example(s) in {name}"
