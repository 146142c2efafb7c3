"""Running the re-enacting code: each tree of frames in a short-lived helper thread with a raised recursion
limit, so the frames stay behind finished, as in a traceback."""

from __future__ import annotations

import _thread
import sys
import threading
import types
from typing import Any

from pyheapdump.errors import DumpError
from pyheapdump.reenact.chains import _FrameGraph, _Node
from pyheapdump.reenact.codegen import _arguments, _Builder

# How long to wait for one helper thread; a stack of 100,000 frames takes a few seconds.
_THREAD_TIMEOUT = 600.0


class ReenactError(DumpError):
    """Dumped stacks could not be turned into real frames."""


def _postorder(root: _Node) -> list[_Node]:
    """Children before parents, without recursion (stacks can be very deep)."""
    order = []
    pending = [root]
    while pending:
        node = pending.pop()
        order.append(node)
        pending.extend(node.children)
    order.reverse()
    return order


def _height(root: _Node) -> int:
    best = 0
    pending = [(root, 1)]
    while pending:
        node, depth = pending.pop()
        best = max(best, depth)
        pending.extend((child, depth + 1) for child in node.children)
    return best


_recursion_lock = threading.Lock()


def _run_trees(graph: _FrameGraph) -> dict[int, types.FrameType]:
    captured: dict[int, types.FrameType] = {}

    def capture(key: int) -> None:
        captured[key] = sys._getframe(1)

    roots = graph.roots()
    needed = max((_height(root) for root in roots), default=0) + 100
    with _recursion_lock:
        previous = sys.getrecursionlimit()
        sys.setrecursionlimit(max(previous, needed))
        try:
            for root in roots:
                _run_tree(root, capture)
        finally:
            sys.setrecursionlimit(previous)
    missing = [key for key in graph.nodes if key not in captured]
    if missing:
        raise ReenactError(f"{len(missing)} dumped frames could not be re-enacted; please report this dump")
    return captured


def _run_tree(root: _Node, capture: Any) -> None:
    errors: list[BaseException] = []
    finished = threading.Lock()
    finished.acquire()

    def failed() -> None:
        errors.append(sys.exc_info()[1] or RuntimeError("unknown failure"))

    builder = _Builder(capture=capture, failed=failed, done=finished.release)
    for node in _postorder(root):
        builder.functions[id(node)] = builder.function_for(node, root=node is root)
    root_function = builder.functions.pop(id(root))
    # Started straight from C, the root function's frame has no f_back; the thread ends when it returns
    # and never keeps the process alive.
    _thread.start_new_thread(root_function, tuple(_arguments(root.dumped)))
    if not finished.acquire(timeout=_THREAD_TIMEOUT):
        raise ReenactError("re-enacting a dumped stack did not finish in time")
    if errors:
        raise ReenactError(f"re-enacting a dumped stack failed: {errors[0]!r}") from errors[0]
