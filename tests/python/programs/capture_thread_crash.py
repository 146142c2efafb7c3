"""A worker thread dies with an exception; the main thread goes on and exits normally."""

import sys
import threading

import pyheapdump

pyheapdump.install(sys.argv[1])


def parse_rows(rows):
    parsed = []
    for row in rows:
        parsed.append(int(row))
    return parsed


def ingest():
    batch = ["1", "2", "three"]
    return parse_rows(batch)


worker = threading.Thread(target=ingest, name="ingest-worker")
worker.start()
worker.join()
print("main thread finished")
