"""A program for the IDE tests: it dumps itself from an except block while other stacks wait.

argv: DUMP_PATH. Stacks at dump time: the main thread (in the except block), a worker thread waiting on an
event, a thread running an asyncio loop, and a pending asyncio task on that loop. The exception is a ValueError
raised from a ZeroDivisionError. A `Job` instance (a surrogate in a safe load) and a nested dict are locals.
`Job.describe()` writes a marker file next to this program when it runs. Prints "dumped" at the end; the tests
find lines by their `# NAME_LINE` markers.
"""

import asyncio
import pathlib
import sys
import threading

import pyheapdump

SERVICE_NAME = "inventory"
worker_ready = threading.Event()
task_ready = threading.Event()
release = threading.Event()


class Job:
    def __init__(self, name, owner):
        self.name = name
        self.owner = owner
        self.attempts = [1, 2]

    def describe(self):
        (pathlib.Path(__file__).parent / "describe-ran.txt").write_text("Job.describe ran")
        return f"job {self.name} owned by {self.owner}"


def restock_worker(queue_name, batch):
    pending = list(batch)
    worker_ready.set()
    release.wait(60)  # WORKER_WAIT_LINE
    return pending


async def poll_inventory(warehouse):
    shelves = {"A": 3, "B": 0}
    task_ready.set()
    await asyncio.sleep(3600)  # TASK_AWAIT_LINE
    return shelves


def apply_discount(order, job):
    settings = {"pricing": {"discount": {"rate": 0.25, "cap": 40}}, "currency": "EUR"}
    rate = settings["pricing"]["discount"]["rate"]
    return order["total"] / (rate - rate)  # RAISE_LINE


def checkout(orders):
    job = Job("checkout", owner="ops")
    audit_log = [f"event-{n}" for n in range(249)]
    priced = []
    for order in orders:
        audit_log.append(f"order-{order['id']}")
        try:
            priced.append(apply_discount(order, job))  # CALL_LINE
        except ZeroDivisionError as error:
            raise ValueError(f"cannot price order {order['id']}") from error  # RERAISE_LINE
    return priced


def start_background_stacks():
    threading.Thread(
        target=restock_worker, args=("restock", ["bolts", "nuts"]), name="restock-worker", daemon=True
    ).start()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="asyncio-loop", daemon=True).start()
    loop.call_soon_threadsafe(lambda: loop.create_task(poll_inventory("north"), name="inventory-poller"))
    worker_ready.wait(30)
    task_ready.wait(30)
    return loop


def main(path):
    loop = start_background_stacks()
    orders = [{"id": 17, "total": 120.0}]
    try:
        checkout(orders)  # MAIN_CALL_LINE
    except ValueError:
        pyheapdump.save_dump(path, description="checkout failed")  # DUMP_LINE
    release.set()
    loop.call_soon_threadsafe(loop.stop)
    print("dumped", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
