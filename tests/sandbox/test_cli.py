"""``rlvr sandbox run FILE.py`` from the shell."""

import json
import subprocess
import sys


def rlvr(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "train.cli", *args], capture_output=True, text=True, input=stdin)


def test_runs_a_file_with_stdin(tmp_path):
    program = tmp_path / "rev.py"
    program.write_text("print(input()[::-1])")
    (tmp_path / "in.txt").write_text("hello\n")
    done = rlvr("sandbox", "run", str(program), "--stdin", str(tmp_path / "in.txt"))
    assert done.returncode == 0 and done.stdout == "olleh\n" and "ok (exit 0)" in done.stderr


def test_timeout_exit_code_json_and_bad_file(tmp_path):
    done = rlvr("sandbox", "run", "-", "--timeout", "0.3", stdin="while True: pass")
    assert done.returncode == 124 and "timeout" in done.stderr
    done = rlvr("sandbox", "run", "-", "--json", stdin="import sys; print('x'); sys.exit(4)")
    result = json.loads(done.stdout)
    assert done.returncode == 4 and result["status"] == "error" and result["stdout"] == "x\n"
    assert result["isolation"] == "full"
    done = rlvr("sandbox", "run", str(tmp_path / "missing.py"))
    assert done.returncode == 2 and "No such file" in done.stderr
