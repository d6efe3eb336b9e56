"""The `deltaspace` command: one subcommand per workflow stage.

Subcommands are built from the stage functions' signatures (keyword-only arguments with type hints),
so the CLI, the Snakemake rules and the tests all call the same function with the same names:
`deltaspace sample-shard --generator g.pt --out part-00000.parquet --part 0 --count 200000 ...`.
Arguments typed `dict` take JSON. Errors a user can fix print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import re
import sys
import typing
from pathlib import Path
from typing import Callable

from .errors import DeltaspaceError

STAGES: dict[str, Callable] = {}


def _stage_modules() -> dict[str, str]:
    """Subcommand -> module defining it, read from the `@stage("...")` lines of the stages' sources.

    A job imports only its own stage's module: importing all of them (torch, open_clip, clean-fid,
    onnxruntime, ...) cost every Snakemake job about 8 s. Reading the sources costs milliseconds.
    """
    found = {}
    for path in sorted((Path(__file__).parent / "stages").glob("*.py")):
        for name in re.findall(r'^@stage\("([^"]+)"\)', path.read_text(), flags=re.MULTILINE):
            found[name] = f"{__package__}.stages.{path.stem}"
    return found


STAGE_MODULES = _stage_modules()


def stage(name: str):
    """Register a function as the subcommand `name`. A stage with a `threads` argument runs with that
    many PyTorch threads, and the caller's count is restored afterwards (tests call stages in-process)."""

    def register(fn: Callable) -> Callable:
        if "threads" in inspect.signature(fn).parameters:
            from .threads import uses_threads

            fn = uses_threads(fn)
        STAGES[name] = fn
        return fn

    return register


def _parse_json(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from exc


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _converter(annotation) -> Callable:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return _converter(args[0])
    if annotation in (dict, list) or origin in (dict, list):
        return _parse_json
    if annotation is bool:
        return _bool
    if annotation in (int, float, str):
        return annotation
    if annotation is Path:
        return Path
    return str


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or only of `only` (which then imports only its module)."""
    for module in {STAGE_MODULES[only]} if only in STAGE_MODULES else set(STAGE_MODULES.values()):
        importlib.import_module(module)
    parser = argparse.ArgumentParser(prog="deltaspace", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="stage", required=True)
    for name, fn in sorted(STAGES.items()):
        if only in STAGE_MODULES and name != only:
            continue
        doc = inspect.getdoc(fn) or ""
        p = sub.add_parser(name, help=doc.splitlines()[0] if doc else None, description=doc)
        hints = typing.get_type_hints(fn)
        for pname, param in inspect.signature(fn).parameters.items():
            if param.kind is not inspect.Parameter.KEYWORD_ONLY:
                continue
            flag = "--" + pname.replace("_", "-")
            conv = _converter(hints.get(pname, str))
            if param.default is inspect.Parameter.empty:
                p.add_argument(flag, dest=pname, type=conv, required=True)
            else:
                p.add_argument(flag, dest=pname, type=conv, default=param.default,
                               help=f"default: {param.default!r}")
        p.set_defaults(_fn=fn)
    return parser


def _requested_stage(argv: list[str]) -> str | None:
    """The subcommand named on the command line (its first word that is not an option)."""
    words = [word for word in argv if not word.startswith("-")]
    return words[0] if words else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(only=_requested_stage(argv))
    args = vars(parser.parse_args(argv))
    logging.basicConfig(
        level=logging.DEBUG if args.pop("verbose") else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    fn = args.pop("_fn")
    args.pop("stage")
    try:
        result = fn(**args)
    except DeltaspaceError as exc:
        print(f"deltaspace: error: {exc}", file=sys.stderr)
        return 2
    if result is not None:
        print(json.dumps(result, default=str), file=sys.stderr)
    return 0


if __name__ == "__main__":
    # Run through the imported module so stages register into the same STAGES table.
    from deltaspace.cli import main as _main

    sys.exit(_main())
