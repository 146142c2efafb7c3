"""The contract between the native rebuilder and Python (pyheapdump/load/handler.py) is the one the C++ core uses:
every method name native/rebuilder.cc calls on its handler is declared by RebuildHandler, and the loader's Rebuilder
implements every method RebuildHandler declares, with the same parameters."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from pyheapdump.load.handler import RebuildHandler
from pyheapdump.load.rebuilder import Rebuilder

REBUILDER_CC = Path(__file__).resolve().parents[3] / "native" / "rebuilder.cc"
# CallHandler("name", ...), AskHandlerOnce(cache, "name", ...) and PyObject_CallMethod(handler_.get(), "name", ...).
_CALLS = re.compile(r'(?:CallHandler\(|AskHandlerOnce\(\w+, |CallMethod\(\s*handler_\.get\(\), )"(\w+)"')


def _protocol_methods() -> set[str]:
    members = vars(RebuildHandler).items()
    return {name for name, value in members if inspect.isfunction(value) and not name.startswith("_")}


def test_every_name_the_native_core_calls_is_declared_by_the_protocol() -> None:
    called = set(_CALLS.findall(REBUILDER_CC.read_text(encoding="utf-8")))
    assert called, "no handler call found in native/rebuilder.cc: the pattern above is out of date"
    assert called == _protocol_methods()


def test_the_rebuilder_implements_the_protocol_with_the_same_parameters() -> None:
    for name in _protocol_methods():
        declared = inspect.signature(getattr(RebuildHandler, name))
        implemented = inspect.signature(getattr(Rebuilder, name))
        # A staticmethod has no self; the parameters the core passes must match by name and default.
        declared_parameters = [p for p in declared.parameters.values() if p.name != "self"]
        implemented_parameters = [p for p in implemented.parameters.values() if p.name != "self"]
        assert [(p.name, p.default) for p in implemented_parameters] == \
            [(p.name, p.default) for p in declared_parameters], name
        assert inspect.getdoc(getattr(RebuildHandler, name)), f"{name} is not documented"
