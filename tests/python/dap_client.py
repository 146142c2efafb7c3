"""A Debug Adapter Protocol client for tests: speaks to a server over a socket the way VS Code does.

Every wait is bounded by a deadline; a server that stops answering fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

TIMEOUT = 30.0


class DapError(AssertionError):
    """The server broke the protocol, or did not answer in time."""


class DapClient:
    def __init__(self, host: str, port: int, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buffer = b""
        self._seq = 0
        self.events: list[dict[str, Any]] = []  # every event received, in order
        self._unclaimed: list[dict[str, Any]] = []  # events no wait_event has returned yet
        self._responses: dict[int, dict[str, Any]] = {}  # request seq -> response not yet returned

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> DapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the wire --

    def send_request(self, command: str, arguments: dict[str, Any] | None = None) -> int:
        self._seq += 1
        message: dict[str, Any] = {"seq": self._seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        body = json.dumps(message).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self._seq

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\r\n\r\n" not in self._buffer:
            self._recv(deadline)
        header, rest = self._buffer.split(b"\r\n\r\n", 1)
        lengths = [
            int(line.split(b":", 1)[1]) for line in header.split(b"\r\n") if line.lower().startswith(b"content-length:")
        ]
        if len(lengths) != 1:
            raise DapError(f"bad DAP header {header!r}")
        self._buffer = rest
        while len(self._buffer) < lengths[0]:
            self._recv(deadline)
        body, self._buffer = self._buffer[: lengths[0]], self._buffer[lengths[0] :]
        message = json.loads(body)
        if message.get("type") == "event":
            self.events.append(message)
            self._unclaimed.append(message)
        elif message.get("type") == "response":
            self._responses[message["request_seq"]] = message
        return message

    def _recv(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DapError("the DAP server did not answer in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise DapError("the DAP server did not answer in time") from None
        if not chunk:
            raise DapError("the DAP server closed the connection")
        self._buffer += chunk

    # -- requests and events --

    def request(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its response (successful or not)."""
        return self.wait_response(self.send_request(command, arguments), command)

    def wait_response(self, seq: int, command: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while seq not in self._responses:
            self._read_message(deadline)
        response = self._responses.pop(seq)
        if response.get("command") != command:
            raise DapError(f"the response to {command} names {response.get('command')}")
        return response

    def call(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request that must succeed; return the response body."""
        response = self.request(command, arguments)
        if not response.get("success"):
            raise DapError(f"{command} failed: {response.get('message')}")
        return response.get("body") or {}

    def wait_event(self, name: str) -> dict[str, Any]:
        """The next event called `name` not returned before (read from the socket if need be)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for event in self._unclaimed:
                if event.get("event") == name:
                    self._unclaimed.remove(event)
                    return event
            self._read_message(deadline)

    # -- what VS Code does when it attaches --

    def attach_like_vscode(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """initialize, attach, breakpoints, configurationDone, as VS Code sends them; (capabilities, stopped event)."""
        capabilities = self.call(
            "initialize",
            {
                "clientID": "vscode",
                "clientName": "Visual Studio Code",
                "adapterID": "debugpy",
                "pathFormat": "path",
                "linesStartAt1": True,
                "columnsStartAt1": True,
                "supportsVariableType": True,
                "supportsVariablePaging": True,
                "supportsRunInTerminalRequest": True,
                "locale": "en",
            },
        )
        attach_seq = self.send_request(
            "attach",
            {
                "type": "debugpy",
                "request": "attach",
                "name": "Attach to heap dump",
                "connect": {"host": "127.0.0.1", "port": 5678},
                "justMyCode": False,
            },
        )
        self.wait_event("initialized")
        self.call("setBreakpoints", {"source": {"path": "/nowhere.py"}, "breakpoints": [{"line": 3}]})
        self.call("setExceptionBreakpoints", {"filters": []})
        self.call("configurationDone")
        attached = self.wait_response(attach_seq, "attach")
        if not attached.get("success"):
            raise DapError(f"attach failed: {attached.get('message')}")
        return capabilities, self.wait_event("stopped")
