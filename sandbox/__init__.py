"""Run untrusted, model-written code isolated, bounded and fast.

>>> from sandbox import Sandbox
>>> with Sandbox() as box:
...     box.run("print(6 * 7)").stdout
'42\\n'
"""

from sandbox.core import ExecResult, Sandbox, SandboxError

__all__ = ["ExecResult", "Sandbox", "SandboxError"]
