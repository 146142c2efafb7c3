"""A program whose objects name dangerous callables when pickled, to prove that a safe load calls none of them.

argv: DUMP_PATH MARKER_DIR PORT. Each payload, if it ever ran, would create a file in MARKER_DIR named after it
(or bind PORT). The program imports `engine_evil_model` (written by the test next to this script); importing that
module writes MARKER_DIR/imported-engine_evil_model. save_dump runs with call_user_reduce=True so the dump holds the
reduce tuples below; nothing in this program calls them.
"""

import builtins
import collections
import functools
import http.server
import os
import subprocess
import sys

import engine_evil_model

import pyheapdump

MARKERS = sys.argv[2]


def marker(name):
    return os.path.join(MARKERS, name)


def python_payload(name):
    return f"open({marker(name)!r}, 'w').close()"


class SystemCall:
    def __reduce__(self):
        return os.system, (f"touch {marker('os-system')}",)


class Spawn:
    def __reduce__(self):
        return subprocess.Popen, (["touch", marker("subprocess-popen")],)


class Evaluate:
    def __reduce__(self):
        return builtins.eval, (python_payload("builtins-eval"),)


class LazyEval:
    """map(eval, [payload]) runs nothing until something iterates it..."""

    def __reduce__(self):
        return map, (builtins.eval, [python_payload("map-eval")])


class ForceIteration:
    """...and list(...) iterates it."""

    def __reduce__(self):
        return list, (LazyEval(),)


class Binder:
    def __reduce__(self):
        return http.server.HTTPServer, (("127.0.0.1", int(sys.argv[3])), http.server.BaseHTTPRequestHandler)


def main():
    hostile = {
        "system": SystemCall(),
        "popen": Spawn(),
        "eval": Evaluate(),
        "forced": ForceIteration(),
        "binder": Binder(),
        "factory": collections.defaultdict(functools.partial(builtins.eval, python_payload("defaultdict-factory"))),
        "gadget": engine_evil_model.Gadget("from an untrusted module"),
        "evil_function": builtins.eval,
    }
    pyheapdump.save_dump(sys.argv[1], call_user_reduce=True)  # DUMP_LINE
    return hostile


if __name__ == "__main__":
    main()
    print("dumped")
