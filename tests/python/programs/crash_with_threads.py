"""A program that dumps itself from an except block while a worker thread waits.

argv: DUMP_PATH [MAX_OBJECTS]. Prints Python's own traceback of the handled exception, then "---",
then "dumped" once the dump is written. The tests find lines by the `# NAME_LINE` markers.
"""

import sys
import threading
import traceback

import pyheapdump

GREETING = "hello from the dumped globals"
release = threading.Event()
ready = threading.Event()


def worker_loop(job_name, retries):
    pending = [job_name] * retries
    ready.set()
    release.wait(30)  # WORKER_WAIT_LINE
    return pending


def parse_record(record):
    fields = record.split(",")
    width = int(fields[1])  # RAISE_LINE
    return width


def load_all(records):
    total = 0
    for record in records:
        try:
            total += parse_record(record)  # CALL_LINE
        except ValueError as error:
            raise RuntimeError(f"bad record {record!r}") from error  # RERAISE_LINE
    return total


def main(path, limits):
    worker = threading.Thread(target=worker_loop, args=("nightly-backup", 3), name="backup-worker", daemon=True)
    worker.start()
    ready.wait(30)
    records = ["a,1", "b,2", "c,oops"]
    notes = "n" * 5000
    try:
        load_all(records)  # MAIN_CALL_LINE
    except RuntimeError:
        print(traceback.format_exc(), end="")
        print("---", flush=True)
        pyheapdump.save_dump(path, description="parsing records failed", **limits)  # DUMP_LINE
    release.set()
    worker.join(30)
    print("dumped", len(notes))


if __name__ == "__main__":
    main(sys.argv[1], {"max_objects": int(sys.argv[2])} if len(sys.argv) > 2 else {})
