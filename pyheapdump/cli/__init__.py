"""The `pyheapdump` command line: one module per subcommand in this package, listed in `commands()`.

A subcommand module is a `Command`: it defines `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`, and
optionally `ALIASES`. `main(argv)` is what the console script and `python -m pyheapdump` call; tests call it directly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Protocol

from pyheapdump.errors import DumpError


class Command(Protocol):
    """What a subcommand module defines (a module satisfies this protocol; mypy checks the list below)."""

    NAME: str
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def commands() -> list[Command]:
    """Every subcommand, in the order `--help` lists them. Imported when the parser is built, not with the package."""
    from pyheapdump.cli import debug, diff, dump, info, paths, report, run, serve, stats, top, traceback

    return [debug, diff, dump, info, paths, report, run, serve, stats, top, traceback]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyheapdump",
        description="Heap dumps for Python: inspect and debug .heapdump files.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in commands():
        sub = subparsers.add_parser(
            module.NAME, help=module.HELP, description=module.HELP, aliases=getattr(module, "ALIASES", [])
        )
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except DumpError as error:
        print(f"pyheapdump: error: {error}", file=sys.stderr)
        return 1
    except MemoryError:  # outside load_dump and save_dump, which raise DumpMemoryError (a DumpError) themselves
        print("pyheapdump: error: out of memory: run this on a machine with more memory, or raise this process's "
              "memory limit", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pyheapdump: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `pyheapdump traceback DUMP | head`: the reader went away; that is not our failure.
        return 0


if __name__ == "__main__":
    sys.exit(main())
