"""dump_on_error as a decorator (sync and async) and as a context manager (sync and async).

argv: DIRECTORY CASE where CASE is sync, async, with, async-with, generator or excluded.
"""

import asyncio
import sys

import pyheapdump

directory, case = sys.argv[1], sys.argv[2]


@pyheapdump.dump_on_error(directory)  # the README's form: the directory positionally
def convert(text):
    base = 10
    return int(text, base)


@pyheapdump.dump_on_error(directory=directory)
async def fetch_price(symbol):
    await asyncio.sleep(0)
    prices = {"ACME": 12.5}
    return prices[symbol]


async def with_async_block(limit):
    async with pyheapdump.dump_on_error(directory=directory):
        await asyncio.sleep(0)
        used = limit + 1
        assert used <= limit, f"used {used} over limit {limit}"


@pyheapdump.dump_on_error(directory=directory)
def read_records(lines):
    for number, line in enumerate(lines):
        yield f"record {number}: {line.split('=')[1]}"


@pyheapdump.dump_on_error(directory=directory)
def leave(code):
    sys.exit(code)


try:
    if case == "sync":
        convert("twelve")
    elif case == "async":
        asyncio.run(fetch_price("INITECH"))
    elif case == "with":
        with pyheapdump.dump_on_error(directory):
            ratio = 3
            ratio / 0
    elif case == "async-with":
        asyncio.run(with_async_block(5))
    elif case == "generator":
        print(list(read_records(["a=1", "broken"])))
    elif case == "excluded":
        leave(0)
except (ValueError, KeyError, ZeroDivisionError, AssertionError, IndexError) as error:
    print(f"re-raised {type(error).__name__}", flush=True)
