"""Dumps where a program fails: uncaught exceptions, dying threads, asyncio, signals, worker processes.

`install()` puts `save_dump` behind every door a Python program fails through; `uninstall()` takes it away again.
Installing chains onto what is there (the previous hook still runs, so the usual report is printed) and every
patch is undone by `uninstall()`, unless some other code has since wrapped our hook, in which case ours stays in
place but only forwards.

What `install()` hooks:

- `sys.excepthook`: an uncaught exception writes a dump, then the previous hook prints the traceback as before.
- `threading.excepthook`: an exception that ends a thread writes a dump (that thread's failing stack, every other
  thread too), then the previous hook prints it.
- asyncio: `asyncio.BaseEventLoop.call_exception_handler`, the one place every loop derived from asyncio's reports
  a task's never-retrieved exception and a failing callback. A report that carries an exception writes a dump,
  then the loop's own handler runs. This needs no event loop policy or loop factory; loops that do not derive from
  `BaseEventLoop` (uvloop) are not covered.
- multiprocessing and concurrent.futures workers: a `multiprocessing.Process` whose `run()` raises, and a task of a
  `multiprocessing.Pool` or `ProcessPoolExecutor` worker that raises, write a dump in the worker at the failure (these
  exceptions never reach `sys.excepthook`: the worker catches them to print or to send them to the parent).
- `signal=signal.SIGUSR1` (or any other): on that signal the live process writes a dump of every thread, with the
  main thread's interrupted frame as the dump's frame, and goes on running. Only the main thread can set a
  signal handler, so `install(signal=...)` from another thread raises DumpError. A Python-level handler runs when
  the main thread next executes bytecode; a main thread blocked inside C code that never returns to the
  interpreter cannot take it.

asyncio, multiprocessing and concurrent.futures are patched when they are first imported, not imported by
`install()`: a tiny finder in `sys.meta_path` watches for those module names and patches them right after they
load, so programs that never use them pay nothing.

Production safety:

- A dump is never written twice for one exception object (dump_on_error re-raising into the excepthook, a logged
  exception re-raised, ...). To know, the last few dumped exceptions are remembered (a strong reference to at most
  `_REMEMBERED_EXCEPTIONS` of them).
- Caps: at most `max_dumps` dumps per process (default 10) and at most `max_per_window` in any `per_seconds`
  seconds (default 3 in 300 s); `None` lifts a cap. A dump that a cap refuses is logged once at WARNING on the
  `pyheapdump` logger, and not again until a dump has been written. Every attempt counts, failed ones too, so a
  dump that keeps failing cannot spin.
- Directory caps: after each dump, `keep` (a number of files) and `keep_bytes` (total bytes) prune the oldest
  dumps in the directory the dump went to. Only files named `*.heapdump` are considered (never hidden files, never
  anything else), and the dump just written is never deleted.
- Each dump's path is logged at WARNING on the `pyheapdump` logger. With no logging configured, Python's last
  resort handler prints that line to stderr.
- A hook never hides the failure it reports: when the dump itself fails, one line goes to stderr
  (`pyheapdump: no heap dump for <reason>: <error>`) and the original report goes on. Dumps requested from inside
  a dump on the same thread (a signal arriving mid-dump) are skipped.
- Dumps are written one at a time; a thread that fails while another thread is dumping waits for it.
- A child made by `os.fork()` is a process of its own: its caps count from zero, and the dump lock starts free
  even if another thread of the parent was dumping at the moment of the fork.

Where dumps go: the `directory` given, else `$PYHEAPDUMP_DIR`, else the engine's default (the current directory),
named `<program>-<pid>-<UTC time>.heapdump` by the engine.

The code is split by job: caps.py (the budgets), retention.py (directory caps), naming.py (test dump names),
writer.py (one dump for a hook, the shared options), install.py (install/uninstall, excepthooks, the signal),
lazy.py (patches applied when a module is first imported), on_error.py (dump_on_error). This module is their one
front door.
"""

from __future__ import annotations

from pyheapdump.capture.caps import (
    DEFAULT_MAX_DUMPS,
    DEFAULT_MAX_PER_WINDOW,
    DEFAULT_PER_SECONDS,
    DumpBudget,
    global_budget,
)
from pyheapdump.capture.install import install, installed, uninstall
from pyheapdump.capture.lazy import watch_module
from pyheapdump.capture.naming import sanitize_stem, test_dump_path
from pyheapdump.capture.on_error import DumpOnError, dump_on_error
from pyheapdump.capture.retention import DUMP_SUFFIX, prune_dumps
from pyheapdump.capture.writer import (
    ENV_DIRECTORY,
    CaptureOptions,
    DumpWriter,
    check_save_options,
    parse_limit,
    resolve_directory,
    write_quietly,
)

__all__ = [
    "CaptureOptions",
    "DEFAULT_MAX_DUMPS",
    "DEFAULT_MAX_PER_WINDOW",
    "DEFAULT_PER_SECONDS",
    "DUMP_SUFFIX",
    "DumpBudget",
    "DumpOnError",
    "DumpWriter",
    "ENV_DIRECTORY",
    "check_save_options",
    "dump_on_error",
    "global_budget",
    "install",
    "installed",
    "parse_limit",
    "prune_dumps",
    "resolve_directory",
    "sanitize_stem",
    "test_dump_path",
    "uninstall",
    "watch_module",
    "write_quietly",
]
