"""`pyheapdump top DUMP`: the objects (or types) that retain the most memory, from the dump's dominator tree."""

from __future__ import annotations

import argparse
import json

from pyheapdump.cli._common import add_dump_argument

NAME = "top"
HELP = "the objects (or types, --by-type) retaining the most memory, with their paths from the roots"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dump_argument(parser)
    parser.add_argument("-n", type=int, default=20, metavar="N", help="how many to list (default 20; 0: all types)")
    parser.add_argument("--by-type", action="store_true", help="types instead of objects (module.qualname)")
    parser.add_argument("--json", action="store_true", help="one JSON list, largest retained size first")


def run(args: argparse.Namespace) -> int:
    from pyheapdump.analysis import analyze

    analysis = analyze(args.dump)
    rows = analysis.top(args.n, by_type=args.by_type)
    if args.json:
        print(json.dumps(rows))
        return 0
    totals = analysis.summary()
    print(f"Retained memory in {args.dump}: {totals['reachable']:,} objects, {totals['retained']:,} bytes reachable "
          "from the roots (sizes as sys.getsizeof saw them)")
    print()
    if args.by_type:
        print(f"{'#objects':>12}  {'shallow':>14}  {'retained':>14}  type")
        for row in rows:
            print(f"{row['count']:>12,}  {row['shallow']:>14,}  {row['retained']:>14,}  {row['type']}")
    else:
        print(f"{'id':>10}  {'retained':>14}  {'shallow':>12}  type, and the path that reaches it")
        for row in rows:
            print(f"{'@' + str(row['id']):>10}  {row['retained']:>14,}  {row['shallow']:>12,}  {row['type']}")
            print(f"{'':>40}{row['path']}")
    for warning in analysis.warnings:
        print(f"warning: {warning}")
    return 0
