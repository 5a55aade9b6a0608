"""``rlvr demo`` runs the main job on its built-in default and prints a table."""

from train.demo import SAMPLE, main


def test_demo_prints_a_table_of_verdicts(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") > len(SAMPLE)
    for status in ("correct", "incorrect", "no_answer"):
        assert status in out
