"""The asyncio tasks that CPython 3.14+ keeps out of Python's sight, for pyheapdump.dump.extra_stacks.

From 3.14 on, `_asyncio` (the C accelerator every CPython build uses) no longer puts tasks in
`asyncio.tasks._scheduled_tasks`/`_eager_tasks`, and the running task of a loop is no longer in
`asyncio.tasks._current_tasks`:

- every `_asyncio.Task` (and subclass) that is pending is on a C linked list of the thread that created it (or of
  the interpreter, once that thread is gone); each thread state also holds its running loop and task.
  `asyncio.all_tasks(loop)` walks these lists but needs a loop, and `python -m asyncio ps` reads them from another
  process. pyheapdump reads them in-process the same way (pyheapdump._native.asyncio_task_lists): through the
  offsets the `_asyncio` module publishes for debuggers in its ".AsyncioDebug" ELF section, checked against this
  interpreter before any list is followed. Nothing of the program runs: the walk reads pointers with the GIL held.
- tasks of third-party classes that do not inherit from `_asyncio.Task` are in two collections of the module's
  C state (a WeakSet and, while they run eagerly, a set); `gc.get_referents(_asyncio)` reports them, as the
  module's traverse function visits its state.

If the offsets cannot be used (a CPython whose section is missing or does not fit), the tasks are found by one
pass over `gc.get_objects()` instead (slower on a large heap, same tasks); the running task is then not known.
"""

from __future__ import annotations

import gc
import sys
import weakref

import pyheapdump._native as _native

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any

# The C lists exist from 3.14 on; earlier versions keep every task in asyncio.tasks' registries.
NEEDED = sys.version_info >= (3, 14)


def c_tasks() -> tuple[list[Any], dict[int, Any]]:
    """(tasks only the C module knows, {id(loop): the task running in it}); empty before 3.14 or without _asyncio."""
    module = sys.modules.get("_asyncio")
    if not NEEDED or module is None:
        return [], {}
    tasks = _c_state_tasks(module)
    try:
        listed, running = _native.asyncio_task_lists(module)
    except (ValueError, AttributeError):
        return tasks + _task_instances(module), {}
    return tasks + listed, {id(loop): task for loop, task in running}


def _c_state_tasks(module: Any) -> list[Any]:
    # gc.get_referents runs the module's C traverse function only; of what it visits, the WeakSet holds the
    # third-party tasks and a set their eager ones (the other set is a cache of coroutine types: types are skipped).
    tasks: list[Any] = []
    for referent in gc.get_referents(module):
        if type(referent) is weakref.WeakSet or type(referent) is set:
            tasks.extend(item for item in _snapshot(referent) if not issubclass(type(item), type))
    return tasks


def _snapshot(collection: Any) -> list[Any]:
    for _ in range(5):
        try:
            return list(collection)
        except RuntimeError:  # changed size during iteration: another thread created or finished a task
            continue
    return []


def _task_instances(module: Any) -> list[Any]:
    task_type = module.__dict__.get("Task")
    if not isinstance(task_type, type):
        return []
    # type() and issubclass, not isinstance: isinstance asks an object of another class for its __class__.
    return [obj for obj in gc.get_objects() if issubclass(type(obj), task_type)]
