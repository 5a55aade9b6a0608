"""Seeded generators of math and code problems with gold answers and worked solutions.

>>> from datagen import generate, list_tasks
>>> "arithmetic" in list_tasks()
True
>>> generate("arithmetic", n=2, seed=1, difficulty=1)[0]["verifier"]
'math'
"""

from datagen.api import dedupe, generate, generate_mix, list_kinds, mix_rows, split, to_corpus
from datagen.registry import list_tasks

__all__ = ["dedupe", "generate", "generate_mix", "list_kinds", "list_tasks", "mix_rows", "split", "to_corpus"]
