"""A running service that `pyheapdump dump PID` dumps from outside: two workers, a main loop, a control thread.

argv: MODE [DIR]. MODE "plain" installs nothing (it does not even import pyheapdump); "hook" calls
pyheapdump.install(DIR, signal=SIGUSR1); "blocked" is plain with a main thread that waits on an Event without a
timeout (it runs no bytecode until told "release"); "undumpable" is plain after prctl(PR_SET_DUMPABLE, 0), which
keeps every process but root's from reading its memory.

stdin, read by the control thread: "ping" answers "pong COUNTER" (the main loop's count, so a test sees it still
running), "release" wakes a blocked main thread, end of input ends the program.
"""

import sys
import threading
import time

mode = sys.argv[1]
if mode == "undumpable":
    import ctypes

    PR_SET_DUMPABLE = 4
    assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
if mode == "hook":
    import signal

    import pyheapdump

    pyheapdump.install(sys.argv[2], signal=signal.SIGUSR1)

state = {"counter": 0}
stop = threading.Event()
release = threading.Event()


def worker(number):
    worker_marker = f"worker-marker-{number}"  # noqa: F841 - read from the dump
    while not stop.wait(0.05):
        pass


def control():
    for line in sys.stdin:
        command = line.strip()
        if command == "ping":
            print(f"pong {state['counter']}", flush=True)
        elif command == "release":
            release.set()
    stop.set()
    release.set()


def main_loop():
    main_marker = {"service": "orders", "answer": 42}  # noqa: F841 - read from the dump
    if mode == "blocked":
        print("ready", flush=True)
        release.wait()  # no timeout: the main thread runs no bytecode until released
    else:
        print("ready", flush=True)
    while not stop.is_set():
        state["counter"] += 1
        time.sleep(0.02)


for number in range(2):
    threading.Thread(target=worker, args=(number,), name=f"worker-{number}", daemon=True).start()
threading.Thread(target=control, name="control", daemon=True).start()
main_loop()
