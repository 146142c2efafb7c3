"""Locks: whether they were held when the dump was taken (and by which thread, for re-entrant locks).

A lock cannot be rebuilt meaningfully in another process; it loads as a surrogate whose `locked()` answers as the lock
did when dumped, and whose `owner` and `count` attributes (re-entrant locks) say who held it how often.
"""

from __future__ import annotations

import re

from pyheapdump.typesupport import TypeSupport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any

_RLOCK_REPR = re.compile(r"owner=(?P<owner>\d+) count=(?P<count>\d+)")


def lock_facts(lock: Any) -> dict[str, Any]:
    return {"locked": bool(lock.locked())}


def rlock_facts(lock: Any) -> dict[str, Any]:
    # The C RLock shows its owner and recursion count only in its repr (C code); `locked()` exists from 3.14 on.
    match = _RLOCK_REPR.search(repr(lock))
    if match is None:
        return {}
    count = int(match["count"])
    return {"locked": count > 0, "owner": int(match["owner"]), "count": count}


SUPPORTS = (
    TypeSupport("lock", ("_thread.lock",), lock_facts, facts_only=True, answers=("locked",)),
    TypeSupport("rlock", ("_thread.RLock",), rlock_facts, facts_only=True, answers=("locked",)),
)
