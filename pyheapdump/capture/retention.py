"""Directory caps: pruning the oldest dumps of a directory after each dump.

Runs right after a dump, in a program that may be failing: paths are str (os and os.path), no pathlib.
"""

from __future__ import annotations

import os

from pyheapdump.capture.caps import _check_cap
from pyheapdump.dump.save import path_text

DUMP_SUFFIX = ".heapdump"


def _check_pruning(keep: int | None, keep_bytes: int | None) -> None:
    _check_cap("keep", keep)
    if keep_bytes is not None and (not isinstance(keep_bytes, int) or keep_bytes < 0):
        raise ValueError(f"keep_bytes must be a number of bytes (an int >= 0) or None, not {keep_bytes!r}")


def prune_dumps(
    directory: str | os.PathLike[str],
    *,
    keep: int | None,
    keep_bytes: int | None,
    protect: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Delete the oldest `*.heapdump` files of `directory` until at most `keep` files and `keep_bytes` bytes remain.

    `protect` (the dump just written) is never deleted. Files that vanish meanwhile (another process pruning the
    same directory) are skipped. Returns the deleted paths (str, `directory` joined with each file's name).
    """
    if keep is None and keep_bytes is None:
        return []
    dumps = _dumps_newest_first(path_text(directory))
    kept_count = 0
    kept_bytes = 0
    deleted = []
    for path, size in dumps:
        is_protected = protect is not None and _same_file(path, protect)
        within = (keep is None or kept_count < keep) and (keep_bytes is None or kept_bytes + size <= keep_bytes)
        if within or is_protected:
            kept_count += 1
            kept_bytes += size
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        deleted.append(path)
    return deleted


def _dumps_newest_first(directory: str) -> list[tuple[str, int]]:
    found = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(DUMP_SUFFIX):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            stat = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        found.append((stat.st_mtime_ns, entry.name, entry.path, stat.st_size))
    found.sort(reverse=True)
    return [(path, size) for _, _, path, size in found]


def _same_file(a: str, b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
