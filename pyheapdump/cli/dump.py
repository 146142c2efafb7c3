"""`pyheapdump dump PID`: dump a running Python process that installed nothing, the way `jmap -dump` does for Java.

    pyheapdump dump PID [-o FILE | --directory DIR] [--threads/--no-threads] [--max-objects N ...] [--timeout S]

Python 3.14+ targets are asked through `sys.remote_exec` (PEP 768); 3.11-3.13 targets through the signal of their
pyheapdump signal hook. The target keeps running. Prints the dump's path; any failure is one line saying why and what
to do (pyheapdump.capture.remote and remote_command have the details).
"""

from __future__ import annotations

import argparse
import sys

from pyheapdump.capture.writer import parse_limit
from pyheapdump.dump.save import DEFAULT_LIMITS

NAME = "dump"
HELP = "dump a running Python process by its pid (3.14+: sys.remote_exec; 3.11-3.13: its pyheapdump signal hook)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pid", type=int, metavar="PID", help="the process to dump")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", metavar="FILE", default=None, help="write the dump to FILE")
    where.add_argument("--directory", "-d", metavar="DIR", default=None,
                       help="write the dump into DIR under its usual name (default: the current directory; a "
                            "signal hook's dump stays in the hook's directory)")
    parser.add_argument("--threads", action=argparse.BooleanOptionalAction, default=True,
                        help="dump every thread (default), or only the main thread")
    parser.add_argument("--heap", action="store_true",
                        help="a whole-heap dump for leak hunting: also every module and the objects only the garbage "
                             "collector knew of (save_dump(heap=True); `pyheapdump top/paths/report` read it)")
    for name, default in DEFAULT_LIMITS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=f"limit_{name}", default=None,
                            metavar="SECONDS" if name == "time_limit" else "N",
                            help=f"save_dump's {name} (default {default:_})" if isinstance(default, int)
                            else f"save_dump's {name} (default {default})")
    parser.add_argument("--limit", metavar="NAME=VALUE", action="append", default=[],
                        help="any save_dump limit, e.g. max_objects=100000 (repeatable)")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for the process to take the request (default 30)")
    parser.add_argument("--no-lend", dest="lend", action="store_false",
                        help="never load this command's own pyheapdump into a 3.14+ process that has none")


def run(args: argparse.Namespace) -> int:
    from pyheapdump.capture.remote_command import dump_pid

    try:
        limits = dict(parse_limit(text) for text in args.limit)
        for name in DEFAULT_LIMITS:
            value = getattr(args, f"limit_{name}")
            if value is not None:
                limits.update([parse_limit(f"{name}={value}")])
    except ValueError as error:
        print(f"pyheapdump dump: {error}", file=sys.stderr)
        return 2
    for name, value in limits.items():
        if isinstance(value, str):
            print(f"pyheapdump dump: the limit {name} takes a number (or none), not {value!r}", file=sys.stderr)
            return 2
    unknown = sorted(set(limits) - set(DEFAULT_LIMITS))
    if unknown:
        print(f"pyheapdump dump: unknown limits {unknown}; known: {sorted(DEFAULT_LIMITS)}", file=sys.stderr)
        return 2
    if args.timeout <= 0:
        print("pyheapdump dump: --timeout must be more than 0 seconds", file=sys.stderr)
        return 2
    notes: list[str] = []
    path = dump_pid(args.pid, path=args.output, directory=args.directory, threads=args.threads, heap=args.heap,
                    limits=limits,
                    timeout=args.timeout, lend=args.lend, notes=notes)
    for note in notes:
        print(f"pyheapdump: note: {note}", file=sys.stderr)
    print(path)
    return 0
