"""`pyheapdump serve DUMP`: host a dump for VS Code and any other Debug Adapter Protocol client."""

from __future__ import annotations

import argparse
import json
import sys

from pyheapdump.cli._common import add_dump_argument, add_trusted_argument, load_dump_for

NAME = "serve"
HELP = "host a dump for VS Code (debugpy attach) and other DAP clients; disconnecting ends it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dump_argument(parser)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; anything else lets others read the dump and run code here)",
    )
    parser.add_argument("--port", type=int, default=5678, help="port to listen on (default 5678; 0 picks a free one)")
    add_trusted_argument(parser)


def run(args: argparse.Namespace) -> int:
    from pyheapdump.debug.ide import serve_dump

    dump = load_dump_for(args)

    def announce(address: str, host: str, port: int, loopback: bool) -> None:
        attach = {"type": "debugpy", "request": "attach", "connect": {"host": host, "port": port}}
        print(f"pyheapdump: serving {args.dump} on {address}", flush=True)
        print(f"  VS Code launch.json: {json.dumps(attach)}; disconnecting ends the server", flush=True)
        if not loopback:
            print(
                f"pyheapdump: warning: {host} is not a loopback address: whoever reaches {address} can read "
                "everything in the dump and run Python in this process through evaluate",
                file=sys.stderr,
                flush=True,
            )

    serve_dump(dump, args.host, args.port, announce=announce)
    return 0
