"""The exceptions pyheapdump raises: one family, each message says what to do."""

from __future__ import annotations


class DumpError(Exception):
    """Base class of every error pyheapdump raises on purpose."""


class DumpWriteError(DumpError):
    """A dump could not be written (disk full, permission, a limit on the file); no partial file is left."""


class DumpMemoryError(DumpError, MemoryError):
    """Dumping or loading ran out of memory; no partial file is left and nothing is returned. A MemoryError too, so
    code that catches MemoryError keeps working."""


class DumpInProgressError(DumpError):
    """A dump was requested from inside a dump that is still running on the same thread (a signal handler)."""


class DumpFormatError(DumpError):
    """The file is not a dump this version can read, or nothing in it could be recovered."""


class DumpNotFoundError(DumpError, FileNotFoundError):
    """The named dump file does not exist."""


class RebuildError(DumpError):
    """An object could not be rebuilt; it is a surrogate instead (raised only inside the loader)."""
