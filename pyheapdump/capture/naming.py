"""Names for the dumps of tests (the pytest plugin and `pyheapdump run`): sanitized, short, unique per run."""

from __future__ import annotations

import os
import re

import pyheapdump._native as _native
from pyheapdump.capture.retention import DUMP_SUFFIX

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from pathlib import Path

# Longest test-name stem before it is shortened and given a hash of the full id.
_MAX_STEM = 150


_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize_stem(text: str) -> str:
    """A file-name stem for a test id: runs of characters outside [A-Za-z0-9._-] become one "_".

    Long ids are cut and given 10 hex digits of their SHA-256, so distinct ids stay distinct.
    """
    stem = _UNSAFE_RUN.sub("_", text).strip("._") or "dump"
    if len(stem) > _MAX_STEM:
        digest = _native.sha256_hex(text.encode("utf-8", "surrogatepass"))[:10]
        stem = f"{stem[: _MAX_STEM - 11]}-{digest}"
    return stem


def test_dump_path(directory: str | os.PathLike[str], test_id: str, used: set[str]) -> Path:
    """Where the dump of test `test_id` goes: `<sanitized id>.heapdump`, `-2`, `-3`, ... when the same run needs more.

    `used` holds the names given out during this run: a dump left by an earlier run under the same name is replaced,
    a second failure of the same test in this run (reruns, subtests) gets its own file.
    """
    # Here, not with the package (which every process that installs the hooks imports): only the test runners ask,
    # pytest and `pyheapdump run`, and they have imported pathlib already.
    from pathlib import Path

    stem = sanitize_stem(test_id)
    name = f"{stem}{DUMP_SUFFIX}"
    counter = 1
    while name in used:
        counter += 1
        name = f"{stem}-{counter}{DUMP_SUFFIX}"
    used.add(name)
    return Path(directory) / name


test_dump_path.__test__ = False  # type: ignore[attr-defined]  # a helper, not a pytest test
