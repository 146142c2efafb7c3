"""asyncio failures the loop reports: a task's exception nobody retrieves, and a failing callback.

Meanwhile a second task sleeps, so the dumps hold it as an extra stack.
"""

import asyncio
import gc
import sys

import pyheapdump

pyheapdump.install(sys.argv[1])


async def fetch(url):
    retries_left = 0
    raise RuntimeError(f"cannot reach {url} ({retries_left} retries left)")


async def heartbeat(period):
    beats = 0
    while True:
        beats += 1
        await asyncio.sleep(period)


def on_timer(payload):
    return payload["missing"]


async def main():
    beating = asyncio.create_task(heartbeat(60), name="heartbeat")
    doomed = asyncio.create_task(fetch("https://example.invalid/"), name="fetch-task")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    del doomed
    gc.collect()  # the finished task is freed: asyncio reports its never-retrieved exception
    asyncio.get_running_loop().call_soon(on_timer, {"present": 1})
    await asyncio.sleep(0.01)
    beating.cancel()
    print("loop finished")


asyncio.run(main())
