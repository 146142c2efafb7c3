"""Weak references and the weak containers: what they pointed to when the dump was taken.

A weakref.ref loads as a surrogate whose call returns the dumped referent (None when it was already dead); a
weakref.proxy as one that reads attributes from its referent; WeakValueDictionary, WeakKeyDictionary and WeakSet
as dict- and set-based surrogates holding their live items. The referents are dumped like any value (the dump holds
them strongly; a weak container's items are what a debugger user looks for).
"""

from __future__ import annotations

import weakref

import pyheapdump._native as _native
from pyheapdump.surrogates.base import CAPTURED_STATE, instance_dict, new_instance, surrogate_class
from pyheapdump.typesupport import TypeSupport, qualified_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any

_call_ref = weakref.ref.__call__  # the C call: a subclass's __call__ (the program's) never runs


def _names(obj: Any) -> tuple[str, str]:
    module, _, qualname = qualified_name(type(obj)).rpartition(".")
    return module, qualname


def capture_ref(ref: Any) -> dict[str, Any]:
    module, qualname = _names(ref)
    return {"referent": _call_ref(ref), "module": module, "qualname": qualname}


def _proxy_referent(proxy: Any) -> Any:
    """A proxy forwards every attribute to its referent; only the C API says what that referent is (the native
    module asks it: ctypes would be imported while the program fails)."""
    return _native.weakref_referent(proxy)


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


def _named_class(state: Any, default: tuple[str, str], base: type | None, methods: dict[str, Any]) -> type:
    names: Any = (state.get("module"), state.get("qualname")) if isinstance(state, dict) else None
    if isinstance(state, dict) and isinstance(state.get("names"), tuple) and len(state["names"]) == 2:
        names = state["names"]
    if names is None or not all(isinstance(name, str) for name in names):
        names = default
    return surrogate_class(names[0], names[1], base, reason=CAPTURED_STATE, attributes=methods)


def _take_class(obj: Any, cls: type) -> None:
    """Gives an object made before its state was loaded the class its state names (a KeyedRef, a WeakMethod)."""
    if type(obj) is not cls:
        try:
            obj.__class__ = cls
        except TypeError:  # a layout that differs: the default class stays, the contents are what matter
            pass


def _reference_support(default: tuple[str, str], methods: dict[str, Any]) -> tuple[Any, Any]:
    def make() -> Any:
        return object.__new__(_named_class(None, default, None, methods))

    def fill(obj: Any, state: Any) -> None:
        obj.__dict__["referent"] = state.get("referent") if isinstance(state, dict) else None
        _take_class(obj, _named_class(state, default, None, methods))

    return make, fill


make_ref, fill_ref = _reference_support(("weakref", "ReferenceType"), _REF_METHODS)
make_proxy, fill_proxy = _reference_support(("weakref", "ProxyType"), _PROXY_METHODS)


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


def _container_support(default: tuple[str, str], base: type) -> tuple[Any, Any]:
    def make() -> Any:
        return new_instance(_named_class(None, default, base, {}))

    def fill(obj: Any, state: Any) -> None:
        _take_class(obj, _named_class(state, default, base, {}))
        for item in (state.get("items") if isinstance(state, dict) else None) or ():
            try:
                if base is dict and isinstance(item, tuple) and len(item) == 2:
                    dict.__setitem__(obj, item[0], item[1])
                elif base is set:
                    set.add(obj, item)
            except TypeError:  # a key that does not hash here (a surrogate of an unhashable builtin)
                pass

    return make, fill


make_value_dict, fill_mapping_values = _container_support(("weakref", "WeakValueDictionary"), dict)
make_key_dict, fill_mapping_keys = _container_support(("weakref", "WeakKeyDictionary"), dict)
make_set, fill_set = _container_support(("_weakrefset", "WeakSet"), set)


SUPPORTS = (
    TypeSupport("weakref", ("weakref.ReferenceType",), capture_ref, None, safe=True, make=make_ref,
                fill=fill_ref),
    TypeSupport("weakproxy", ("weakref.ProxyType", "weakref.CallableProxyType"), capture_proxy, None,
                safe=True, make=make_proxy, fill=fill_proxy),
    TypeSupport("weak-value-dict", ("weakref.WeakValueDictionary",), capture_value_dict, None,
                safe=True, make=make_value_dict, fill=fill_mapping_values),
    TypeSupport("weak-key-dict", ("weakref.WeakKeyDictionary",), capture_key_dict, None, safe=True,
                make=make_key_dict, fill=fill_mapping_keys),
    TypeSupport("weak-set", ("_weakrefset.WeakSet",), capture_set, None, safe=True, make=make_set,
                fill=fill_set),
)
