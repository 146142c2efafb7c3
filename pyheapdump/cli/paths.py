"""`pyheapdump paths DUMP TARGET`: the shortest paths from the roots to an object (@ID) or a type's instances."""

from __future__ import annotations

import argparse
import json

from pyheapdump.cli._common import add_dump_argument

NAME = "paths"
HELP = "the shortest paths from the roots to an object (@ID) or to the instances of a type (module.qualname)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dump_argument(parser)
    parser.add_argument("target", metavar="TARGET", help="@ID (as stats and top print it) or module.qualname")
    parser.add_argument("--max", type=int, default=5, metavar="N", help="at most N paths (default 5)")
    parser.add_argument("--json", action="store_true", help="a JSON list of paths, each a list of steps")


def run(args: argparse.Namespace) -> int:
    from pyheapdump.analysis import analyze, path_text

    analysis = analyze(args.dump)
    paths = analysis.paths(args.target, max=args.max)
    if args.json:
        print(json.dumps(paths))
        return 0
    for number, steps in enumerate(paths, start=1):
        if number > 1:
            print()
        if not steps:
            print("(not reachable from the roots)")
            continue
        last = steps[-1]
        facts = analysis.retained(last["id"]) if last["id"] is not None else None
        size = f": {facts['shallow']:,} bytes, retains {facts['retained']:,}" if facts else ""
        print(f"@{last['id']} {last['type']}{size}")
        print(f"  {path_text(steps)}")
        print("  " + " > ".join("-" if step["id"] is None else f"@{step['id']}" for step in steps))
    return 0
