"""Surrogates: objects that stand in for the ones a dump could not or would not rebuild.

One class per original (module, qualname) and reason, made at load time with that __name__, __qualname__ and
__module__, deriving from `Surrogate` and, where the original was a list, dict, tuple, set, str, int or exception,
from that builtin too: a surrogate of a dict subclass is still a mapping, one of a ValueError still an exception.
"""

from __future__ import annotations

import collections
import threading
import types
import weakref

from pyheapdump._valueclass import FrozenValueClass
from pyheapdump.errors import RebuildError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any

# Why an object is a surrogate.
NOT_IMPORTABLE = "not importable"
NOT_TRUSTED = "not trusted"
OPAQUE = "opaque"
REDUCE_FAILED = "reduce failed"
CUT = "cut by a limit"
LOST = "lost in a damaged part of the file"
CAPTURE_FAILED = "capture failed"
REBUILD_FAILED = "rebuild failed"
UNKNOWN_KIND = "unknown kind"
# The detail of a function that a safe load leaves a surrogate by choice (a trusted load could run it).
SAFE_FUNCTION_DETAIL = "functions never run from a safe load"
# Shown from what its type support captured (a weak reference, a regex match): the real kind cannot be remade.
CAPTURED_STATE = "shown from its captured state"


class SurrogateInfo(FrozenValueClass):
    """What a surrogate stands for: the original's class, why it is a surrogate, and what was captured.

    Frozen, compared and hashed by its fields (a plain class, not a dataclass: the dump side imports this module when
    it registers the surrogates' type supports, and does without dataclasses)."""

    __slots__ = ("module", "qualname", "reason", "detail", "repr", "facts")
    module: str
    qualname: str
    reason: str
    detail: str
    repr: str | None
    facts: Any

    def __init__(self, module: str, qualname: str, reason: str, detail: str = "", repr: str | None = None,
                 facts: Any = None) -> None:
        self._set_fields(module, qualname, reason, detail, repr, facts)

    @property
    def original(self) -> str:
        return f"{self.module}.{self.qualname}"


class Surrogate:
    """Base of every surrogate. Attribute access reads the dumped state; nothing else of the original exists."""

    # No instance dict of its own: surrogate classes add one, while placeholders of values a limit left out
    # (not_dumped.py) stay without, as small as an empty str and, unless their builtin is a container, outside the
    # cycle collector.
    __slots__ = ()
    __pyheapdump_original__: tuple[str, str] = ("builtins", "object")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        module, qualname = type(self).__pyheapdump_original__
        raise AttributeError(
            f"surrogate of {module}.{qualname} has no attribute {name!r}: the dump did not hold it "
            f"(pyheapdump.surrogate_info(obj) says why this object is a surrogate)"
        )

    def __repr__(self) -> str:
        info = surrogate_info(self)
        if info is not None and info.repr:
            return info.repr
        module, qualname = type(self).__pyheapdump_original__
        reason = f" ({info.reason})" if info is not None else ""
        return f"<surrogate {module}.{qualname}{reason}{_state_summary(self)}>"


_repr_depth = threading.local()
_SUMMARY_FIELDS = 6
_SUMMARY_VALUE_LENGTH = 60


def _state_summary(obj: Any) -> str:
    """A few of the dumped attributes, so a traceback's locals show what the object held. Nested surrogates show
    only their names: a linked list of a million nodes must not recurse a million deep."""
    depth = getattr(_repr_depth, "value", 0)
    if depth:
        return ""
    try:
        state = object.__getattribute__(obj, "__dict__")
    except AttributeError:
        return ""
    fields = [(name, value) for name, value in state.items() if not name.startswith("__")]
    if not fields:
        return ""
    _repr_depth.value = depth + 1
    try:
        parts = []
        for name, value in fields[:_SUMMARY_FIELDS]:
            try:
                text = repr(value)
            except Exception as error:  # noqa: BLE001 - a repr is a display aid, never a failure
                text = f"<repr failed: {type(error).__name__}>"
            if len(text) > _SUMMARY_VALUE_LENGTH:
                text = text[: _SUMMARY_VALUE_LENGTH - 3] + "..."
            parts.append(f"{name}={text}")
    finally:
        _repr_depth.value = depth
    more = ", ..." if len(fields) > _SUMMARY_FIELDS else ""
    return ": " + ", ".join(parts) + more


class SurrogateFunction(Surrogate):
    """A function of the dumped program: its name, code location, defaults and closure, but it cannot run."""

    __pyheapdump_original__ = ("builtins", "function")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = self.__dict__.get("__qualname__", "?")
        info = surrogate_info(self)
        if info is not None and info.reason != NOT_TRUSTED and info.detail and SAFE_FUNCTION_DETAIL not in info.detail:
            # A trusted load that still could not rebuild it: its own reason, not advice to do what was done.
            raise RebuildError(f"{name} is a function from the dump and cannot run here: {info.detail}")
        raise RebuildError(
            f"{name} is a function from the dump and cannot run here; load the dump with trusted=True "
            "where its module can be imported to call the real one"
        )

    def __repr__(self) -> str:
        state = self.__dict__
        code = state.get("__code__")
        filename, line = getattr(code, "co_filename", None), getattr(code, "co_firstlineno", None)
        where = f" at {filename}:{line}" if filename is not None else ""  # a damaged dump may hold anything there
        return f"<surrogate function {state.get('__module__', '?')}.{state.get('__qualname__', '?')}{where}>"


class SurrogateModule(Surrogate):
    __pyheapdump_original__ = ("builtins", "module")

    def __repr__(self) -> str:
        state = self.__dict__
        where = f" from {state['__file__']!r}" if state.get("__file__") else ""
        return f"<surrogate module {state.get('__name__', '?')!r}{where}>"


# Instances of builtin subclasses (dict, list) are not always hashable or weak-referenceable by key, so the info
# is kept by id() with a weak reference that removes it when the surrogate goes away.
# Re-entrant: a weakref callback (forget) can run while this thread holds the lock, whenever the cycle collector
# runs between two bytecodes inside it (3.12+ collects at the eval breaker) and frees other surrogates.
_info_lock = threading.RLock()
_INFO_ATTRIBUTE = "__pyheapdump_info__"
_infos: dict[int, tuple[weakref.ref[Any], SurrogateInfo]] = {}


def attach_info(obj: Any, info: SurrogateInfo) -> None:
    key = id(obj)

    def forget(_: Any, key: int = key) -> None:
        with _info_lock:
            entry = _infos.pop(key, None)
        # Dropped outside the lock: the info's facts may hold the last reference to other surrogates, whose own
        # callbacks take the lock (inside it, that was a deadlock of the thread with itself).
        del entry

    try:
        ref = weakref.ref(obj, forget)
    except TypeError:
        # A surrogate of a builtin without weakref support (str, bytes, tuple, int): its own __dict__ holds the info.
        try:
            object.__getattribute__(obj, "__dict__")[_INFO_ATTRIBUTE] = info
        except AttributeError:
            pass  # surrogate_info falls back to the class
        return
    with _info_lock:
        replaced = _infos.get(key)
        _infos[key] = (ref, info)
    del replaced  # outside the lock, as in forget


def surrogate_info(obj: Any) -> SurrogateInfo | None:
    """What the original of a surrogate was and why it is a surrogate; None for anything that is not one."""
    if not isinstance(obj, Surrogate) and not (isinstance(obj, type) and issubclass(obj, Surrogate)):
        return None
    with _info_lock:
        entry = _infos.get(id(obj))
    if entry is not None and entry[0]() is obj:
        return entry[1]
    try:
        own = object.__getattribute__(obj, "__dict__").get(_INFO_ATTRIBUTE)
    except AttributeError:
        own = None
    if isinstance(own, SurrogateInfo):
        return own
    cls = obj if isinstance(obj, type) else type(obj)
    if cls is not obj:
        # What every instance of a class says alike is kept on the class (placeholders of values a limit left out),
        # or is read from the object itself (a container holding such placeholders counts them).
        # Only the staticmethod pyheapdump put there: a dumped class attribute of that name is never called.
        describe = cls.__dict__.get("__pyheapdump_describe__")
        if isinstance(describe, staticmethod):
            return describe.__func__(obj)
        shared = getattr(cls, "__pyheapdump_class_info__", None)
        if isinstance(shared, SurrogateInfo):
            return shared
    module, qualname = cls.__pyheapdump_original__
    return SurrogateInfo(module, qualname, getattr(cls, "__pyheapdump_reason__", NOT_TRUSTED))


def _content_repr(qualname: str, builtin_base: Any) -> Any:
    """A container surrogate shows its contents, like the original's default repr would; an empty one that stands for
    an object the dump did not hold (cut by a limit, lost) shows what its info says instead."""

    def __repr__(self: Any) -> str:
        if not builtin_base.__len__(self):
            info = surrogate_info(self)
            if info is not None and info.repr:
                return info.repr
        name = qualname.rpartition(".")[2]
        inner = builtin_base.__repr__(self)
        # set's and frozenset's own repr already names a subclass: Tags({1, 2}), not Tags(Tags({1, 2}))
        return inner if inner.startswith(f"{name}(") else f"{name}({inner})"

    return __repr__


def instance_dict(obj: Any) -> dict[str, Any]:
    """obj's own __dict__, read through the C descriptor its class layout defines: a `__dict__` property of the
    program's would run its code, so a class that has one is refused."""
    for klass in type.__dict__["__mro__"].__get__(type(obj)):
        descriptor = type.__dict__["__dict__"].__get__(klass).get("__dict__")
        if descriptor is not None:
            if type(descriptor) is not types.GetSetDescriptorType:
                raise TypeError(f"{klass.__qualname__} overrides __dict__")
            state = descriptor.__get__(obj)
            if type(state) is not dict:
                raise TypeError("__dict__ is not a dict")
            return state
    raise TypeError("no instance __dict__")


_BUILTINS_BY_NAME: dict[str, type] = {
    "list": list, "dict": dict, "set": set, "frozenset": frozenset, "tuple": tuple, "str": str, "bytes": bytes,
    "deque": collections.deque,
}


def new_instance(cls: type) -> Any:
    """An empty instance of a surrogate class, made by the builtin it derives from (object.__new__ refuses those)."""
    for klass in cls.__mro__:
        if klass in _BUILTINS_BY_NAME.values():
            return klass.__new__(cls)  # type: ignore[call-overload]  # the builtin base's own __new__
    return object.__new__(cls)


_classes_lock = threading.Lock()
# The reason is part of the key: a class says why its instances are surrogates (surrogate_info of an instance without
# info of its own reads it), and the same original is "not trusted" in a safe load, "not importable" in a trusted one
# that cannot import it, "cut by a limit" for objects a limit left out. One class for all would say whichever came
# first, in every later load.
_classes: dict[tuple[str, str, type, str], type] = {}


def surrogate_class(module: str, qualname: str, builtin_base: type | None = None,
                    attributes: dict[str, Any] | None = None, reason: str = NOT_TRUSTED) -> type:
    """The surrogate class of module.qualname (made once per original, builtin base and reason, then reused)."""
    if builtin_base is None:
        # A class named list, dict, str, ... gets that builtin as its base: display code that picks its formatting
        # by the type's name alone (reprlib, which pdb's `where` uses for return values) would otherwise take the
        # surrogate for the builtin and fail on it.
        builtin_base = _BUILTINS_BY_NAME.get(qualname.rpartition(".")[2])
    key = (module, qualname, builtin_base or object, reason)
    with _classes_lock:
        cls = _classes.get(key)
        if cls is None:
            bases: tuple[type, ...] = (Surrogate,) if builtin_base is None else (builtin_base, Surrogate)
            namespace: dict[str, Any] = {
                "__module__": module,
                "__qualname__": qualname,
                "__pyheapdump_original__": (module, qualname),
                "__pyheapdump_reason__": reason,
            }
            if builtin_base is not None and issubclass(builtin_base, BaseException):
                namespace["__str__"] = builtin_base.__str__
            elif builtin_base is not None and hasattr(builtin_base, "__len__"):
                namespace["__repr__"] = _content_repr(qualname, builtin_base)
            name = qualname.rpartition(".")[2] or "surrogate"
            if _BUILTINS_BY_NAME.get(name, builtin_base) is not builtin_base:
                # A deque-based class named dict (a forged or odd dump): display code that dispatches on the type's
                # name (reprlib) would index it as a dict; the name says what it is.
                name = f"{name}_{builtin_base.__name__ if builtin_base is not None else 'object'}"
            try:
                cls = type(name, bases, namespace)
            except TypeError:  # a builtin that cannot be subclassed together with Surrogate
                cls = type(name, (Surrogate,), namespace)
            _classes[key] = cls
    for name, value in (attributes or {}).items():
        if name not in cls.__dict__:
            try:
                setattr(cls, name, value)
            except (AttributeError, TypeError):
                pass
    return cls
