"""Crashes the main thread with an uncaught exception while a named worker thread waits.

argv: DIRECTORY [MODE]; MODE "chained" sets a custom excepthook before install() to prove the chain.
"""

import sys
import threading

import pyheapdump

directory = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else ""

if mode == "chained":

    def previous_hook(exc_type, exc, tb):
        print(f"previous hook saw {exc_type.__name__}", file=sys.stderr)
        sys.__excepthook__(exc_type, exc, tb)

    sys.excepthook = previous_hook

pyheapdump.install(directory)

release = threading.Event()


def wait_for_release(job_name):
    waiting_for = job_name
    release.wait()
    return waiting_for


worker = threading.Thread(target=wait_for_release, args=("nightly-report",), name="report-worker", daemon=True)
worker.start()


def charge(order):
    total = sum(order["items"])
    discount = order["discount"]
    return total / discount


def main():
    order = {"id": 4711, "items": [19, 23], "discount": 0}
    return charge(order)


main()
