"""A program that writes its dump into a directory, for the tests of the file itself.

argv: MODE DIRECTORY [COUNT].
- "default": save_dump(directory=DIRECTORY, description=...) with COUNT small lists to walk (default 400,000);
  prints "ready" before dumping, then a JSON line with the path and pid.
- "fsize": the same under RLIMIT_FSIZE of 64 KiB (a disk that fills up): prints a JSON line with the error.
"""

import json
import os
import resource
import signal
import sys

import pyheapdump


def main(mode, directory, count):
    payload = [[index, str(index)] for index in range(count)]
    if mode == "fsize":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        try:
            pyheapdump.save_dump(directory=directory)
        except pyheapdump.DumpError as error:
            return {"error": type(error).__name__, "message": str(error), "payload": len(payload)}
        return {"error": None}
    print("ready", flush=True)
    path = pyheapdump.save_dump(directory=directory, description="written by engine_file.py")
    return {"path": str(path), "pid": os.getpid(), "payload": len(payload)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 400_000)))
