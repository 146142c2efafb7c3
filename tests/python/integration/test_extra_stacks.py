"""asyncio tasks and greenlets as extra stacks: collected without side effects, dumped beside the threads."""

from __future__ import annotations

import asyncio
import importlib.util
import textwrap
import threading
from pathlib import Path

import pytest
from capture_support import frame_named, only_dump, run_program, run_python, thread_named

import pyheapdump
from pyheapdump.dump.extra_stacks import awaitable_chain_frames, collect_extra_stacks

HAVE_GREENLET = importlib.util.find_spec("greenlet") is not None
HAVE_GEVENT = importlib.util.find_spec("gevent") is not None


def qualnames(stack: dict) -> list[str]:
    return [frame.f_code.co_qualname for frame in stack["frames"]]


def stacks_by_name(kind: str) -> dict[str, dict]:
    return {stack["name"]: stack for stack in collect_extra_stacks() if stack["kind"] == kind}


# --- asyncio, in this process ---------------------------------------------------------------------------------------


async def innermost(level: int) -> None:
    marker = f"level {level}"
    await asyncio.sleep(3600)
    del marker


async def nested(depth: int) -> None:
    if depth == 0:
        await innermost(depth)
    else:
        await nested(depth - 1)


async def numbers():
    yield 1
    await asyncio.sleep(3600)
    yield 2


async def consume_numbers() -> None:
    async for _ in numbers():
        pass


def test_pending_tasks_show_their_await_chain_outermost_first() -> None:
    async def main() -> dict[str, dict]:
        tasks = [
            asyncio.create_task(nested(2), name="nested"),
            asyncio.create_task(consume_numbers(), name="async-for"),
        ]
        for _ in range(3):  # a few loop turns: every task runs until it suspends (or finishes)
            await asyncio.sleep(0)
        found = stacks_by_name("asyncio-task")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return found

    found = asyncio.run(main())

    assert qualnames(found["nested"]) == ["nested", "nested", "nested", "innermost", "sleep"]
    assert found["nested"]["frames"][3].f_locals["marker"] == "level 0"
    assert found["nested"]["state"] == "pending"
    assert qualnames(found["async-for"]) == ["consume_numbers", "numbers", "sleep"]  # into the async generator
    running = [stack for stack in found.values() if stack["state"] == "running"]
    assert [qualnames(stack) for stack in running] == [
        ["test_pending_tasks_show_their_await_chain_outermost_first.<locals>.main"]
    ]
    assert all(isinstance(stack["ident"], int) for stack in found.values())


def test_tasks_of_loops_in_other_threads_are_found() -> None:
    ready = threading.Event()
    release = threading.Event()

    def serve() -> None:
        async def worker() -> None:
            waiting = asyncio.create_task(nested(0), name="in-other-thread")
            await asyncio.sleep(0)  # one loop turn: the task runs until it suspends in its sleep
            ready.set()
            await asyncio.get_running_loop().run_in_executor(None, release.wait)
            waiting.cancel()

        asyncio.run(worker())

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert ready.wait(30)
        found = stacks_by_name("asyncio-task")  # asyncio.all_tasks() here would see nothing: no loop in this thread
    finally:
        release.set()
        thread.join()
    assert qualnames(found["in-other-thread"]) == ["nested", "innermost", "sleep"]


def test_cancelling_and_done_tasks() -> None:
    async def main() -> tuple[dict[str, dict], bool]:
        done = asyncio.create_task(asyncio.sleep(0), name="done")
        failed = asyncio.create_task(_fail(), name="failed")
        cancelling = asyncio.create_task(nested(0), name="cancelling")
        for _ in range(3):  # a few loop turns: every task runs until it suspends (or finishes)
            await asyncio.sleep(0)
        cancelling.cancel()
        found = stacks_by_name("asyncio-task")
        await asyncio.gather(done, cancelling, return_exceptions=True)
        # asyncio's flag for "exception never retrieved" (it logs the error when the task dies with it set)
        still_unretrieved = failed._log_traceback
        failed.exception()
        return found, still_unretrieved

    found, still_unretrieved = asyncio.run(main())
    assert "done" not in found and "failed" not in found
    assert found["cancelling"]["state"] == "cancelling"
    assert still_unretrieved is True  # collecting did not mark the failed task's exception retrieved


async def _fail() -> None:
    raise ValueError("nobody looks at me")


def test_a_task_subclass_is_never_asked_anything_it_overrides() -> None:
    calls = []

    class NosyTask(asyncio.Task):
        def get_name(self) -> str:
            calls.append("get_name")
            return "nosy"

        def done(self) -> bool:
            calls.append("done")
            return super().done()

    async def main() -> tuple[list[dict], str]:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(lambda loop, coro, **kwargs: NosyTask(coro, loop=loop, **kwargs))
        task = asyncio.create_task(nested(0), name="factory-made")
        for _ in range(3):  # a few loop turns: every task runs until it suspends (or finishes)
            await asyncio.sleep(0)
        calls.clear()
        found = [stack for stack in collect_extra_stacks() if stack["ident"] == id(task)]
        task.cancel()
        return found, calls.copy()

    found, calls_during_collection = asyncio.run(main())
    assert calls_during_collection == []  # asyncio's own done()/get_name() were used, not the overrides
    assert [(stack["name"], stack["state"], qualnames(stack)) for stack in found] == [
        ("factory-made", "pending", ["nested", "innermost", "sleep"])
    ]


def test_chain_of_a_plain_generator_and_a_finished_coroutine() -> None:
    def inner():
        yield "x"

    def outer():
        yield from inner()

    generator = outer()
    next(generator)
    assert [frame.f_code.co_qualname for frame in awaitable_chain_frames(generator)] == [
        "test_chain_of_a_plain_generator_and_a_finished_coroutine.<locals>.outer",
        "test_chain_of_a_plain_generator_and_a_finished_coroutine.<locals>.inner",
    ]
    generator.close()
    assert awaitable_chain_frames(generator) == []


def test_nothing_is_imported_or_walked_without_asyncio_or_greenlet() -> None:
    code = textwrap.dedent(
        """
        import sys, time
        from pyheapdump.dump.extra_stacks import collect_extra_stacks
        assert "asyncio" not in sys.modules and "greenlet" not in sys.modules
        start = time.perf_counter()
        for _ in range(1000):
            assert collect_extra_stacks() == []
        print((time.perf_counter() - start) / 1000 * 1e6)
        assert "asyncio" not in sys.modules and "greenlet" not in sys.modules
        """
    )
    completed = run_python(["-c", code])
    assert completed.returncode == 0, completed.stderr
    assert float(completed.stdout) < 100  # microseconds per call


# --- greenlets, in a subprocess (greenlet switching inside pytest's own stack stays out of the test runner) -----------


@pytest.mark.skipif(not HAVE_GREENLET, reason="greenlet is not installed (pip install greenlet)")
def test_suspended_greenlets_are_collected_root_first() -> None:
    code = textwrap.dedent(
        """
        import greenlet
        from pyheapdump.dump.extra_stacks import collect_extra_stacks

        def crawl(url):
            depth = 2
            pause(url)

        def pause(url):
            greenlet.getcurrent().parent.switch()

        crawler = greenlet.greenlet(crawl)
        crawler.switch("https://example.org/")
        never_started = greenlet.greenlet(crawl)
        finished = greenlet.greenlet(lambda: None)
        finished.switch()
        for stack in collect_extra_stacks():
            names = [frame.f_code.co_qualname for frame in stack["frames"]]
            print(stack["kind"], stack["state"], stack["name"].split(" ")[-1], names, stack["frames"][0].f_locals)
        """
    )
    completed = run_python(["-c", code])
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        "greenlet suspended (crawl) ['crawl', 'pause'] {'url': 'https://example.org/', 'depth': 2}"
    ]


# --- extra stacks in real dumps ------------------------------------------------------------------------------------


def test_a_dump_holds_pending_asyncio_tasks_with_their_locals(tmp_path: Path) -> None:
    completed = run_program("capture_extra_stacks.py", tmp_path, "asyncio")
    assert completed.returncode == 0, completed.stderr
    dump = pyheapdump.load_dump(only_dump(tmp_path, completed))

    poller = thread_named(dump, "sensor-poller")
    assert poller.kind == "asyncio-task"
    assert poller.state == "pending"
    assert frame_named(poller.frames, "poll_sensors").f_locals["polled"] == [7, 8]
    readers = [
        thread
        for thread in dump.threads
        if thread.kind == "asyncio-task" and any(frame.f_code.co_qualname == "read_sensor" for frame in thread.frames)
    ]
    readings = sorted(frame_named(thread.frames, "read_sensor").f_locals["reading"] for thread in readers)
    assert readings == [10.5, 12.0]
    assert dump.threads[0].kind == "thread"  # the OS threads come first


@pytest.mark.skipif(not HAVE_GREENLET, reason="greenlet is not installed (pip install greenlet)")
def test_a_dump_holds_suspended_greenlets(tmp_path: Path) -> None:
    completed = run_program("capture_extra_stacks.py", tmp_path, "greenlet")
    assert completed.returncode == 0, completed.stderr
    dump = pyheapdump.load_dump(only_dump(tmp_path, completed))

    greenlets = [thread for thread in dump.threads if thread.kind == "greenlet"]
    assert len(greenlets) == 2
    urls = sorted(frame_named(g.frames, "run_greenlets.<locals>.crawl").f_locals["url"] for g in greenlets)
    assert urls == ["https://site0.example/", "https://site1.example/"]
    assert all(g.state == "suspended" for g in greenlets)


@pytest.mark.skipif(not HAVE_GEVENT, reason="gevent is not installed (pip install gevent)")
def test_a_dump_holds_gevent_greenlets_and_the_hub(tmp_path: Path) -> None:
    completed = run_program("capture_extra_stacks.py", tmp_path, "gevent")
    assert completed.returncode == 0, completed.stderr
    dump = pyheapdump.load_dump(only_dump(tmp_path, completed))

    greenlets = [thread for thread in dump.threads if thread.kind == "greenlet"]
    downloads = [g for g in greenlets if g.name.startswith("Greenlet-")]
    assert sorted(frame_named(g.frames, "run_gevent.<locals>.download").f_locals["name"] for g in downloads) == [
        "file-0",
        "file-1",
    ]
    assert any(g.name.startswith("Hub-") for g in greenlets)
