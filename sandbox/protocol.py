"""Length-prefixed pickle frames between the Sandbox and its zygotes (both trusted: the programs
never hold these pipes), and the modules a zygote imports before forking.

>>> import os
>>> r, w = os.pipe()
>>> send(w, {"x": 1}); recv(r)
{'x': 1}
"""

from __future__ import annotations

import os
import pickle
import struct

__all__ = ["DEFAULT_PRELOAD", "recv", "send"]

DEFAULT_PRELOAD = ("math", "cmath", "re", "json", "itertools", "collections", "functools", "heapq", "bisect",
                   "string", "random", "fractions", "decimal", "statistics", "typing", "dataclasses", "copy",
                   "operator", "datetime", "array", "io", "traceback", "time", "hashlib", "textwrap",
                   "unicodedata", "enum", "contextlib", "numbers", "queue", "struct", "base64", "ast")


def send(fd: int, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(struct.pack("<Q", len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def recv(fd: int) -> object | None:
    """The next frame, or None at end of file."""
    head = _read_exact(fd, 8)
    if head is None:
        return None
    body = _read_exact(fd, struct.unpack("<Q", head)[0])
    return None if body is None else pickle.loads(body)


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
