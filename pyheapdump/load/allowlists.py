"""What a safe load may import, instantiate and call: the fixed allow-lists of standard-library value types,
and the check of a class against them. Everything else comes back as a surrogate."""

from __future__ import annotations

import enum
from collections import deque

# Modules whose classes a safe load may instantiate: value types whose construction runs only their own
# standard-library code, and never calls, or lazily iterates, what it is given.
SAFE_MODULES = frozenset({
    "datetime", "decimal", "fractions", "uuid", "pathlib", "collections", "re", "enum", "ipaddress", "array",
    "zoneinfo", "copyreg",
})
# Classes of other standard-library modules that a safe load may instantiate; besides these, the Enum classes of the
# modules in SAFE_IMPORTS (calling one only looks a member up).
SAFE_CLASSES = frozenset({("types", "SimpleNamespace"), ("argparse", "Namespace"), ("functools", "partial")})
# The builtin classes a safe load may instantiate (and every builtin exception). Not map, filter, zip, enumerate,
# reversed, iter's iterators, property or type: list(map(eval, [...])) would run code the dump chose.
SAFE_BUILTIN_CLASSES = frozenset({
    int, float, complex, str, bytes, bytearray, bool, list, tuple, dict, set, frozenset, range, slice, object,
})
# The builtin functions a safe load may hand out as themselves: calling them runs no code the dump could choose.
# Any other (eval, exec, open, getattr, __import__, ...) loads as a surrogate function that refuses to run, so a
# dumped defaultdict(partial(eval, "...")) cannot run its payload when someone reads a missing key.
SAFE_BUILTIN_FUNCTIONS = frozenset({
    "abs", "all", "any", "ascii", "bin", "callable", "chr", "divmod", "format", "hash", "hex", "id", "isinstance",
    "issubclass", "len", "max", "min", "oct", "ord", "pow", "repr", "round", "sorted", "sum",
})
# Standard-library modules a safe load may import to find a class by name (importing them has no side effects).
SAFE_IMPORTS = SAFE_MODULES | {"types", "argparse", "functools", "signal", "socket", "http", "inspect"}
# Functions a safe load may call as the callable of a reduce.
SAFE_CALLABLES = frozenset({
    ("copyreg", "_reconstructor"), ("copyreg", "__newobj__"), ("copyreg", "__newobj_ex__"),
    ("re", "_compile"), ("array", "_array_reconstructor"), ("functools", "partial"),
    ("pathlib", "PurePath._from_parts"),
})
_NEWOBJ = {("copyreg", "__newobj__"), ("copyreg", "__newobj_ex__")}
_IMMUTABLE_VALUES = (int, float, complex, str, bytes)
_VALUE_BASES = (int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset, deque)


def _safe_class(cls: type) -> bool:
    """Whether a safe load may instantiate cls: its construction runs only standard-library code of a value type."""
    module = getattr(cls, "__module__", "") or ""
    if module == "builtins":
        return cls in SAFE_BUILTIN_CLASSES or issubclass(cls, BaseException)
    top = module.partition(".")[0]
    if top in SAFE_MODULES or top.lstrip("_") in SAFE_MODULES:
        return True
    if (module, getattr(cls, "__qualname__", "")) in SAFE_CLASSES:
        return True
    return isinstance(cls, enum.EnumMeta) and (top in SAFE_IMPORTS or top.lstrip("_") in SAFE_IMPORTS)
