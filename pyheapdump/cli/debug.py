"""`pyheapdump debug DUMP`: open a dump post-mortem in pdb, ipdb, pudb or pdbpp."""

from __future__ import annotations

import argparse

from pyheapdump.cli._common import require_dump_file
from pyheapdump.cli._progress import run_busy

NAME = "debug"
ALIASES = ["load"]
HELP = "open a dump post-mortem in pdb (or ipdb, pudb, pdbpp) with every dumped thread"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dump", metavar="DUMP", help="the .heapdump file")
    parser.add_argument(
        "--debugger",
        default="pdb",
        choices=["pdb", "ipdb", "pudb", "pdbpp"],
        help="which debugger to open (ipdb, pudb and pdbpp must be installed); default pdb",
    )
    parser.add_argument(
        "--thread",
        type=int,
        metavar="N",
        help="start at the top of dumped stack N (as numbered by the `threads` command) instead of the exception",
    )
    parser.add_argument(
        "--pydevd",
        metavar="HOST:PORT",
        help="show the dump in a waiting PyCharm/PyDev debug server instead (needs pydevd, pydevd-pycharm or debugpy)",
    )
    parser.add_argument(
        "--trusted",
        action="store_true",
        help="load trusted: import the dumped program's modules to rebuild real objects (runs their code)",
    )


def run(args: argparse.Namespace) -> int:
    from pyheapdump import load_dump
    from pyheapdump.debugger import debug_dump

    require_dump_file(args.dump)
    if args.pydevd:
        from pyheapdump.ide.pydevd_bridge import debug_with_pydevd, parse_address

        host, port = parse_address(args.pydevd)
        dump = run_busy(f"loading {args.dump}", lambda: load_dump(args.dump, trusted=args.trusted))
        print(f"pyheapdump: showing {args.dump} in the debug server at {host}:{port}; stop debugging there to end")
        debug_with_pydevd(dump, host, port)
        return 0
    dump = run_busy(f"loading {args.dump}", lambda: load_dump(args.dump, trusted=args.trusted))
    debug_dump(dump, debugger=args.debugger, thread=args.thread)
    return 0
