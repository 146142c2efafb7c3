"""Dumps in IDEs: `pyheapdump serve` for VS Code and other DAP clients, `pyheapdump debug --pydevd` for PyCharm/PyDev.

Route for `serve`: a Debug Adapter Protocol server of our own (`pyheapdump.debug.ide.dap`), not debugpy.
debugpy presents extra stacks through pydevd's custom frames, which pydevd only reports while a real thread of
this process is suspended by its tracer; with debugpy the loader's own thread is listed beside the dumped ones,
`continue` really resumes that thread (the loader would have to re-suspend and the IDE sees the program run and
stop again), the adapter is a second process, and the tracer is a different machine on 3.11 (settrace/frame
eval) and 3.12+ (sys.monitoring). A server of our own answers exactly the requests VS Code sends (the
`debugpy` attach configuration with `connect` makes VS Code speak DAP straight to host:port), behaves the same
on every Python version, never runs anything the client did not type, and lists only dumped stacks:

- threads: every dumped thread, asyncio task and greenlet, numbered 1..N as pdb's `threads` numbers them, plus,
  listed first, one stack per exception of the dumped exception's chain that has a traceback (its frames and
  their callers). The `stopped` event (allThreadsStopped) points at the exception, or at the thread that called
  the dump when there is none. No thread of the loading process is ever shown.
- frames are the re-enacted ones (`pyheapdump.reenact.frames.reenact`); scopes are Locals and Globals (the dumped
  dicts themselves) and, on an exception's innermost frame, the exception. Variables expand dicts, lists,
  tuples, sets, instance `__dict__`/`__slots__` (read without running properties or `__getattr__`), exception
  args and chains, and surrogates (a "(surrogate)" entry with `surrogate_info`, then the dumped state).
- `continue`, `next`, `stepIn`, `stepOut`, `stepBack`, `goto`, `restart...` are refused with a message; the dump
  stays stopped. `disconnect` ends the server (exit status 0); `terminate` is acknowledged.

Sources: every stack frame's source carries a sourceReference (> 0), so the IDE always asks the server for the
text (VS Code then shows it read-only, in a `debug:` document) and serves the dumped text even when a file of
the same path exists locally with other content; no file is written anywhere. A frame whose source the dump
does not hold gets a reference too, and the `source` request then says the dump has no source for it, rather
than letting the IDE open a local file that may not be the code that ran. `pathMappings` are ignored.

Evaluate (debug console, watch, hover, copy value) runs the user's expression with Python's `eval` against the
frame's dumped locals and globals, with this interpreter's real builtins (whatever the dump holds under
`__builtins__` is treated as data). What it can do: anything the user's own expression does, to the dumped
values: read, index, call methods of real value types, compute; in the debug console also statements (an
assignment changes the dumped value for the rest of the session, as pdb's `!` does; printed output is the
result). What it cannot do: run the dumped program's code in a safe load, because the dump's functions,
methods and classes are surrogates there (calling one raises an error that says so) and the values are rebuilt
without importing or calling anything the dump names. Hover evaluates only names, attributes, items and
constants, so hovering over a call never calls it. With `--trusted` the values are the program's real objects
and evaluating may run their code, as in any debugger. The expression itself is the user's: it can import
and do anything Python can, in this process, which is why the server listens on loopback unless told otherwise.
An expression that never finishes blocks the server.

Route for `--pydevd` (`pyheapdump.debug.ide.pydevd_bridge`): PyCharm and PyDev run their own debug server and only
speak pydevd's protocol, so there the dump is presented through pydevd itself, joined with `pydevd.settrace`:
the loader's thread, renamed after the stack it shows, is suspended on the dumped exception (pydevd adds the
chained exceptions' frames), and every other stack (the chain's exceptions, dumped threads, asyncio tasks,
greenlets) is a pydevd custom frame. The thread suspends itself with tracing off, so nothing of the loader is
traced or shown; resuming or stepping suspends it again at once.
"""

from __future__ import annotations

from collections.abc import Callable

from pyheapdump.debug.ide.dap import DapServer, ServeError, is_loopback
from pyheapdump.debug.ide.view import DumpView
from pyheapdump.model import HeapDump
from pyheapdump.reenact.frames import reenact

__all__ = ["ServeError", "serve_dump"]

Announce = Callable[[str, str, int, bool], None]


def serve_dump(dump: HeapDump, host: str = "127.0.0.1", port: int = 5678, announce: Announce | None = None) -> None:
    """Serve `dump` to DAP clients on host:port until one disconnects.

    `announce(address, host, port, is_loopback)` is called once the socket listens (port 0 picks a free port).
    """
    view = DumpView(reenact(dump))
    server = DapServer(view, host, port)
    if announce is not None:
        announce(server.address, server.host, server.port, is_loopback(server.host))
    server.serve(log=lambda text: print(f"pyheapdump: {text}", flush=True))
