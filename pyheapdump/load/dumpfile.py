"""Opening a dump file: the one check that a path names a dump, shared by load_dump, read_header and every `pyheapdump`
subcommand, so each of them says the same thing about the same wrong path."""

from __future__ import annotations

import os
import stat

import pyheapdump._native as _native
from pyheapdump.errors import DumpFormatError, DumpNotFoundError

__all__ = ["MAX_TOTAL_RAW", "open_dump_file"]

# A dump may declare at most this many decompressed bytes; loading holds a bounded multiple of it in memory.
MAX_TOTAL_RAW = 8 << 30


def open_dump_file(path: str | os.PathLike[str]) -> _native.DumpReader:
    """The reader of the dump at `path`. DumpNotFoundError when nothing is there; DumpFormatError when it is a
    directory or no regular file, or (from the reader, which checks the contents) not a dump this version reads."""
    filename = os.fspath(path)
    try:
        mode = os.stat(filename).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise DumpNotFoundError(f"no dump at {filename}: check the path") from None
    except OSError:
        mode = stat.S_IFREG  # unreadable (permission, ...): the reader's own open says why
    if stat.S_ISDIR(mode):
        raise DumpFormatError(f"{filename} is a directory, not a dump: name one dump in it "
                              f"(`pyheapdump info {filename}` lists them)")
    if not stat.S_ISREG(mode):
        # A FIFO or a device: the reader's open would wait on a FIFO for a writer that may never come.
        raise DumpFormatError(f"{filename} is not a regular file, so not a dump: name a .heapdump file")
    return _native.DumpReader(filename, MAX_TOTAL_RAW)
