"""Run untrusted, model-written code isolated, bounded and fast.

>>> from sandbox import Sandbox
>>> with Sandbox() as box:
...     box.run("print(6 * 7)").stdout
'42\\n'
"""

__all__ = ["ExecResult", "Sandbox", "SandboxError"]


def __getattr__(name: str):
    # Imported on first use: the zygote (``python -m sandbox.zygote``) imports this package too, and
    # every shared library it maps makes each of its fork() calls slower.
    if name in __all__:
        from sandbox import core

        return getattr(core, name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
