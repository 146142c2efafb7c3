"""Sockets: family, type, descriptor, timeout and both addresses, read through the OS without any I/O."""

from __future__ import annotations

from pyheapdump.typesupport import TypeSupport

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any


def _address(read: Any) -> Any:
    try:
        address = read()
    except OSError:  # not bound, not connected, or closed
        return None
    return list(address) if isinstance(address, tuple) else address


def socket_facts(sock: Any) -> dict[str, Any]:
    descriptor = sock.fileno()
    facts: dict[str, Any] = {"fileno": descriptor, "closed": descriptor == -1}
    # int() of the enums: the loader need not import socket to show them.
    facts["family"] = int(sock.family)
    facts["type"] = int(sock.type)
    facts["proto"] = sock.proto
    if descriptor != -1:
        facts["timeout"] = sock.gettimeout()
        facts["laddr"] = _address(sock.getsockname)
        facts["raddr"] = _address(sock.getpeername)
    return facts


SUPPORTS = (TypeSupport("socket", ("_socket.socket",), socket_facts, facts_only=True),)
