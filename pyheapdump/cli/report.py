"""`pyheapdump report DUMP -o FILE.html`: one self-contained HTML page of where the dump's memory is."""

from __future__ import annotations

import argparse

from pyheapdump.cli._common import add_dump_argument

NAME = "report"
HELP = "write one self-contained HTML page: leak suspects, the dominator tree, a treemap, types, threads"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dump_argument(parser)
    parser.add_argument("-o", "--output", required=True, metavar="FILE.html", help="the page to write")


def run(args: argparse.Namespace) -> int:
    from pyheapdump.analysis import analyze
    from pyheapdump.analysis.report import write_report

    written = write_report(analyze(args.dump), args.output)
    print(f"wrote {written}")
    return 0
