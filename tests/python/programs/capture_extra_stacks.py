"""A dump taken while asyncio tasks (and, when greenlet is installed, greenlets) are suspended.

argv: DIRECTORY KIND where KIND is asyncio, greenlet or gevent.
"""

import sys

import pyheapdump

directory, kind = sys.argv[1], sys.argv[2]


async def read_sensor(sensor_id):
    import asyncio

    reading = sensor_id * 1.5
    await asyncio.sleep(3600)
    return reading


async def poll_sensors(sensor_ids):
    import asyncio

    polled = list(sensor_ids)
    return await asyncio.gather(*(read_sensor(s) for s in polled))


async def take_dump():
    import asyncio

    pollers = asyncio.create_task(poll_sensors([7, 8]), name="sensor-poller")
    for _ in range(3):  # a few loop turns: the poller and its readers run until they suspend
        await asyncio.sleep(0)
    path = pyheapdump.save_dump(directory=directory, reason="test")
    pollers.cancel()
    return path


def run_asyncio():
    import asyncio

    print(asyncio.run(take_dump()), flush=True)


def run_greenlets():
    import greenlet

    def crawl(url):
        depth = 2
        greenlet.getcurrent().parent.switch(f"paused {url}")
        return depth

    crawlers = [greenlet.greenlet(crawl) for _ in range(2)]
    for number, crawler in enumerate(crawlers):
        crawler.switch(f"https://site{number}.example/")
    finished = greenlet.greenlet(lambda: None)
    finished.switch()
    print(pyheapdump.save_dump(directory=directory, reason="test"), flush=True)


def run_gevent():
    import gevent

    def download(name):
        chunk_size = 4096
        gevent.sleep(3600)
        return chunk_size

    downloads = [gevent.spawn(download, f"file-{n}") for n in range(2)]
    gevent.sleep(0)
    print(pyheapdump.save_dump(directory=directory, reason="test"), flush=True)
    gevent.killall(downloads)


{"asyncio": run_asyncio, "greenlet": run_greenlets, "gevent": run_gevent}[kind]()
