"""Trusted loads: the dumped program's __main__ classes and functions, rebuilt without running the script.

Importing the dumped script to find them would run its top level again: a script without an
`if __name__ == "__main__"` guard redoes its whole job (writes files, dumps again, blocks in its service loop). The
dump holds each class's attributes and each function's code identity (file, qualname, first line), defaults and
closure, plus the script's source text. Compiling that source (never executing it) gives the real code objects;
functions are made from them with their dumped defaults and closures, classes from their dumped attributes and, for
what the dump leaves out (dunder methods, property/classmethod/staticmethod wrappers, dataclass-generated methods),
from the class statement's definitions in the source.
"""

from __future__ import annotations

import abc
import ast
import builtins
import enum
import functools
import os
import sys
import types

from pyheapdump.errors import RebuildError
from pyheapdump.surrogates.base import Surrogate

# Imported by the loader only for a trusted load that meets a __main__ class or function (the rest of a load needs no
# ast); dataclasses only for a @dataclass class statement, and typing never (a Generic base is typing's, already
# imported): the load benchmark and every debugger session pay for what the loader imports.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Dunder methods not rebuilt from the source: the loader itself or the interpreter would call them while loading
# (making, filling or hashing objects, subclassing, collecting), which would run the program's code at load time.
_NOT_FROM_SOURCE = frozenset({
    "__new__", "__init_subclass__", "__set_name__", "__class_getitem__", "__del__", "__hash__", "__setstate__",
    "__reduce__", "__reduce_ex__", "__getattribute__", "__getattr__", "__setattr__", "__delattr__",
    "__instancecheck__", "__subclasscheck__", "__mro_entries__", "__prepare__",
})
_WRAPPERS: dict[str, Any] = {
    "property": property, "classmethod": classmethod, "staticmethod": staticmethod,
    "cached_property": functools.cached_property, "functools.cached_property": functools.cached_property,
}


def _decorator_name(node: ast.expr) -> str | None:
    """`name` for `@name` and `@module.name`; None for anything called or computed."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


def _first_line(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
    """The line the compiler gives the code object: the first decorator's, else the statement's."""
    return node.decorator_list[0].lineno if node.decorator_list else node.lineno


class _CompiledSource:
    """One source file: its code objects by (qualname, first line) and its class statements by qualname."""

    def __init__(self, filename: str, text: str) -> None:
        self.codes: dict[tuple[str, int], types.CodeType] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        tree = ast.parse(text, filename)
        module_code = compile(tree, filename, "exec", dont_inherit=True)
        pending = [module_code]
        while pending:
            code = pending.pop()
            self.codes[(code.co_qualname, code.co_firstlineno)] = code
            pending.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        self._collect(tree, "")

    def _collect(self, node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                qualname = prefix + child.name
                self.classes[qualname] = child  # a class defined twice: the later statement is the one that ran last
                self._collect(child, qualname + ".")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._collect(child, f"{prefix}{child.name}.<locals>.")
            elif isinstance(child, ast.Lambda):
                continue
            elif not isinstance(child, ast.expr):
                self._collect(child, prefix)


class MainRebuilder:
    """What a trusted load needs to rebuild __main__'s classes and functions: the compiled dumped sources and one
    namespace that serves as the rebuilt functions' globals (filled with the dumped __main__ globals at the end)."""

    def __init__(self, sources: dict[str, str], metadata: dict[str, Any]) -> None:
        self._sources = sources
        main_file = metadata.get("main_file")
        self.main_file = main_file if isinstance(main_file, str) else None
        self.module = types.ModuleType("__main__")
        self.module.__dict__.update({"__builtins__": builtins, "__file__": self.main_file})
        self._compiled: dict[str, _CompiledSource | str] = {}
        dumped = metadata.get("python")
        here = "{}.{}".format(*sys.version_info[:2])
        self.version_problem: str | None = None
        if not isinstance(dumped, str) or ".".join(dumped.split(".")[:2]) != here:
            self.version_problem = (f"dumped by Python {dumped}, loaded by Python {here}: its code is only rebuilt "
                                    "by the same Python version")

    @property
    def namespace(self) -> dict[str, Any]:
        return self.module.__dict__

    def _source(self, filename: str) -> _CompiledSource | str:
        """The compiled source of filename, or why there is none."""
        found = self._compiled.get(filename)
        if found is None:
            text = self._sources.get(filename)
            if text is None and self.main_file is not None and filename == self.main_file:
                text = next((t for name, t in self._sources.items()
                             if isinstance(name, str) and os.path.abspath(name) == filename), None)
            if not isinstance(text, str):
                found = f"the dump holds no source of {filename}"
            else:
                try:
                    found = _CompiledSource(filename, text)
                except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
                    found = f"its dumped source does not compile here ({type(error).__name__}: {error})"
            self._compiled[filename] = found
        return found

    def code(self, filename: Any, qualname: Any, firstlineno: Any) -> types.CodeType | str:
        """The code object a dumped function ran, compiled from its dumped source; or why it cannot be had."""
        if self.version_problem:
            return self.version_problem
        if not isinstance(filename, str) or not isinstance(qualname, str):
            return "its dumped code does not say where it was defined"
        source = self._source(filename)
        if isinstance(source, str):
            return source
        code = source.codes.get((qualname, firstlineno))
        return code if code is not None else f"its dumped source has no {qualname} at line {firstlineno}"

    def function(self, code: types.CodeType, qualname: str, closure: Any, defaults: Any = None,
                 kwdefaults: Any = None) -> types.FunctionType | str:
        cells = closure if isinstance(closure, tuple) else ()
        if len(cells) != len(code.co_freevars) or not all(isinstance(c, types.CellType) for c in cells):
            return f"its closure does not match its code ({len(cells)} cells for {len(code.co_freevars)} names)"
        function = types.FunctionType(code, self.namespace, code.co_name, None, cells or None)
        function.__qualname__ = qualname
        function.__module__ = "__main__"
        set_defaults(function, defaults, kwdefaults)
        if "." not in qualname:
            self.namespace.setdefault(qualname, function)
        return function

    def class_shell(self, qualname: str, bases: list[Any], slots: Any) -> type | str:
        """A real, still empty class for __main__.qualname (filled by fill_class), or why it is not rebuilt."""
        if self.version_problem:
            return self.version_problem
        if self.main_file is None:
            return "the dump does not name the dumped __main__ script"
        source = self._source(self.main_file)
        if isinstance(source, str):
            return source
        node = source.classes.get(qualname)
        if node is None:
            return f"its dumped source has no class {qualname}"
        if not bases or not all(isinstance(b, type) for b in bases):
            return "its base classes could not be rebuilt"
        surrogate_base = next((b for b in bases if issubclass(b, Surrogate)), None)
        if surrogate_base is not None:
            return f"its base {surrogate_base.__module__}.{surrogate_base.__qualname__} is not rebuilt"
        metaclass = max((type(b) for b in bases), key=lambda m: len(m.__mro__))
        makes_no_code_run = metaclass in (type, abc.ABCMeta) or (
            _standard(metaclass) and not issubclass(metaclass, enum.EnumMeta))
        if any(not issubclass(metaclass, type(b)) for b in bases) or not makes_no_code_run:
            return f"its metaclass {metaclass.__module__}.{metaclass.__qualname__} would run code to make it"
        for base in bases:
            definer = next(k for k in base.__mro__ if "__init_subclass__" in k.__dict__)
            # The standard library's (typing.Generic's) only records the subclass; a library's may register it
            # (SQLAlchemy's declarative base maps it, again, on the dumped metadata).
            if definer is not object and not _standard(definer):
                return (f"its base {base.__module__}.{base.__qualname__} runs __init_subclass__ code "
                        f"(from {definer.__qualname__}) when subclassed")
        namespace: dict[str, Any] = {"__module__": "__main__", "__qualname__": qualname}
        written = tuple(_parameterized(base, node) for base in bases)
        resolved = types.resolve_bases(written)
        if resolved is not written:
            namespace["__orig_bases__"] = written
        if isinstance(slots, str) or (isinstance(slots, (tuple, list)) and all(isinstance(s, str) for s in slots)):
            namespace["__slots__"] = slots
        try:
            cls = metaclass(qualname.rpartition(".")[2], resolved, namespace)
        except Exception as error:  # noqa: BLE001 - the class then comes back as a surrogate, with this reason
            return f"its class could not be made here ({type(error).__name__}: {error})"
        if "." not in qualname:
            self.namespace.setdefault(qualname, cls)
        return cls

    def fill_class(self, cls: type, attributes: dict[str, Any], problems: list[str]) -> None:
        """Sets the dumped attributes, then what the class statement defines that the dump leaves out."""
        for name, value in attributes.items():
            if name in ("__slots__", "__module__", "__qualname__"):
                continue
            try:
                setattr(cls, name, value)
            except (AttributeError, TypeError):
                pass
        _give_namedtuple_methods(cls, attributes.get("_fields"))
        source = self._source(self.main_file) if self.main_file is not None else None
        node = source.classes.get(cls.__qualname__) if isinstance(source, _CompiledSource) else None
        if node is None or not isinstance(source, _CompiledSource):
            return
        class_cell = types.CellType(cls)
        for statement in node.body:
            if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            name = statement.name
            if name in _NOT_FROM_SOURCE:
                continue
            current = cls.__dict__.get(name)
            if name in attributes and _real(current) and not statement.decorator_list:
                continue  # the dumped function, with its dumped defaults and closure
            # A decorated one is made again from its source: the dump holds a property's, classmethod's or
            # staticmethod's function only as an opaque object, and a cached_property's lock as a surrogate.
            made = self._from_source(source, cls, statement, class_cell, current)
            if made is not None:
                setattr(cls, name, made)
        self._apply_dataclass(cls, node, problems)

    def _from_source(self, source: _CompiledSource, cls: type, statement: ast.FunctionDef | ast.AsyncFunctionDef,
                     class_cell: types.CellType, current: Any) -> Any:
        qualname = f"{cls.__qualname__}.{statement.name}"
        code = source.codes.get((qualname, _first_line(statement)))
        if code is None or any(name != "__class__" for name in code.co_freevars):
            return None
        defaults = _literal_defaults(statement.args)
        if defaults is None:
            return None
        function = types.FunctionType(code, self.namespace, code.co_name, None,
                                      (class_cell,) if code.co_freevars else None)
        function.__qualname__ = qualname
        function.__module__ = "__main__"
        set_defaults(function, *defaults)
        decorators = [_decorator_name(d) for d in statement.decorator_list]
        if not decorators:
            return function
        if len(decorators) != 1 or decorators[0] is None:
            return None
        decorator = decorators[0]
        wrapper = _WRAPPERS.get(decorator)
        if wrapper is not None:
            made = wrapper(function)
            if hasattr(made, "__set_name__"):
                made.__set_name__(cls, statement.name)
            return made
        base_name, _, part = decorator.rpartition(".")
        if part in ("setter", "getter", "deleter") and base_name == statement.name and isinstance(current, property):
            return getattr(current, part)(function)
        return None

    def _apply_dataclass(self, cls: type, node: ast.ClassDef, problems: list[str]) -> None:
        """A @dataclass class gets its generated methods again from the standard library's dataclasses."""
        options: dict[str, Any] | None = None
        for decorator in node.decorator_list:
            call = decorator if isinstance(decorator, ast.Call) else None
            name = _decorator_name(call.func if call is not None else decorator)
            if name not in ("dataclass", "dataclasses.dataclass"):
                continue
            try:
                options = {k.arg: ast.literal_eval(k.value) for k in (call.keywords if call else ()) if k.arg}
            except (ValueError, SyntaxError, TypeError, RecursionError):
                options = None
        if options is None:
            return
        import dataclasses

        annotations: dict[str, str] = {}
        for statement in node.body:
            if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
                continue
            annotation = ast.unparse(statement.annotation)
            if "ClassVar" in annotation or "InitVar" in annotation:
                continue  # not a field (dataclasses would judge the string against the loader's own __main__)
            name = statement.target.id
            annotations[name] = annotation
            field = _field_call(statement.value, cls.__dict__.get(name, dataclasses.MISSING))
            if field is not None:
                setattr(cls, name, field)
        if "__annotations__" not in cls.__dict__:
            cls.__annotations__ = annotations
        options.pop("slots", None)  # slots=True makes a new class; the dumped one already has its __slots__
        try:
            dataclasses.dataclass(cls, **options)
        except (TypeError, ValueError) as error:
            problems.append(f"__main__.{cls.__qualname__}: its dataclass methods could not be made: {error}")


def _field_call(value: ast.expr | None, dumped_default: Any) -> Any:
    """The dataclasses.field(...) of a field statement, made again: literal options, the dumped default, a builtin
    default_factory; a factory of the program's own becomes one that says it was not rebuilt."""
    if not isinstance(value, ast.Call) or _decorator_name(value.func) not in ("field", "dataclasses.field"):
        return None
    import dataclasses

    options: dict[str, Any] = {}
    for keyword in value.keywords:
        if keyword.arg == "default":
            if dumped_default is not dataclasses.MISSING:
                options["default"] = dumped_default
        elif keyword.arg == "default_factory":
            name = _decorator_name(keyword.value)
            factory = getattr(builtins, name, None) if name is not None and "." not in name else None
            options["default_factory"] = factory if isinstance(factory, type) else _unrebuilt_factory(name)
        elif keyword.arg is not None:
            try:
                options[keyword.arg] = ast.literal_eval(keyword.value)
            except (ValueError, SyntaxError, TypeError, RecursionError):
                continue
    try:
        return dataclasses.field(**options)
    except (TypeError, ValueError):
        return None


def _unrebuilt_factory(name: str | None) -> Any:
    def factory() -> Any:
        raise RebuildError(f"the default factory {name or '?'} of this dataclass field is the dumped program's "
                           "code, which a load does not rebuild; pass the field's value")

    return factory


def _parameterized(base: type, node: ast.ClassDef) -> Any:
    """typing.Generic/Protocol as the class statement wrote them (`Generic[T]`): the dumped bases hold the bare
    class, which cannot be subclassed; its type variables are made again by name."""
    typing = sys.modules.get("typing")  # a base that is typing.Generic means typing is imported
    if typing is None or (base is not typing.Generic and base is not typing.Protocol):
        return base
    for written in node.bases:
        if isinstance(written, ast.Subscript) and _decorator_name(written.value) in (
                base.__name__, f"typing.{base.__name__}"):
            items = written.slice.elts if isinstance(written.slice, ast.Tuple) else [written.slice]
            names = [item.id for item in items if isinstance(item, ast.Name)]
            if names and len(names) == len(items):
                return base[tuple(typing.TypeVar(name) for name in names)]
    return base


def _standard(cls: type) -> bool:
    """Whether cls is the standard library's (its code, not the dumped program's or a third party's)."""
    module = getattr(cls, "__module__", None) or ""
    return module.partition(".")[0].lstrip("_") in sys.stdlib_module_names or module == "builtins"


def set_defaults(function: types.FunctionType, defaults: Any, kwdefaults: Any) -> None:
    if isinstance(defaults, tuple):
        function.__defaults__ = defaults
    if isinstance(kwdefaults, dict) and all(isinstance(k, str) for k in kwdefaults):
        function.__kwdefaults__ = kwdefaults


def _literal_defaults(arguments: ast.arguments) -> tuple[tuple[Any, ...] | None, dict[str, Any] | None] | None:
    """The defaults of a def whose default values are literals; None when one is an expression (evaluating it would
    run the program's code)."""
    try:
        positional = tuple(ast.literal_eval(d) for d in arguments.defaults)
        keyword = {a.arg: ast.literal_eval(d) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=False)
                   if d is not None}
    except (ValueError, SyntaxError, TypeError, RecursionError):
        return None
    return positional or None, keyword or None


def _give_namedtuple_methods(cls: type, fields: Any) -> None:
    """A namedtuple's __repr__ and field getters come from collections' generated code, which the dump holds only
    as surrogates: the remade class gets the same ones a safe load's surrogate has (`Pair(left=7, right='seven')`)."""
    if not issubclass(cls, tuple) or not isinstance(fields, tuple):
        return
    from pyheapdump.surrogates.namedtuples import METHODS

    for name, method in METHODS.items():
        if not _real(cls.__dict__.get(name)):
            setattr(cls, name, method)
    for index, field in enumerate(fields):
        if isinstance(field, str) and not _real(cls.__dict__.get(field)):
            setattr(cls, field, property(functools.partial(_field, index=index)))


def _real(value: Any) -> bool:
    return value is not None and not isinstance(value, Surrogate)


def _field(self: tuple[Any, ...], index: int) -> Any:
    """A namedtuple field's accessor: the item at index, by tuple's own __getitem__ (no code of the class runs)."""
    return tuple.__getitem__(self, index)
