"""A program that dumps itself while handling an exception with a long chain.

argv: DUMP_PATH. The handled exception is a FileNotFoundError raised while handling AppError (its __context__),
which was raised `from` a KeyError (its __cause__) and carries a note; an ExceptionGroup of caught exceptions sits
in a local. Prints one JSON line with the facts the tests compare. Lines are found by `# NAME_LINE` markers.
"""

import json
import sys

import pyheapdump

MISSING_FILE = "/nonexistent-pyheapdump-dir/settings.ini"


class AppError(ValueError):
    def __init__(self, message, code):
        super().__init__(message, code)
        self.code = code


def lookup(table, key):
    return table[key]  # LOOKUP_LINE


def load_config(table):
    try:
        lookup(table, "port")  # LOOKUP_CALL_LINE
    except KeyError as missing:
        raise AppError("config incomplete", 17) from missing  # CAUSE_LINE


def read_fallback():
    fallback_name = MISSING_FILE
    with open(fallback_name) as handle:  # OPEN_LINE
        return handle.read()


def start():
    try:
        load_config({})  # LOAD_CALL_LINE
    except AppError as error:
        error.add_note("while starting the service")
        return read_fallback()  # FALLBACK_CALL_LINE


def fail(index):
    if index == 0:
        raise TypeError("first member")  # MEMBER_RAISE_LINE
    raise AppError("second member", index)  # MEMBER_APP_RAISE_LINE


def gather():
    errors = []
    for index in range(2):
        try:
            fail(index)
        except Exception as error:  # noqa: BLE001
            errors.append(error)
    raise ExceptionGroup("gathered", errors)  # GROUP_RAISE_LINE


def main(path):
    try:
        gather()  # GATHER_CALL_LINE
    except ExceptionGroup as caught:
        group = caught
    try:
        start()  # START_CALL_LINE
    except OSError as handled:
        pyheapdump.save_dump(path)  # DUMP_LINE
        facts = {"str": str(handled), "errno": handled.errno, "group_size": len(group.exceptions)}
    return facts


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
