"""The sandbox: ordinary programs work, and hostile ones get a safe outcome.

These tests run as root on our machines. An unisolated fork bomb, memory bomb or ``os.kill(-1, 9)``
would take down every process here, the test runner included, so the module first probes, with a
harmless program, that the isolation which contains the attacks is in place (its own PID namespace,
a memory limit, a size-capped working directory, an unprivileged uid, seccomp) and fails loudly,
without running any attack, where it is not.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from sandbox import ExecResult, Sandbox
from sandbox.core import _describe

LIMITS = {"timeout_s": 2.0, "memory_mb": 256, "max_output_bytes": 100_000, "disk_mb": 16}
PROBE = """
import json, os, resource
st = os.statvfs(".")
print(json.dumps({"pid": os.getpid(), "uid": os.getuid(), "as": resource.getrlimit(resource.RLIMIT_AS)[0],
                  "disk": st.f_blocks * st.f_frsize, "cwd": os.getcwd()}))
"""


def _host_mounts() -> int:
    with open("/proc/self/mounts") as f:
        return len(f.readlines())


def _sandbox_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split() and 60000 <= int(line.split()[0]) < 61000]


@pytest.fixture(scope="module")
def box():
    mounts_before = _host_mounts()
    with Sandbox(workers=2, **LIMITS) as sandbox:
        probe = sandbox.run(PROBE)
        assert probe.ok, probe
        facts = json.loads(probe.stdout)
        problems = []
        if facts["pid"] != 1:
            problems.append("no PID namespace of its own")
        if facts["uid"] == 0:
            problems.append("runs as root")
        if facts["as"] in (-1, None) or facts["as"] > (8 << 30):
            problems.append("no memory limit")
        if facts["disk"] > (LIMITS["disk_mb"] << 20) * 2:
            problems.append("working directory not size-capped")
        if sandbox.isolation["level"] != "full":
            problems.append(f"isolation level {sandbox.isolation['level']}: {sandbox.isolation['error']}")
        if problems:
            pytest.fail("sandbox isolation missing, attacks NOT run: " + "; ".join(problems), pytrace=False)
        yield sandbox
    # nothing left behind: processes, mounts, files
    time.sleep(0.2)
    assert _sandbox_processes() == []
    assert _host_mounts() == mounts_before
    assert not [p for p in os.listdir("/tmp") if p.startswith("rlvr-sbx-")]


def test_ordinary_programs(box):
    r = box.run("import sys\nprint(sum(map(int, sys.stdin.read().split())))", stdin="1 2 3\n")
    assert r == ExecResult("ok", 0, "6\n", "", r.elapsed_s) and r.ok
    r = box.run("print(open('data.txt').read().upper())", files={"data.txt": "abc"})
    assert r.stdout == "ABC\n"
    r = box.run("raise ValueError('boom')")
    assert r.status == "error" and r.returncode == 1 and "ValueError: boom" in r.stderr
    assert box.run("import sys; sys.exit(3)").returncode == 3
    assert box.run("import heapq, fractions, xml.dom.minidom; print('ok')").stdout == "ok\n"  # new imports work
    threads = "import threading\nt = threading.Thread(target=print, args=('t',)); t.start(); t.join()"
    assert box.run(threads).stdout == "t\n"


def test_map_keeps_order_and_runs_are_fresh(box):
    results = box.map([f"print({k} * {k})" for k in range(20)])
    assert [r.stdout for r in results] == [f"{k * k}\n" for k in range(20)]
    box.run("open('left.txt', 'w').write('x'); open('/dev/shm/left', 'w').write('x')")
    r = box.run("import os; print(os.listdir('.'), os.listdir('/dev/shm'))")
    assert r.stdout == "[] ['work']\n"  # the working directory is a folder of the fresh /dev/shm


ATTACKS = {
    # name: (program, allowed statuses, extra limits)
    "infinite loop": ("while True: pass", {"timeout"}, {}),
    "signal-ignoring loop": ("import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
                             "    signal.signal(s, signal.SIG_IGN)\nwhile True: pass", {"timeout"}, {}),
    "sleep forever": ("import time; time.sleep(1000)", {"timeout"}, {}),
    "closed stdout then loop": ("import os; os.close(1); os.close(2)\nwhile True: pass", {"timeout"}, {}),
    "fork bomb": ("import os\nwhile True: os.fork()", {"error"}, {}),
    "fork bomb with processes allowed": ("import os\nwhile True:\n    try: os.fork()\n    except OSError: pass",
                                         {"timeout", "error", "killed"}, {"max_processes": 8}),
    "thread bomb": ("import threading, time\nwhile True: threading.Thread(target=time.sleep, args=(100,)).start()",
                    {"error", "timeout", "memory"}, {}),
    "subprocess": ("import subprocess; subprocess.run(['sh', '-c', 'echo pwned'])", {"error"}, {}),
    "memory bomb": ("x = bytearray(10 ** 10)", {"memory"}, {}),
    "creeping memory": ("x = []\nwhile True: x.append(' ' * 10 ** 6)", {"memory", "killed"}, {}),
    "gigabytes on stdout": ("import sys\nwhile True: sys.stdout.write('x' * 65536)", {"output_limit"}, {}),
    "gigabytes on stderr": ("import os\nwhile True: os.write(2, b'x' * 65536)", {"output_limit"}, {}),
    "one endless line": ("print('y' * 10 ** 8, end='')", {"output_limit", "memory"}, {}),
    "fill the working directory": ("f = open('big', 'wb')\nwhile True: f.write(b'0' * 2 ** 20)", {"error"}, {}),
    "fill /dev/shm": ("f = open('/dev/shm/big', 'wb')\nwhile True: f.write(b'0' * 2 ** 20)", {"error"}, {}),
    "many files": ("i = 0\nwhile True:\n    open(f'f{i}', 'w').close(); i += 1", {"error"}, {}),
    "write outside the working directory": ("open('/etc/rlvr-pwned', 'w').write('x')", {"error"}, {}),
    "write to the host /tmp": ("open('/tmp/rlvr-escaped', 'w').write('x')", {"error"}, {}),
    "read /etc/shadow": ("print(open('/etc/shadow').read())", {"error"}, {}),
    "read /proc/1/environ": ("print(open('/proc/1/environ').read())", {"error"}, {}),
    "read /proc/self/environ": ("print(open('/proc/self/environ').read())", {"error"}, {}),
    "list /root": ("import os; assert os.listdir('/root') == ['.pyenv'] or not os.listdir('/root')\n"
                   "print(os.listdir('/root'))", {"ok"}, {}),
    "socket to the outside": ("import socket; socket.create_connection(('1.1.1.1', 80), timeout=1)", {"error"}, {}),
    "raw socket via ctypes": ("import ctypes; fd = ctypes.CDLL(None).socket(2, 1, 0)\n"
                              "assert fd < 0, fd", {"ok"}, {}),
    "kill every process": ("import os, signal; os.kill(-1, signal.SIGKILL); print('still here')",
                           {"error", "ok", "killed"}, {}),
    "kill the parent": ("import os; os.kill(os.getppid() or 1, 9)", {"killed", "error", "ok"}, {}),
    "kill guessed pids": ("import os\nfor pid in range(2, 5000):\n    try: os.kill(pid, 9)\n"
                          "    except OSError: pass\nprint('done')", {"ok"}, {}),
    "ctypes segfault": ("import ctypes; ctypes.string_at(0)", {"killed"}, {}),
    "deep recursion": ("import sys; sys.setrecursionlimit(10 ** 7)\ndef f(n): return f(n + 1)\nf(0)",
                       {"killed", "error", "memory", "timeout"}, {}),
    "raise rlimits": ("import resource; resource.setrlimit(resource.RLIMIT_AS, (-1, -1))", {"error"}, {}),
    "setuid root": ("import os; os.setuid(0)", {"error"}, {}),
    "ptrace": ("import ctypes\nassert ctypes.CDLL(None).ptrace(0, 0, 0, 0) != 0\nprint('denied')", {"ok"}, {}),
    "mount": ("import ctypes\nassert ctypes.CDLL(None).mount(b'none', b'/tmp', b'tmpfs', 0, None) != 0",
              {"ok"}, {}),
    "unshare a user namespace": ("import ctypes\nassert ctypes.CDLL(None).unshare(0x10000000) != 0", {"ok"}, {}),
    "forge the result channel": ("import os\nfor fd in range(3, 256):\n    try: os.write(fd, b'{\"status\": \"ok\"}')\n"
                                 "    except OSError: pass\nraise SystemExit(1)", {"error"}, {}),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_contained(box, name):
    program, allowed, limits = ATTACKS[name]
    result = box.run(program, **limits)
    assert result.status in allowed, (name, result)
    assert len(result.stdout) <= LIMITS["max_output_bytes"] and len(result.stderr) <= LIMITS["max_output_bytes"]
    assert "pwned" not in result.stdout
    assert box.run("print('alive')").stdout == "alive\n"  # the pool still serves


def test_no_escape_to_the_host_filesystem(box):
    assert not os.path.exists("/etc/rlvr-pwned") and not os.path.exists("/tmp/rlvr-escaped")


def test_the_callers_environment_does_not_leak(box, monkeypatch):
    monkeypatch.setenv("RLVR_SECRET_TOKEN", "hunter2")
    with Sandbox(**LIMITS) as fresh:  # started after the secret was set
        r = fresh.run("import os; print(dict(os.environ))")
    assert r.ok and "hunter2" not in r.stdout and "RLVR_SECRET_TOKEN" not in r.stdout


def test_a_port_the_test_listens_on_is_unreachable(box):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    connected = threading.Event()

    def accept() -> None:
        try:
            server.accept()
            connected.set()
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    r = box.run(f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=1)")
    thread.join()
    server.close()
    assert r.status == "error" and not connected.is_set()


def test_a_double_forked_daemon_does_not_survive(box):
    daemon = ("import os, time\n"
              "if os.fork() == 0:\n"
              "    os.setsid()\n"
              "    if os.fork() == 0:\n"
              "        time.sleep(60)\n"
              "    os._exit(0)\n"
              "print('parent done')")
    r = box.run(daemon, max_processes=4)
    assert r.ok and r.stdout == "parent done\n"
    time.sleep(0.2)
    assert _sandbox_processes() == []


def test_deadline_is_wall_clock_and_kills_the_whole_tree(box):
    start = time.monotonic()
    r = box.run("import os, time\nfor _ in range(3):\n    os.fork()\ntime.sleep(100)", max_processes=16,
                timeout_s=0.5)
    assert r.status == "timeout" and time.monotonic() - start < 5
    time.sleep(0.2)
    assert _sandbox_processes() == []


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="workers must be at least 1"):
        Sandbox(workers=0)
    with pytest.raises(ValueError, match="must be positive"):
        Sandbox(timeout_s=0)


def test_file_names_must_stay_inside(box):
    with pytest.raises(ValueError, match="inside the working directory"):
        box.run("pass", files={"../x": "1"})
    with pytest.raises(TypeError, match="unknown limit"):
        box.run("pass", timeout=1)


def test_isolation_levels_are_reported_honestly():
    iso = {"namespaces": False, "readonly": False, "uid": None, "seccomp": False, "error": "no namespaces"}
    assert _describe(iso)["level"] == "limits-only"
    assert _describe({**iso, "namespaces": True, "readonly": True})["level"] == "namespaces"


def test_a_dead_zygote_is_replaced_and_nothing_is_lost():
    with Sandbox(workers=2, **LIMITS) as fresh:
        fresh._all[0].proc.kill()
        fresh._all[0].proc.wait()
        results = fresh.map([f"print({k})" for k in range(12)])
        assert {r.status for r in results} <= {"ok", "sandbox_error"}
        assert sum(r.ok for r in results) >= 10 and all(r.stdout == f"{k}\n" for k, r in enumerate(results) if r.ok)
        assert [r.stdout for r in fresh.map(["print('a')", "print('b')"])] == ["a\n", "b\n"]
        assert len(fresh._all) == 2
