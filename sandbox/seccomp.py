"""A seccomp-BPF filter, built by hand and installed with ctypes (no libseccomp needed).

The filter returns EPERM for the system calls a sandboxed program has no business making:
tracing, mounting, new namespaces, BPF, kernel keyrings and modules, raising resource limits,
sockets, and (unless the caller allows them) new processes. Threads stay allowed. It is written for
x86_64; elsewhere ``supported()`` is False and the sandbox reports that it runs without seccomp.

>>> len(build(allow_processes=False)) > 20
True
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Callable

__all__ = ["build", "install", "prepare", "supported"]

# BPF instruction classes and fields (linux/filter.h)
_LD_W_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06

_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000


def _errno(code: int) -> int:
    return 0x00050000 | code


# x86_64 system call numbers. The program runs as an unprivileged uid with no capabilities, so the
# kernel already refuses what needs them (chroot, pivot_root, modules, reboot, swap, kexec, the new
# mount API...); the filter covers what an unprivileged process could still do, and mount as a
# second lock. Each instruction costs at every run (the kernel checks and compiles the filter).
_DENIED = {
    "socket": 41, "socketpair": 53, "ptrace": 101, "setrlimit": 160, "mount": 165, "umount2": 166,
    "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311, "bpf": 321, "userfaultfd": 323,
    "io_uring_setup": 425,
}
_CLONE, _FORK, _VFORK, _CLONE3, _PRLIMIT64 = 56, 57, 58, 435, 302
_CLONE_THREAD = 0x00010000
_CLONE_NEW_ANY = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (and NEWTIME 0x80)
_CLONE_NEWTIME = 0x00000080

_NR, _ARCH = 0, 4


def _arg(index: int, high: bool = False) -> int:
    return 16 + 8 * index + (4 if high else 0)


def supported() -> bool:
    """True on x86_64 Linux, where the system call numbers above are right."""
    return os.uname().sysname == "Linux" and os.uname().machine == "x86_64"


def build(allow_processes: bool) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions."""
    eperm = _errno(errno.EPERM)
    prog: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, _ARCH),
        (_JEQ, 1, 0, _AUDIT_ARCH_X86_64),
        (_RET, 0, 0, _RET_KILL_PROCESS),  # another ABI: refuse to run at all
        (_LD_W_ABS, 0, 0, _NR),
        (_JGE, 0, 1, _X32_BIT),
        (_RET, 0, 0, eperm),  # the x32 ABI aliases every call: deny it
    ]
    for nr in sorted(_DENIED.values()):
        prog += [(_JEQ, 0, 1, nr), (_RET, 0, 0, eperm)]
    # clone: never with new namespaces; threads always; processes only when allowed
    clone_block = [
        (_LD_W_ABS, 0, 0, _arg(0)),
        (_JSET, 0, 1, _CLONE_NEW_ANY | _CLONE_NEWTIME),
        (_RET, 0, 0, eperm),
    ]
    if allow_processes:
        clone_block.append((_RET, 0, 0, _RET_ALLOW))
    else:
        clone_block += [(_JSET, 1, 0, _CLONE_THREAD), (_RET, 0, 0, eperm), (_RET, 0, 0, _RET_ALLOW)]
    prog.append((_JEQ, 0, len(clone_block), _CLONE))
    prog += clone_block
    # clone3 hides its flags in memory the filter cannot read: ENOSYS makes libc fall back to clone
    prog += [(_JEQ, 0, 1, _CLONE3), (_RET, 0, 0, _errno(errno.ENOSYS))]
    if not allow_processes:
        for nr in (_FORK, _VFORK):
            prog += [(_JEQ, 0, 1, nr), (_RET, 0, 0, eperm)]
    # prlimit64 may read limits (new_limit == NULL) but never set them
    prog += [
        (_JEQ, 0, 6, _PRLIMIT64),
        (_LD_W_ABS, 0, 0, _arg(2)),
        (_JEQ, 0, 2, 0),
        (_LD_W_ABS, 0, 0, _arg(2, high=True)),
        (_JEQ, 1, 0, 0),
        (_RET, 0, 0, eperm),
        (_RET, 0, 0, _RET_ALLOW),
    ]
    prog.append((_RET, 0, 0, _RET_ALLOW))
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def prepare(allow_processes: bool) -> Callable[[], None]:
    """Build the filter once; the returned function installs it (irreversibly) on the caller.

    Preparing ahead keeps the per-run cost to two prctl calls (a zygote prepares, its children install).
    """
    prog = build(allow_processes)
    raw = b"".join(struct.pack("<HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = _SockFprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)

    def install() -> None:
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "installing the seccomp filter failed")

    install.keepalive = (buf, fprog)  # type: ignore[attr-defined]
    return install


def install(allow_processes: bool) -> None:
    """Build and install the filter on the calling process (irreversible). Raises OSError on failure."""
    prepare(allow_processes)()
