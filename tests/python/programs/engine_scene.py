"""A program that builds one object of every family the dump engine knows, dumps itself, then reports side effects.

argv: DUMP_PATH. `scene()` holds the objects as locals and calls save_dump from inside an except block (so the
handled exception is dumped too). After the dump it prints one JSON line saying what the dump did to the program:
properties and __getattr__ calls, attributes added, the handled exception, the switch interval.
The tests find lines by the `# NAME_LINE` markers.
"""

import collections
import datetime
import decimal
import enum
import fractions
import http
import json
import pathlib
import re
import sys
import types
import uuid

import pyheapdump

GLOBAL_CONSTANT = "a module global of the dumped program"
SIDE_EFFECTS = []  # every property or __getattr__ of the dumped objects that ran appends here


class Plain:
    def __init__(self, label):
        self.label = label
        self.numbers = [1, 2, 3]

    def describe(self):
        return f"plain {self.label}"


class Slotted:
    __slots__ = ("x", "y", "unset")

    def __init__(self, x, y):
        self.x = x
        self.y = y


class Guarded:
    """Reading `expensive` or any missing attribute has a side effect the program can see."""

    def __init__(self):
        self.visible = "state in __dict__"

    @property
    def expensive(self):
        SIDE_EFFECTS.append("property expensive ran")
        return 42

    def __getattr__(self, name):
        SIDE_EFFECTS.append(f"__getattr__({name!r}) ran")
        raise AttributeError(name)


class Node:
    def __init__(self, name):
        self.name = name
        self.other = None


class Holder:
    def __init__(self, shared):
        self.x = shared
        self.y = shared


class TaggedList(list):
    pass


class TaggedDict(dict):
    pass


Point = collections.namedtuple("Point", "x y")


class UserName(str):
    pass


class Count(int):
    pass


class StatefulName(str):
    """Pickling it would run the program's __getstate__: the dump must not, and keeps the value from its repr."""

    def __getstate__(self):
        SIDE_EFFECTS.append("__getstate__ ran")
        return {}


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class TagSet(set):
    pass


def module_function(a, b=2, *, c=3):  # MODULE_FUNCTION_LINE
    return a + b + c


def counter(limit):
    total = 0
    for step in range(limit):
        total += step
        yield step  # GENERATOR_YIELD_LINE


class Suspend:
    def __await__(self):
        yield "suspended"


async def waiter(tag):
    waiting_for = tag
    await Suspend()  # COROUTINE_AWAIT_LINE
    return waiting_for


def make_closure():
    captured = ["captured", "by", "closure"]
    factor = 7

    def inner(value=10):
        return captured, factor * value

    return inner


def raise_with_traceback():
    failing_local = "in the failing frame"
    raise ValueError("handled in the scene", failing_local)  # TB_RAISE_LINE


def atoms():
    return {
        "none": None,
        "true": True,
        "false": False,
        "small": 12345,
        "negative": -98765,
        "huge": 3**200,
        "huge_negative": -(7**90),
        "int64_edge": 2**63,
        "nan": float("nan"),
        "inf": float("inf"),
        "minus_inf": float("-inf"),
        "minus_zero": -0.0,
        "pi": 3.141592653589793,
        "complex": complex(1.5, -2.25),
        "str": "plain ascii",
        "unicode": "caf\u00e9 \u4e2d\u6587",
        "non_bmp": "emoji \U0001f600 and \U00010348",
        "lone_surrogate": "half \ud800 pair \udfff",
        "empty": "",
        "bytes": b"\x00\x01binary\xff",
        "bytearray": bytearray(b"mutable bytes"),
        "range": range(3, 30, 4),
        "slice": slice(1, None, -2),
        "ellipsis": ...,
        "not_implemented": NotImplemented,
    }


def stdlib_values():
    return {
        "datetime_tz": datetime.datetime(2024, 2, 29, 13, 45, 7, 123456,
                                         tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30), "IST")),
        "date": datetime.date(1999, 12, 31),
        "timedelta": datetime.timedelta(days=3, seconds=7, microseconds=11),
        "decimal": decimal.Decimal("-12345.678900"),
        "fraction": fractions.Fraction(-22, 7),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "pure_path": pathlib.PurePosixPath("/etc/hosts"),
        "path": pathlib.Path("/var/log/syslog"),
        "regex_flag": re.RegexFlag.IGNORECASE,
        "http_status": http.HTTPStatus.NOT_FOUND,
        "pattern": re.compile(r"(?P<word>\w+)-\d+", re.IGNORECASE),
    }


def scene(report):  # SCENE_DEF_LINE
    values = atoms()
    stdlib = stdlib_values()
    ordered = collections.OrderedDict([("first", 1), ("second", 2), ("third", 3)])
    ordered.move_to_end("first")
    by_default = collections.defaultdict(list)
    by_default["seen"].append(1)
    counted = collections.Counter("mississippi")
    bounded = collections.deque(range(10), maxlen=4)
    point = Point(x=3, y=-4)
    tagged = TaggedList([1, "two", 3.0])
    tagged.tag = "list subclass state"
    tagged_dict = TaggedDict(key="value")
    tagged_dict.note = "dict subclass state"
    plain_set = {1, 2, 3}
    user_name = UserName("ada")
    user_name.verified = True
    count = Count(42)
    stateful_name = StatefulName("bob")
    level = Level.HIGH
    tag_set = TagSet({"x", "y"})
    tag_set.note = "set subclass state"
    plain_frozenset = frozenset({"a", "b"})
    plain_tuple = (1, "two", None)
    plain = Plain("first plain")
    slotted = Slotted(10, [20])
    guarded = Guarded()
    guarded_keys_before = sorted(vars(guarded))

    function = module_function
    lam = lambda n, k=5: n * k  # noqa: E731
    closure = make_closure()
    bound = plain.describe
    builtin = len
    module_ref = json
    class_ref = collections.OrderedDict
    main_class_ref = Plain

    suspended_generator = counter(5)
    next(suspended_generator)
    next(suspended_generator)
    suspended_coroutine = waiter("the tag")
    suspended_coroutine.send(None)
    cell = types.CellType(["cell", "contents"])
    empty_cell = types.CellType()

    shared = ["shared list"]
    holder = Holder(shared)
    self_list = []
    self_list.append(self_list)
    self_dict = {}
    self_dict["me"] = self_dict
    node_a, node_b = Node("a"), Node("b")
    node_a.other, node_b.other = node_b, node_a
    inner_list = ["inner"]
    outer_tuple = (inner_list, "outer")
    inner_list.append(outer_tuple)
    node_in_tuple = Node("in a tuple")
    tuple_of_node = (node_in_tuple, [1, 2])
    node_in_tuple.other = tuple_of_node

    try:
        raise_with_traceback()  # TB_CALL_LINE
    except ValueError as error:
        handled = error
        before = sys.exc_info()
        interval = sys.getswitchinterval()
        report["dump"] = str(pyheapdump.save_dump(sys.argv[1]))  # DUMP_LINE
        after = sys.exc_info()
        report["exc_info_unchanged"] = before[0] is after[0] and before[1] is after[1] and before[2] is after[2]
        report["still_handling"] = sys.exc_info()[1] is handled
        report["switch_interval_restored"] = sys.getswitchinterval() == interval
    report["guarded_keys_unchanged"] = sorted(vars(guarded)) == guarded_keys_before
    report["plain_keys"] = sorted(vars(plain))
    report["slotted_unset_still_unset"] = not hasattr(slotted, "unset")
    report["generator_still_suspended"] = suspended_generator.gi_frame is not None and next(suspended_generator) == 2
    report["side_effects"] = list(SIDE_EFFECTS)
    report["scene_locals"] = sorted(locals())  # also tells linters that every local above is used
    suspended_coroutine.close()


def outer():
    outer_marker = "the caller's local"
    report = {"outer_marker": outer_marker}
    scene(report)  # SCENE_CALL_LINE
    return report


if __name__ == "__main__":
    print(json.dumps(outer()))  # OUTER_CALL_LINE
