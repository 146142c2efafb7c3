"""`pyheapdump debug DUMP`: open a dump post-mortem in pdb, ipdb, pudb or pdbpp."""

from __future__ import annotations

import argparse

from pyheapdump.cli._common import add_dump_argument, add_trusted_argument, load_dump_for

NAME = "debug"
ALIASES = ["load"]
HELP = "open a dump post-mortem in pdb (or ipdb, pudb, pdbpp) with every dumped thread"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dump_argument(parser)
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
    add_trusted_argument(parser)


def run(args: argparse.Namespace) -> int:
    from pyheapdump.debug.debugger import debug_dump

    if args.pydevd:
        from pyheapdump.debug.ide.pydevd_bridge import debug_with_pydevd, parse_address

        host, port = parse_address(args.pydevd)
        dump = load_dump_for(args)
        print(f"pyheapdump: showing {args.dump} in the debug server at {host}:{port}; stop debugging there to end")
        debug_with_pydevd(dump, host, port)
        return 0
    dump = load_dump_for(args)
    debug_dump(dump, debugger=args.debugger, thread=args.thread)
    return 0
