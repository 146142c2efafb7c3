"""A live service: install(signal=SIGUSR1), announce readiness on stdout, serve lines from stdin.

The test sends SIGUSR1, waits for the dump's log line on stderr, then sends more input to prove the
process went on running. argv: DIRECTORY, or "-" to leave installing to `pyheapdump run --signal`.
"""

import os
import select
import signal
import sys
import threading

import pyheapdump

if sys.argv[1] != "-":
    pyheapdump.install(sys.argv[1], signal=signal.SIGUSR1)

stop = threading.Event()
signal_blocked = threading.Event()  # "ready" waits for it: a signal sent before the block could land on the poller


def poll_queue(queue_name):
    # The kernel gives a process's signal to any thread that does not block it. Caught by this thread, it would wait
    # for the main thread, blocked reading stdin, to run Python again (the README's caveat for signal dumps); the test
    # sends its next line only after the dump, so that would hang. A service that wants prompt signal dumps does this.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    signal_blocked.set()
    polls = 0
    while not stop.wait(0.05):
        polls += 1


poller = threading.Thread(target=poll_queue, args=("orders",), name="queue-poller", daemon=True)
poller.start()
signal_blocked.wait()


def serve():
    # A signal's handler runs when the main thread next runs Python (README, "Dumping a running process by its
    # pid"). A read() blocked when the signal comes is interrupted, but a signal that comes just before the read
    # starts waits for the next line; so this loop waits for input in short slices, as a service loop with a timeout
    # does, and the handler runs here, in serve.
    handled = 0
    buffered = ""
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.05)
        if not ready:
            continue
        chunk = os.read(sys.stdin.fileno(), 4096).decode()
        buffered += chunk or "\n"
        *lines, buffered = buffered.split("\n")
        for line in filter(None, lines):
            handled += 1
            print(f"handled {line.strip()} ({handled})", flush=True)
        if not chunk:
            break
    stop.set()
    return handled


serve()
