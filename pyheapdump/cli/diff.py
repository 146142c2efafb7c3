"""`pyheapdump diff OLD NEW`: what grew between two dumps of the same process."""

from __future__ import annotations

import argparse
import json

NAME = "diff"
HELP = "what grew between two dumps of one process: by type, and the holders whose retained size grew most"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD", help="the earlier .heapdump file")
    parser.add_argument("new", metavar="NEW", help="the later .heapdump file")
    parser.add_argument("-n", type=int, default=20, metavar="N", help="how many types and holders to list (default 20)")
    parser.add_argument("--json", action="store_true",
                        help='{"types": [{"type", "count_old", "count_new", "bytes_old", "bytes_new"}], '
                        '"holders": [{"path", "type", "id_old", "id_new", "retained_old", "retained_new"}]}')


def run(args: argparse.Namespace) -> int:
    from pyheapdump.analysis.diff import diff

    result = diff(args.old, args.new, holders=args.n)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"Growth from {args.old} to {args.new}, by type (bytes as sys.getsizeof saw them):")
    print(f"{'+objects':>12}  {'+bytes':>14}  {'bytes now':>14}  type")
    grown = [row for row in result["types"]
             if row["bytes_new"] != row["bytes_old"] or row["count_new"] != row["count_old"]]
    for row in grown[: args.n if args.n > 0 else None]:
        print(f"{row['count_new'] - row['count_old']:>+12,}  {row['bytes_new'] - row['bytes_old']:>+14,}  "
              f"{row['bytes_new']:>14,}  {row['type']}")
    if not grown:
        print("  nothing changed")
    print()
    print("Holders whose retained size grew most (matched by their path from the roots):")
    for row in result["holders"]:
        print(f"  {row['retained_new'] - row['retained_old']:>+14,}  {row['type']} @{row['id_new']} "
              f"(now {row['retained_new']:,})")
        print(f"  {'':>14}  {row['path']}")
    if not result["holders"]:
        print("  none grew")
    return 0
