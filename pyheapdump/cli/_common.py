"""What the subcommands share: checking the DUMP argument before the loader sees it."""

from __future__ import annotations

from pathlib import Path

from pyheapdump.errors import DumpNotFoundError


def require_dump_file(name: str) -> Path:
    """`name` as a path to an existing file; a directory or a missing file is a one-line error."""
    path = Path(name)
    if path.is_dir():
        raise DumpNotFoundError(f"{name} is a directory: name one dump in it (`pyheapdump info {name}` lists them)")
    if not path.exists():
        raise DumpNotFoundError(f"{name}: no such dump file")
    return path
