"""A program whose memory is held where no stack reaches, dumped with save_dump(heap=True) (issue 11).

argv: PATH. Another module's global holds 2 MiB (json._leaky_cache); a cycle nothing references holds 3 MiB and
waits for the collector (collection is off). Prints a JSON line with the path.
"""

import gc
import json
import sys

import pyheapdump

gc.disable()


class Node:
    def __init__(self, blob):
        self.me = self
        self.blob = blob


def make_garbage():
    Node(bytes(3 * 1024 * 1024))


def main(path):
    json._leaky_cache = [bytes(2 * 1024 * 1024)]
    make_garbage()
    return {"path": str(pyheapdump.save_dump(path, heap=True))}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
