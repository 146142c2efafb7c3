"""`pyheapdump run`: run a Python program with dumps on every failure, like `python -m pdb` runs one under pdb.

    pyheapdump run [--directory DIR] [--limit NAME=VALUE]... [--signal SIG] script.py [args...]
    pyheapdump run [--directory DIR] [...] -m module [args...]

- The program runs as `__main__` in a fresh module that stays `sys.modules["__main__"]`, with `sys.argv` set to
  `[script, *args]` (for `-m`, the module's file first, as `python -m` does) and `sys.path[0]` set as Python sets it
  (the script's real directory; the current directory for `-m`).
- `install()` is in force for the whole run, so an uncaught exception, a thread that dies, an asyncio failure, a
  failing multiprocessing worker leaves a dump in DIR (default: `$PYHEAPDUMP_DIR`, else the current directory).
- `PYHEAPDUMP_DIR` is set to DIR (absolute) for the program and its children: child Python processes (subprocesses,
  multiprocessing workers) install the hooks at start-up through pyheapdump's `.pth` file.
- The exit status is the program's: 0 when it ends normally, the `SystemExit` code (a message is printed and the
  status is 1 for a non-integer code), 1 for an uncaught exception (its traceback is printed as Python prints it,
  without pyheapdump's own frames), 130 for an uncaught KeyboardInterrupt.
- unittest: when the program imports `unittest` (`pyheapdump run -m unittest ...`, or a script calling
  `unittest.main()`), each failing or erroring test (and subtest) writes a dump at its failure, named after the test id:
  `test_mod.TestThing.test_case.heapdump`. These dumps have no cap. `TestResult.addError`, `addFailure` and
  `addSubTest` are wrapped while the run lasts; unittest's output and exit status do not change.
- Each dump's path is printed to stderr (`pyheapdump: heap dump written to ...`): at once for a live dump (signal,
  thread, asyncio, workers), at the end for unittest's (so its output stays as it is) and for the uncaught exception's
  (after the traceback). A program that configures logging also gets them on the `pyheapdump` logger at WARNING.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import runpy
import signal
import sys
import types
from pathlib import Path
from typing import Any

from pyheapdump.capture.hooks import DumpWriter, install, parse_limit, test_dump_path, watch_module, write_quietly

NAME = "run"
HELP = "run a Python program (a script or -m module) and leave a heap dump wherever it fails"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--directory",
        "-d",
        metavar="DIR",
        default=None,
        help="where dumps go (default: $PYHEAPDUMP_DIR, else the current directory)",
    )
    parser.add_argument(
        "--limit",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="a limit passed to save_dump, e.g. max_objects=100000 (repeatable)",
    )
    parser.add_argument(
        "--signal",
        metavar="SIG",
        default=None,
        help="also dump the live program on this signal, e.g. USR1 (`kill -USR1 PID`)",
    )
    parser.add_argument(
        "-m",
        dest="module",
        nargs=argparse.REMAINDER,
        metavar="MODULE [ARGS]",
        help="run a library module as a script, like python -m",
    )
    parser.add_argument("script", nargs="?", help="the program to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the program's arguments")


def run(args: argparse.Namespace) -> int:
    if args.module is not None and not args.module:
        print("pyheapdump run: -m needs a module name", file=sys.stderr)
        return 2
    if args.module is None and args.script is None:
        print("pyheapdump run: name a script or -m module to run", file=sys.stderr)
        return 2
    directory = Path(args.directory or os.environ.get("PYHEAPDUMP_DIR") or os.getcwd()).expanduser().absolute()
    try:
        limits = dict(parse_limit(text) for text in args.limit)
        signum = _parse_signal(args.signal)
    except ValueError as error:
        print(f"pyheapdump run: {error}", file=sys.stderr)
        return 2
    try:
        install(directory, signal=signum, **limits)
        unittest_hooks = _UnittestHooks(DumpWriter(directory, limits=limits), directory)
    except (TypeError, ValueError) as error:
        print(f"pyheapdump run: {error}", file=sys.stderr)
        return 2
    os.environ["PYHEAPDUMP_DIR"] = str(directory)
    announcer = _DumpAnnouncer()
    logging.getLogger("pyheapdump").addHandler(announcer)
    stop_watching = watch_module("unittest.result", unittest_hooks.apply)
    try:
        if args.module is not None:
            return _run_program(lambda: _run_module(args.module[0], args.module[1:]))
        return _run_program(lambda: _run_script(args.script, args.args))
    finally:
        stop_watching()
        unittest_hooks.restore()
        announcer.flush_and_go_live()


def _parse_signal(text: str | None) -> int | None:
    if text is None:
        return None
    name = text.upper()
    if name.isdigit():
        return int(name)
    if not name.startswith("SIG"):
        name = "SIG" + name
    number = getattr(signal, name, None)
    if not isinstance(number, int):
        raise ValueError(f"--signal {text}: no such signal here; use e.g. USR1")
    return number


# --- running the program ---------------------------------------------------------------------------------------------


class _ProgramNotFound(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _run_program(start: Any) -> int:
    try:
        start()
    except _ProgramNotFound as error:
        print(f"pyheapdump run: {error}", file=sys.stderr)
        return error.status
    except SystemExit as exit_request:
        return _exit_status(exit_request)
    except BaseException as exc:  # the program's uncaught exception: dump and report it as Python would
        _drop_own_frames(exc)
        sys.excepthook(type(exc), exc, exc.__traceback__)
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    return 0


def _exit_status(exit_request: SystemExit) -> int:
    code = exit_request.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _drop_own_frames(exc: BaseException) -> None:
    """Start the traceback at the program's first frame, as `python script.py` shows it."""
    tb = exc.__traceback__
    own_files = {__file__, getattr(runpy, "__file__", None), "<frozen runpy>"}
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename in own_files:
        tb = tb.tb_next
    exc.__traceback__ = tb


def _fresh_main_module(spec: Any = None, filename: str | None = None) -> types.ModuleType:
    main = types.ModuleType("__main__")
    main.__dict__.update(
        __file__=filename,
        __spec__=spec,
        __loader__=getattr(spec, "loader", None),
        __package__=getattr(spec, "parent", None) if spec is not None else None,
        __cached__=None,
    )
    if filename is None:
        del main.__file__
    sys.modules["__main__"] = main
    return main


def _run_script(script: str, args: list[str]) -> None:
    if not os.path.exists(script):
        raise _ProgramNotFound(f"can't open file {os.path.abspath(script)!r}: no such file", 2)
    real = os.path.realpath(script)
    sys.argv[:] = [script, *args]
    sys.path[0] = os.path.dirname(real)
    if os.path.isdir(script) or not _is_source_file(script):
        # A directory or zip with __main__.py: runpy knows those layouts (it puts them on sys.path itself).
        del sys.path[0]
        runpy.run_path(script, run_name="__main__")
        return
    with io.open_code(script) as source_file:
        source = source_file.read()
    code = compile(source, script, "exec")
    main = _fresh_main_module(filename=script)
    exec(code, main.__dict__)


def _is_source_file(path: str) -> bool:
    with open(path, "rb") as file:
        return file.read(4) != b"PK\x03\x04"


def _run_module(module_name: str, args: list[str]) -> None:
    sys.path[0] = os.getcwd()
    try:
        # The same lookup `python -m` and `python -m pdb -m` use: it finds packages' __main__ too.
        name, spec, code = runpy._get_module_details(module_name)  # type: ignore[attr-defined]
    except ImportError as error:
        raise _ProgramNotFound(str(error), 1) from None
    sys.argv[:] = [spec.origin or name, *args]
    main = _fresh_main_module(spec=spec, filename=spec.origin)
    exec(code, main.__dict__)


# --- unittest --------------------------------------------------------------------------------------------------------


class _UnittestHooks:
    """Wraps TestResult.addError/addFailure/addSubTest to dump each failing test, named after its id."""

    def __init__(self, writer: DumpWriter, directory: Path) -> None:
        self.writer = writer
        self.directory = directory
        self.used_names: set[str] = set()
        self.originals: dict[str, Any] = {}
        self.result_class: type | None = None

    def apply(self, module: types.ModuleType) -> None:
        result_class = module.TestResult
        self.result_class = result_class
        hooks = self

        original_error = result_class.addError
        original_failure = result_class.addFailure
        original_subtest = result_class.addSubTest

        def addError(self: Any, test: Any, err: Any) -> Any:  # noqa: N802 - unittest's name
            hooks.dump(test, err, "error")
            return original_error(self, test, err)

        def addFailure(self: Any, test: Any, err: Any) -> Any:  # noqa: N802
            hooks.dump(test, err, "failure")
            return original_failure(self, test, err)

        def addSubTest(self: Any, test: Any, subtest: Any, err: Any) -> Any:  # noqa: N802
            if err is not None:
                hooks.dump(subtest, err, "subtest failure")
            return original_subtest(self, test, subtest, err)

        self.originals = {"addError": original_error, "addFailure": original_failure, "addSubTest": original_subtest}
        result_class.addError = addError
        result_class.addFailure = addFailure
        result_class.addSubTest = addSubTest

    def dump(self, test: Any, err: Any, what: str) -> None:
        exc = err[1] if isinstance(err, tuple) and len(err) == 3 else None
        if not isinstance(exc, BaseException):
            return
        test_id = _test_id(test)
        path = test_dump_path(self.directory, test_id, self.used_names)
        write_quietly(self.writer, reason="unittest", exc=exc, path=path, description=f"unittest {what}: {test_id}")

    def restore(self) -> None:
        if self.result_class is None:
            return
        for name, original in self.originals.items():
            setattr(self.result_class, name, original)
        self.result_class = None


def _test_id(test: Any) -> str:
    try:
        test_id = test.id()
    except Exception:
        test_id = None
    return test_id if isinstance(test_id, str) and test_id else type(test).__qualname__


# --- where the dumps went --------------------------------------------------------------------------------------------


# Dumps announced when the program ends rather than at once: unittest's (its dots and report stay as they are) and
# the uncaught exception's (the line then follows the traceback). Any other dump (a signal, a thread, asyncio) is
# announced at once: a service may run for days after it.
_ANNOUNCED_AT_END = frozenset({"unittest", "excepthook"})


class _DumpAnnouncer(logging.Handler):
    """Prints the `pyheapdump` logger's lines to stderr as `pyheapdump: ...`, some of them when the program ends.

    Having a handler also keeps logging's last-resort handler from printing them unprefixed.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.held: list[str] = []
        self.live = False

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING:
            return
        line = f"pyheapdump: {record.getMessage()}"
        if self.live or _dump_reason(record) not in _ANNOUNCED_AT_END:
            self._print(line)
        else:
            self.held.append(line)

    def flush_and_go_live(self) -> None:
        self.live = True
        for line in self.held:
            self._print(line)
        self.held.clear()

    @staticmethod
    def _print(line: str) -> None:
        try:
            print(line, file=sys.stderr, flush=True)
        except Exception:
            pass


def _dump_reason(record: logging.LogRecord) -> str | None:
    # hooks.DumpWriter logs "heap dump written to %s (%s)" with (path, reason) as the arguments.
    args = record.args
    if isinstance(args, tuple) and len(args) == 2 and isinstance(args[1], str):
        return args[1]
    return None
