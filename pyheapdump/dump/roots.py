"""Dump side: what the walk starts from. Every thread's stack, the exception, the frame asked for, extra stacks.

The root is a plain dict of lists and dicts (record 1 of the dump); the loader reads it back by these keys.
"""

from __future__ import annotations

import sys
import threading
import types

# Imported with the package, not at the first dump: a dump imports nothing.
from pyheapdump.dump.extra_stacks import collect_extra_stacks

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any


def _stack_outermost_first(top: types.FrameType | None) -> list[types.FrameType]:
    frames = []
    frame = top
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    return frames


def _thread_facts(ident: int) -> tuple[str, bool]:
    """A thread's name and daemon flag, read from the Thread's own __dict__ (no property runs)."""
    thread = threading._active.get(ident)  # type: ignore[attr-defined]
    if thread is None:
        return f"Thread-{ident}", False
    state = object.__getattribute__(thread, "__dict__")
    return str(state.get("_name", f"Thread-{ident}")), bool(state.get("_daemonic", False))


def caller_frame(skip_prefix: str = "pyheapdump") -> types.FrameType | None:
    """The innermost frame that is not pyheapdump's own: where the user asked for the dump."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not (isinstance(module, str) and (module == skip_prefix or module.startswith(skip_prefix + "."))):
            return frame
        frame = frame.f_back
    return None


def thread_roots(current_top: types.FrameType | None, all_threads: bool) -> list[dict[str, Any]]:
    current_ident = threading.get_ident()
    tops: dict[int, types.FrameType | None] = dict(sys._current_frames()) if all_threads else {}
    tops[current_ident] = current_top
    threads = []
    for ident, top in tops.items():
        name, daemon = _thread_facts(ident)
        threads.append(
            {
                "kind": "thread",
                "name": name,
                "ident": ident,
                "daemon": daemon,
                "current": ident == current_ident,
                "state": "",
                "frames": _stack_outermost_first(top),
            }
        )
    # The thread that asked for the dump first, then the others in a stable order.
    threads.sort(key=lambda t: (not t["current"], t["ident"]))
    return threads


def extra_stacks() -> tuple[list[dict[str, Any]], str | None]:
    """asyncio tasks and greenlets, from pyheapdump.dump.extra_stacks; its failure is reported, never raised."""
    try:
        return list(collect_extra_stacks()), None
    except Exception as error:  # noqa: BLE001 - a broken collector must not cost the dump
        return [], f"extra stacks: {type(error).__name__}: {error}"


def build_root(
    *,
    exc: BaseException | None,
    frame: types.FrameType | None,
    current_top: types.FrameType | None,
    all_threads: bool,
) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    stacks, problem = extra_stacks() if all_threads else ([], None)
    if problem:
        problems.append(problem)
    root = {
        "threads": thread_roots(current_top, all_threads),
        "extra_stacks": stacks,
        "exception": exc,
        "frame": frame,
    }
    return root, problems


def module_globals() -> dict[str, dict[str, Any]]:
    """Heap mode's extra roots: each module of sys.modules by name, as its globals dict (a module's record holds only
    its name). Read through ModuleType's own slot and by exact types, so no module's property or __getattr__ runs."""
    slots: Any = types.ModuleType.__dict__  # typeshed types it as the __dict__ property itself
    read_dict = slots["__dict__"].__get__
    found: dict[str, dict[str, Any]] = {}
    for name, module in list(sys.modules.items()):
        if type(name) is not str or not issubclass(type(module), types.ModuleType):
            continue
        try:
            namespace = read_dict(module)
        except Exception:  # noqa: BLE001 (a module being torn down)
            continue
        if type(namespace) is dict:
            found[name] = namespace
    return found
