"""Length-prefixed ``marshal`` frames between the Sandbox and its zygotes (both trusted: the
programs never hold these pipes), and the modules a zygote imports before forking.

Requests and results are plain dicts of str, bytes and numbers, which ``marshal`` (built into the
interpreter: no shared library to map into the zygote) encodes.

>>> import os
>>> r, w = os.pipe()
>>> send(w, {"x": 1}); recv(r)
{'x': 1}
"""

from __future__ import annotations

import marshal
import os
import struct

__all__ = ["DEFAULT_PRELOAD", "recv", "send"]

# What programs import most often. Each extension module maps a shared library, and every mapping
# makes fork() slower (about 10 us each on our machines), so the list is short: anything else is
# imported on demand inside the child, from the read-only interpreter the zygote exposes.
DEFAULT_PRELOAD = ("math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string", "typing",
                   "operator", "copy", "io", "traceback", "json")


def send(fd: int, obj: object) -> None:
    data = marshal.dumps(obj)
    view = memoryview(struct.pack("<Q", len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def recv(fd: int) -> object | None:
    """The next frame, or None at end of file."""
    head = _read_exact(fd, 8)
    if head is None:
        return None
    body = _read_exact(fd, struct.unpack("<Q", head)[0])
    return None if body is None else marshal.loads(body)


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
