"""`pyheapdump stats DUMP`: a heap histogram in the style of Java's `jmap -histo`, from the dump's summary."""

from __future__ import annotations

import argparse
from typing import Any

from pyheapdump.cli._common import add_dump_argument
from pyheapdump.errors import DumpFormatError

NAME = "stats"
HELP = "heap histogram: objects and bytes by type, the largest objects, what the limits cut"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dump_argument(parser)
    parser.add_argument("--top", type=int, default=30, metavar="N", help="how many types to list (default 30; 0: all)")


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def histogram(types: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(type name, objects, bytes), most bytes first."""
    rows = []
    for name, counts in types.items():
        if isinstance(counts, list | tuple) and len(counts) == 2:
            rows.append((str(name), _number(counts[0]), _number(counts[1])))
    rows.sort(key=lambda row: (-row[2], -row[1], row[0]))
    return rows


def format_stats(path: str, header: dict[str, Any], top: int) -> list[str]:
    types = header.get("types")
    if not isinstance(types, dict):
        raise DumpFormatError(f"{path}: the dump's summary has no type histogram; was it written completely?")
    rows = histogram(types)
    total_objects = sum(row[1] for row in rows)
    total_bytes = sum(row[2] for row in rows)
    lines = [
        f"Heap histogram of {path}: {total_objects:,} objects, {total_bytes:,} bytes "
        "(sizes as sys.getsizeof saw them in the dumped process)",
        "",
        f"{'num':>5}  {'#objects':>12}  {'#bytes':>14}  type",
        "-" * 60,
    ]
    shown = rows if top <= 0 else rows[:top]
    for number, (name, count, size) in enumerate(shown, start=1):
        lines.append(f"{number:>4}:  {count:>12,}  {size:>14,}  {name}")
    if len(shown) < len(rows):
        rest = rows[len(shown) :]
        lines.append(
            f"{'...':>5}  {sum(r[1] for r in rest):>12,}  {sum(r[2] for r in rest):>14,}  ({len(rest)} more types)"
        )
    lines.append(f"{'Total':>5}  {total_objects:>12,}  {total_bytes:>14,}")
    largest = [row for row in header.get("largest") or [] if isinstance(row, list | tuple) and len(row) == 3]
    if largest:
        lines += ["", "Largest objects: (`pyheapdump paths DUMP @ID` shows what holds one)",
                  f"{'id':>10}  {'#bytes':>14}  type"]
        for object_id, name, size in sorted(largest, key=lambda row: -_number(row[2])):
            lines.append(f"{'@' + str(_number(object_id)):>10}  {_number(size):>14,}  {name}")
    lines += ["", "Cut by limits:"]
    cut = {str(k): _number(v) for k, v in (header.get("cut") or {}).items() if _number(v)}
    if cut:
        lines += [f"  {reason:<12} {count:>12,} objects or items left out" for reason, count in cut.items()]
    else:
        lines.append("  nothing: every reachable object was dumped")
    hit = header.get("limits_hit") or []
    if hit:
        lines.append(f"  limits hit: {', '.join(str(h) for h in hit)}")
    return lines


def run(args: argparse.Namespace) -> int:
    from pyheapdump.load.loader import read_header

    header = read_header(args.dump)
    print("\n".join(format_stats(args.dump, header, args.top)))
    return 0
