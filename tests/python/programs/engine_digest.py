"""Loads a dump of engine_scene.py and prints a JSON digest of what came back, the same on every Python version.

argv: DUMP_PATH. The digest holds reprs of values whose repr does not depend on the loading interpreter, the
frames' names and lines, the exception chain and the surrogates' names, so two digests of one dump loaded by two
interpreters compare equal when both loaded the same objects.
"""

import json
import math
import sys

import pyheapdump
from pyheapdump import Surrogate, surrogate_info


def describe(value):
    """A version-independent description: containers by type and contents (OrderedDict's repr changed in 3.12, a
    set's order changes with each process's str hash seed), everything else by repr."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, Surrogate):
        info = surrogate_info(value)
        return f"<surrogate {info.original} ({info.reason})>" if info else "<surrogate>"
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if isinstance(value, dict):
        extra = [describe(value.default_factory)] if hasattr(value, "default_factory") else []
        return [kind, *extra, [[describe(k), describe(v)] for k, v in value.items()]]
    if isinstance(value, (set, frozenset)):
        return [kind, sorted(describe(item) for item in value)]
    if isinstance(value, (list, tuple)) or kind == "collections.deque":
        return [kind, [describe(item) for item in value], getattr(value, "maxlen", None)]
    return repr(value)


def digest(path):
    dump = pyheapdump.load_dump(path)
    thread = dump.current_thread
    scene = next(f for f in thread.frames if f.f_code.co_name == "scene")
    L = scene.f_locals
    generator = L["suspended_generator"]
    return {
        "warnings": dump.warnings,
        "frames": [[f.f_code.co_qualname, f.f_lineno, f.f_code.co_firstlineno] for f in thread.frames],
        "values": {name: describe(value) for name, value in L["values"].items()},
        "stdlib": {name: describe(value) for name, value in L["stdlib"].items()},
        "containers": {name: describe(L[name]) for name in (
            "ordered", "by_default", "counted", "bounded", "plain_set", "plain_frozenset", "plain_tuple")},
        "subclasses": [list(L["point"]), L["point"].x, list(L["tagged"]), L["tagged"].tag, L["tagged_dict"].note],
        "instances": [describe(L["plain"]), L["plain"].label, L["slotted"].x, L["guarded"].visible],
        "identity": [L["holder"].x is L["holder"].y, L["self_list"][0] is L["self_list"],
                     L["node_a"].other.other is L["node_a"], L["outer_tuple"][0][1] is L["outer_tuple"]],
        "functions": [L["function"].__qualname__, L["function"].__defaults__, L["function"].__kwdefaults__,
                      L["lam"].__qualname__, [c.cell_contents for c in L["closure"].__closure__]],
        "generator": [generator.gi_frame.f_lineno, generator.gi_frame.f_locals],
        "coroutine": [L["suspended_coroutine"].cr_frame.f_lineno, L["suspended_coroutine"].cr_frame.f_locals],
        "exception": [repr(dump.exception), [[f.f_code.co_qualname, f.f_lineno] for f in dump.traceback]],
        "python": dump.metadata["python"],
    }


if __name__ == "__main__":
    print(json.dumps(digest(sys.argv[1]), default=repr))
