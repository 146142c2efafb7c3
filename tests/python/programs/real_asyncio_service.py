"""A price service written with asyncio streams: a line protocol served on 127.0.0.1 (a free port), client tasks that
talk to it and stay connected, a queue worker, one task stuck waiting for a lock and one for an event nobody sets.
A client then asks for an item the price list lacks: the connection's handler task fails with KeyError and its
error handler dumps the process from inside that task (save_dump in the except block), as a service's error hook
would. Every other task is pending at that moment, so the dump holds each one as a task stack.

No main guard: loading the dump (trusted included) must never run this again, or the loader would start the service.
Every run appends to DIRECTORY/ran.log. Environment: REAL_PROGRAM_DIR, the directory to work in.
"""

import asyncio
import os
import pathlib

import pyheapdump

directory = pathlib.Path(os.environ["REAL_PROGRAM_DIR"])  # configured like a service: by its environment
with open(directory / "ran.log", "a") as log:
    log.write("ran\n")

PRICES = {"apple": 3, "pear": 5, "plum": 7}


connections = set()


async def handle_connection(reader, writer):
    connections.add(asyncio.current_task())
    peer = "127.0.0.1"
    served = []
    while True:
        line = await reader.readline()  # SERVER_WAITS
        if not line:
            break
        item = line.decode().strip()
        try:
            price = PRICES[item]  # UNKNOWN_ITEM
        except KeyError:
            path = pyheapdump.save_dump(directory / "service.heapdump", description=f"unknown item {item!r}")
            writer.write(f"error {os.path.basename(path)}\n".encode())
        else:
            served.append((item, price))
            writer.write(f"{price}\n".encode())
        await writer.drain()
    del peer
    writer.close()


async def client(port, items, answered):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    for item in items:
        writer.write(f"{item}\n".encode())
        await writer.drain()
        answers.append((await reader.readline()).decode().strip())
    answered.set()
    try:
        await reader.readline()  # CLIENT_WAITS: stays connected until the service closes
    finally:
        writer.close()  # the service's side reads the end of the stream and finishes
    return answers


async def queue_worker(jobs):
    processed = []
    while True:
        job = await jobs.get()  # WORKER_WAITS
        processed.append(job * 10)
        jobs.task_done()


async def reconcile_ledger(ledger_lock):
    attempts = 1
    async with ledger_lock:  # WAITS_FOR_LOCK
        attempts += 1


async def wait_for_shutdown(shutdown):
    reason = "draining"
    await shutdown.wait()  # WAITS_FOR_EVENT
    return reason


async def main():
    server = await asyncio.start_server(handle_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    jobs = asyncio.Queue()
    ledger_lock = asyncio.Lock()
    shutdown = asyncio.Event()
    await ledger_lock.acquire()  # held by main while the dump is taken
    background = [
        asyncio.create_task(queue_worker(jobs), name="queue-worker"),
        asyncio.create_task(reconcile_ledger(ledger_lock), name="ledger-reconciler"),
        asyncio.create_task(wait_for_shutdown(shutdown), name="shutdown-waiter"),
    ]
    for job in (1, 2, 3):
        jobs.put_nowait(job)
    await jobs.join()
    clients = []
    for number, items in enumerate((["apple", "pear"], ["plum"])):
        answered = asyncio.Event()
        clients.append(asyncio.create_task(client(port, items, answered), name=f"client-{number}"))
        await answered.wait()
    failing = asyncio.Event()
    clients.append(asyncio.create_task(client(port, ["durian"], failing), name="client-durian"))
    await failing.wait()
    print("dumped the service:", (directory / "service.heapdump").exists(), flush=True)
    for task in background + clients:
        task.cancel()
    ledger_lock.release()
    server.close()
    await asyncio.gather(*background, *clients, return_exceptions=True)
    await asyncio.gather(*connections)
    await server.wait_closed()


asyncio.run(main())
