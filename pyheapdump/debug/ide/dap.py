"""A Debug Adapter Protocol server that presents one dump: what `pyheapdump serve` runs.

One client at a time, one request at a time, on the thread that calls `DapServer.serve()`. The dump is stopped
for good: requests that would run the program are answered with an error that says so, and `disconnect` ends
the server. A client that goes away without `disconnect` leaves the server waiting for the next one.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any

from pyheapdump.debug.ide.view import CLIPBOARD_LIMIT, DumpView, EvaluationError, PresentedFrame, PresentedStack
from pyheapdump.errors import DumpError
from pyheapdump.present.children import MAX_CHILDREN, Child, expandable, indexed_count
from pyheapdump.present.sources import served_sources
from pyheapdump.present.values import type_text, value_text

_HEADER_END = b"\r\n\r\n"
_MAX_MESSAGE = 64 << 20  # a request larger than this is not from a debugger
_CHUNKED_LIST = 100  # lists longer than this are paged by the IDE (VS Code's chunk size)
_NOTHING_RUNS = "this is a heap dump, not a running program: nothing can {action}. Look around; disconnect to end."
_REFUSED = {
    "continue": "continue",
    "next": "step",
    "stepIn": "step",
    "stepOut": "step",
    "stepBack": "step",
    "reverseContinue": "continue",
    "goto": "jump",
    "restartFrame": "restart",
    "restart": "restart",
    "launch": "be launched (attach to `pyheapdump serve` instead)",
}


class ServeError(DumpError):
    """The server cannot listen where it was asked to."""


class RequestFailed(Exception):
    """A request the server answers with success=false and this message."""


# ---- the wire: Content-Length framed JSON ----


class DapConnection:
    """Reads and writes DAP messages on a connected socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self._seq = 0

    def _fill(self) -> bool:
        chunk = self._sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def read(self) -> dict[str, Any] | None:
        """The next message, or None when the client closed the connection."""
        try:
            while _HEADER_END not in self._buffer:
                if len(self._buffer) > 8192 or not self._fill():
                    return None
            header, self._buffer = self._buffer.split(_HEADER_END, 1)
            length = _content_length(header)
            while len(self._buffer) < length:
                if not self._fill():
                    return None
        except OSError:
            return None
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        message = json.loads(body)
        if not isinstance(message, dict):
            raise ValueError("a DAP message is a JSON object")
        return message

    def send(self, message: dict[str, Any]) -> None:
        self._seq += 1
        message["seq"] = self._seq
        body = json.dumps(message, default=str).encode("utf-8")
        self._sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def event(self, name: str, body: dict[str, Any] | None = None) -> None:
        self.send({"type": "event", "event": name, "body": body or {}})


def _content_length(header: bytes) -> int:
    for line in header.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
            if not 0 <= length <= _MAX_MESSAGE:
                raise ValueError(f"refusing a {length}-byte DAP message")
            return length
    raise ValueError("DAP message without Content-Length")


# ---- one client's session ----


class DapSession:
    """Answers one client's requests from a DumpView until it disconnects (True) or goes away (False)."""

    def __init__(self, view: DumpView, connection: DapConnection) -> None:
        self.view = view
        self.connection = connection
        self._after_response: list[Callable[[], None]] = []
        self._disconnected = False

    def run(self) -> bool:
        while not self._disconnected:
            try:
                message = self.connection.read()
            except ValueError as error:
                print(f"pyheapdump: dropping a client that sent a bad message: {error}", file=sys.stderr)
                return False
            if message is None:
                return False
            if message.get("type") == "request":
                self._answer(message)
        return True

    def _answer(self, request: dict[str, Any]) -> None:
        command = str(request.get("command", ""))
        arguments = request.get("arguments") or {}
        response: dict[str, Any] = {"type": "response", "request_seq": request.get("seq", 0), "command": command}
        try:
            body = self._handle(command, arguments if isinstance(arguments, dict) else {})
            response.update(success=True, body=body or {})
        except (RequestFailed, EvaluationError) as error:
            response.update(success=False, message=str(error))
        except Exception as error:  # a bug here must not end the session the user is looking at
            traceback.print_exc(file=sys.stderr)
            response.update(success=False, message=f"internal error in pyheapdump: {type(error).__name__}: {error}")
        self.connection.send(response)
        pending, self._after_response = self._after_response, []
        for action in pending:
            action()

    def _handle(self, command: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        if command in _REFUSED:
            raise RequestFailed(_NOTHING_RUNS.format(action=_REFUSED[command]))
        handler = getattr(self, f"_on_{command}", None)
        if handler is None:
            raise RequestFailed(f"{command!r} is not something a heap dump can do")
        result: dict[str, Any] | None = handler(arguments)
        return result

    # -- start-up --

    def _on_initialize(self, arguments: dict[str, Any]) -> dict[str, Any]:
        self._after_response.append(lambda: self.connection.event("initialized"))
        return {
            "supportsConfigurationDoneRequest": True,
            "supportsEvaluateForHovers": True,
            "supportsExceptionInfoRequest": True,
            "supportsLoadedSourcesRequest": True,
            "supportsDelayedStackTraceLoading": True,
            "supportsTerminateRequest": True,
            "supportsClipboardContext": True,
            "supportsSetVariable": False,
            "supportsStepBack": False,
            "exceptionBreakpointFilters": [],
        }

    def _on_attach(self, arguments: dict[str, Any]) -> None:
        return None

    def _on_configurationDone(self, arguments: dict[str, Any]) -> None:
        self._after_response.append(self._announce_stop)

    def _announce_stop(self) -> None:
        meta = self.view.dump.metadata
        argv = meta.get("argv")
        name = " ".join(map(str, argv)) if isinstance(argv, list | tuple) else str(self.view.dump.path)
        pid = meta.get("pid")
        process: dict[str, Any] = {"name": name, "isLocalProcess": False, "startMethod": "attach"}
        if isinstance(pid, int):
            process["systemProcessId"] = pid
        self.connection.event("process", process)
        self.connection.event("output", {"category": "console", "output": _banner(self.view)})
        stopped = self.view.stopped_stack
        if stopped is None:
            return
        body: dict[str, Any] = {"threadId": stopped.id, "allThreadsStopped": True, "preserveFocusHint": False}
        if stopped.exception is not None:
            body.update(reason="exception", description="Exception (heap dump)", text=stopped.name)
        else:
            body.update(reason="pause", description="Paused (heap dump)", text="the program was dumped here")
        self.connection.event("stopped", body)

    # -- breakpoints: accepted and never hit --

    def _on_setBreakpoints(self, arguments: dict[str, Any]) -> dict[str, Any]:
        message = "a heap dump does not run: breakpoints are never hit"
        return {"breakpoints": [{"verified": False, "message": message} for _ in arguments.get("breakpoints") or []]}

    def _on_setFunctionBreakpoints(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return self._on_setBreakpoints(arguments)

    def _on_setExceptionBreakpoints(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"breakpoints": []}

    def _on_setDataBreakpoints(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"breakpoints": []}

    def _on_setInstructionBreakpoints(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"breakpoints": []}

    # -- the program stays stopped --

    def _on_pause(self, arguments: dict[str, Any]) -> None:
        return None  # it is paused already, for good

    def _on_terminate(self, arguments: dict[str, Any]) -> None:
        self._after_response.append(lambda: self.connection.event("terminated"))

    def _on_disconnect(self, arguments: dict[str, Any]) -> None:
        self._disconnected = True

    # -- threads, stacks, scopes, variables --

    def _on_threads(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"threads": [{"id": stack.id, "name": stack.name} for stack in self.view.listed]}

    def _on_stackTrace(self, arguments: dict[str, Any]) -> dict[str, Any]:
        stack = self.view.stack(_int(arguments, "threadId"))
        start = max(0, _int(arguments, "startFrame", 0))
        levels = _int(arguments, "levels", 0)
        frames = stack.frames[start : start + levels if levels > 0 else None]
        return {"stackFrames": [self._stack_frame(frame) for frame in frames], "totalFrames": len(stack.frames)}

    def _stack_frame(self, frame: PresentedFrame) -> dict[str, Any]:
        return {
            "id": frame.id,
            "name": frame.name,
            "line": frame.line,
            "column": 1,
            "source": self.view.sources.describe(frame.filename),
        }

    def _on_scopes(self, arguments: dict[str, Any]) -> dict[str, Any]:
        frame = self.view.frame(_int(arguments, "frameId"))
        handles = self.view.variables
        scopes = [
            {
                "name": "Locals",
                "presentationHint": "locals",
                "variablesReference": handles.for_scope("Locals", frame, frame.locals),
                "namedVariables": len(frame.locals),
                "expensive": False,
            },
            {
                "name": "Globals",
                "variablesReference": handles.for_scope("Globals", frame, frame.globals),
                "namedVariables": len(frame.globals),
                "expensive": True,
            },
        ]
        stack = self._stack_topped_by(frame)
        if stack is not None and stack.exception is not None:
            exc = stack.exception
            ref = handles.for_children(("exception", stack.id), lambda: [Child(type(exc).__qualname__, exc)])
            scopes.insert(0, {"name": "Exception", "variablesReference": ref, "expensive": False})
        return {"scopes": scopes}

    def _stack_topped_by(self, frame: PresentedFrame) -> PresentedStack | None:
        for stack in self.view.stacks:
            if stack.frames and stack.frames[0] is frame:
                return stack
        return None

    def _on_variables(self, arguments: dict[str, Any]) -> dict[str, Any]:
        found = self.view.variables.children(_int(arguments, "variablesReference"))
        wanted = arguments.get("filter")
        if wanted == "indexed":
            found = [child for child in found if child.indexed]
        elif wanted == "named":
            found = [child for child in found if not child.indexed]
        start = max(0, _int(arguments, "start", 0))
        count = _int(arguments, "count", 0)
        found = found[start : start + count] if count > 0 else found[start : start + MAX_CHILDREN]
        return {"variables": [self._variable(child) for child in found]}

    def _variable(self, child: Child) -> dict[str, Any]:
        variable: dict[str, Any] = {
            "name": child.name,
            "value": child.text if child.text is not None else value_text(child.value),
            "type": type_text(child.value),
        }
        variable.update(self._reference(child.value, child.evaluate_name, child.expand, child.name))
        if child.evaluate_name:
            variable["evaluateName"] = child.evaluate_name
        if child.hint:
            variable["presentationHint"] = {"kind": child.hint}
        return variable

    def _reference(
        self,
        value: Any,
        evaluate_name: str | None,
        expand: Callable[[], list[Child]] | None = None,
        name: str = "",
    ) -> dict[str, Any]:
        """variablesReference (0: nothing to expand) and, for long lists, the counts the IDE pages by."""
        handles = self.view.variables
        if expand is not None:
            return {"variablesReference": handles.for_children(("virtual", id(value), name), expand)}
        if not expandable(value):
            return {"variablesReference": 0}
        reference: dict[str, Any] = {"variablesReference": handles.for_value(value, evaluate_name)}
        indexed = indexed_count(value)
        if indexed > _CHUNKED_LIST:
            reference["indexedVariables"] = indexed
            reference["namedVariables"] = sum(
                1 for c in handles.children(reference["variablesReference"]) if not c.indexed
            )
        return reference

    # -- evaluation --

    def _on_evaluate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        expression = str(arguments.get("expression", ""))
        context = str(arguments.get("context", "repl"))
        frame_id = arguments.get("frameId")
        value, output = self.view.evaluate(expression, frame_id if isinstance(frame_id, int) else None, context)
        limit = CLIPBOARD_LIMIT if context == "clipboard" else None
        shown = value_text(value, limit) if limit else value_text(value)
        if output:
            shown = output if value is None else f"{output}{shown}"
        elif value is None and context == "repl":
            shown = ""
        body: dict[str, Any] = {"result": shown, "type": "" if value is None and output else type_text(value)}
        body.update(self._reference(value, expression.strip() if value is not None else None))
        return body

    def _on_exceptionInfo(self, arguments: dict[str, Any]) -> dict[str, Any]:
        exc = self.view.exception_of(_int(arguments, "threadId"))
        if exc is None:
            raise RequestFailed("the dump holds no exception")
        cls = type(exc)
        full_name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
        with served_sources(self.view.dump.sources):
            text = "".join(traceback.format_exception(exc))
        message = _exception_message(exc)
        return {
            "exceptionId": full_name,
            "description": _exception_message(exc),
            "breakMode": "always",
            "details": {
                "message": message,
                "typeName": cls.__qualname__,
                "fullTypeName": full_name,
                "stackTrace": text,
            },
        }

    # -- sources --

    def _on_source(self, arguments: dict[str, Any]) -> dict[str, Any]:
        ref = _int(arguments, "sourceReference", 0)
        source = arguments.get("source")
        if isinstance(source, dict):
            ref = _int(source, "sourceReference", 0) or ref
            if not ref and isinstance(source.get("path"), str):
                ref = self.view.sources.reference(source["path"])
        return {"content": self.view.sources.text(ref), "mimeType": "text/x-python"}

    def _on_loadedSources(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"sources": [self.view.sources.describe(name) for name in self.view.sources.dumped()]}


def _int(arguments: dict[str, Any], name: str, default: int | None = None) -> int:
    value = arguments.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        if default is not None and value is None:
            return default
        raise RequestFailed(f"the request needs an integer {name}")
    return value


def _exception_message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a rebuilt exception's __str__ may not cope with its rebuilt args
        return "<unprintable>"


def _banner(view: DumpView) -> str:
    dump = view.dump
    meta = dump.metadata
    argv = meta.get("argv")
    program = " ".join(map(str, argv)) if isinstance(argv, list | tuple) else "?"
    lines = [
        f"pyheapdump: {dump.path}: {program} (pid {meta.get('pid', '?')}, Python {meta.get('python', '?')}, "
        f"{meta.get('time', '?')})"
    ]
    if meta.get("description"):
        lines.append(f"  {meta['description']}")
    if view.exception_stacks:
        lines.append(f"  {view.exception_stacks[0].name}")
    lines.append(
        f"  {len(view.stacks)} stacks. This is a heap dump: nothing runs, stepping and continuing are refused; "
        "the debug console evaluates on the dumped values."
    )
    lines += [f"  warning: {text}" for text in dump.warnings[:5]]
    return "\n".join(lines) + "\n"


# ---- the listening socket ----


def is_loopback(host: str) -> bool:
    """Whether every address `host` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


class DapServer:
    """Listens on host:port and serves one client at a time until a client disconnects."""

    def __init__(self, view: DumpView, host: str, port: int) -> None:
        self.view = view
        try:
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
                0
            ]
            self._listener = socket.create_server(address[:2], family=family)
        except OSError as error:
            raise ServeError(
                f"cannot listen on {host}:{port}: {error.strerror or error}; choose another --port"
            ) from None
        bound = self._listener.getsockname()
        self.host, self.port = str(bound[0]), int(bound[1])

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def serve(self, log: Callable[[str], None]) -> None:
        """Serve clients until one sends `disconnect`."""
        try:
            while True:
                client, peer = self._listener.accept()
                log(f"debugger connected from {peer[0]}:{peer[1]}")
                try:
                    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    if DapSession(self.view, DapConnection(client)).run():
                        log("debugger disconnected; the dump is closed")
                        return
                finally:
                    client.close()
                log(f"the debugger went away without disconnecting; waiting for the next one on {self.address}")
        finally:
            self._listener.close()
