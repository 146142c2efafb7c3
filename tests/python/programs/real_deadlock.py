"""A thread pool that deadlocks: two workers take two locks in opposite orders. A watchdog notices that no job
finished in time and dumps the live process, as an operator would with the signal hook.

No main guard: loading the dump (trusted included) must never run this again, or the loader would deadlock too.
Every run appends to DIRECTORY/ran.log. Environment: REAL_PROGRAM_DIR, the directory to work in.
"""

import os
import pathlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pyheapdump

directory = pathlib.Path(os.environ["REAL_PROGRAM_DIR"])  # configured like a service: by its environment
with open(directory / "ran.log", "a") as log:
    log.write("ran\n")

inventory_lock = threading.Lock()
ledger_lock = threading.Lock()
both_hold_one = threading.Barrier(2)


def reserve_stock(order_id):
    with inventory_lock:
        both_hold_one.wait()
        with ledger_lock:  # WAITS_FOR_LEDGER
            return f"reserved {order_id}"


def post_payment(order_id):
    with ledger_lock:
        both_hold_one.wait()
        with inventory_lock:  # WAITS_FOR_INVENTORY
            return f"posted {order_id}"


pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="orders")
jobs = [pool.submit(reserve_stock, 17), pool.submit(post_payment, 17)]
time.sleep(0.5)
if not any(job.done() for job in jobs):
    pyheapdump.save_dump(directory / "deadlock.heapdump", description="watchdog: no order finished in 0.5 s")
    print("dumped the deadlock", flush=True)
os._exit(0)  # the workers never finish
