"""The ``parmap cache info|verify|prune|clear DIR`` command line."""

from __future__ import annotations

import argparse
import sqlite3
import sys

__all__ = ["add_parser", "run"]

_SECONDS_PER_DAY = 86400.0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``cache`` command and its subcommands; each sets ``func=run``."""
    parser = subparsers.add_parser(
        "cache",
        help="inspect or clean a result cache directory",
        description="Inspect or clean a directory used as cache=DIR.",
    )
    commands = parser.add_subparsers(dest="cache_command", metavar="COMMAND", required=True)
    info = commands.add_parser("info", help="entries, bytes, functions and last use")
    verify = commands.add_parser(
        "verify", help="check every entry's authentication tag; exit 1 if any is bad"
    )
    verify.add_argument(
        "--remove-bad", action="store_true", help="also delete the entries that fail"
    )
    prune = commands.add_parser("prune", help="remove entries by age, function or total size")
    prune.add_argument(
        "--older-than", type=float, metavar="DAYS", help="remove entries unused for DAYS days"
    )
    prune.add_argument(
        "--max-bytes",
        type=int,
        metavar="N",
        help="then remove least-recently-used entries until at most N bytes remain",
    )
    prune.add_argument(
        "--function", metavar="NAME", help="remove the entries of NAME (module:qualname)"
    )
    clear = commands.add_parser("clear", help="remove every entry")
    for sub in (info, verify, prune, clear):
        sub.add_argument("directory", metavar="DIR", help="the cache directory")
        sub.set_defaults(func=run)


def _error(message: str) -> int:
    print(f"parmap: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Run one ``parmap cache`` subcommand; return the exit code (0 ok, 1 bad entries, 2 error)."""
    from parmap._cache.admin import printable
    from parmap.cache import Cache, CacheRefusedError

    command = args.cache_command
    cache = Cache(args.directory)
    try:
        if command == "info":
            print(cache.info())
        elif command == "verify":
            result = cache.verify(remove_bad=args.remove_bad)
            print(result)
            return 0 if result.ok else 1
        elif command == "prune":
            if args.older_than is None and args.max_bytes is None and args.function is None:
                return _error(
                    "`parmap cache prune` needs at least one of --older-than DAYS, "
                    "--max-bytes N, --function NAME"
                )
            older = None if args.older_than is None else args.older_than * _SECONDS_PER_DAY
            print(cache.prune(older_than=older, max_bytes=args.max_bytes, function=args.function))
        else:
            print(cache.clear())
    except FileNotFoundError as exc:
        return _error(f"{exc}\n  check the path given as DIR")
    except CacheRefusedError as exc:
        return _error(printable(str(exc)))
    except (ValueError, LookupError) as exc:
        return _error(printable(str(exc)))
    except (OSError, sqlite3.Error) as exc:
        return _error(
            printable(
                f"cannot {command} the cache in {args.directory}: {type(exc).__name__}: {exc}"
            )
        )
    finally:
        cache.close()
    return 0
