"""Dump side: how the walker captures objects of each type outside the builtin families.

The native walker asks `TypePolicy.for_type(cls)` once per type. The answer must come from reading the class's
own dictionaries: nothing here may run the dumped program's code.

Imported with the package, by every process that installs the hooks: no dataclasses or typing here.
"""

from __future__ import annotations

import copyreg
import enum
import sys
import types

import pyheapdump._native as _native
from pyheapdump._valueclass import ValueClass
from pyheapdump.typesupport import overrides_behaviour, register_builtin_supports, support_for_class, support_named

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from typing import Any

# The walker asks for the type supports of the surrogates' modules at every dump: they are imported now, as the rest of
# the dump side is, so that a dump imports nothing.
register_builtin_supports()

# The walker's strategies (native/walker.h), as the bindings export them.
INSTANCE, REDUCE, CAPTURE, SURROGATE = (int(_native.Strategy.INSTANCE), int(_native.Strategy.REDUCE),
                                        int(_native.Strategy.CAPTURE), int(_native.Strategy.SURROGATE))

_HEAPTYPE = 1 << 9
_IMMUTABLETYPE = 1 << 8
_type_mro = type.__dict__["__mro__"].__get__
_type_dict = type.__dict__["__dict__"].__get__
_type_module = type.__dict__["__module__"].__get__
_type_flags = type.__dict__["__flags__"].__get__
_type_base = type.__dict__["__base__"].__get__
_type_basicsize = type.__dict__["__basicsize__"].__get__
_type_itemsize = type.__dict__["__itemsize__"].__get__

# Layouts that the walker reads itself; a Python class on top of them is still "an instance with a __dict__".
_PLAIN_BASES = (object, BaseException)


def _is_heap_type(cls: type) -> bool:
    """Whether cls was written in Python (extension modules' heap types are immutable)."""
    flags = _type_flags(cls)
    return bool(flags & _HEAPTYPE) and not flags & _IMMUTABLETYPE


def _is_stdlib(cls: type) -> bool:
    module = _type_module(cls)
    return isinstance(module, str) and module.partition(".")[0].lstrip("_") in _STDLIB


_STDLIB = frozenset(name.lstrip("_") for name in sys.stdlib_module_names) | {"builtins"}


def _defining_class(cls: type, *names: str) -> type | None:
    """The first class in cls's MRO (object excluded) whose own dict defines one of names."""
    for klass in _type_mro(cls):
        if klass is object:
            return None
        own = _type_dict(klass)
        if any(name in own for name in names):
            return klass
    return None


def _is_class_statement(cls: type) -> bool:
    """Whether cls was made by a class statement, not by an extension module: the flags alone take Cython's heap
    types (pandas' BlockManager) for Python classes, though their instances keep their state in C fields."""
    return _is_heap_type(cls) and _native.is_class_statement_type(cls)


def _has_native_state(cls: type) -> bool:
    """Whether instances carry C-level state beyond __dict__/slots (a Python subclass of a C type)."""
    for klass in _type_mro(cls):
        if klass in _PLAIN_BASES:
            return False
        if not _is_class_statement(klass) and not _adds_no_fields(klass):
            return True
    return False


def _adds_no_fields(klass: type) -> bool:
    """A C type laid out exactly like its base, with no __new__ of its own, keeps no state of its own: typing.Generic,
    written in C since 3.12, is a base of many plain Python classes (SQLAlchemy's Engine, Generic[T] subclasses)."""
    base = _type_base(klass)
    return (base is not None and _type_basicsize(klass) == _type_basicsize(base)
            and _type_itemsize(klass) == _type_itemsize(base) == 0 and "__new__" not in _type_dict(klass))


_type_name = type.__dict__["__name__"].__get__
_C_FUNCTION_TYPES = (types.MethodDescriptorType, types.WrapperDescriptorType, types.BuiltinFunctionType,
                     types.ClassMethodDescriptorType)
_CYTHON_FUNCTION_TYPES = ("cython_function_or_method", "fused_cython_function")
# What obj.__reduce_ex__(4) may call, besides the reducer itself: object.__reduce_ex__ looks __reduce__ up on the
# instance, copyreg's protocol asks for __getnewargs_ex__, __getnewargs__ and __getstate__, and a C reducer commonly
# calls _PyObject_GetState (__getstate__). Not __getattr__: every one of these is found before it would be asked.
_COMPILED_REDUCE_HOOKS = ("__reduce_ex__", "__reduce__", "__getnewargs_ex__", "__getnewargs__", "__getstate__",
                          "__getattribute__")


def _first_definer(cls: type, name: str) -> type | None:
    """The first class in cls's MRO, object included, whose own dict defines name."""
    for klass in _type_mro(cls):
        if name in _type_dict(klass):
            return klass
    return None


def _compiled_function(function: Any) -> bool:
    """A function written in C, or compiled by Cython (Cython 3 makes a cdef class's methods its own function type,
    not method descriptors)."""
    kind = type(function)
    if kind in _C_FUNCTION_TYPES:
        return True
    return _type_name(kind) in _CYTHON_FUNCTION_TYPES and not _is_class_statement(kind)


def _hooks_compiled(cls: type, hooks: tuple[str, ...]) -> bool:
    """Whether each of hooks that cls's instances have is a compiled function of an extension type."""
    for hook in hooks:
        definer = _first_definer(cls, hook)
        if definer is not None and (_is_class_statement(definer) or not _compiled_function(_type_dict(definer)[hook])):
            return False
    return True


def _compiled_reduce(cls: type) -> bool:
    """Whether obj.__reduce_ex__(4) runs compiled code only: an extension type's own reducer (C, or Cython), reached
    with no hook of a Python class on the way. object's own reduce is not enough: for a C type with C-level state it
    raises ("cannot pickle"), and copyreg's protocol it runs is Python code."""
    reducer = _defining_class(cls, "__reduce_ex__", "__reduce__")
    if reducer is None or _is_class_statement(reducer):
        return False
    # object.__reduce_ex__ compares the class's __reduce__, read through the metaclass, with object's.
    return _hooks_compiled(cls, _COMPILED_REDUCE_HOOKS) and _hooks_compiled(type(cls), ("__getattribute__",))


_VALUE_TYPES = (int, float, complex, str, bytes)
# What object.__reduce_ex__ calls besides itself; if the program defines one, reducing runs the program's code.
_PICKLE_HOOKS = ("__reduce_ex__", "__reduce__", "__getnewargs_ex__", "__getnewargs__", "__getstate__",
                 "__getattribute__")


def _value_subclass(cls: type) -> bool:
    """A class written in Python on top of an immutable value type (its instances are that value)."""
    return _is_heap_type(cls) and any(klass in _VALUE_TYPES for klass in _type_mro(cls))


def _copyreg_reducer(cls: type) -> Any:
    """The reducer registered for exactly cls with copyreg.pickle (pickle does not look at base classes either)."""
    return copyreg.dispatch_table.get(cls)


def _is_stdlib_function(function: Any) -> bool:
    """A plain or builtin function defined in the standard library: calling it runs no code of the program."""
    if type(function) not in (types.FunctionType, types.BuiltinFunctionType):
        return False
    module = function.__module__  # a function's own member, not a descriptor of the program
    return isinstance(module, str) and module.partition(".")[0].lstrip("_") in _STDLIB


class DumpOptions(ValueClass):
    """What the dumper may run of the dumped program's own code (nothing by default)."""

    __slots__ = ("call_user_reduce", "call_user_repr")

    def __init__(self, call_user_reduce: bool = False, call_user_repr: bool = False) -> None:
        self.call_user_reduce = call_user_reduce
        self.call_user_repr = call_user_repr


class TypePolicy:
    def __init__(self, options: DumpOptions) -> None:
        self.options = options

    def _code_is_trusted(self, klass: type | None) -> bool:
        """Code defined in C or in the standard library runs no code of the dumped program."""
        return klass is None or not _is_heap_type(klass) or _is_stdlib(klass)

    def _repr_ok(self, cls: type) -> bool:
        if self.options.call_user_repr:
            return True
        definer = _defining_class(cls, "__repr__")
        # A standard-library __repr__ written in Python (socket's) calls methods a subclass may override: then it
        # would run the program's code.
        return self._code_is_trusted(definer) and (definer is None or not _is_heap_type(definer)
                                                   or not overrides_behaviour(cls, definer))

    def for_type(self, cls: type) -> tuple[int, Any, str | None, bool]:
        repr_ok = self._repr_ok(cls)
        support = support_for_class(cls)
        if support is not None:
            strategy = SURROGATE if support.facts_only else CAPTURE
            return strategy, support.capture, support.name, repr_ok
        if isinstance(cls, type) and issubclass(cls, enum.Enum):
            members = support_named("enum-member")
            if members is not None and not _is_stdlib(cls):
                # The program's own enum class cannot be imported by a safe load: its members are captured by name
                # and value (read from the member's __dict__, no code of the program runs).
                return CAPTURE, members.capture, members.name, repr_ok
            # Enum members reduce to (their class, (value,)): the member is found again, never re-created.
            return REDUCE, None, None, repr_ok
        registered = _copyreg_reducer(cls)
        if registered is not None and (_is_stdlib_function(registered) or self.options.call_user_reduce):
            # pickle consults copyreg's table before __reduce_ex__ (re.Pattern pickles only that way).
            return REDUCE, registered, None, repr_ok
        reducer = _defining_class(cls, "__reduce_ex__", "__reduce__")
        if reducer is not None and (self.options.call_user_reduce or _compiled_reduce(cls)
                                    or (_is_class_statement(reducer) and _is_stdlib(reducer))):
            # A reducer written in C (or compiled by Cython) gives the C-level state of an extension type's instance
            # (pandas' blocks, an array's bytes) as data; one of the standard library's is its own code too.
            return REDUCE, None, None, repr_ok
        if _value_subclass(cls) and all(self._code_is_trusted(_defining_class(cls, hook)) for hook in _PICKLE_HOOKS):
            # A Python subclass of int, float, complex, str or bytes: object.__reduce_ex__ (C code, with no hook of
            # the program's left to call) gives copyreg.__newobj__(cls, value) and the instance dict.
            return REDUCE, None, None, repr_ok
        if _is_heap_type(cls) and not _has_native_state(cls):
            return INSTANCE, None, None, repr_ok
        return SURROGATE, None, None, repr_ok
