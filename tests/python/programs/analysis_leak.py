"""A service whose session cache leaks, dumped twice, for the heap analysis tests (issue 11).

argv: DIRECTORY. Writes DIRECTORY/old.heapdump with 10 small sessions cached, then caches one session whose payload
is 10 MiB (under the key 'user:42') and 200 more small ones, and writes DIRECTORY/new.heapdump. Prints a JSON line
with both paths.
"""

import json
import os
import sys

import pyheapdump

LEAK_BYTES = 10 * 1024 * 1024


class Session:
    def __init__(self, user, payload):
        self.user = user
        self.payload = payload


def serve(directory):
    cache = {}
    for number in range(10):
        cache[f"user:{number}"] = Session(number, bytes([number % 256]) * 1000)
    old = pyheapdump.save_dump(os.path.join(directory, "old.heapdump"))
    cache["user:42"] = Session(42, bytes(LEAK_BYTES))
    for number in range(100, 300):
        cache[f"user:{number}"] = Session(number, bytes([number % 256]) * 1000)
    new = pyheapdump.save_dump(os.path.join(directory, "new.heapdump"))
    return {"old": str(old), "new": str(new), "sessions_old": 10, "sessions_new": len(cache)}


if __name__ == "__main__":
    print(json.dumps(serve(sys.argv[1])))
