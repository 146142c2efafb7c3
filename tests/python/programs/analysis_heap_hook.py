"""install(directory, heap=True): the dump written when the program fails is a whole-heap one (issue 11).

argv: DIRECTORY. A module global (of another module) holds 1 MiB; then the program raises.
"""

import json
import sys

import pyheapdump


def main(directory):
    pyheapdump.install(directory, heap=True)
    json._held_by_a_module = bytearray(1024 * 1024)
    raise RuntimeError("boom")


if __name__ == "__main__":
    main(sys.argv[1])
