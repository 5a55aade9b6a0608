"""Configs are plain dataclasses, set from a YAML file and command-line flags.

Each field becomes a flag (``max_steps`` -> ``--max-steps``, ``--max_steps`` also works), its
``field(metadata={"help": ...})`` the flag's help. ``--config FILE.yaml`` loads values first and
explicit flags override them; the dataclass defaults fill in the rest. Supported field types:
``int``, ``float``, ``str``, ``bool`` (``--flag/--no-flag``), ``Path``, ``X | None`` (pass ``none``),
``Literal[...]`` (choices), ``tuple[float, float]`` (two values) and ``list[X]`` / ``tuple[X, ...]``.

    >>> from dataclasses import dataclass, field
    >>> from typing import Literal
    >>> @dataclass
    ... class Config:
    ...     lr: float = field(default=3e-4, metadata={"help": "peak learning rate"})
    ...     schedule: Literal["cosine", "wsd"] = "cosine"
    ...     compile: bool = True
    ...     betas: tuple[float, float] = (0.9, 0.95)
    >>> parse_config(Config, ["--lr", "1e-3", "--no-compile", "--betas", "0.9", "0.99"])
    Config(lr=0.001, schedule='cosine', compile=False, betas=(0.9, 0.99))
    >>> config_to_dict(Config())
    {'lr': 0.0003, 'schedule': 'cosine', 'compile': True, 'betas': [0.9, 0.95]}
    >>> config_from_dict(Config, {"schedule": "linear"})
    Traceback (most recent call last):
    ...
    ValueError: schedule: expected one of 'cosine', 'wsd', got 'linear'

Bad values raise ``ValueError`` (a missing ``--config`` file ``FileNotFoundError``) with a message
that names the key; a CLI prints it and exits. Bad flags are argparse's errors (usage and exit 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

__all__ = ["add_dataclass_args", "check_values", "config_from_args", "config_from_dict", "config_to_dict", "parse_config"]

T = TypeVar("T")
_NONE_WORDS = ("none", "null")


def _fields(cls: type) -> dict[str, tuple[dataclasses.Field, Any]]:
    """Field name -> (field, resolved type) of a dataclass (string annotations resolved)."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    return {f.name: (f, hints[f.name]) for f in dataclasses.fields(cls) if f.init}


def _split_optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (tp, False)."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported config type {tp}: only X | None unions are supported")
        return inner[0], len(inner) < len(typing.get_args(tp))
    return tp, False


def _type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def _convert(key: str, tp: Any, value: Any) -> Any:
    """``value`` (from YAML or a dict) checked against the field type ``tp``."""
    base, optional = _split_optional(tp)
    if value is None:
        if optional:
            return None
        raise ValueError(f"{key}: expected {_type_name(tp)}, got None")
    origin, args = typing.get_origin(base), typing.get_args(base)
    if origin is Literal:
        if value in args and not (isinstance(value, bool) and bool not in map(type, args)):
            return value
        raise ValueError(f"{key}: expected one of {', '.join(map(repr, args))}, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key}: expected a list ({_type_name(tp)}), got {value!r}")
        variadic = origin is list or (len(args) == 2 and args[1] is Ellipsis)
        if not variadic and len(value) != len(args):
            raise ValueError(f"{key}: expected {len(args)} values ({_type_name(tp)}), got {len(value)}")
        item_types = [args[0] if args else Any] * len(value) if variadic else list(args)
        return origin(_convert(f"{key}[{i}]", t, v) for i, (t, v) in enumerate(zip(item_types, value)))
    if base is Any:
        return value
    if base is float:
        if isinstance(value, str):  # YAML reads 3e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif base is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
    elif base in (int, str, bool):
        if isinstance(value, base) and not (base is int and isinstance(value, bool)):
            return value
    else:
        raise TypeError(f"{key}: unsupported config type {_type_name(tp)}")
    raise ValueError(f"{key}: expected {_type_name(tp)}, got {value!r}")


def _json_value(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return str(value) if isinstance(value, Path) else value


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as a JSON-serialisable dict (tuples become lists, paths strings).

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class C:
    ...     out_dir: Path = Path("runs/a")
    >>> config_to_dict(C())
    {'out_dir': 'runs/a'}
    """
    if not (dataclasses.is_dataclass(cfg) and not isinstance(cfg, type)):
        raise TypeError(f"{cfg!r} is not a dataclass instance")
    return {f.name: _json_value(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def config_from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """Build ``cls`` from a dict, checking keys and value types; ValueError naming the bad key.

    Keys may use dashes (``max-steps``) or underscores. The class's ``__post_init__`` checks run too.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class C:
    ...     steps: int = 10
    >>> config_from_dict(C, {"steps": 20})
    C(steps=20)
    >>> config_from_dict(C, {"step": 20})
    Traceback (most recent call last):
    ...
    ValueError: unknown key 'step'; valid keys: steps
    """
    return _build(cls, check_values(cls, d))


def check_values(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    """``d`` with keys normalised and values converted to the field types of ``cls`` (a partial config:
    the class's own checks are not run); ValueError naming the bad key.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class C:
    ...     lr: float = 0.1
    >>> check_values(C, {"lr": "3e-4"})
    {'lr': 0.0003}
    """
    if not isinstance(d, dict):
        raise ValueError(f"expected a mapping of {cls.__name__} fields, got {type(d).__name__}")
    fields = _fields(cls)
    values = {}
    for raw_key, value in d.items():
        key = str(raw_key).replace("-", "_")
        if key not in fields:
            raise ValueError(f"unknown key {raw_key!r}; valid keys: {', '.join(fields)}")
        values[key] = _convert(key, fields[key][1], value)
    return values


def _build(cls: type[T], values: dict[str, Any]) -> T:
    missing = [
        name for name, (f, _) in _fields(cls).items()
        if name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        names = ", ".join(f"{name} (--{name.replace('_', '-')})" for name in missing)
        raise ValueError(f"{cls.__name__}: missing required {names}")
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"bad {cls.__name__}: {exc}") from None


def _text_parser(tp: Any, optional: bool) -> Any:
    """A function from command-line text to a value of the scalar type ``tp``."""
    if tp is Path or tp in (int, float, str):
        parse = tp
    elif typing.get_origin(tp) is Literal and len({type(a) for a in typing.get_args(tp)}) == 1:
        parse = type(typing.get_args(tp)[0])
    else:
        raise TypeError(f"unsupported config type {_type_name(tp)}")
    if not optional:
        return parse

    def parse_or_none(text: str) -> Any:
        return None if text.lower() in _NONE_WORDS else parse(text)

    parse_or_none.__name__ = parse.__name__  # argparse names it in "invalid int value"
    return parse_or_none


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        return "required"
    if isinstance(default, (list, tuple)):
        return "default: " + (" ".join(map(str, default)) or "empty")
    return f"default: {'none' if default is None else default}"


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--config FILE.yaml`` and one flag per field of ``cls`` to ``parser``.

    Flags left out are absent from the parsed namespace (their default is ``argparse.SUPPRESS``),
    so :func:`config_from_args` can tell them apart from values given explicitly.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class C:
    ...     max_steps: int = 10
    >>> parser = argparse.ArgumentParser()
    >>> add_dataclass_args(parser, C)
    >>> parser.parse_args(["--max_steps", "5"])
    Namespace(max_steps=5)
    """
    fields = _fields(cls)
    if "config" in fields:
        raise TypeError(f"{cls.__name__} has a field named 'config', which clashes with --config")
    parser.add_argument("--config", metavar="FILE.yaml", default=argparse.SUPPRESS,
                        help="YAML file of field values; flags given explicitly override it")
    for name, (f, tp) in fields.items():
        flags = [f"--{name.replace('_', '-')}"] + ([f"--{name}"] if "_" in name else [])
        help_text = (f.metadata.get("help", "") + f" ({_default_text(f)})").strip().replace("%", "%%")
        try:
            kwargs = _flag_kwargs(tp)
        except TypeError as exc:
            raise TypeError(f"{cls.__name__}.{name}: {exc}") from None
        parser.add_argument(*flags, dest=name, default=argparse.SUPPRESS, help=help_text, **kwargs)


def _flag_kwargs(tp: Any) -> dict[str, Any]:
    """The ``add_argument`` keywords (type, nargs, choices, action) for a field of type ``tp``."""
    base, optional = _split_optional(tp)
    origin, args = typing.get_origin(base), typing.get_args(base)
    if base is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin in (tuple, list):
        variadic = origin is list or (len(args) == 2 and args[1] is Ellipsis)
        if not args or (not variadic and len(set(args)) != 1):
            raise TypeError(f"unsupported config type {_type_name(tp)} (items must share one type)")
        nargs = ("*" if origin is list else "+") if variadic else len(args)
        return {"type": _text_parser(args[0], optional=False), "nargs": nargs}
    kwargs: dict[str, Any] = {"type": _text_parser(base, optional)}
    if origin is Literal:
        kwargs["choices"] = [*args, None] if optional else list(args)
        kwargs["metavar"] = "{" + ",".join(map(str, args)) + (",none}" if optional else "}")
    return kwargs


def _load_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML (or JSON) file; clear errors for a missing file or bad content."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"--config {path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"--config {path}: expected a mapping of field: value, got {type(data).__name__}")
    return data


def config_from_args(cls: type[T], args: argparse.Namespace) -> T:
    """The config from a namespace parsed by a parser set up with :func:`add_dataclass_args`.

    Precedence: explicit flags, then the ``--config`` file, then the dataclass defaults.
    """
    values = {}
    if getattr(args, "config", None) is not None:
        try:
            values = check_values(cls, _load_yaml(args.config))
        except ValueError as exc:
            raise ValueError(f"--config {args.config}: {exc}") from None
    values.update({name: getattr(args, name) for name in _fields(cls) if hasattr(args, name)})
    return _build(cls, check_values(cls, values))


def parse_config(cls: type[T], argv: list[str] | None = None, *, prog: str | None = None,
                 description: str | None = None) -> T:
    """Parse ``argv`` (default ``sys.argv[1:]``) into an instance of the dataclass ``cls``.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class C:
    ...     max_steps: int | None = None
    ...     name: str = "run"
    >>> parse_config(C, ["--max-steps", "100"])
    C(max_steps=100, name='run')
    >>> parse_config(C, ["--max-steps", "none", "--name", "a"])
    C(max_steps=None, name='a')
    """
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_args(parser, cls)
    return config_from_args(cls, parser.parse_args(argv))


def run_stage(cls: type[T], run: Any, argv: list[str] | None, *, prog: str, description: str | None,
              print_result: bool = True) -> int:
    """``main()`` of a training stage: parse ``cls`` from ``argv``, call ``run(cfg)``, print its JSON result.

    Bad configuration or data (ValueError, FileNotFoundError) prints ``PROG: error: ...`` and returns 2.
    """
    import json
    import sys

    try:
        result = run(parse_config(cls, argv, prog=prog, description=description))
    except (ValueError, FileNotFoundError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if print_result:
        print(json.dumps(result))
    return 0
