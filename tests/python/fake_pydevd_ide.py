"""The IDE side of pydevd's text protocol, as PyCharm's and PyDev's debug servers speak it: enough for tests.

The IDE listens; the debugged process connects (`pydevd.settrace`). Messages are lines `CMD<TAB>SEQ<TAB>TEXT`
with TEXT url-quoted; the IDE numbers its requests with odd sequence numbers and pydevd answers with the same
number. Stacks and variables come as XML whose attribute values are url-quoted once more. Every wait is bounded.
"""

from __future__ import annotations

import socket
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

CMD_RUN = 101
CMD_LIST_THREADS = 102
CMD_THREAD_CREATE = 103
CMD_THREAD_SUSPEND = 105
CMD_THREAD_RUN = 106
CMD_GET_VARIABLE = 110
CMD_EVALUATE_EXPRESSION = 113
CMD_GET_FRAME = 114
CMD_WRITE_TO_CONSOLE = 116
CMD_VERSION = 501
CMD_ERROR = 901
TIMEOUT = 30.0


@dataclass
class Message:
    command: int
    seq: int
    text: str  # unquoted

    def xml(self) -> ElementTree.Element:
        return ElementTree.fromstring(self.text)


@dataclass
class SuspendedThread:
    id: str
    name: str
    frames: list[dict[str, Any]] = field(default_factory=list)  # innermost first: id, name, file, line


class FakePydevdIde:
    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sock: socket.socket | None = None
        self._buffer = b""
        self._seq = -1
        self.received: list[Message] = []  # every message, in order
        self._unclaimed: list[Message] = []
        self.thread_names: dict[str, str] = {}  # id -> name, from CMD_THREAD_CREATE

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.listener.close()

    def __enter__(self) -> FakePydevdIde:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def accept(self) -> None:
        self.listener.settimeout(self.timeout)
        self.sock, _ = self.listener.accept()

    def disconnect(self) -> None:
        assert self.sock is not None
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.sock = None

    def send(self, command: int, text: str) -> int:
        assert self.sock is not None
        self._seq += 2
        self.sock.sendall(f"{command}\t{self._seq}\t{text}\n".encode())
        return self._seq

    def _read(self, deadline: float) -> Message:
        assert self.sock is not None
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("pydevd sent nothing in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise AssertionError("pydevd sent nothing in time") from None
            if not chunk:
                raise AssertionError("pydevd closed the connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        command, seq, text = line.decode().split("\t", 2)
        message = Message(int(command), int(seq), unquote(text))
        if message.command == CMD_THREAD_CREATE:
            for thread in message.xml().iter("thread"):
                self.thread_names[thread.attrib["id"]] = unquote(thread.attrib["name"])
        self.received.append(message)
        self._unclaimed.append(message)
        return message

    def next_message(self, command: int) -> Message:
        """The next message with this command id not returned before."""
        deadline = time.monotonic() + self.timeout
        while True:
            for message in self._unclaimed:
                if message.command == command:
                    self._unclaimed.remove(message)
                    return message
            self._read(deadline)

    def request(self, command: int, text: str) -> Message:
        """Send a request and wait for pydevd's answer (same sequence number); an error answer fails."""
        seq = self.send(command, text)
        deadline = time.monotonic() + self.timeout
        while True:
            for message in self._unclaimed:
                if message.seq == seq:
                    self._unclaimed.remove(message)
                    if message.command == CMD_ERROR:
                        raise AssertionError(f"pydevd answered {command} with an error: {message.text}")
                    return message
            self._read(deadline)

    def start(self) -> None:
        """What the IDE sends first: its version, then 'run' (pydevd.settrace waits for it)."""
        self.send(CMD_VERSION, "1.1\tUNIX\tID")
        self.send(CMD_RUN, "")

    def suspension(self) -> SuspendedThread:
        """The next thread pydevd reports suspended, with its frames."""
        thread = self.next_message(CMD_THREAD_SUSPEND).xml().find("thread")
        assert thread is not None
        suspended = SuspendedThread(thread.attrib["id"], self.thread_names.get(thread.attrib["id"], "?"))
        for frame in thread.iter("frame"):
            suspended.frames.append(
                {
                    "id": frame.attrib["id"],
                    "name": unquote(frame.attrib["name"]),
                    "file": unquote(frame.attrib["file"]),
                    "line": int(frame.attrib["line"]),
                }
            )
        return suspended

    @staticmethod
    def variables(message: Message) -> dict[str, str]:
        """name -> value ("type: repr") of the <var> elements of an answer."""
        return {unquote(v.attrib["name"]): unquote(v.attrib["value"]) for v in message.xml().iter("var")}
