"""Weak references and the weak containers: what they pointed to when the dump was taken.

A weakref.ref loads as a surrogate whose call returns the dumped referent (None when it was already dead); a
weakref.proxy as one that reads attributes from its referent; WeakValueDictionary, WeakKeyDictionary and WeakSet
as dict- and set-based surrogates holding their live items. The referents are dumped like any value (the dump holds
them strongly; a weak container's items are what a debugger user looks for).
"""

from __future__ import annotations

import weakref
from typing import Any

from pyheapdump.surrogates.base import CAPTURED_STATE, instance_dict, new_instance, surrogate_class
from pyheapdump.typesupport import TypeSupport, qualified_name

_call_ref = weakref.ref.__call__  # the C call: a subclass's __call__ (the program's) never runs
_get_weakref_object: Any = None


def _names(obj: Any) -> tuple[str, str]:
    module, _, qualname = qualified_name(type(obj)).rpartition(".")
    return module, qualname


def capture_ref(ref: Any) -> dict[str, Any]:
    module, qualname = _names(ref)
    return {"referent": _call_ref(ref), "module": module, "qualname": qualname}


def _proxy_referent(proxy: Any) -> Any:
    """A proxy forwards every attribute to its referent; only the C API says what that referent is."""
    global _get_weakref_object
    if _get_weakref_object is None:
        import ctypes

        _get_weakref_object = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object)(
            ("PyWeakref_GetObject", ctypes.pythonapi))
    return _get_weakref_object(proxy)


def capture_proxy(proxy: Any) -> dict[str, Any]:
    module, qualname = _names(proxy)
    return {"referent": _proxy_referent(proxy), "module": module, "qualname": qualname}


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


def _rebuild(state: dict[str, Any], methods: dict[str, Any], default_name: str) -> Any:
    module, qualname = state.get("module"), state.get("qualname")
    if not isinstance(module, str) or not isinstance(qualname, str):
        module, qualname = "weakref", default_name
    cls = surrogate_class(module, qualname, reason=CAPTURED_STATE, attributes=methods)
    obj = object.__new__(cls)
    obj.__dict__["referent"] = state.get("referent")
    return obj


def rebuild_ref(state: dict[str, Any]) -> Any:
    return _rebuild(state, _REF_METHODS, "ReferenceType")


def rebuild_proxy(state: dict[str, Any]) -> Any:
    return _rebuild(state, _PROXY_METHODS, "ProxyType")


# ---- weak containers: their live items ----

def capture_value_dict(mapping: Any) -> dict[str, Any]:
    data = dict.copy(instance_dict(mapping)["data"])  # one C copy: a collection mid-way cannot change it
    items = [(key, _call_ref(ref)) for key, ref in dict.items(data)]
    return {"items": [(key, value) for key, value in items if value is not None], "names": _names(mapping)}


def capture_key_dict(mapping: Any) -> dict[str, Any]:
    data = dict.copy(instance_dict(mapping)["data"])
    items = [(_call_ref(ref), value) for ref, value in dict.items(data)]
    return {"items": [(key, value) for key, value in items if key is not None], "names": _names(mapping)}


def capture_set(weak_set: Any) -> dict[str, Any]:
    data = set.copy(instance_dict(weak_set)["data"])
    items = [_call_ref(ref) for ref in data]
    return {"items": [item for item in items if item is not None], "names": _names(weak_set)}


def _container(state: dict[str, Any], base: type, default: tuple[str, str]) -> Any:
    names = state.get("names")
    module, qualname = names if isinstance(names, tuple) and len(names) == 2 else default
    cls = surrogate_class(str(module), str(qualname), base, reason=CAPTURED_STATE)
    return new_instance(cls)


def rebuild_mapping(state: dict[str, Any]) -> Any:
    mapping = _container(state, dict, ("weakref", "WeakValueDictionary"))
    for item in state.get("items") or ():
        if isinstance(item, tuple) and len(item) == 2:
            try:
                dict.__setitem__(mapping, item[0], item[1])
            except TypeError:  # a key that does not hash here (a surrogate of an unhashable builtin)
                pass
    return mapping


def rebuild_set(state: dict[str, Any]) -> Any:
    weak_set = _container(state, set, ("_weakrefset", "WeakSet"))
    for item in state.get("items") or ():
        try:
            set.add(weak_set, item)
        except TypeError:
            pass
    return weak_set


SUPPORTS = (
    TypeSupport("weakref", ("weakref.ReferenceType",), capture_ref, rebuild_ref, safe=True),
    TypeSupport("weakproxy", ("weakref.ProxyType", "weakref.CallableProxyType"), capture_proxy, rebuild_proxy,
                safe=True),
    TypeSupport("weak-value-dict", ("weakref.WeakValueDictionary",), capture_value_dict, rebuild_mapping,
                safe=True),
    TypeSupport("weak-key-dict", ("weakref.WeakKeyDictionary",), capture_key_dict, rebuild_mapping, safe=True),
    TypeSupport("weak-set", ("_weakrefset.WeakSet",), capture_set, rebuild_set, safe=True),
)
