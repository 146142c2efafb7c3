"""Teaching pyheapdump a type: how its objects are captured when dumped and rebuilt when loaded.

Each file in `surrogates/` defines one `TypeSupport` for a kind of object pickle cannot handle (numpy arrays,
locks, files, sockets, ...). Users register their own with `register_type`.

Imported with the package (the walker asks it about every type), so it keeps to what a process that installs the
hooks has loaded anyway: no dataclasses, typing or pkgutil.
"""

from __future__ import annotations

import sys
import threading

from pyheapdump._valueclass import FrozenValueClass

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any


class TypeSupport(FrozenValueClass):
    """How one family of objects is captured and rebuilt.

    - `name`: stored in the dump beside the captured state; the loader finds the support by it.
    - `types`: the classes it handles, as "module.qualname" strings (matched against each class of the MRO,
      so subclasses are covered) or class objects.
    - `capture(obj) -> state`: runs while dumping, with the GIL held; must not change `obj` nor run its code.
      The state is dumped like any value (dicts, lists, str, bytes, numbers, other objects).
    - `rebuild(state) -> obj`: runs while loading; None (without make and fill) means the object always loads as a
      surrogate.
    - `safe`: rebuild may run when loading an untrusted dump (it calls nothing the dump names).
    - `facts_only`: the state is a dict of facts shown on a surrogate (a lock's locked state, a file's name),
      not a way to rebuild the object.
    - `answers`: the facts that the original gives through a method of the same name (a lock's `locked()`): the
      surrogate answers that call with the dumped value, so the user's usual call works and nothing is shadowed.
    - `describe(state) -> str`: the repr of the surrogate that stands in when the object is not rebuilt (its
      library is not installed, or not trusted); it must need only the standard library.
    - `make() -> obj` and `fill(obj, state)`: for objects whose state may lead back to them (a weak reference to
      an object that holds it, a weak dictionary of objects that refer to it): the loader makes the object empty
      first and fills it once its state is loaded. Used instead of `rebuild` when both are given.

    Frozen, compared and hashed by its fields (a plain class, not a dataclass: see the module's docstring).
    """

    __slots__ = ("name", "types", "capture", "rebuild", "safe", "facts_only", "answers", "describe", "make", "fill")
    name: str
    types: tuple[str | type, ...]
    capture: Callable[[Any], Any]
    rebuild: Callable[[Any], Any] | None
    safe: bool
    facts_only: bool
    answers: tuple[str, ...]
    describe: Callable[[Any], str] | None
    make: Callable[[], Any] | None
    fill: Callable[[Any, Any], None] | None

    def __init__(
        self,
        name: str,
        types: tuple[str | type, ...],
        capture: Callable[[Any], Any],
        rebuild: Callable[[Any], Any] | None = None,
        safe: bool = False,
        facts_only: bool = False,
        answers: tuple[str, ...] = (),
        describe: Callable[[Any], str] | None = None,
        make: Callable[[], Any] | None = None,
        fill: Callable[[Any, Any], None] | None = None,
    ) -> None:
        self._set_fields(name, types, capture, rebuild, safe, facts_only, answers, describe, make, fill)

    def type_names(self) -> set[str]:
        return {t if isinstance(t, str) else f"{t.__module__}.{t.__qualname__}" for t in self.types}


_registry_lock = threading.Lock()
_by_name: dict[str, TypeSupport] = {}
_by_type_name: dict[str, TypeSupport] = {}
_builtin_supports_loaded = False


def register_type(support: TypeSupport) -> TypeSupport:
    """Registers (or replaces) a type support; returns it, so it can be used as a module-level statement."""
    with _registry_lock:
        _by_name[support.name] = support
        for type_name in support.type_names():
            _by_type_name[type_name] = support
    return support


def unregister_type(name: str) -> None:
    with _registry_lock:
        support = _by_name.pop(name, None)
        if support is not None:
            for type_name in support.type_names():
                if _by_type_name.get(type_name) is support:
                    del _by_type_name[type_name]


def register_builtin_supports() -> None:
    """Registers the SUPPORTS of every module in pyheapdump.surrogates (one file per kind of object), once.

    The dump side calls it when it is imported, so that a dump imports nothing; the loader's lookups call it too."""
    global _builtin_supports_loaded
    if _builtin_supports_loaded:
        return
    _builtin_supports_loaded = True
    from pyheapdump import surrogates

    for name in surrogates.SUPPORT_MODULES:
        module_name = f"{surrogates.__name__}.{name}"
        __import__(module_name)
        supports: Iterable[TypeSupport] = getattr(sys.modules[module_name], "SUPPORTS", ())
        for support in supports:
            register_type(support)


def support_named(name: str) -> TypeSupport | None:
    register_builtin_supports()
    return _by_name.get(name)


def support_for_type_name(type_name: str) -> TypeSupport | None:
    """The support registered for the class named "module.qualname" (a loaded surrogate's original)."""
    register_builtin_supports()
    return _by_type_name.get(type_name)


class DumpedAnswer:
    """What a method of the original answered when the dump was taken (see `TypeSupport.answers`); calling it
    returns that answer, whatever the arguments, and runs nothing."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"<{self.name}() answered {self.value!r} when dumped>"


def support_for_class(cls: type) -> TypeSupport | None:
    """The support registered for cls or the nearest class of its MRO, found by name without touching cls."""
    register_builtin_supports()
    if not _by_type_name:
        return None
    mro = type.__dict__["__mro__"].__get__(cls)
    for index, klass in enumerate(mro):
        support = _by_type_name.get(qualified_name(klass))
        if support is not None:
            if index and _is_library_type(klass) and overrides_behaviour(cls, klass):
                return None
            return support
    return None


# Entries every Python class has, or that reading an object never calls: overriding them changes nothing a support
# reads.
_NOT_BEHAVIOUR = frozenset({"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__slots__",
                            "__init__", "__new__", "__init_subclass__", "__annotations__", "__firstlineno__",
                            "__static_attributes__"})


def _is_library_type(cls: type) -> bool:
    """A type written in C or in the standard library (the kinds pyheapdump's own supports are written for), not
    one of the program's classes (a support the program registers for its class covers that class's subclasses)."""
    flags = type.__dict__["__flags__"].__get__(cls)
    if not flags & (1 << 9) or flags & (1 << 8):  # not Py_TPFLAGS_HEAPTYPE, or Py_TPFLAGS_IMMUTABLETYPE
        return True
    module = type.__dict__["__module__"].__get__(cls)
    package = str.partition(module, ".")[0] if isinstance(module, str) else ""
    return package in sys.stdlib_module_names or package.lstrip("_") in sys.stdlib_module_names


def overrides_behaviour(cls: type, base: type) -> bool:
    """Whether the program's classes in cls's MRO before base override something base (or its bases) defines: a
    property `name` on a FileIO subclass, a __repr__ on an RLock subclass, a `family` on a socket subclass. Code
    written for base (a type support, a standard-library __repr__) would call those overrides, so it must not run
    on cls. Such a subclass gets no support: its instances are dumped like any object with native state."""
    mro = type.__dict__["__mro__"].__get__(cls)
    index = next(position for position, klass in enumerate(mro) if klass is base)  # `is`: no metaclass __eq__ runs
    inherited: set[str] = set()
    for klass in type.__dict__["__mro__"].__get__(base):
        inherited.update(type.__dict__["__dict__"].__get__(klass))
    inherited -= _NOT_BEHAVIOUR
    return any(name in inherited for klass in mro[:index] if not _is_library_type(klass)
               for name in type.__dict__["__dict__"].__get__(klass))


def qualified_name(cls: type) -> str:
    """module.qualname of a class, read from the type's own slots (no metaclass property can run)."""
    module = type.__dict__["__module__"].__get__(cls)
    qualname = type.__dict__["__qualname__"].__get__(cls)
    return f"{module}.{qualname}"
