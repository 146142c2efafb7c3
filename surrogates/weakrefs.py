"""Weak references and the weak containers: what they pointed to when the dump was taken.

A weakref.ref loads as a surrogate whose call returns the dumped referent (None when it was already dead); a
weakref.proxy as one that reads attributes from its referent; WeakValueDictionary, WeakKeyDictionary and WeakSet
as surrogates that read like a mapping or a set of their live items. The referents are dumped like any value (the
dump holds them strongly; a weak container's items are what a debugger user looks for).
"""

from __future__ import annotations

import weakref
from typing import Any

from pyheapdump.surrogates.base import instance_dict
from pyheapdump.typesupport import TypeSupport

_call_ref = weakref.ref.__call__  # the C call: a subclass's __call__ (the program's) never runs
_get_weakref_object: Any = None


# Weak references are facts-only surrogates: the referent is filled in after the surrogate exists, because it often
# leads back to the reference (SQLAlchemy's InstanceState.obj is a weakref to the instance whose state it is), which
# an object rebuilt from a finished state could not allow.
def capture_ref(ref: Any) -> dict[str, Any]:
    return {"referent": _call_ref(ref)}


def _proxy_referent(proxy: Any) -> Any:
    """A proxy forwards every attribute to its referent; only the C API says what that referent is."""
    global _get_weakref_object
    if _get_weakref_object is None:
        import ctypes

        _get_weakref_object = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object)(
            ("PyWeakref_GetObject", ctypes.pythonapi))
    return _get_weakref_object(proxy)


def capture_proxy(proxy: Any) -> dict[str, Any]:
    return {"referent": _proxy_referent(proxy)}


def _referent(self: Any) -> Any:
    return self.__dict__.get("referent")


def _ref_call(self: Any) -> Any:
    return _referent(self)


def _describe(referent: Any) -> str:
    text = repr(referent)
    return text if len(text) <= 80 else text[:77] + "..."


def _ref_repr(self: Any) -> str:
    referent = _referent(self)
    if referent is None:
        return "<weakref; dead>"
    return f"<weakref to {type(referent).__qualname__}: {_describe(referent)}>"


def _proxy_repr(self: Any) -> str:
    referent = _referent(self)
    if referent is None:
        return "<weakproxy; dead>"
    return f"<weakproxy to {type(referent).__qualname__}: {_describe(referent)}>"


def _proxy_getattr(self: Any, name: str) -> Any:
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(name)
    referent = _referent(self)
    if referent is None:
        raise ReferenceError("weakly-referenced object no longer exists (when the dump was taken)")
    return getattr(referent, name)


_REF_METHODS = {"__call__": _ref_call, "__repr__": _ref_repr}
_PROXY_METHODS = {"__getattr__": _proxy_getattr, "__repr__": _proxy_repr}


# ---- weak containers: their live items ----
# Facts-only as well: an item often leads back to its container (SQLAlchemy's class registry is a WeakKeyDictionary
# of classes that refer to it). The surrogate reads like the container: a mapping of its entries, or a set.

def capture_value_dict(mapping: Any) -> dict[str, Any]:
    data = dict.copy(instance_dict(mapping)["data"])  # one C copy: a collection mid-way cannot change it
    items = [(key, _call_ref(ref)) for key, ref in dict.items(data)]
    return {"entries": [(key, value) for key, value in items if value is not None]}


def capture_key_dict(mapping: Any) -> dict[str, Any]:
    data = dict.copy(instance_dict(mapping)["data"])
    items = [(_call_ref(ref), value) for ref, value in dict.items(data)]
    return {"entries": [(key, value) for key, value in items if key is not None]}


def capture_set(weak_set: Any) -> dict[str, Any]:
    data = set.copy(instance_dict(weak_set)["data"])
    items = [_call_ref(ref) for ref in data]
    return {"members": [item for item in items if item is not None]}


def _entries(self: Any) -> list[tuple[Any, Any]]:
    entries = self.__dict__.get("entries")
    return [e for e in entries if isinstance(e, tuple) and len(e) == 2] if isinstance(entries, list) else []


def _lookup(self: Any, key: Any) -> Any:
    for entry_key, value in _entries(self):
        if entry_key is key or entry_key == key:
            return value
    raise KeyError(key)


def _get(self: Any, key: Any, default: Any = None) -> Any:
    try:
        return _lookup(self, key)
    except KeyError:
        return default


def _contains(self: Any, key: Any) -> bool:
    return any(entry_key is key or entry_key == key for entry_key, _ in _entries(self))


def _mapping_repr(self: Any) -> str:
    name = type(self).__qualname__
    return f"{name}({{{', '.join(f'{key!r}: {value!r}' for key, value in _entries(self))}}})"


def _members(self: Any) -> list[Any]:
    members = self.__dict__.get("members")
    return members if isinstance(members, list) else []


_MAPPING_METHODS = {
    "__getitem__": _lookup, "get": _get, "__contains__": _contains, "__repr__": _mapping_repr,
    "__len__": lambda self: len(_entries(self)), "__iter__": lambda self: iter([k for k, _ in _entries(self)]),
    "keys": lambda self: [k for k, _ in _entries(self)], "values": lambda self: [v for _, v in _entries(self)],
    "items": lambda self: list(_entries(self)),
}
_SET_METHODS = {
    "__len__": lambda self: len(_members(self)), "__iter__": lambda self: iter(_members(self)),
    "__contains__": lambda self, item: any(m is item or m == item for m in _members(self)),
    "__repr__": lambda self: f"{type(self).__qualname__}({_members(self)!r})",
}


SUPPORTS = (
    TypeSupport("weakref", ("weakref.ReferenceType",), capture_ref, facts_only=True, surrogate_methods=_REF_METHODS),
    TypeSupport("weakproxy", ("weakref.ProxyType", "weakref.CallableProxyType"), capture_proxy, facts_only=True,
                surrogate_methods=_PROXY_METHODS),
    TypeSupport("weak-value-dict", ("weakref.WeakValueDictionary",), capture_value_dict, facts_only=True,
                surrogate_methods=_MAPPING_METHODS),
    TypeSupport("weak-key-dict", ("weakref.WeakKeyDictionary",), capture_key_dict, facts_only=True,
                surrogate_methods=_MAPPING_METHODS),
    TypeSupport("weak-set", ("_weakrefset.WeakSet",), capture_set, facts_only=True, surrogate_methods=_SET_METHODS),
)
