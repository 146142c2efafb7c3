"""Dumps of another running Python process by its pid: the target's side of `pyheapdump dump PID`.

How a process is asked (Linux: everything here reads /proc):

- Python 3.14+ (PEP 768): `sys.remote_exec(pid, script)` makes the target's main thread run a small script at its
  next safe point (when it next executes bytecode). The script, written per request into a private folder, imports
  pyheapdump in the target and calls `serve_request`, which writes the dump with `save_dump` and then a reply file
  (`reply.json`, under a temporary name and renamed) that the command waits for. The script sets its own `__name__`
  to a pyheapdump module name, so `save_dump` counts its frames as pyheapdump's own and leaves them out of the dump:
  the main thread's stack ends at the frame it was running. `sys.remote_exec` needs the caller's Python to be the
  target's version; when the command runs on another version it calls `sys.remote_exec` from the target's own
  interpreter binary (`/proc/PID/exe -I -S -c ...`: the interpreter and its standard library, none of the program).
- The target must be able to import pyheapdump. It first imports its own. When it has none, and the command's own
  pyheapdump has a native module built for exactly the target's interpreter (a file `_native<suffix>` for one of the
  target's `importlib.machinery.EXTENSION_SUFFIXES`), that copy is loaded into the target by file location (its
  `sys.path` is not changed); pyheapdump needs nothing outside the standard library, so nothing else comes with it.
  `--no-lend` turns that off. Otherwise the reply says what to install where (the target's `sys.executable`).
- The target's main thread takes the request only when it next runs Python code. The command waits `timeout`
  seconds for that, then claims the request itself (an atomic mkdir both sides race for), so a script that runs
  later finds it claimed, does nothing and removes its folder.
- Python 3.11-3.13 (no `sys.remote_exec`): a process that called `install(signal=...)` announces that signal and its
  dump directory in `/tmp/pyheapdump-UID/signal-PID.json` (mode 0700 folder owned by the user). The command leaves
  its request (where to write, threads, heap, limits, and the folder for the reply) beside it, in
  `request-PID.json`, and sends the signal; the hook takes the request (removing it), claims and serves it as
  `serve_request` does, through the hook's own writer, and writes the reply. A signal with no request (a plain
  `kill`, or a command of a version before requests: the announcement's `requests` says the hook reads them) dumps
  as the hook was installed. A 3.14+ target that refuses `sys.remote_exec` (remote debugging turned off) is asked
  through its signal too when it announced one.

The protocol has two sides in two modules. This one is the target's: `serve_request`, which the injected script
calls, and the signal hook's announcement. It is imported with the package, by every process that installs the hooks
(and by a target that is lent pyheapdump), so it keeps to what those processes have loaded anyway: paths are str, the
JSON files are written by pyheapdump.dump.json_writer, no pathlib, json or typing. The command's side, which may use
anything, is pyheapdump.capture.remote_command: the script it injects, finding and asking the target, waiting for the
reply or the dump. The names both sides use (the rendezvous folder, the announcement's path, a process's /proc
entries and start time) are defined here, once.
"""

from __future__ import annotations

import atexit
import os
import stat
import sys

from pyheapdump.dump.json_writer import json_dumps
from pyheapdump.errors import DumpError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["RemoteDumpError", "serve_request", "announce_signal", "withdraw_signal", "take_signal_request",
           "serve_signal_request"]

RENDEZVOUS_ROOT = "/tmp"
REPLY_FILE = "reply.json"


class RemoteDumpError(DumpError):
    """A process could not be dumped by its pid; the message says why and what to do."""


# --- the request ------------------------------------------------------------------------------------------------------


def serve_request(request: dict[str, Any]) -> None:
    """Runs in the target, called by the injected script: writes the dump, then the reply the command waits for."""

    def write() -> str:
        from pyheapdump.dump.roots import caller_frame
        from pyheapdump.dump.save import save_dump

        return save_dump(
            request.get("path"),
            exc=False,  # a live dump: an exception the interrupted code is handling is not the reason
            frame=caller_frame(),  # the main thread's interrupted frame, as the signal hook records it
            threads=bool(request.get("threads", True)),
            heap=bool(request.get("heap", False)),
            directory=request.get("directory"),
            reason="remote",
            description=f"live dump by pid, asked by {_asked_by(request)}",
            **dict(request.get("limits") or {}),
        )

    _write_then_reply(request["folder"], write)


def _write_then_reply(folder: str, write: Callable[[], str | None]) -> None:
    """Writes the dump, then the reply the command waits for in `folder`: the dump's path, or what went wrong (the
    target goes on running either way). `write` gives None when the dump was skipped."""
    answer: dict[str, Any] = {"ok": False, "kind": "dump", "error": "the dump was interrupted"}
    try:
        written = write()
        answer = ({"ok": True, "path": written} if written is not None else
                  {"ok": False, "kind": "dump", "error": "another dump of this process was being written"})
    except Exception as error:  # noqa: BLE001 - reported to the command; the target goes on running
        answer = {"ok": False, "kind": "dump", "error": f"{type(error).__name__}: {error}"}
    finally:
        try:
            write_json_atomically(os.path.join(folder, REPLY_FILE), answer)
        except OSError:
            pass  # the command gave up and its folder is gone: nobody to answer


def _asked_by(request: dict[str, Any]) -> str:
    """Who asked, as the dump's description says it: the command line, with the pid it was given (this process's pid
    where the command runs: another one when this process is in a container), and the command's own process."""
    asked = request.get("pid")
    command = f"`pyheapdump dump {asked}`" if isinstance(asked, int) else "`pyheapdump dump`"
    return f"{command} (process {request.get('requester')})"


def write_json_atomically(target: str, value: Any) -> None:
    """`value` as JSON (what json.dump writes) in the file `target`, written under a temporary name and renamed."""
    folder, name = os.path.split(target)
    temp = os.path.join(folder, f".{name}.tmp-{os.getpid()}")
    with open(temp, "w", encoding="utf-8") as stream:
        stream.write(json_dumps(value))
    os.replace(temp, target)


# --- announcing the signal hook (3.11-3.13 targets) -------------------------------------------------------------------


def rendezvous_folder(uid: int) -> str:
    return os.path.join(RENDEZVOUS_ROOT, f"pyheapdump-{uid}")


def _own_rendezvous() -> str:
    """This user's rendezvous folder, made if missing; refused when someone else made it or others may write it."""
    folder = rendezvous_folder(os.geteuid())
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    facts = os.lstat(folder)
    if not stat.S_ISDIR(facts.st_mode) or facts.st_uid != os.geteuid() or facts.st_mode & 0o022:
        raise PermissionError(f"{folder} is not a private folder of this user")
    return folder


def announcement_path(pid: int, uid: int) -> str:
    return os.path.join(rendezvous_folder(uid), f"signal-{pid}.json")


def signal_request_path(pid: int, uid: int) -> str:
    return os.path.join(rendezvous_folder(uid), f"request-{pid}.json")


# The version of the request a signal hook reads (the announcement's "requests"): 1, where to write, threads, heap,
# limits, and the folder of the reply.
SIGNAL_REQUESTS = 1


def take_signal_request() -> dict[str, Any] | None:
    """The request `pyheapdump dump PID` left for this process before it sent the signal, removed so that it is served
    once; None when there is none (a plain `kill`), or it is for an earlier process of this pid. Only this user (or
    root) can have written it: the rendezvous folder is private to the user, and checked."""
    uid = os.geteuid()
    try:
        facts = os.lstat(rendezvous_folder(uid))
        if not stat.S_ISDIR(facts.st_mode) or facts.st_uid != uid or facts.st_mode & 0o022:
            return None
        path = signal_request_path(os.getpid(), uid)
        with open(path, encoding="utf-8") as stream:
            text = stream.read(1 << 16)
        os.unlink(path)
        import json  # only to read a request: an operator asked for this dump of a running process

        request = json.loads(text)
    except (OSError, ValueError, ImportError):
        return None
    if not isinstance(request, dict) or request.get("start_time") != start_time(os.getpid()):
        return None
    return request


def serve_signal_request(writer: Any, request: dict[str, Any], frame: Any, description: str) -> bool:
    """Serves a request taken by the signal hook, with the hook's writer (its caps, pruning and options): claims it,
    writes the dump, then the reply. False when it could not be claimed (the command stopped waiting): the hook then
    dumps as it does for a plain signal."""
    folder = request.get("folder")
    if not isinstance(folder, str):
        return False
    try:
        os.mkdir(os.path.join(folder, "claim"))
    except OSError:
        return False
    def write() -> str | None:
        limits = dict(request.get("limits") or {})
        limits["heap"] = bool(request.get("heap", False))
        return writer.write(
            reason="signal",
            exc=False,  # a live dump: an exception the interrupted code is handling is not the reason
            frame=frame,
            threads=bool(request.get("threads", True)),
            description=f"{description}, asked by {_asked_by(request)}",
            path=request.get("path"),
            directory=request.get("directory"),
            limits=limits,
        )

    _write_then_reply(folder, write)
    return True


def announce_signal(signum: int, directory: str | os.PathLike[str] | None) -> None:
    """Called by `install(signal=...)`: tells `pyheapdump dump PID` which signal dumps this process and where the dump
    goes. Never raises: a process that cannot announce is still dumped by its signal, only not found by pid."""
    try:
        folder = _own_rendezvous()
        for name in os.listdir(folder):  # announcements left by processes that were killed: no atexit ran
            pid = name.removeprefix("signal-").removesuffix(".json")
            if name.startswith("signal-") and name.endswith(".json") and pid.isdigit() \
                    and not os.path.exists(proc_path(int(pid), "stat")):
                try:
                    os.unlink(os.path.join(folder, name))
                except FileNotFoundError:
                    pass
        write_json_atomically(announcement_path(os.getpid(), os.geteuid()), {
            "pid": os.getpid(),
            "start_time": start_time(os.getpid()),
            "signal": int(signum),
            "directory": os.fspath(directory) if directory is not None else None,
            "python": "{}.{}".format(*sys.version_info[:2]),
            "requests": SIGNAL_REQUESTS,
        })
        atexit.register(withdraw_signal)
    except Exception:  # noqa: BLE001, S110 - announcing is a convenience; install() must not fail for it
        pass


def withdraw_signal() -> None:
    """Called by `uninstall()` and at exit: the signal no longer dumps this process."""
    try:
        os.unlink(announcement_path(os.getpid(), os.geteuid()))
    except OSError:
        pass


# --- a process in /proc -----------------------------------------------------------------------------------------------


def proc_path(pid: int, name: str) -> str:
    return f"/proc/{pid}/{name}"


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat: with the pid, what tells this process from a later one given the same pid."""
    try:
        with open(proc_path(pid, "stat"), encoding="utf-8") as stat_file:
            text = stat_file.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None
