"""A program with worker threads blocked on an Event while the main thread dumps.

argv: DUMP_PATH [--no-threads] [--from-worker]. Prints one JSON line: the name, ident and daemon flag of every
thread it started and of the main thread. With --from-worker the dump is written by a thread named "dumper" while
the main thread waits for it. The tests find lines by the `# NAME_LINE` markers.
"""

import json
import sys
import threading
import time

import pyheapdump

release = threading.Event()


def worker(job, attempts):
    progress = {"job": job, "attempts": attempts}
    started.release()
    release.wait(60)  # WORKER_WAIT_LINE
    return progress


def nested_worker(depth):
    if depth:
        return nested_worker(depth - 1)  # NESTED_CALL_LINE
    bottom_marker = "at the bottom"
    started.release()
    release.wait(60)  # NESTED_WAIT_LINE
    return bottom_marker


started = threading.Semaphore(0)


def wait_until_main_joins():
    """Until the main thread's `main` frame is on its join line: a dumper that runs first would find it in start()."""
    marker = "# MAIN_" + "JOIN_LINE"  # spelled in two parts: the tests look for the whole marker in this file
    with open(__file__) as source:
        join_line = next(number for number, line in enumerate(source, 1) if line.rstrip().endswith(marker))
    main_ident = threading.main_thread().ident
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(main_ident)
        while frame is not None and frame.f_code.co_name != "main":
            frame = frame.f_back
        if frame is not None and frame.f_lineno == join_line:
            return
        time.sleep(0.001)


def dump_from_worker(path):
    dumper_local = "the dumping thread's local"
    wait_until_main_joins()
    pyheapdump.save_dump(path)  # WORKER_DUMP_LINE
    return dumper_local


def main(path, all_threads, from_worker):
    threads = [
        threading.Thread(target=worker, args=("backup", 3), name="backup-worker", daemon=True),
        threading.Thread(target=worker, args=("mailer", 5), name="mail-worker", daemon=False),
        threading.Thread(target=nested_worker, args=(3,), name="deep-worker", daemon=True),
    ]
    for thread in threads:
        thread.start()
    for _ in threads:
        started.acquire(timeout=60)
    main_local = "the main thread's local"
    try:
        if from_worker:
            dumper = threading.Thread(target=dump_from_worker, args=(path,), name="dumper")
            dumper.start()
            dumper.join(120)  # MAIN_JOIN_LINE
        else:
            pyheapdump.save_dump(path, threads=all_threads)  # MAIN_DUMP_LINE
    finally:
        release.set()
        for thread in threads:
            thread.join(60)
    facts = [{"name": t.name, "ident": t.ident, "daemon": t.daemon} for t in threads]
    facts.append({"name": "MainThread", "ident": threading.main_thread().ident, "daemon": False,
                  "main_local": main_local})
    return facts


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], "--no-threads" not in sys.argv, "--from-worker" in sys.argv)))
