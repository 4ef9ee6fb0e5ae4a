"""The ``parmap`` command: ``check``, ``cache`` and ``demo``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from parmap._version import __version__

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from parmap._cli.demo import main

    return main()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    from parmap._cli import cache as _cli_cache
    from parmap._cli import check as _cli_check

    parser = argparse.ArgumentParser(
        prog="parmap",
        description="A parallel map for data scripts: check picklability, manage result caches.",
    )
    parser.add_argument("--version", action="version", version=f"parmap {__version__}")
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback of an unexpected error"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _cli_check.add_parser(commands)
    _cli_cache.add_parser(commands)
    demo = commands.add_parser(
        "demo", help="run a real job on the standard library's sources, with every feature shown"
    )
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``parmap`` command; returns the exit code (0 ok, 1 problems, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("parmap: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.traceback:
            raise
        print(f"parmap: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("parmap: run again with --traceback for details", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
