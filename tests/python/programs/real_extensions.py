"""A program whose frame holds objects of the extension types of popular libraries, and dumps itself.

argv: DUMP_PATH [fragile]. One frame (`hold`) keeps SQLAlchemy's immutabledict (a dict subclass written in
Cython) and a Python subclass of it, pandas' Cython functions (a plain and a fused one), a DataFrame and its
BlockManager (a Python class on a Cython cdef class, whose state is in C fields), the collections containers,
array.array and a Python subclass of it, Decimal, Fraction, functools.partial, ctypes values (a pointer's reduce
raises) and Python subclasses of C types that override pickle hooks (which the dumper must never call). With
`fragile`, the dump is written with call_user_reduce and the frame also holds a real_extensions_model.Fragile, which a
trusted load fails to make again. Prints one JSON line with the facts the tests compare.
"""

import array
import collections
import ctypes
import decimal
import fractions
import functools
import json
import sys

import pandas as pd
import pandas._libs.algos as pandas_algos
from real_extensions_model import Fragile
from sqlalchemy.util import immutabledict

import pyheapdump

# What the program's own pickle hooks saw: the dumper must never call them.
HOOKS_RAN = []


class WatchedArray(array.array):
    """A Python subclass of a C type with a C reducer, whose own __getstate__ is the program's code."""

    def __getstate__(self):
        HOOKS_RAN.append("WatchedArray.__getstate__")
        return {}


class AppFrozen(immutabledict):
    """A Python subclass of a dict subclass written in Cython."""


class PlainArray(array.array):
    """A Python subclass of a C type that leaves pickling to it: reduced by array's own C reducer."""


class WatchedPartial(functools.partial):
    """A Python subclass whose __getattribute__ would decide what obj.__reduce_ex__ is."""

    def __getattribute__(self, name):
        HOOKS_RAN.append(f"WatchedPartial.__getattribute__({name})")
        return super().__getattribute__(name)


def hold(dump_path, fragile):
    frozen = immutabledict({"a": 1, "b": [2, 3]})
    empty_frozen = immutabledict()
    app_frozen = AppFrozen({"app": True})
    cython_function = pd._libs.lib.is_scalar
    fused_function = pandas_algos.is_monotonic
    frame = pd.DataFrame({"a": [1, 2, 3], "b": [4.5, 5.5, 6.5]})
    manager = frame._mgr
    ordered = collections.OrderedDict([("x", 1), ("y", 2), ("z", 3)])
    ordered.move_to_end("x")
    defaults = collections.defaultdict(list, {"k": [1]})
    counter = collections.Counter("abracadabra")
    queue = collections.deque([1, 2, 3], maxlen=5)
    numbers = array.array("i", [1, 2, 3, 40000])
    price = decimal.Decimal("12.345")
    third = fractions.Fraction(1, 3)
    bound_max = functools.partial(max, 10)
    pointer = ctypes.pointer(ctypes.c_int(5))
    integer = ctypes.c_int(7)
    watched_array = WatchedArray("b", [1, 2])
    plain_array = PlainArray("h", [7, 8])
    watched_partial = WatchedPartial(min, 4)
    Fragile.building = True
    breakable = Fragile("breakable") if fragile else None
    pyheapdump.save_dump(dump_path, call_user_reduce=fragile)
    return (frozen, empty_frozen, app_frozen, cython_function, fused_function, manager, ordered, defaults, counter,
            queue, numbers, price, third, bound_max, pointer, integer, watched_array, plain_array, watched_partial,
            breakable)


def main():
    hold(sys.argv[1], sys.argv[2:] == ["fragile"])
    print(json.dumps({"hooks_ran": HOOKS_RAN, "is_scalar_module": pd._libs.lib.is_scalar.__module__,
                      "fused_module": pandas_algos.is_monotonic.__module__}))


if __name__ == "__main__":
    main()
