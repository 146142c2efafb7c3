"""A storm of failures: many threads die at once and many handled errors are logged, under tight caps.

argv: DIRECTORY MAX_DUMPS THREADS LOGGED
"""

import logging
import sys
import threading

import pyheapdump
from pyheapdump.capture.logging_handler import HeapDumpHandler

directory, max_dumps, thread_count, logged_count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
pyheapdump.install(directory, max_dumps=max_dumps, max_per_window=None)
log = logging.getLogger("storm")
log.addHandler(HeapDumpHandler(directory, max_dumps=max_dumps, max_per_window=None))
log.propagate = False

start = threading.Barrier(thread_count)


def fail(number):
    start.wait()
    raise RuntimeError(f"worker {number} failed")


threads = [threading.Thread(target=fail, args=(n,), name=f"storm-{n}") for n in range(thread_count)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()

for n in range(logged_count):
    try:
        raise ValueError(f"request {n} failed")
    except ValueError:
        log.exception("request failed")

print("survived the storm", flush=True)
