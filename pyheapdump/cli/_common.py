"""What the subcommands share: the DUMP argument, the --trusted option, loading behind a progress display. Whether DUMP
names a dump is checked where it is opened (pyheapdump.load.dumpfile.open_dump_file), for every subcommand alike."""

from __future__ import annotations

import argparse
import collections
import re
import sys
import warnings

from pyheapdump.model import HeapDump


def add_dump_argument(parser: argparse.ArgumentParser) -> None:
    """The DUMP positional argument, `args.dump`: what load_dump_for loads."""
    parser.add_argument("dump", metavar="DUMP", help="the .heapdump file")


def add_trusted_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trusted",
        action="store_true",
        help="load trusted: import the dumped program's modules to rebuild real objects (runs their code)",
    )


def load_dump_for(args: argparse.Namespace) -> HeapDump:
    """Loads `args.dump` (safe unless --trusted) behind the progress display the subcommands share."""
    from pyheapdump.cli._progress import run_busy
    from pyheapdump.load.loader import DumpLoadWarning, load_dump

    with warnings.catch_warnings(record=True) as problems:
        warnings.simplefilter("always")
        dump = run_busy(f"loading {args.dump}", lambda: load_dump(args.dump, trusted=args.trusted))
    # load_dump sums the dump's problems up in one DumpLoadWarning; the block lists them all, one line each.
    messages = list(dump.warnings) + [str(problem.message) for problem in problems
                                      if not issubclass(problem.category, DumpLoadWarning)]
    if messages:
        print(problem_block(args.dump, messages), file=sys.stderr)
    return dump


MAX_PROBLEM_LINES = 20
_OBJECT_PREFIX = re.compile(r"^object \d+: ")


def problem_block(dump: str, messages: list[str]) -> str:
    """The load's problems as one block a person reads once (not Python's warning format, which ends each with a
    line of pyheapdump's own source): one line a distinct problem, repeats counted, long lists cut."""
    # "object 1160: TypeError: ..." and "object 5743: TypeError: ..." are one problem met by two objects.
    counts = collections.Counter(_OBJECT_PREFIX.sub("", message.strip().splitlines()[0] if message.strip() else "?")
                                 for message in messages)
    noun = "problem" if len(messages) == 1 else "problems"
    lines = [f"pyheapdump: {len(messages)} {noun} loading {dump}; what they touched loads as surrogates "
             "(pyheapdump.surrogate_info says why):"]
    for text, count in list(counts.items())[:MAX_PROBLEM_LINES]:
        lines.append(f"  - {text}" + (f" (x{count})" if count > 1 else ""))
    if len(counts) > MAX_PROBLEM_LINES:
        lines.append(f"  ... and {len(counts) - MAX_PROBLEM_LINES} more")
    return "\n".join(lines)
