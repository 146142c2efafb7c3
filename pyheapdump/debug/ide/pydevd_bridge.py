"""`pyheapdump debug DUMP --pydevd HOST:PORT`: present a dump to a waiting PyCharm or PyDev debug server.

PyCharm's "Python Debug Server" and PyDev's debug server listen; a program joins them with
`pydevd.settrace(host, port=..., suspend=False)`. This process does exactly that (with `pydevd`, from the
`pydevd` or `pydevd-pycharm` package, or the copy debugpy vendors), then shows the re-enacted stacks:

- the loader's own thread is suspended on the dumped exception (its traceback, with pydevd's chained
  exceptions) or, without an exception, at the top of the thread that called the dump; while suspended it
  carries that stack's name, so no frame or name of the loader is shown;
- every other stack is a pydevd custom frame: an extra suspended thread named like the stack
  (`pydevd_custom_frames.add_custom_frame`, the way pydevd shows greenlets): the exceptions of the chain (their
  callers show the line they were at when dumped) and every dumped thread, asyncio task and greenlet.

Variables, watches and the console are pydevd's, evaluated in the re-enacted frames (whose locals are the
dumped values; safe by default like loading). Resuming or stepping runs nothing: the thread suspends again at
once and the IDE's console says so. The session ends when the IDE disconnects or stops the debug server.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import threading
import types
from typing import Any

from pyheapdump.debug.ide.view import DumpView, PresentedStack
from pyheapdump.errors import DumpError
from pyheapdump.model import HeapDump
from pyheapdump.present.sources import served_sources
from pyheapdump.reenact.frames import reenact

_NOTHING_RUNS = "pyheapdump: this is a heap dump, not a running program: nothing ran; the dump is suspended again.\n"


class PydevdError(DumpError):
    """pydevd is missing, or the debug server cannot be reached."""


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (or [IPv6]:PORT) as (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise PydevdError(f"--pydevd wants HOST:PORT, like localhost:5678, not {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def import_pydevd() -> types.ModuleType:
    """pydevd from `pydevd` or `pydevd-pycharm`, else the copy inside debugpy."""
    # pydevd warns that frozen stdlib modules may hide breakpoints; a dump has no breakpoints to miss.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    try:
        return importlib.import_module("pydevd")
    except ImportError:
        pass
    try:
        vendored = importlib.import_module("debugpy._vendored")
    except ImportError:
        raise PydevdError(
            "--pydevd needs pydevd: pip install pydevd-pycharm~=<your PyCharm build> (PyCharm) or pydevd (PyDev)"
        ) from None
    sys.path.insert(0, vendored.project_root("pydevd"))
    return importlib.import_module("pydevd")


def debug_with_pydevd(dump: HeapDump, host: str, port: int) -> None:
    """Connect to the debug server at host:port and show the dump there until the IDE lets go."""
    view = DumpView(reenact(dump))  # before pydevd starts: the re-enacting helper threads are gone by then
    pydevd = import_pydevd()
    with served_sources(dump.sources):
        _connect(pydevd, host, port)
        try:
            _present(pydevd, view)
        finally:
            pydevd.stoptrace()


def _connect(pydevd: types.ModuleType, host: str, port: int) -> None:
    # pydevd logs a failed connection with a traceback on stderr; our error says it in one line instead.
    logged = io.StringIO()
    try:
        with contextlib.redirect_stderr(logged):
            pydevd.settrace(
                host,
                port=port,
                suspend=False,
                trace_only_current_thread=True,
                patch_multiprocessing=False,
                notify_stdin=False,
            )
    except OSError as error:
        raise PydevdError(
            f"no debug server answers at {host}:{port} ({error.strerror or error}): start the IDE's "
            "Python debug server on that port first"
        ) from None
    sys.stderr.write(logged.getvalue())


def _present(pydevd: types.ModuleType, view: DumpView) -> None:
    from _pydevd_bundle.pydevd_custom_frames import add_custom_frame, remove_custom_frame

    py_db = pydevd.get_global_debugger()
    # This thread suspends itself from plain code, not from inside pydevd's tracer as a program's thread would;
    # traced, pydevd's own work while suspended (sending the stack) would hit the pending suspend and nest.
    py_db.disable_tracing()
    thread = threading.current_thread()
    shown = _shown_on_this_thread(view)
    # pydevd shows the chained exceptions beside the shown one, but only a thread's own frames can be inspected.
    custom = [stack for stack in view.listed if stack is not shown and stack.frames]
    ids = [add_custom_frame(stack.frames[0].frame, stack.name, thread.ident) for stack in custom]
    loader_name = thread.name
    try:
        thread.name = shown.name if shown is not None else "pyheapdump (no stack in this dump)"
        while _suspend(pydevd, py_db, thread, shown):
            py_db.writer.add_command(py_db.cmd_factory.make_io_message(_NOTHING_RUNS, 2))
    finally:
        thread.name = loader_name
        for custom_id in ids:
            remove_custom_frame(custom_id)


def _shown_on_this_thread(view: DumpView) -> PresentedStack | None:
    if view.exception_stacks:
        return view.exception_stacks[0]
    return view.stopped_stack


def _connected(py_db: Any) -> bool:
    writer = getattr(py_db, "writer", None)
    return not getattr(py_db, "pydb_disposed", False) and writer is not None and not writer._kill_received


def _suspend(pydevd: types.ModuleType, py_db: Any, thread: threading.Thread, shown: PresentedStack | None) -> bool:
    """Suspend this thread on the shown stack until the IDE resumes it; False once the IDE has gone."""
    from _pydevd_bundle.pydevd_additional_thread_info import set_additional_thread_info
    from _pydevd_bundle.pydevd_comm_constants import CMD_ADD_EXCEPTION_BREAK, CMD_THREAD_SUSPEND
    from _pydevd_bundle.pydevd_constants import EXCEPTION_TYPE_UNHANDLED

    if not _connected(py_db):
        return False
    set_additional_thread_info(thread)
    if shown is None or not shown.frames:
        py_db.set_suspend(thread, CMD_THREAD_SUSPEND)
        py_db.do_wait_suspend(thread, sys._getframe(), "line", None)
    elif shown.exception is not None:
        exc = shown.exception
        py_db.set_suspend(thread, CMD_ADD_EXCEPTION_BREAK)
        arg = (type(exc), exc, exc.__traceback__)
        py_db.do_wait_suspend(thread, shown.frames[0].frame, "exception", arg, EXCEPTION_TYPE_UNHANDLED)
    else:
        py_db.set_suspend(thread, CMD_THREAD_SUSPEND)
        py_db.do_wait_suspend(thread, shown.frames[0].frame, "line", None)
    return _connected(py_db)
