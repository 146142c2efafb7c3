"""Dumps of another running Python process by its pid: the command's side of `pyheapdump dump PID`.

pyheapdump.capture.remote says how a process is asked, and holds the target's side. This module is imported only by
the command (`pyheapdump dump`), so it may use anything of the standard library.

Why one file of ~640 lines: it is one side of one protocol (finding and checking the target, the script it is sent,
the two ways of asking it, waiting for the reply or the dump, and the messages that say what to do when it fails);
the target's side lives apart only because every process that installs the hooks imports it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal as signal_module
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pyheapdump.capture.remote import (
    RENDEZVOUS_ROOT,
    REPLY_FILE,
    SIGNAL_REQUESTS,
    RemoteDumpError,
    announcement_path,
    proc_path,
    signal_request_path,
    start_time,
    write_json_atomically,
)
from pyheapdump.errors import DumpError

__all__ = ["dump_pid"]

REMOTE_EXEC_VERSION = (3, 14)
POLL_SECONDS = 0.05
# Once the target has started the dump, how long past the dump's own time_limit the command waits for the reply
# (writing the file and the sources after the walk).
REPLY_GRACE_SECONDS = 120.0
_VERSION_IN_NAME = re.compile(r"python(\d+)\.(\d+)")
_VERSION_OF_LIBPYTHON = re.compile(r"libpython(\d+)\.(\d+)")
_VERSION_OF_EXTENSION = re.compile(r"\.cpython-(3)(\d+)t?-")  # a mapped extension module: _json.cpython-314-x86_64...
_PYTHON_WITHOUT_VERSION = re.compile(r"python3?")  # venv --copies, some images: the binary says no version


# The script sys.remote_exec runs in the target, in a namespace of its own. Everything it needs comes in REQUEST; it
# imports nothing of the program, and answers even when pyheapdump cannot be imported.
_INJECTED_SCRIPT = '''\
# Written by `pyheapdump dump` and run in this process by sys.remote_exec (PEP 768); see pyheapdump/capture/remote.py.
# This name makes the script pyheapdump's own code, which save_dump leaves out of the dumped stacks.
__name__ = "pyheapdump._injected"
REQUEST = __REQUEST__


def _pyheapdump_request(request):
    import os
    import sys

    folder = request["folder"]

    def reply(answer):  # when pyheapdump cannot serve the request; serve_request writes its own reply
        import json

        temp = os.path.join(folder, ".reply.json.tmp")
        with open(temp, "w", encoding="utf-8") as stream:
            json.dump(answer, stream)
        os.replace(temp, os.path.join(folder, "reply.json"))

    try:
        os.mkdir(os.path.join(folder, "claim"))
    except FileExistsError:  # the command stopped waiting before this process got here: do nothing
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        return
    except OSError:
        return
    facts = {"executable": sys.executable, "prefix": sys.prefix, "version": sys.version.split()[0]}
    installed = getattr(sys.modules.get("pyheapdump"), "__file__", None) or ("pyheapdump" in sys.modules or None)
    before = set(sys.modules)
    try:
        from pyheapdump.capture.remote import serve_request
    except Exception as error:
        own = "%s: %s" % (type(error).__name__, error)
        for name in [n for n in sys.modules if n not in before and n.split(".")[0] == "pyheapdump"]:
            del sys.modules[name]
        if installed is None:
            import importlib.util

            try:
                installed = getattr(importlib.util.find_spec("pyheapdump"), "origin", None)
            except Exception:
                installed = None
        # A pyheapdump of its own that fails is the target's to fix: lending would shadow it for the program.
        if installed is not None or not request.get("lend"):
            reply(dict(facts, ok=False, kind="import", error=own, installed=installed, lent=None))
            return
        try:
            serve_request = _lend(request["lend"], sys, os)
        except Exception as lend_error:
            for name in [n for n in sys.modules if n not in before and n.split(".")[0] == "pyheapdump"]:
                del sys.modules[name]
            reply(dict(facts, ok=False, kind="import", error=own, lent="%s: %s" % (type(lend_error).__name__,
                                                                                   lend_error)))
            return
    serve_request(request)


def _lend(parent, sys, os):
    import importlib.machinery
    import importlib.util

    package = os.path.join(parent, "pyheapdump")
    names = set(os.listdir(package))
    if not any("_native" + suffix in names for suffix in importlib.machinery.EXTENSION_SUFFIXES):
        raise ImportError("the copy in %s has no native module built for Python %s" % (package, sys.version.split()[0]))
    spec = importlib.util.spec_from_file_location("pyheapdump", os.path.join(package, "__init__.py"),
                                                  submodule_search_locations=[package])
    module = importlib.util.module_from_spec(spec)
    sys.modules["pyheapdump"] = module
    spec.loader.exec_module(module)
    from pyheapdump.capture.remote import serve_request

    return serve_request


_pyheapdump_request(REQUEST)
del _pyheapdump_request, _lend
'''



# --- the command's side: the target ---------------------------------------------------------------------------------


class Target(NamedTuple):
    pid: int
    uid: int
    gid: int
    exe: str
    version: tuple[int, int] | None
    start_time: str | None

    @property
    def version_text(self) -> str:
        return "{}.{}".format(*self.version) if self.version else "?"

    def describe(self) -> str:
        return f"process {self.pid} ({self.exe}, Python {self.version_text})"


def _proc(pid: int, name: str) -> Path:
    return Path(proc_path(pid, name))


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in _proc(pid, "status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _user_name(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _exited(pid: int) -> str:
    return f"no process {pid}: it has exited (or never existed); check the pid with `ps -p {pid}`"


def alive(pid: int) -> bool:
    try:
        return not _status(pid).get("State", "").startswith(("Z", "X"))
    except OSError:
        return False


def inspect_target(pid: int) -> Target:
    """What the command needs to know about the process before asking it anything; a RemoteDumpError says why not."""
    if not Path("/proc/self").is_dir():
        raise RemoteDumpError("`pyheapdump dump PID` reads /proc, which this system does not have (Linux only)")
    if pid <= 0:
        raise RemoteDumpError(f"{pid} is not a process id")
    if pid == os.getpid():
        raise RemoteDumpError("that is this command's own process: call pyheapdump.save_dump() instead")
    try:
        status = _status(pid)
    except FileNotFoundError:
        raise RemoteDumpError(_exited(pid)) from None
    except OSError as error:
        raise RemoteDumpError(f"cannot read /proc/{pid}/status: {error}") from None
    if status.get("State", "").startswith(("Z", "X")):
        raise RemoteDumpError(f"process {pid} has exited (its parent has not reaped it yet): nothing is left to dump")
    uid = int(status.get("Uid", "0").split()[1])  # effective uid: what the kernel checks
    gid = int(status.get("Gid", "0").split()[1])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise RemoteDumpError(_exited(pid)) from None
    except PermissionError:
        raise RemoteDumpError(_other_user(pid, uid)) from None
    try:
        exe = os.readlink(_proc(pid, "exe"))
    except FileNotFoundError:
        if not alive(pid):
            raise RemoteDumpError(_exited(pid)) from None
        raise RemoteDumpError(f"process {pid} has no executable (a kernel thread): not a Python process") from None
    except PermissionError:
        raise RemoteDumpError(_permission_advice(pid, uid)) from None
    return Target(pid, uid, gid, exe, _python_version(pid, exe), start_time(pid))


def _other_user(pid: int, uid: int) -> str:
    return (f"process {pid} runs as {_user_name(uid)} and this command as {_user_name(os.geteuid())}, which may not "
            f"read it: run `pyheapdump dump {pid}` as that user (e.g. sudo -u {_bare_name(uid)} ...) or as root")


def _bare_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"#{uid}"


def _python_version(pid: int, exe: str) -> tuple[int, int] | None:
    """The target's Python version from its executable's name (python3.14), else from a libpython it has mapped (an
    embedding program such as uwsgi); None when neither says: not a Python process, as far as can be told."""
    name = os.path.basename(exe.removesuffix(" (deleted)"))
    found = _VERSION_IN_NAME.fullmatch(name) or _VERSION_IN_NAME.fullmatch(name.removesuffix("t"))
    if found:
        return int(found.group(1)), int(found.group(2))
    try:
        with open(_proc(pid, "maps"), encoding="utf-8", errors="replace") as maps:
            for line in maps:
                found = _VERSION_OF_LIBPYTHON.search(line) or _VERSION_OF_EXTENSION.search(line)
                if found:
                    return int(found.group(1)), int(found.group(2))
    except OSError:
        pass
    if _PYTHON_WITHOUT_VERSION.fullmatch(name):
        return _ask_interpreter(pid)
    return None


def _runnable_exe(pid: int, exe: str) -> str:
    """The target's binary by its own path, where Python finds its prefix (a venv's pyvenv.cfg beside a copied
    binary); /proc/PID/exe only when that file was deleted since (an upgrade), as it still runs the very binary."""
    return os.fspath(_proc(pid, "exe")) if exe.endswith(" (deleted)") or not os.path.exists(exe) else exe


def _ask_interpreter(pid: int) -> tuple[int, int] | None:
    """The version of a binary named python or python3, by running it (isolated, no site: the interpreter alone)."""
    import subprocess

    try:
        answer = subprocess.run([_runnable_exe(pid, os.readlink(_proc(pid, "exe"))), "-I", "-S", "-c",
                                 "import sys; print('%d.%d' % sys.version_info[:2])"],
                                capture_output=True, text=True, timeout=30, check=False)
        major, minor = answer.stdout.strip().split(".")
        return int(major), int(minor)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def _interpreter_for(target: Target) -> str | None:
    """An interpreter of the target's version to call sys.remote_exec from: the target's own binary when it is a
    pythonX.Y, else one of that name on PATH."""
    import shutil

    name = os.path.basename(target.exe.removesuffix(" (deleted)"))
    if _VERSION_IN_NAME.fullmatch(name.removesuffix("t")) or _PYTHON_WITHOUT_VERSION.fullmatch(name):
        return _runnable_exe(target.pid, target.exe)
    return shutil.which(f"python{target.version_text}")


# --- the command's side: asking ---------------------------------------------------------------------------------------


def dump_pid(
    pid: int,
    *,
    path: str | os.PathLike[str] | None = None,
    directory: str | os.PathLike[str] | None = None,
    threads: bool = True,
    heap: bool = False,
    limits: dict[str, Any] | None = None,
    timeout: float = 30.0,
    lend: bool = True,
    notes: list[str] | None = None,
) -> Path:
    """Dumps the running process `pid` and returns the dump's path; RemoteDumpError says why it could not.
    `heap` asks for a whole-heap dump (save_dump(heap=True): every module and the objects only the collector knew).

    `notes` collects what the user should know about a dump that was written (options a signal hook ignores)."""
    target = inspect_target(pid)
    if target.version is None:
        raise RemoteDumpError(f"process {pid} ({target.exe}) does not look like Python: its executable is not a "
                              "pythonX.Y and it has no libpython loaded")
    destination = _destination(path, directory)
    view = _FilesystemView.of(target.pid)
    announcement = read_announcement(target, view)
    if target.version >= REMOTE_EXEC_VERSION:
        try:
            return _dump_by_remote_exec(target, view, destination, threads, heap, dict(limits or {}), timeout, lend)
        except _Refused as refusal:
            if announcement is None:
                raise RemoteDumpError(str(refusal)) from None
            if notes is not None:
                notes.append(f"sys.remote_exec was refused ({refusal}); asked through its signal hook instead")
    if announcement is None:
        raise RemoteDumpError(
            f"{target.describe()} cannot be dumped by pid: Python {target.version_text} has no sys.remote_exec "
            f"(3.14+) and the process installed no pyheapdump signal hook. Start it with one "
            "(pyheapdump.install(directory, signal=signal.SIGUSR1), or PYHEAPDUMP_DIR=DIR PYHEAPDUMP_SIGNAL=USR1 in "
            "its environment), or run it on Python 3.14+")
    if announcement.get("requests") == SIGNAL_REQUESTS:
        return _dump_by_signal_request(target, view, announcement, destination, threads, heap, dict(limits or {}),
                                       timeout)
    return _dump_by_signal(target, view, announcement, destination, threads, heap, dict(limits or {}), timeout,
                           notes)


class _Destination(NamedTuple):
    path: Path | None
    directory: Path
    explicit: bool  # -o or --directory given (the signal hook's dump is moved there)


def _destination(path: str | os.PathLike[str] | None, directory: str | os.PathLike[str] | None) -> _Destination:
    # Absolute now: the target resolves names against its own working directory, not this command's.
    if path is not None:
        absolute = Path(path).expanduser().absolute()
        if absolute.is_dir():
            raise RemoteDumpError(f"{path} is a directory: give it with --directory, or name a file with -o")
        return _Destination(absolute, absolute.parent, True)
    return _Destination(None, Path(directory if directory is not None else os.getcwd()).expanduser().absolute(),
                        directory is not None)


class _Refused(Exception):
    """sys.remote_exec refused; the message is the one-line reason and what to do."""


class _FilesystemView(NamedTuple):
    """How this command reaches the files the target sees. A target in a mount namespace of its own (a container
    seen from its host) has its own /tmp and cannot see this command's files: the command reaches its files through
    /proc/PID/root, and the target writes the dump into the request folder, from where the command fetches it."""

    root: str  # "" when both see the same files, else "/proc/PID/root"

    @classmethod
    def of(cls, pid: int) -> _FilesystemView:
        try:
            theirs = os.stat(proc_path(pid, "ns/mnt")).st_ino
            ours = os.stat("/proc/self/ns/mnt").st_ino
        except OSError:
            return cls("")  # no namespace to compare (or not ours to read): one filesystem
        return cls("" if theirs == ours else proc_path(pid, "root"))

    @property
    def separate(self) -> bool:
        return bool(self.root)

    def here(self, their_path: str) -> Path:
        """The path by which this command reaches the target's `their_path` (an absolute path; its `..` cannot climb
        above the target's root)."""
        return Path(self.root + os.path.normpath("/" + their_path.lstrip("/")))


def _dump_by_remote_exec(target: Target, view: _FilesystemView, destination: _Destination, threads: bool,
                         heap: bool, limits: dict[str, Any], timeout: float, lend: bool) -> Path:
    def ask(folder: Path, their_folder: str, request: dict[str, Any]) -> None:
        # this command's files are not the target's to import from when it has its own
        request["lend"] = _lendable_parent() if lend and not view.separate else None
        script = folder / "request.py"
        script.write_text(_INJECTED_SCRIPT.replace("__REQUEST__", repr(request)), encoding="utf-8")
        _give_to_target(target, script)
        with _twin_on_this_side(view, folder, their_folder, script):
            _remote_exec(target, f"{their_folder}/{script.name}")

    # no -o or --directory: the current directory
    return _dump_on_request(target, view, destination, destination.directory, threads, heap, limits, timeout, ask)


def _dump_by_signal_request(target: Target, view: _FilesystemView, announcement: dict[str, Any],
                            destination: _Destination, threads: bool, heap: bool, limits: dict[str, Any],
                            timeout: float) -> Path:
    """A hook that reads requests gets one beside its announcement, then its signal."""
    signum = int(announcement["signal"])
    request_file = view.here(signal_request_path(_pid_in_its_namespace(target.pid), target.uid))

    def ask(folder: Path, their_folder: str, request: dict[str, Any]) -> None:
        request["start_time"] = target.start_time  # not for a later process of this pid
        write_json_atomically(os.fspath(request_file), request)
        _give_to_target(target, request_file)
        _send_signal(target, signum)

    # No -o or --directory: the hook's own directory (the target's, when it has its own filesystem: then the dump is
    # written into the request folder and copied here).
    default = destination.directory if destination.explicit else None
    try:
        return _dump_on_request(target, view, destination, default, threads, heap, limits, timeout, ask,
                                keep_on_timeout=False)
    finally:
        try:  # not taken: a signal that comes later is a plain one
            os.unlink(request_file)
        except OSError:
            pass


def _send_signal(target: Target, signum: int) -> None:
    try:
        os.kill(target.pid, signum)
    except ProcessLookupError:
        raise RemoteDumpError(_exited(target.pid)) from None
    except PermissionError:
        raise RemoteDumpError(_other_user(target.pid, target.uid)) from None


def _give_to_target(target: Target, item: Path) -> None:
    if os.geteuid() == 0 and target.uid != 0:  # the target reads the request and writes its reply as its own user
        os.chown(item, target.uid, target.gid)


def _dump_on_request(target: Target, view: _FilesystemView, destination: _Destination, directory: Path | None,
                     threads: bool, heap: bool, limits: dict[str, Any], timeout: float,
                     ask: Callable[[Path, str, dict[str, Any]], None], keep_on_timeout: bool = True) -> Path:
    """Makes a request folder, has `ask` deliver the request (folder here, folder there, request), waits for the reply
    written there and returns the dump's path: where the target wrote it, or, when the target has its own filesystem
    (it wrote into the request folder), where it was copied. `directory` is where the dump goes without -o (None:
    where the target writes by default). On a timeout the folder stays when `keep_on_timeout`: a request the target
    takes later finds it claimed there."""
    import shutil

    folder, their_folder = _request_folder(target, view)
    _give_to_target(target, folder)
    request = {
        "folder": their_folder,
        # A target of its own filesystem writes the dump into the request folder, and the command fetches it.
        "path": os.fspath(destination.path) if destination.path is not None and not view.separate else None,
        "directory": their_folder if view.separate else (
            os.fspath(directory) if destination.path is None and directory is not None else None),
        "threads": threads,
        "heap": heap,
        "limits": limits,
        "requester": os.getpid(),
        "pid": target.pid,  # as this command sees it: the description says it, beside the pid the target has
    }
    try:
        ask(folder, their_folder, request)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        reply = _wait_for_reply(target, folder, timeout, float(limits.get("time_limit") or 60.0))
    except KeyboardInterrupt:
        try:  # claimed, a request the target runs later does nothing (and removes the folder itself)
            os.mkdir(folder / "claim")
        except OSError:
            pass
        raise
    except RemoteDumpError:
        if not keep_on_timeout:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    if reply.get("ok") and view.separate:
        try:
            name = _their_dump_name(their_folder, reply.get("path"), target.pid)
        except RemoteDumpError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        # When it cannot be copied, the dump stays in the folder, which the error names.
        final = destination.path if destination.path is not None else destination.directory / name
        reply["path"] = os.fspath(_copy_out(folder / name, final, target.pid, reply["path"]))
    shutil.rmtree(folder, ignore_errors=True)
    if reply.get("ok"):
        return Path(reply["path"])
    if reply.get("kind") == "import":
        raise RemoteDumpError(_cannot_import(target, reply, view))
    error = reply.get("error", "?")
    hint = ""
    if "ermission denied" in error and target.uid != os.geteuid():
        hint = (f" (the dump is written by process {target.pid} as {_user_name(target.uid)}: give a --directory it "
                "may write)")
    raise RemoteDumpError(f"process {target.pid} could not write the dump: {error}{hint}")


def _request_root() -> str:
    import tempfile

    return RENDEZVOUS_ROOT if os.path.isdir(RENDEZVOUS_ROOT) else tempfile.gettempdir()


def _request_folder(target: Target, view: _FilesystemView) -> tuple[Path, str]:
    """A new private folder for one request: (where this command reaches it, the path the target sees)."""
    import tempfile

    prefix = f"pyheapdump-dump-{target.pid}-"
    if not view.separate:
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=_request_root()))
        return folder, os.fspath(folder)
    # The target's own /tmp, reached through /proc/PID/root: a link there would be followed from this command's root
    # (a container's /tmp -> /etc would be the host's /etc), so it must be a real directory.
    their_root = view.here(RENDEZVOUS_ROOT)
    try:
        facts = os.lstat(their_root)
    except OSError as error:
        raise RemoteDumpError(f"{target.describe()} runs in a mount namespace of its own (a container) and its "
                              f"{RENDEZVOUS_ROOT} cannot be reached from here ({error}): run `pyheapdump dump` inside "
                              "it") from None
    if not stat.S_ISDIR(facts.st_mode):
        raise RemoteDumpError(f"{target.describe()} runs in a mount namespace of its own (a container) whose "
                              f"{RENDEZVOUS_ROOT} is not a directory: run `pyheapdump dump` inside it")
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=their_root))
    return folder, f"{RENDEZVOUS_ROOT}/{folder.name}"


@contextlib.contextmanager
def _twin_on_this_side(view: _FilesystemView, folder: Path, their_folder: str, script: Path) -> Iterator[None]:
    """sys.remote_exec checks that the script exists where it is called, though the target reads it from its own
    filesystem: a target of its own filesystem gets, for the call, a copy of the script at the same path here."""
    if not view.separate:
        yield
        return
    try:
        os.mkdir(their_folder, 0o700)
    except OSError as error:
        raise RemoteDumpError(f"cannot make {their_folder} here, beside the same folder in the target's own filesystem "
                              f"(sys.remote_exec looks for the script at the path the target reads it from): "
                              f"{error}") from None
    try:
        (Path(their_folder) / script.name).write_bytes(script.read_bytes())
        yield
    finally:
        import shutil

        shutil.rmtree(their_folder, ignore_errors=True)


def _their_dump_name(their_folder: str, their_path: Any, pid: int) -> str:
    """The name of the dump a target of its own filesystem wrote into the request folder (`their_folder`, as it sees
    it). The folder is the target's to write, and its answer is checked to name a file in it."""
    name = os.path.basename(their_path) if isinstance(their_path, str) else ""
    if not name or name in (".", "..") or os.path.dirname(their_path) != their_folder:
        raise RemoteDumpError(f"process {pid} answered with a dump outside the request folder: {their_path!r}")
    return name


def _copy_out(source: Path, final: Path, pid: int, their_path: str) -> Path:
    """Copies a dump from a target's own filesystem (`source`, reached from here; `their_path` there) to `final`,
    written under a temporary name and renamed. The target may write where the dump is: it is opened without
    following a link, and must be a file."""
    import shutil
    import tempfile

    try:
        opened = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        raise RemoteDumpError(f"process {pid} wrote its dump at {their_path} (in its own filesystem), which cannot "
                              f"be read from here: {error}") from None
    with os.fdopen(opened, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise RemoteDumpError(f"process {pid}'s dump {their_path} is not a file")
        try:
            os.makedirs(final.parent, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=final.parent, prefix=f".{final.name}.", delete=False) as copy:
                try:
                    shutil.copyfileobj(stream, copy, 1 << 20)
                except BaseException:
                    os.unlink(copy.name)
                    raise
            os.replace(copy.name, final)
        except OSError as error:
            raise RemoteDumpError(f"process {pid}'s dump could not be copied to {final}: {error}; it is at "
                                  f"{source} until that process exits") from None
    return final


def _lendable_parent() -> str | None:
    """The folder holding this command's pyheapdump package, offered to a target that has none."""
    package = Path(__file__).resolve().parents[1]  # this module is pyheapdump/capture/remote_command.py
    return os.fspath(package.parent) if (package / "__init__.py").is_file() else None


def _cannot_import(target: Target, reply: dict[str, Any], view: _FilesystemView) -> str:
    executable = reply.get("executable") or target.exe
    installed = reply.get("installed")
    if installed:
        where = installed if isinstance(installed, str) else "already imported"
        return (f"process {target.pid} has a pyheapdump ({where}) that cannot serve `pyheapdump dump` "
                f"({reply.get('error')}): upgrade or reinstall it for that interpreter: "
                f"`{executable} -m pip install -U pyheapdump`")
    text = (f"process {target.pid} cannot import pyheapdump ({reply.get('error')}): install it where that process "
            f"imports from: `{executable} -m pip install pyheapdump` (its sys.prefix is {reply.get('prefix')})")
    if reply.get("lent"):
        text += f"; this command's own copy could not be lent to it ({reply['lent']})"
    elif view.separate:
        text += "; it runs in a mount namespace of its own (a container), which cannot import this command's copy"
    return text


_HELPER = """\
import json, sys
try:
    sys.remote_exec(int(sys.argv[1]), sys.argv[2])
    print(json.dumps({"ok": True}))
except BaseException as error:
    chain, seen = [], error
    while seen is not None and len(chain) < 8:
        chain.append([type(seen).__name__, str(seen), getattr(seen, "errno", None)])
        seen = seen.__cause__ or seen.__context__
    print(json.dumps({"ok": False, "chain": chain}))
"""


def _remote_exec(target: Target, script: str) -> None:
    """sys.remote_exec(pid, script), from this interpreter when it is the target's version, else from one that is;
    `script` is the path the target sees."""
    import subprocess

    chain: list[list[Any]] | None = None
    remote_exec = getattr(sys, "remote_exec", None)
    if remote_exec is not None and sys.version_info[:2] == target.version:
        try:
            remote_exec(target.pid, script)
            return
        except Exception as error:  # noqa: BLE001 - classified below
            chain = _exception_chain(error)
            if not any("Can't send commands" in str(text) for _, text, _ in chain):
                raise _Refused(_refusal(target, chain)) from None
            # a pre-release on one side needs the exact same build: the target's own binary is that
    interpreter = _interpreter_for(target)
    if interpreter is None:
        raise _Refused(f"{target.describe()}: sys.remote_exec must be called from Python {target.version_text} and "
                       f"none was found (no python{target.version_text} on PATH): run `python{target.version_text} -m "
                       f"pyheapdump dump {target.pid}`")
    try:
        helper = subprocess.run([interpreter, "-I", "-S", "-c", _HELPER, str(target.pid), script],
                                capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise _Refused(f"could not run {interpreter} to call sys.remote_exec: {error}") from None
    try:
        answer = json.loads(helper.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise _Refused(f"{interpreter} could not call sys.remote_exec (exit status {helper.returncode}): "
                       f"{(helper.stderr.strip().splitlines() or ['no output'])[-1]}") from None
    if not answer.get("ok"):
        raise _Refused(_refusal(target, answer.get("chain") or []))


def _exception_chain(error: BaseException) -> list[list[Any]]:
    chain: list[list[Any]] = []
    seen: BaseException | None = error
    while seen is not None and len(chain) < 8:
        chain.append([type(seen).__name__, str(seen), getattr(seen, "errno", None)])
        seen = seen.__cause__ or seen.__context__
    return chain


def _refusal(target: Target, chain: list[list[Any]]) -> str:
    """One line: why sys.remote_exec refused, and what to do."""
    pid = target.pid
    if not alive(pid):
        return _exited(pid)
    text = " / ".join(str(message) for _, message, _ in chain)
    names = {name for name, _, _ in chain}
    codes = {code for _, _, code in chain}
    if "not enabled" in text:
        return (f"process {pid} has remote debugging turned off (PYTHON_DISABLE_REMOTE_DEBUG in its environment, "
                "-X disable_remote_debug, or a Python built --without-remote-debug): restart it without that, or "
                "install pyheapdump's signal hook in it (pyheapdump.install(directory, signal=signal.SIGUSR1))")
    if "PermissionError" in names or codes & {errno.EPERM, errno.EACCES}:
        return _permission_advice(target.pid, target.uid)
    if "Can't send commands" in text:
        return f"{target.describe()}: {text.split(' / ')[0]}; run this command with that exact Python"
    if "PyRuntime" in text:
        return (f"{target.describe()} could not be read as CPython {target.version_text} (sys.remote_exec: "
                f"{chain[-1][1] if chain else text}): is it CPython?")
    first = chain[0] if chain else ["?", "?", None]
    return f"sys.remote_exec could not reach process {pid}: {first[0]}: {first[1]}"


def _permission_advice(pid: int, uid: int) -> str:
    if uid != os.geteuid() and os.geteuid() != 0:
        return _other_user(pid, uid)
    try:
        scope = Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip()
    except OSError:
        scope = None
    why = {
        "1": "only a process's parent may read its memory (kernel.yama.ptrace_scope = 1): run this command as root "
             "or with CAP_SYS_PTRACE, or allow it with `sudo sysctl kernel.yama.ptrace_scope=0`",
        "2": "only root or a holder of CAP_SYS_PTRACE may read another process's memory (kernel.yama.ptrace_scope = "
             "2): run this command as root",
        "3": "no process may read another's memory until reboot (kernel.yama.ptrace_scope = 3)",
    }.get(scope or "", "reading another process's memory needs ptrace rights: the same user without other "
                       "restrictions, or root / CAP_SYS_PTRACE (in a container: --cap-add=SYS_PTRACE)")
    return (f"permission denied reading process {pid}'s memory: {why}; a process that made itself undumpable (a "
            "setuid program, prctl(PR_SET_DUMPABLE, 0)) can be read by root alone")


def _wait_for_reply(target: Target, folder: Path, timeout: float, time_limit: float) -> dict[str, Any]:
    import shutil

    reply, claim = folder / REPLY_FILE, folder / "claim"
    deadline = time.monotonic() + timeout
    started_deadline: float | None = None
    while True:
        if reply.exists():
            return json.loads(reply.read_text(encoding="utf-8"))
        if started_deadline is None and claim.exists():
            started_deadline = time.monotonic() + time_limit + REPLY_GRACE_SECONDS
        if not alive(target.pid):
            if reply.exists():
                continue
            shutil.rmtree(folder, ignore_errors=True)  # nobody is left to read the script
            raise RemoteDumpError(f"process {target.pid} exited before it wrote the dump")
        now = time.monotonic()
        if started_deadline is None and now > deadline:
            try:
                os.mkdir(claim)
            except FileExistsError:
                continue  # it started just now
            # The script stays: the target may still read it, then finds the claim and removes the folder.
            raise RemoteDumpError(
                f"process {target.pid} did not take the request within {timeout:g} s: it runs it when its main thread "
                "next executes Python code, and that thread is blocked in a long call (sleep, join, a read, a lock "
                "without timeout); try again with a longer --timeout, or when it is busy running Python")
        if started_deadline is not None and now > started_deadline:
            raise RemoteDumpError(f"process {target.pid} started the dump but did not finish it within "
                                  f"{time_limit + REPLY_GRACE_SECONDS:g} s")
        time.sleep(POLL_SECONDS)


# --- the command's side: the signal hook ------------------------------------------------------------------------------


def _pid_in_its_namespace(pid: int) -> int:
    """The pid the process has in its own pid namespace (a container's), which names its dumps and announcement."""
    try:
        return int(_status(pid).get("NSpid", str(pid)).split()[-1])
    except (ValueError, IndexError):
        return pid


def read_announcement(target: Target, view: _FilesystemView) -> dict[str, Any] | None:
    """The signal hook this very process announced (same pid and start time), if its signal is still caught."""
    path = view.here(announcement_path(_pid_in_its_namespace(target.pid), target.uid))
    try:
        facts = os.lstat(path.parent)
        if not stat.S_ISDIR(facts.st_mode) or facts.st_uid != target.uid or facts.st_mode & 0o022:
            return None
        announcement = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(announcement, dict) or announcement.get("start_time") != target.start_time:
        return None  # a process that had this pid before
    signum = announcement.get("signal")
    if not isinstance(signum, int) or not _catches(target.pid, signum):
        return None
    return announcement


def _catches(pid: int, signum: int) -> bool:
    try:
        mask = int(_status(pid).get("SigCgt", "0"), 16)
    except (OSError, ValueError):
        return False
    return bool(mask >> (signum - 1) & 1)


def _dump_by_signal(target: Target, view: _FilesystemView, announcement: dict[str, Any],
                    destination: _Destination, threads: bool, heap: bool, limits: dict[str, Any], timeout: float,
                    notes: list[str] | None) -> Path:
    """A hook of a pyheapdump before requests (its announcement has no `requests`): the signal alone, then the new
    dump looked for where the hook writes."""
    from pyheapdump.load.loader import read_header

    signum = int(announcement["signal"])
    where = announcement.get("directory")
    if where is not None and not isinstance(where, str):
        raise RemoteDumpError(f"process {target.pid}'s signal hook announced no directory it writes to: {where!r}")
    if where is not None:
        folder = view.here(where) if view.separate else Path(where)
    elif view.separate:  # the engine's default: the target's working directory, reached as it sees it
        folder = _proc(target.pid, "cwd")
    else:
        try:
            folder = Path(os.readlink(_proc(target.pid, "cwd")))
        except OSError as error:
            raise RemoteDumpError(f"cannot find where process {target.pid} writes its dumps: {error}") from None
    if notes is not None and (limits or not threads or heap):
        notes.append(f"process {target.pid} was dumped by its signal hook, with the limits, threads and heap settings "
                     "it was installed with; the limits, --no-threads and --heap given here were not applied")
    pattern = f"*-{_pid_in_its_namespace(target.pid)}-*.heapdump"  # named by the pid it has in its namespace
    before = set(folder.glob(pattern))
    _send_signal(target, signum)
    deadline = time.monotonic() + timeout
    while True:
        for candidate in sorted(set(folder.glob(pattern)) - before):
            try:
                header = read_header(candidate)
            except DumpError:
                continue
            if header.get("reason") == "signal" and view.separate:
                # out of the target's own filesystem: to -o, --directory or the current directory
                final = destination.path or destination.directory / candidate.name
                copied = _copy_out(candidate, final, target.pid, os.fspath(candidate))
                candidate.unlink(missing_ok=True)
                return copied
            if header.get("reason") == "signal":
                return _move(candidate, destination, target.pid)
        if not alive(target.pid):
            raise RemoteDumpError(f"process {target.pid} exited before it wrote the dump")
        if time.monotonic() > deadline:
            name = signal_module.Signals(signum).name if signum in signal_module.valid_signals() else signum
            raise RemoteDumpError(
                f"{target.describe()} was sent {name} but no dump appeared in {folder} within {timeout:g} s: its main "
                "thread takes the signal when it next runs Python code; if the hook failed, the process's stderr or "
                "its `pyheapdump` logger says why")
        time.sleep(POLL_SECONDS)


def _move(written: Path, destination: _Destination, pid: int) -> Path:
    """The hook wrote into its own directory; -o or --directory moves the dump where it was asked for."""
    import shutil

    if not destination.explicit or (destination.path is None and destination.directory == written.parent.absolute()):
        return written
    final = destination.path if destination.path is not None else destination.directory / written.name
    try:
        os.makedirs(final.parent, exist_ok=True)
        shutil.move(os.fspath(written), os.fspath(final))
    except OSError as error:
        raise RemoteDumpError(f"process {pid}'s dump is at {written} but could not be moved to {final}: "
                              f"{error}") from None
    return final

