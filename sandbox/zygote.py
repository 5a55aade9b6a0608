"""The zygote: a small pre-started interpreter that forks one isolated child per program.

Started by :class:`sandbox.Sandbox` as ``python -m sandbox.zygote WORKER`` (never forked from the
caller's large process). At start it moves into its own mount, network, IPC and UTS namespaces,
makes the whole filesystem read-only, hides ``/root`` behind an empty tmpfs (re-exposing only the
interpreter), and imports the modules programs commonly use. Then, for each request:

    zygote ─fork─▶ keeper: unshare(PID, mount) ─fork─▶ init (PID 1 of a fresh PID namespace)
                                                        fresh /proc, tmpfs work dir and /dev/shm,
                                                        rlimits, unprivileged uid, seccomp, then
                                                        exec() of the program in __main__

The zygote reads the program's stdout and stderr with caps, enforces the wall-clock deadline with
SIGKILL on the namespace's init (which takes every process of the namespace with it), and judges
the outcome from plain data: the wait status and the byte counts. Requests and results travel over
the zygote's own pipes, which the program never sees.
"""

from __future__ import annotations

import errno
import gc
import importlib
import os
import resource
import select
import signal
import sys
import time
import traceback

from sandbox.protocol import DEFAULT_PRELOAD, recv, send

# Each run gets one fresh, size-capped tmpfs on /dev/shm; its working directory is a folder in it.
# (The zygote never mounts over /tmp: the caller's checkout or virtual environment may live there.)
SHM = "/dev/shm"
WORK = "/dev/shm/work"
SETUP_FAILED = 125
BASE_UID = 60000
MAX_THREADS = 32
PROGRAM_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": WORK, "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # nothing of the caller's environment


# ---------------------------------------------------------------------------------------------
# Zygote-wide isolation, done once


def setup(worker: int) -> dict:
    """Enter namespaces and build the read-only view; returns what isolation was achieved."""
    from sandbox import seccomp

    iso = {"namespaces": False, "readonly": False, "uid": None, "seccomp": seccomp.supported(),
           "pid_namespace": False, "error": ""}
    if sys.platform != "linux":
        iso["error"] = f"{sys.platform} has no Linux namespaces"
        return iso
    from sandbox import linux

    flags = linux.CLONE_NEWNS | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS
    try:
        if os.geteuid() == 0:
            linux.unshare(flags)
            iso["uid"] = BASE_UID + worker
        else:  # an unprivileged user namespace: root inside, nobody outside
            uid, gid = os.geteuid(), os.getegid()
            linux.unshare(flags | linux.CLONE_NEWUSER)
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"0 {uid} 1")
            _write("/proc/self/gid_map", f"0 {gid} 1")
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        iso["namespaces"] = True
        linux.mount("tmpfs", SHM, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=1m,mode=0755")  # scratch
        _expose_interpreter(linux)
        _make_readonly(linux)
        iso["readonly"] = True
        iso["pid_namespace"] = True
    except OSError as exc:
        iso["error"] = str(exc)
    return iso


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _expose_interpreter(linux) -> None:
    """Hide unreadable homes (``/root``) behind an empty tmpfs, re-exposing only the interpreter."""
    needed = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)}
    needed |= {os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)}
    blocked: dict[str, list[str]] = {}
    for path in sorted(needed):
        parts = path.split("/")
        for k in range(2, len(parts)):
            ancestor = "/".join(parts[:k])
            if not os.stat(ancestor).st_mode & 0o001:  # others cannot traverse it
                blocked.setdefault(ancestor, []).append(path)
                break
    for k, (ancestor, paths) in enumerate(sorted(blocked.items())):
        keep = sorted({p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths)})
        staged = []
        for j, path in enumerate(keep):
            stage = f"{SHM}/.stage{k}_{j}"
            os.makedirs(stage)
            linux.mount(path, stage, None, linux.MS_BIND | linux.MS_REC)
            staged.append((stage, path))
        linux.mount("tmpfs", ancestor, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=1m,mode=0755")
        for stage, path in staged:
            os.makedirs(path, mode=0o755, exist_ok=True)
            linux.mount(stage, path, None, linux.MS_BIND | linux.MS_REC)


def _make_readonly(linux) -> None:
    """Remount every mount read-only, keeping nosuid/nodev/noexec."""
    with open("/proc/self/mountinfo") as f:
        entries = [line.split() for line in f]
    for fields in entries:
        target, options = fields[4].encode().decode("unicode_escape"), fields[5].split(",")
        flags = linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY
        flags |= linux.MS_NOSUID if "nosuid" in options else 0
        flags |= linux.MS_NODEV if "nodev" in options else 0
        flags |= linux.MS_NOEXEC if "noexec" in options else 0
        try:
            linux.mount(None, target, None, flags)
        except OSError as exc:
            if target == "/":
                raise
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EINVAL, errno.ENOENT):
                raise


def preload(names: tuple[str, ...]) -> list[str]:
    loaded = []
    for name in names:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception:  # an optional module (numpy) may be missing: programs then cannot use it
            pass
    return loaded


# ---------------------------------------------------------------------------------------------
# One run


class Zygote:
    """What the zygote prepared once: isolation facts, seccomp installers, its own PID namespace."""

    def __init__(self, iso: dict):
        from sandbox import seccomp

        self.iso = iso
        self.installers = {allow: seccomp.prepare(allow) for allow in (False, True)} if iso["seccomp"] else {}
        self.own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY) if iso["pid_namespace"] else -1
        self.address_space = _address_space()
        if iso["namespaces"]:  # nothing of the host's /proc is visible to programs
            from sandbox import linux

            linux.mount("tmpfs", "/proc", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC | linux.MS_RDONLY,
                        "size=4k,mode=0555")


def run_one(req: dict, z: Zygote) -> dict:
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    r_err, w_err = os.pipe()
    r_ready, w_ready = os.pipe()
    workdir = None
    if not z.iso["namespaces"]:  # limits only: a private temporary directory on the host
        import tempfile

        workdir = tempfile.mkdtemp(prefix="rlvr-sbx-")
    start = time.monotonic()
    if z.own_pid_ns >= 0:  # the next child is PID 1 of a fresh PID namespace
        from sandbox import linux

        linux.unshare(linux.CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        _child(req, z, workdir, (w_in, r_out, r_err, r_ready), r_in, w_out, w_err, w_ready)
    if z.own_pid_ns >= 0:  # back to our own namespace for children, so the next unshare works
        linux.setns(z.own_pid_ns, linux.CLONE_NEWPID)
    for fd in (r_in, w_out, w_err, w_ready):
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    try:
        return _supervise(req, pid, pidfd, w_in, r_out, r_err, r_ready, start)
    finally:
        for fd in (w_in, r_out, r_err, r_ready, pidfd):
            _close(fd)
        if workdir:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _supervise(req, pid, pidfd, w_in, r_out, r_err, r_ready, start) -> dict:
    """Feed stdin, read capped output, enforce the deadline; judge from the wait status."""
    timeout, cap = req["timeout_s"], req["max_output_bytes"]
    stdin = memoryview(req["stdin"])
    out, err = bytearray(), bytearray()
    open_fds = {r_out: out, r_err: err}
    status = None
    ready = False
    began = None
    setup_deadline = start + req.get("setup_timeout_s", 10.0)
    timed_out = over_output = False
    os.set_blocking(w_in, False)
    if not stdin:
        _close(w_in)
        w_in = -1
    while status is None or open_fds:
        now = time.monotonic()
        deadline = (began + timeout) if began is not None else setup_deadline
        if now >= deadline and not timed_out and status is None:
            timed_out = True
            _kill(pid)  # PID 1 of the namespace: the kernel kills every process in it
        readers = [*open_fds] + ([pidfd] if status is None else []) + ([] if ready else [r_ready])
        writers = [w_in] if w_in >= 0 else []
        wait = max(0.0, deadline - now) if not timed_out else 1.0
        rlist, wlist, _ = select.select(readers, writers, [], wait)
        if r_ready in rlist:
            ready = True
            if os.read(r_ready, 1):
                began = time.monotonic()
        for fd in list(open_fds):
            if fd in rlist:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    del open_fds[fd]
                    continue
                buf = open_fds[fd]
                buf += chunk
                if len(buf) > cap and not over_output:
                    over_output = True
                    _kill(pid)
        if pidfd in rlist and status is None:
            status = os.waitpid(pid, 0)[1]
        if wlist:
            try:
                n = os.write(w_in, stdin[: 1 << 16])
                stdin = stdin[n:]
            except OSError:  # the program closed stdin
                stdin = stdin[:0]
            if not stdin:
                _close(w_in)
                w_in = -1
        if status is not None and time.monotonic() > deadline + 2:
            break  # output pipes held open by nothing we can see; do not hang
    if status is None:
        _kill(pid)
        status = os.waitpid(pid, 0)[1]
    elapsed = time.monotonic() - (began or start)
    return _judge(status, began is not None, timed_out, over_output, bytes(out[:cap]), bytes(err[:cap]), elapsed)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _judge(status, started, timed_out, over_output, out, err, elapsed) -> dict:
    result = {"stdout": out, "stderr": err, "elapsed_s": elapsed, "returncode": None}
    if status is not None and status >= 0:
        if os.WIFEXITED(status):
            result["returncode"] = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            result["returncode"] = -os.WTERMSIG(status)
    if not started:
        result["status"] = "timeout" if timed_out else "sandbox_error"
        if not timed_out:
            result["stderr"] = err or b"sandbox setup failed"
        return result
    code = result["returncode"]
    if timed_out or code == -signal.SIGXCPU:
        result["status"] = "timeout"
    elif over_output:
        result["status"] = "output_limit"
    elif code == 0:
        result["status"] = "ok"
    elif code is not None and code < 0:
        result["status"] = "killed"
    elif b"MemoryError" in err[-2000:]:
        result["status"] = "memory"
    else:
        result["status"] = "error"
    return result


# ---------------------------------------------------------------------------------------------
# The child: becomes PID 1 of its namespace, locks itself down, runs the program


def _child(req, z, workdir, parent_ends, r_in, w_out, w_err, w_ready) -> None:
    try:
        for fd in parent_ends:
            os.close(fd)
        _lock_down(req, z, workdir, r_in, w_out, w_err, w_ready)
    except BaseException:
        try:
            os.write(w_err, traceback.format_exc().encode()[-4000:])
        finally:
            os._exit(SETUP_FAILED)
    _run_program(req["code"])


def _lock_down(req, z, workdir, r_in, w_out, w_err, w_ready) -> None:
    uid = z.iso["uid"]
    if z.iso["namespaces"]:
        from sandbox import linux

        linux.unshare(linux.CLONE_NEWNS)  # its mounts vanish with it
        linux.mount("tmpfs", SHM, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV,
                    f"size={req['disk_mb']}m,nr_inodes=4096,mode=1777")
        os.mkdir(WORK, 0o700)
        if uid is not None:
            os.chown(WORK, uid, uid)
        workdir = WORK
    for name, content in (req.get("files") or {}).items():
        path = os.path.join(workdir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        if uid is not None:
            os.chown(path, uid, uid)
    os.chdir(workdir)
    os.dup2(r_in, 0)
    os.dup2(w_out, 1)
    os.dup2(w_err, 2)
    os.closerange(3, w_ready)
    os.closerange(w_ready + 1, 65536)
    limits = {
        resource.RLIMIT_AS: z.address_space + (req["memory_mb"] << 20),
        resource.RLIMIT_CPU: int(req["timeout_s"]) + 1,
        resource.RLIMIT_FSIZE: req["disk_mb"] << 20,
        resource.RLIMIT_NOFILE: 64,
        resource.RLIMIT_CORE: 0,
        # counts threads too: a few for libraries (BLAS) and programs, plus the processes allowed
        resource.RLIMIT_NPROC: req["max_processes"] + MAX_THREADS if uid is not None else None,
        resource.RLIMIT_STACK: 64 << 20,
    }
    for which, value in limits.items():
        if value is not None:
            resource.setrlimit(which, (value, value))
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    if z.installers:
        z.installers[req["max_processes"] > 0]()
    os.write(w_ready, b"1")
    os.close(w_ready)


def _address_space() -> int:
    """The child's current virtual size (it inherits the zygote's mappings)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _run_program(code: str) -> None:
    import builtins

    # sys.stdin/stdout/stderr already wrap fds 0-2 (the zygote started with empty, UTF-8 streams there),
    # and those fds are now the program's pipes: reuse them rather than pay for new wrappers
    sys.argv = ["solution.py"]
    sys.dont_write_bytecode = True
    os.environ.clear()
    os.environ.update(PROGRAM_ENV)
    namespace = {"__name__": "__main__", "__builtins__": builtins, "__file__": "solution.py"}
    exit_code = 0
    try:
        exec(compile(code, "solution.py", "exec"), namespace)
    except SystemExit as exc:
        exit_code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        exit_code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(exit_code & 0xFF)


# ---------------------------------------------------------------------------------------------


def main() -> None:
    worker = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    names = tuple(sys.argv[2].split(",")) if len(sys.argv) > 2 and sys.argv[2] else DEFAULT_PRELOAD
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    iso = setup(worker)
    iso["preloaded"] = preload(names)
    zygote = Zygote(iso)
    gc.collect()
    gc.freeze()  # a child's garbage collector must not touch (and so copy) every inherited page
    send(proto_out, {"hello": iso})
    for fd in (proto_in, proto_out):
        os.set_inheritable(fd, False)
    while True:
        req = recv(proto_in)
        if req is None:
            return
        try:
            result = run_one(req, zygote)
        except Exception as exc:  # report, keep serving
            result = {"status": "sandbox_error", "returncode": None, "stdout": b"",
                      "stderr": f"zygote: {type(exc).__name__}: {exc}".encode(), "elapsed_s": 0.0}
        send(proto_out, result)


if __name__ == "__main__":
    main()
