"""save_dump: write the state of this process to a .heapdump file.

Imported with the package, by every process that installs the hooks, and run when the program fails: it imports
nothing while it dumps, and keeps to the modules such a process has loaded anyway (no datetime, json, pathlib,
platform or typing: their facts come from time, os and sys, the metadata's JSON from json_writer).
"""

from __future__ import annotations

import collections
import gc
import os
import sys
import threading
import time
import types

import pyheapdump._native as _native
from pyheapdump import config
from pyheapdump.dump.json_writer import json_dumps
from pyheapdump.dump.policy import DumpOptions, TypePolicy
from pyheapdump.dump.redaction import RedactionConfig, Redactor, program_names
from pyheapdump.dump.roots import build_root, caller_frame, module_globals
from pyheapdump.errors import DumpError, DumpInProgressError, DumpMemoryError, DumpWriteError
from pyheapdump.typesupport import qualified_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any, Literal

__all__ = ["save_dump", "DEFAULT_LIMITS"]

# Generous enough for a service's stack and its nearby data, small enough to write in seconds.
DEFAULT_LIMITS: dict[str, Any] = {
    "max_objects": 10_000_000,
    "max_bytes": 1 << 30,
    "max_str": 1 << 20,
    "max_items": 1_000_000,
    "time_limit": 60.0,
    "max_repr": 500,
}
MAX_SOURCE_BYTES = 8 << 20
# The switch interval during the walk: twice Python's default, so other threads seldom run between two objects, and
# short, because it is also how long the walk may wait, per busy thread, to get the GIL back whenever a capture function
# releases it (an lseek, a numpy copy): at 0.1 s a dump of 100 open files beside 3 CPU-bound threads took 40 s on 3.13,
# at 1000 s it hung.
WALK_SWITCH_INTERVAL = 0.01

_dumping = threading.local()
_one_dump_at_a_time = threading.Lock()


def path_text(path: str | os.PathLike[str]) -> str:
    """The path as a str (os.fspath), refusing bytes as pathlib did: the dump's path goes into the log as text."""
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"a dump path is a str or an os.PathLike of a str, not {type(path).__name__}")
    return text


def parent_directory(path: str) -> str:
    """The directory a file path names its file in ("." for a bare file name), as pathlib's `parent` gave it."""
    return os.path.dirname(path) or os.curdir


def _utc_now() -> tuple[time.struct_time, int]:
    """Now, in UTC: the calendar fields and the microseconds (what datetime.now(datetime.UTC) holds)."""
    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    return time.gmtime(seconds), nanoseconds // 1000


def _iso_time(fields: time.struct_time, microseconds: int) -> str:
    """datetime.isoformat() of a UTC time: 2026-05-04T10:20:30.123456+00:00, without the fraction when it is 0."""
    fraction = f".{microseconds:06d}" if microseconds else ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", fields) + fraction + "+00:00"


def default_dump_name() -> str:
    """<program>-<pid>-<UTC time>.heapdump, the program being the stem of sys.argv[0] ("python" for -c, -m, a REPL)."""
    started_as = sys.argv[0] if sys.argv else ""
    program = "" if started_as in ("", "-c", "-m") else os.path.splitext(os.path.basename(started_as.rstrip("/")))[0]
    fields, microseconds = _utc_now()
    stamp = time.strftime("%Y%m%dT%H%M%S", fields) + f".{microseconds:06d}Z"
    return f"{program or 'python'}-{os.getpid()}-{stamp}.heapdump"


def _resolve_path(path: str | os.PathLike[str] | None, directory: str | os.PathLike[str] | None) -> str:
    if path is not None:
        return path_text(path)
    return os.path.join(path_text(directory) if directory is not None else os.getcwd(), default_dump_name())


def _exception_line(exc: BaseException | None) -> str | None:
    if exc is None:
        return None
    name = qualified_name(type(exc))
    name = name.removeprefix("builtins.")
    # str() runs only when the exception's __str__ is C code (BaseException's, OSError's, ...); a __str__ written in
    # Python is the program's code and is not called here.
    mro = type.__dict__["__mro__"].__get__(type(exc))  # not type(exc).__mro__: a metaclass could answer that
    str_owner = next((klass for klass in mro if "__str__" in klass.__dict__), BaseException)
    if not isinstance(str_owner.__dict__["__str__"], types.FunctionType):
        try:
            text = str(exc)
        except Exception:  # noqa: BLE001
            text = ""
    else:
        args = BaseException.__dict__["args"].__get__(exc)
        text = ", ".join(a if isinstance(a, str) else f"<{type(a).__name__}>" for a in args)
    return f"{name}: {text}" if text else name


def _header(description: str | None, reason: str, exc: BaseException | None, thread_count: int,
            limits: dict[str, Any], redactor: Redactor | None) -> dict[str, Any]:
    def clean(text: str | None) -> str | None:
        return redactor.redact_text(text) if redactor is not None and text is not None else text

    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None) if main is not None else None
    return {
        "format": "{}.{}".format(*_native.FORMAT_VERSION),
        "pyheapdump": _library_version(),
        "python": sys.version.split()[0],  # where platform.python_version() reads it
        "implementation": sys.implementation.name,
        "platform": _PLATFORM,
        "hostname": os.uname().nodename,  # platform.node()
        "pid": os.getpid(),
        "argv": [clean(arg) for arg in sys.argv],
        "executable": sys.executable,
        "cwd": os.getcwd(),
        "main_file": os.path.abspath(main_file) if isinstance(main_file, str) else None,
        "sys_path": list(sys.path),
        "time": _iso_time(*_utc_now()),
        "description": clean(description),
        "reason": reason,
        "exception": clean(_exception_line(exc)),
        "threads": thread_count,
        "limits": limits,
        "redaction": redactor is not None,
    }


def _platform_name() -> str:
    """platform.platform() on Linux (Linux-6.8.0-45-generic-x86_64-with-glibc2.39), from os.uname() and the C
    library's own answer, without the processor field (finding it costs a `uname -p` subprocess; on Linux it is blank
    or repeats the machine field anyway). Elsewhere (pyheapdump is built for Linux) the same from os.uname() alone."""
    uname = os.uname()
    parts = [uname.sysname, uname.release, uname.machine]
    if uname.sysname == "Linux":
        parts += ["with", _c_library()]
    text = "-".join(part.strip() for part in parts if part.strip())
    for character in ' /\\:;"()':
        text = text.replace(character, "_" if character == " " else "-")
    text = text.replace("unknown", "")
    while "--" in text:
        text = text.replace("--", "-")
    return text.rstrip("-")


def _c_library() -> str:
    """glibc2.39, as platform.libc_ver() asks os.confstr first; "" where the C library does not say (musl), where
    libc_ver would go on to read the interpreter's binary."""
    try:
        name_and_version = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.39"
    except (AttributeError, ValueError, OSError):
        return ""
    name, _, version = (name_and_version or "").partition(" ")
    return name + version


# Computed once, with the package: the kernel and the C library do not change under a running process.
_PLATFORM = _platform_name()


def _library_version() -> str:
    from pyheapdump._version import __version__

    return __version__


def _source_text(filename: str) -> str | None:
    """The text of a dumped code object's file: linecache first (REPL, notebooks), then the disk."""
    # linecache only if the program has imported it: otherwise its cache is empty, and importing it is no dump's job.
    linecache = sys.modules.get("linecache")
    cached = linecache.cache.get(filename) if linecache is not None else None
    if cached and isinstance(cached, tuple) and len(cached) >= 3 and isinstance(cached[2], list):
        return "".join(cached[2])
    if filename.startswith("<") or not os.path.isfile(filename):
        return None
    try:
        if os.path.getsize(filename) > MAX_SOURCE_BYTES:
            return None
        with open(filename, "rb") as source:
            return source.read().decode("utf-8", "surrogateescape")
    except OSError:
        return None


def _type_name(cls: Any) -> str:
    try:
        return qualified_name(cls).removeprefix("builtins.")
    except Exception:  # noqa: BLE001
        return "?"


def _summary(stats: dict[str, Any], root_problems: list[str], sources: int, redactions: int) -> dict[str, Any]:
    types_histogram: dict[str, list[int]] = {}
    for cls, count, size in stats["types"]:
        entry = types_histogram.setdefault(_type_name(cls), [0, 0])
        entry[0] += count
        entry[1] += size
    largest = sorted(((size, oid, _type_name(cls)) for oid, cls, size in stats["largest"]), reverse=True)
    return {
        "objects": stats["objects"],
        "bytes": stats["raw_bytes"],
        "root": 1,
        "cut": dict(stats["cut"]),
        "limits_hit": sorted(reason for reason in stats["cut"] if stats["cut"][reason]),
        "sources": sources,
        "elapsed": stats["elapsed"],
        # After a walk-wide limit stopped the walk, queued objects from this id on may have no record: they were cut.
        "first_unwritten": stats["first_unwritten"],
        "unwritten": stats["unwritten"],
        "errors": stats["errors"],
        "redactions": redactions,
        "problems": root_problems,
        "types": types_histogram,
        "largest": [[oid, name, size] for size, oid, name in largest],
        **({"heap": stats["heap"]} if "heap" in stats else {}),
    }


def save_dump(
    path: str | os.PathLike[str] | None = None,
    *,
    exc: BaseException | None | Literal[False] = None,
    frame: types.FrameType | None = None,
    threads: bool = True,
    description: str | None = None,
    directory: str | os.PathLike[str] | None = None,
    reason: str | None = None,
    zlib_level: int = 1,
    call_user_reduce: bool = False,
    call_user_repr: bool = False,
    redact: bool | RedactionConfig | None = None,
    heap: bool = False,
    **limits: Any,
) -> str:
    """Writes every thread's stack and the objects reachable from it to a .heapdump file; returns its path (a str:
    pathlib is not imported with the package, and a dump imports nothing).

    Inside an `except` block the exception being handled is dumped unless `exc` is given; `exc=False` dumps no
    exception at all (a live dump). `frame` records an
    explicit frame of interest. `threads=False` dumps only the calling thread. Limits (`max_objects`, `max_bytes`,
    `max_str`, `max_items`, `time_limit`, `max_repr`) bound the dump; every cut is recorded in it.
    The file is written under a temporary name, mode 0600, and renamed when complete.
    Secrets are redacted as `pyheapdump.config.redaction` says unless `redact` is given (False, True, or a config).
    `heap=True` (leak hunting) also dumps every module's globals and the objects the garbage collector tracks that
    nothing else reached (`pyheapdump top` names them as such).
    """
    unknown = set(limits) - set(DEFAULT_LIMITS)
    if unknown:
        raise TypeError(f"save_dump() got unknown limits {sorted(unknown)}; known: {sorted(DEFAULT_LIMITS)}")
    if getattr(_dumping, "active", False):
        raise DumpInProgressError("a dump is already being written on this thread (called from a signal handler?)")
    if exc is None:
        exc = sys.exc_info()[1]
    elif exc is False:  # a live dump, even from inside an except block (a signal handler, a watchdog)
        exc = None
    current_top = caller_frame()
    target = _resolve_path(path, directory)
    if directory is not None and path is None:
        try:  # as the hooks do: a dump directory named in the program's configuration may not exist yet
            os.makedirs(parent_directory(target), exist_ok=True)
        except OSError as error:
            raise DumpWriteError(f"cannot make the dump directory {parent_directory(target)}: {error}") from None
    effective_limits = {**DEFAULT_LIMITS, **limits}
    policy = TypePolicy(DumpOptions(call_user_reduce=call_user_reduce, call_user_repr=call_user_repr))
    redactor = _redactor(redact)

    _dumping.active = True
    # No collection while the dump runs: it would run the program's finalizers (__del__, weakref callbacks), which is
    # the program's code, and traverse the whole heap while the walk allocates (reduce tuples, captured state) and
    # frees nothing until it ends. What the dump allocated is collected as usual after it.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with _one_dump_at_a_time:
            return _write(target, exc, frame, current_top, threads, description,
                          reason or ("exception" if exc is not None else "explicit"), effective_limits, policy,
                          zlib_level, redactor, heap)
    finally:
        if gc_was_enabled:
            gc.enable()
        _dumping.active = False


def _redactor(redact: bool | RedactionConfig | None) -> Redactor | None:
    if isinstance(redact, RedactionConfig):
        chosen = redact
    elif redact is None or redact is True:
        chosen = config.redaction
        if redact is True and not chosen.enabled:
            chosen = RedactionConfig(patterns=list(chosen.patterns), env_min_length=chosen.env_min_length,
                                     extra_secrets=list(chosen.extra_secrets))
    else:
        return None
    return Redactor(chosen) if chosen.enabled else None


def _write(target: str, exc: BaseException | None, frame: types.FrameType | None,
           current_top: types.FrameType | None, threads: bool, description: str | None, reason: str,
           limits: dict[str, Any], policy: TypePolicy, zlib_level: int, redactor: Redactor | None,
           heap: bool = False) -> str:
    try:
        writer = _native.DumpWriter(target, zlib_level)
    except MemoryError:  # also the native DumpMemoryError (zlib could not allocate)
        raise DumpMemoryError(_out_of_memory_message(0, limits)) from None
    except DumpError:
        raise
    except (OSError, ValueError) as error:
        raise DumpWriteError(f"cannot write {target}: {error}") from None
    try:
        root, problems = build_root(exc=exc, frame=frame, current_top=current_top, all_threads=threads)
        if heap:
            root["modules"] = module_globals()
        if redactor is not None:
            redactor.exempt_program_names(program_names(_traceback_frames(exc)))
        header = _header(description, reason, exc, len(root["threads"]), limits, redactor)
        header["extra_stacks"] = dict(collections.Counter(str(stack.get("kind")) for stack in root["extra_stacks"]))
        writer.write_header(json_dumps(header))
        # One consistent snapshot: other threads should not run between two objects of the walk.
        previous_interval = sys.getswitchinterval()
        sys.setswitchinterval(WALK_SWITCH_INTERVAL)
        try:
            stats = writer.walk(root, limits, policy.for_type, redactor.redact if redactor is not None else None,
                                redactor is not None and redactor.needs_every_string,
                                [s.encode("utf-8", "surrogatepass") for s in redactor.literals] if redactor else [],
                                heap)
        finally:
            sys.setswitchinterval(previous_interval)
        del root
        sources = 0
        for filename in stats["filenames"]:
            text = _source_text(filename)
            if text is not None:
                writer.add_source(filename, text)
                sources += 1
        writer.commit(json_dumps(_summary(stats, problems, sources, redactor.count if redactor is not None else 0)))
    except BaseException as error:
        objects = writer.records_written  # before abort() closes the writer
        writer.abort()  # removes the temporary file
        if isinstance(error, MemoryError):  # Python's, or the native DumpMemoryError of a failed buffer
            raise DumpMemoryError(_out_of_memory_message(objects, limits)) from None
        raise
    return target


def _traceback_frames(exc: BaseException | None) -> list[types.FrameType]:
    """The innermost frame of each traceback in the exception's chain (their callers are reached through f_back)."""
    frames, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = BaseException.__dict__["__traceback__"].__get__(exc)
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None:
            frames.append(tb.tb_frame)
        exc = BaseException.__dict__["__cause__"].__get__(exc) or BaseException.__dict__["__context__"].__get__(exc)
    return frames


def _out_of_memory_message(objects: int, limits: dict[str, Any]) -> str:
    """One line for a dump that ran out of memory: how far it got, and the limits to lower."""
    where = f"after {objects:,} objects" if objects else "before its first object"
    now = ", ".join(f"{name}={_number(limits.get(name))}" for name in ("max_objects", "max_bytes"))
    now = f"now {now}"
    if objects >= 2000:
        advice = f"dump again with lower limits (max_objects={objects // 2:_} or a smaller max_bytes; {now})"
    else:
        advice = f"free memory first, or dump again with much lower limits ({now})"
    return f"the dump ran out of memory {where} and was not written: {advice}"


def _number(value: Any) -> str:
    return f"{value:_}" if isinstance(value, int) else repr(value)
