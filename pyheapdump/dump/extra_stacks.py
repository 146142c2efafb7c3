"""Stacks that are not OS threads: pending asyncio tasks and suspended greenlets.

`save_dump` calls `collect_extra_stacks()` and dumps what it returns beside the threads. Each stack is a plain dict::

    {"kind": "asyncio-task" | "greenlet", "name": str, "ident": int, "state": str, "frames": [frame, ...]}

`frames` runs outermost first, like a thread's stack; `ident` is `id()` of the task or greenlet.

Rules this module keeps, because it runs inside a dump of a program that may be failing:

- It never runs code of the program: no task or greenlet method with side effects, no property of a user class, no
  `repr()` of user objects. What it reads are C-level attributes of tasks, coroutines, generators and greenlets
  (`get_name()`, `get_coro()`, `done()`, `cancelling()`, `cr_frame`, `cr_await`, `gr_frame`, ...) and the
  referents the garbage collector reports for the few awaitable wrappers that do not expose what they wrap.
- It costs nothing measurable when the program uses neither: asyncio tasks are looked for only when `asyncio.tasks`
  is imported, greenlets only when `greenlet` is imported (finding greenlets needs one pass over
  `gc.get_objects()`, because greenlet keeps no registry of live greenlets).

asyncio tasks: every task that is not done, from the task registry asyncio keeps for `asyncio.all_tasks()` (on
3.11 the weak set `asyncio.tasks._all_tasks`; from 3.12 on the weak set `_scheduled_tasks` plus the set
`_eager_tasks`; from 3.14 on the C task lists of every thread, see pyheapdump.dump.asyncio_c_tasks).
`asyncio.all_tasks()` itself is not used because it only sees the loop running in the calling thread (from 3.14 on
the loop it is given); the registry holds the tasks of every loop in every thread. A task whose loop is stopped but
not closed is still listed (its state then says "loop stopped"); tasks of closed loops are not, as nothing can run
them any more.

A task's frames are its coroutine's frame, then the frame of what that coroutine awaits (`cr_await`,
`gi_yieldfrom`, `ag_await`), and so on down to the innermost suspended frame; the chain stops at an awaitable that is
not a coroutine, generator or async generator (a Future, for example). The running task (the one whose step is on a
thread's stack right now) is listed too, with state "running"; its frames then also appear in that thread's stack.

greenlets: every greenlet that has started, is not dead and is suspended (has a `gr_frame`). A running greenlet is
already on its thread's stack. Frames are the suspended top frame and its callers down to the greenlet's root, which
run outermost first. gevent's Greenlet names are computed lazily by gevent code, so a greenlet's name here is built
from its class, its id and the function it runs.
"""

from __future__ import annotations

import gc
import sys
import types

from pyheapdump.dump.asyncio_c_tasks import c_tasks

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    ExtraStack = dict[str, Any]

# A chain longer than this is a cycle or a pathological recursion; the dump keeps what it has.
_MAX_CHAIN = 2000
# Iterating a weak set raises RuntimeError if another thread adds a task meanwhile; retry that many times.
_REGISTRY_READ_ATTEMPTS = 5
# Awaitable wrappers that hold the coroutine or async generator they drive but do not expose it as an attribute.
# Modules whose task and loop methods are known to only read state (uvloop's loop is compiled Cython).
_LIBRARY_MODULES = ("asyncio.", "_asyncio", "uvloop")
_WRAPPER_TYPE_NAMES = frozenset({"coroutine_wrapper", "async_generator_asend", "async_generator_athrow"})


def collect_extra_stacks() -> list[ExtraStack]:
    """Every pending asyncio task and every suspended greenlet, as plain dicts (see the module docstring)."""
    stacks = _asyncio_task_stacks()
    stacks.extend(_greenlet_stacks())
    return stacks


# --- asyncio -------------------------------------------------------------------------------------------------------


def _asyncio_task_stacks() -> list[ExtraStack]:
    tasks_module = sys.modules.get("asyncio.tasks")
    if tasks_module is None:
        return []
    c_listed, c_running = c_tasks()  # 3.14+: what only the C module knows (see pyheapdump.dump.asyncio_c_tasks)
    current_by_loop = {**_current_tasks_by_loop(tasks_module), **c_running}
    stacks = []
    for task in _registered_tasks(tasks_module, c_listed):
        stack = _task_stack(task, current_by_loop)
        if stack is not None:
            stacks.append(stack)
    return stacks


def _registered_tasks(tasks_module: types.ModuleType, c_listed: list[Any]) -> list[Any]:
    """The tasks of asyncio's registry, read without calling anything that could run program code."""
    registries = [
        getattr(tasks_module, "_all_tasks", None),  # 3.11
        getattr(tasks_module, "_scheduled_tasks", None),  # 3.12+ (3.14+: the pure-Python tasks only)
        getattr(tasks_module, "_eager_tasks", None),  # 3.12+ (3.14+: the pure-Python tasks only)
        c_listed,  # 3.14+
    ]
    tasks: list[Any] = []
    seen: set[int] = set()
    for registry in registries:
        if registry is None:
            continue
        for task in _snapshot(registry):
            if id(task) not in seen:
                seen.add(id(task))
                tasks.append(task)
    return tasks


def _snapshot(registry: Iterable[Any]) -> list[Any]:
    for _ in range(_REGISTRY_READ_ATTEMPTS):
        try:
            return list(registry)
        except RuntimeError:  # changed size during iteration: another thread created or finished a task
            continue
    return []


def _current_tasks_by_loop(tasks_module: types.ModuleType) -> dict[int, Any]:
    current = getattr(tasks_module, "_current_tasks", None)
    if not isinstance(current, dict):
        return {}
    try:
        return {id(loop): task for loop, task in list(current.items())}
    except RuntimeError:
        return {}


def _task_stack(task: Any, current_by_loop: dict[int, Any]) -> ExtraStack | None:
    done = _library_call(task, "done")
    if done is not False:  # done, or a task class that overrides done(): nothing we may ask it
        return None
    loop = _library_call(task, "get_loop")
    if loop is None or _library_call(loop, "is_closed") is True:
        return None
    name = _library_call(task, "get_name")
    return {
        "kind": "asyncio-task",
        "name": name if isinstance(name, str) else f"Task-{id(task):x}",
        "ident": id(task),
        "state": _task_state(task, loop, current_by_loop),
        "frames": awaitable_chain_frames(_library_call(task, "get_coro")),
    }


def _task_state(task: Any, loop: Any, current_by_loop: dict[int, Any]) -> str:
    if current_by_loop.get(id(loop)) is task:
        state = "running"
    elif _library_call(task, "cancelling") or _library_call(task, "_must_cancel"):
        state = "cancelling"
    else:
        state = "pending"
    if _library_call(loop, "is_running") is False:
        state += ", loop stopped"
    return state


def _library_call(obj: Any, name: str) -> Any:
    """`obj.name()` (or the attribute `obj.name`) as asyncio itself defines it, skipping the program's overrides.

    A task factory or a custom loop may subclass Task or the loop and override these methods: calling the override
    would run program code inside the dump, so the first definition in the MRO that belongs to asyncio (or uvloop)
    is used. None when there is none or it fails.
    """
    for cls in type(obj).__mro__:
        if not getattr(cls, "__module__", "").startswith(_LIBRARY_MODULES):
            continue
        attribute = cls.__dict__.get(name)
        if attribute is None:
            continue
        try:
            value = attribute.__get__(obj, type(obj)) if hasattr(attribute, "__get__") else attribute
            return value() if callable(value) else value
        except Exception:
            return None
    return None


def awaitable_chain_frames(awaitable: Any) -> list[types.FrameType]:
    """The frames of a coroutine and of everything it awaits, outermost first (the coroutine's own frame first)."""
    frames: list[types.FrameType] = []
    seen: set[int] = set()
    current = awaitable
    while current is not None and id(current) not in seen and len(frames) < _MAX_CHAIN:
        seen.add(id(current))
        if type(current).__name__ in _WRAPPER_TYPE_NAMES:
            current = _wrapped_generator(current)
            continue
        frame, awaited = _frame_and_awaited(current)
        if frame is None:
            break
        frames.append(frame)
        current = awaited
    return frames


def _frame_and_awaited(obj: Any) -> tuple[types.FrameType | None, Any]:
    """The suspended frame of a coroutine, generator or async generator and the object it delegates to."""
    if isinstance(obj, types.CoroutineType):
        return obj.cr_frame, obj.cr_await
    if isinstance(obj, types.GeneratorType):
        return obj.gi_frame, obj.gi_yieldfrom
    if isinstance(obj, types.AsyncGeneratorType):
        return obj.ag_frame, obj.ag_await
    return None, None


def _wrapped_generator(wrapper: Any) -> Any:
    # gc.get_referents runs the type's C traverse function only: no program code, no attribute lookups.
    for referent in gc.get_referents(wrapper):
        if isinstance(referent, types.CoroutineType | types.GeneratorType | types.AsyncGeneratorType):
            return referent
    return None


# --- greenlets -----------------------------------------------------------------------------------------------------


def _greenlet_stacks() -> list[ExtraStack]:
    greenlet_module = sys.modules.get("greenlet")
    greenlet_type = getattr(greenlet_module, "greenlet", None) if greenlet_module is not None else None
    if not isinstance(greenlet_type, type):
        return []
    stacks = []
    for obj in gc.get_objects():
        if isinstance(obj, greenlet_type):
            stack = _greenlet_stack(obj)
            if stack is not None:
                stacks.append(stack)
    return stacks


def _greenlet_stack(glet: Any) -> ExtraStack | None:
    try:
        if glet.dead:
            return None
        top = glet.gr_frame  # None while running (it is then on its thread's stack) or before it starts
    except Exception:
        return None
    if top is None:
        return None
    frames: list[Any] = []
    frame: types.FrameType | None = top
    while frame is not None and len(frames) < _MAX_CHAIN:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    return {
        "kind": "greenlet",
        "name": _greenlet_name(glet, frames[0]),
        "ident": id(glet),
        "state": "suspended",
        "frames": frames,
    }


def _greenlet_name(glet: Any, root: types.FrameType) -> str:
    # Only the instance dict and the type are read: a subclass's `name` property could run program code.
    instance_dict = _instance_dict(glet)
    target = instance_dict.get("_run") or instance_dict.get("run")
    what = getattr(target, "__qualname__", None) if isinstance(target, types.FunctionType) else None
    if not isinstance(what, str):
        what = root.f_code.co_qualname
    return f"{type(glet).__name__}-{id(glet):x} ({what})"


def _instance_dict(obj: Any) -> dict[str, Any]:
    try:
        found = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return {}
    return found if isinstance(found, dict) else {}
