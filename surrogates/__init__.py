"""The knowledge of object kinds: one module per family that pickle cannot handle.

Each module defines `SUPPORTS`, a tuple of `pyheapdump.typesupport.TypeSupport`: how that family is captured when
dumped and how it comes back when loaded. `base` holds the surrogate classes everything else falls back to.
"""

# The modules that define SUPPORTS, registered in this (file-name) order. Listed, not found with pkgutil, which the
# package does not import; tests/python/unit/test_surrogate_modules.py checks that the list is complete.
SUPPORT_MODULES = (
    "enums",
    "files",
    "locks",
    "memory_files",
    "memoryviews",
    "namedtuples",
    "numpy_arrays",
    "pandas_frames",
    "regex_matches",
    "sockets",
    "weakrefs",
    "zones",
)
