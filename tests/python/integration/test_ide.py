"""`pyheapdump serve` driven by a DAP client over its socket, the way VS Code drives it, on dumps written by a
crashing program; `pyheapdump debug --pydevd` against a fake PyCharm debug server."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from dap_client import DapClient, DapError
from debug_support import PROGRAMS, TIMEOUT, child_env, marker_line, run_cli
from fake_pydevd_ide import (
    CMD_EVALUATE_EXPRESSION,
    CMD_GET_FRAME,
    CMD_GET_VARIABLE,
    CMD_LIST_THREADS,
    CMD_THREAD_RUN,
    CMD_WRITE_TO_CONSOLE,
    FakePydevdIde,
)

IDE_PROGRAM = "ide_crash.py"


def _float_division_message() -> str:
    try:
        1.0 / 0.0  # noqa: B018 (what ide_crash.py's apply_discount does)
    except ZeroDivisionError as error:
        return str(error)
    raise AssertionError("1.0 / 0.0 did not raise")


# The cause in ide_crash.py, as this interpreter words it: "float division by zero" up to 3.13, "division by zero" on
# 3.14+ (the dumped program runs on the interpreter running the tests).
DIVISION_MESSAGE = _float_division_message()


def write_dump(directory: Path) -> tuple[Path, Path]:
    """Run the IDE test program in `directory`; return (dump, program)."""
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / IDE_PROGRAM
    shutil.copy(PROGRAMS / IDE_PROGRAM, program)
    dump = directory / "checkout.heapdump"
    completed = subprocess.run(
        [sys.executable, str(program), str(dump)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=child_env(),
        cwd=directory,
    )
    assert completed.returncode == 0 and "dumped" in completed.stdout, completed.stdout + completed.stderr
    return dump, program


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_dump(tmp_path_factory.mktemp("ide"))


class Server:
    """`python -m pyheapdump serve` in a subprocess, its output read line by line on a thread."""

    def __init__(self, dump: Path, *options: str, python: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None) -> None:
        self.process = subprocess.Popen(
            [str(python or sys.executable), "-m", "pyheapdump", "serve", str(dump), "--port", "0", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env if env is not None else child_env(),
            cwd=cwd,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr = ""
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        try:
            first = self.next_line()
            match = re.fullmatch(r"pyheapdump: serving .* on (\S+):(\d+)", first)
            assert match, first
        except BaseException:
            self.stop()
            raise
        self.host, self.port = match.group(1), int(match.group(2))

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of output

    def next_line(self) -> str:
        """The next line the server prints; fails when it prints nothing in time or exits first."""
        try:
            line = self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            self.stop()
            raise AssertionError(f"pyheapdump serve printed nothing in time; stderr: {self.stderr}") from None
        if line is None:
            self.lines.put(None)
            status = self.wait()
            raise AssertionError(f"pyheapdump serve exited with status {status}; stderr: {self.stderr}")
        return line

    def wait_for_line(self, text: str) -> str:
        """The next line of output that contains `text` (lines before it are skipped)."""
        while True:
            line = self.next_line()
            if text in line:
                return line

    def client(self) -> DapClient:
        return DapClient("127.0.0.1" if self.host == "0.0.0.0" else self.host, self.port)

    def wait(self) -> int:
        """The exit status; the server must end within the timeout."""
        status = self.process.wait(timeout=TIMEOUT)
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()
        return status

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        # The server has exited: its stdout ends, so the reader finishes; closing the pipe under it would make it fail
        # ("I/O operation on closed file", which pytest reports against whichever test runs next).
        self._reader.join(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed and self.process.poll() is not None:
                if stream is self.process.stderr:
                    self.stderr = self.stderr or stream.read()
                stream.close()


@contextlib.contextmanager
def serving(dump: Path, *options: str, **process: Any) -> Iterator[Server]:
    server = Server(dump, *options, **process)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def attached(dump: Path, *options: str) -> Iterator[tuple[DapClient, dict[str, Any], Server]]:
    """A server on `dump` with a client attached like VS Code: (client, stopped event, server)."""
    with serving(dump, *options) as server, server.client() as client:
        _, stopped = client.attach_like_vscode()
        yield client, stopped, server


def threads_by_name(client: DapClient) -> dict[str, int]:
    return {thread["name"]: thread["id"] for thread in client.call("threads")["threads"]}


def frames(client: DapClient, thread_id: int) -> list[dict[str, Any]]:
    return client.call("stackTrace", {"threadId": thread_id, "startFrame": 0, "levels": 0})["stackFrames"]


def variables(client: DapClient, reference: int) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in client.call("variables", {"variablesReference": reference})["variables"]}


def scope(client: DapClient, frame_id: int, name: str) -> dict[str, dict[str, Any]]:
    scopes = {s["name"]: s for s in client.call("scopes", {"frameId": frame_id})["scopes"]}
    return variables(client, scopes[name]["variablesReference"])


def frame_named(client: DapClient, thread_id: int, name: str) -> dict[str, Any]:
    return next(frame for frame in frames(client, thread_id) if frame["name"] == name)


def cause_thread(client: DapClient) -> int:
    return next(i for name, i in threads_by_name(client).items() if name.startswith("cause: ZeroDivisionError"))


# ---- the session ----


def test_serve_listens_on_loopback_says_where_and_exits_0_on_disconnect(crash: tuple[Path, Path]) -> None:
    dump, _ = crash
    with serving(dump) as server:
        assert server.host == "127.0.0.1"
        assert f'"request": "attach", "connect": {{"host": "127.0.0.1", "port": {server.port}}}' in server.next_line()
        with server.client() as client:
            client.attach_like_vscode()
            client.call("disconnect", {"restart": False, "terminateDebuggee": False})
        assert server.wait() == 0
        assert "warning" not in server.stderr


def test_attach_like_vscode_stops_every_dumped_stack_at_the_exception(crash: tuple[Path, Path]) -> None:
    dump, _ = crash
    with serving(dump) as server, server.client() as client:
        capabilities, stopped = client.attach_like_vscode()
        assert capabilities["supportsConfigurationDoneRequest"] and capabilities["supportsEvaluateForHovers"]
        assert stopped["body"]["allThreadsStopped"] is True
        assert stopped["body"]["reason"] == "exception"
        names = threads_by_name(client)
        assert stopped["body"]["threadId"] == names["exception: ValueError: cannot price order 17"]
        assert set(names) == {
            "exception: ValueError: cannot price order 17",
            f"cause: ZeroDivisionError: {DIVISION_MESSAGE}",
            "MainThread (dumped here)",
            "restock-worker",
            "asyncio-loop",
            "asyncio-task inventory-poller (pending)",
        }  # only dumped stacks: no thread of the serving process
        assert list(names)[0].startswith("exception: ")
        console = [e["body"]["output"] for e in client.events if e["event"] == "output"]
        assert any("checkout failed" in text and "nothing runs" in text for text in console)


def test_stack_traces_show_the_dumped_functions_files_and_lines(crash: tuple[Path, Path]) -> None:
    dump, program = crash
    line = lambda marker: marker_line(program, marker)  # noqa: E731
    with attached(dump) as (client, stopped, _):
        names = threads_by_name(client)
        raised = [(f["name"], f["line"]) for f in frames(client, stopped["body"]["threadId"])]
        assert raised[:2] == [("checkout", line("RERAISE_LINE")), ("main", line("MAIN_CALL_LINE"))]
        assert raised[2][0] == "<module>"
        cause = [(f["name"], f["line"]) for f in frames(client, cause_thread(client))]
        assert cause[:3] == [
            ("apply_discount", line("RAISE_LINE")),
            ("checkout", line("CALL_LINE")),
            ("main", line("DUMP_LINE")),  # a caller outside the traceback shows its frame's line at dump time
        ]
        worker = frames(client, names["restock-worker"])
        assert worker[0]["name"] == "Condition.wait" and worker[0]["source"]["path"].endswith("threading.py")
        assert ("restock_worker", line("WORKER_WAIT_LINE")) in [(f["name"], f["line"]) for f in worker]
        task = frames(client, names["asyncio-task inventory-poller (pending)"])
        assert ("poll_inventory", line("TASK_AWAIT_LINE")) in [(f["name"], f["line"]) for f in task]
        main = frames(client, names["MainThread (dumped here)"])
        assert (main[0]["name"], main[0]["line"]) == ("main", line("DUMP_LINE"))
        assert main[0]["source"]["path"] == str(program) and main[0]["source"]["sourceReference"] > 0


def test_stack_trace_pages_by_start_frame_and_levels(crash: tuple[Path, Path]) -> None:
    dump, _ = crash
    with attached(dump) as (client, _, _):
        worker_id = threads_by_name(client)["restock-worker"]
        everything = frames(client, worker_id)
        page = client.call("stackTrace", {"threadId": worker_id, "startFrame": 1, "levels": 2})
        assert page["totalFrames"] == len(everything) >= 4
        assert [f["id"] for f in page["stackFrames"]] == [f["id"] for f in everything[1:3]]


def test_scopes_show_the_dumped_locals_and_globals(crash: tuple[Path, Path]) -> None:
    dump, _ = crash
    with attached(dump) as (client, _, _):
        top = frames(client, cause_thread(client))[0]
        local_vars = scope(client, top["id"], "Locals")
        assert set(local_vars) == {"order", "job", "settings", "rate"}
        assert local_vars["rate"]["value"] == "0.25" and local_vars["rate"]["type"] == "float"
        assert local_vars["order"]["value"] == "{'id': 17, 'total': 120.0}"
        global_vars = scope(client, top["id"], "Globals")
        assert global_vars["SERVICE_NAME"]["value"] == "'inventory'"
        special = variables(client, global_vars["special variables"]["variablesReference"])
        assert special["__name__"]["value"] == "'__main__'"


def test_variables_expand_a_nested_dict_and_a_surrogate(crash: tuple[Path, Path]) -> None:
    dump, _ = crash
    with attached(dump) as (client, _, _):
        top = frames(client, cause_thread(client))[0]
        settings = scope(client, top["id"], "Locals")["settings"]
        pricing = variables(client, settings["variablesReference"])["'pricing'"]
        assert pricing["evaluateName"] == "settings['pricing']"
        discount = variables(client, pricing["variablesReference"])["'discount'"]
        leaves = variables(client, discount["variablesReference"])
        assert (leaves["'rate'"]["value"], leaves["'cap'"]["value"]) == ("0.25", "40")
        assert leaves["'cap'"]["evaluateName"] == "settings['pricing']['discount']['cap']"

        job = scope(client, top["id"], "Locals")["job"]
        assert job["type"] == "__main__.Job (surrogate: not importable)"
        fields = variables(client, job["variablesReference"])
        assert (fields["name"]["value"], fields["owner"]["value"]) == ("'checkout'", "'ops'")
        assert fields["name"]["evaluateName"] == "job.name"
        attempts = variables(client, fields["attempts"]["variablesReference"])
        assert [(v["name"], v["value"]) for v in attempts.values()] == [("0", "1"), ("1", "2")]
        info = variables(client, fields["(surrogate)"]["variablesReference"])
        assert info["qualname"]["value"] == "'Job'" and info["reason"]["value"] == "'not importable'"


def test_long_lists_are_paged_by_index_the_way_vscode_asks(crash: tuple[Path, Path]) -> None:
    dump, _ = crash
    with attached(dump) as (client, stopped, _):
        checkout = frames(client, stopped["body"]["threadId"])[0]
        audit_log = scope(client, checkout["id"], "Locals")["audit_log"]
        assert (audit_log["indexedVariables"], audit_log["namedVariables"]) == (250, 0)
        page = client.call(
            "variables",
            {"variablesReference": audit_log["variablesReference"], "filter": "indexed", "start": 200, "count": 50},
        )["variables"]
        assert [(v["name"], v["value"]) for v in page[:2]] == [("200", "'event-200'"), ("201", "'event-201'")]
        assert len(page) == 50 and (page[-1]["value"], page[-1]["evaluateName"]) == ("'order-17'", "audit_log[249]")


def test_a_dump_without_exception_stops_at_the_dumping_thread_and_lists_greenlets(tmp_path: Path) -> None:
    pytest.importorskip("greenlet")
    completed = subprocess.run(
        [sys.executable, str(PROGRAMS / "capture_extra_stacks.py"), str(tmp_path), "greenlet"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=child_env(),
    )
    assert completed.returncode == 0, completed.stderr
    dump = Path(completed.stdout.strip().splitlines()[-1])
    with attached(dump) as (client, stopped, _):
        names = threads_by_name(client)
        assert stopped["body"]["reason"] == "pause"
        assert stopped["body"]["threadId"] == names["MainThread (dumped here)"]
        assert not [name for name in names if name.startswith(("exception: ", "cause: "))]
        greenlets = [thread_id for name, thread_id in names.items() if name.startswith("greenlet ")]
        assert len(greenlets) == 2
        for thread_id in greenlets:
            top = frames(client, thread_id)[0]
            assert top["name"].endswith("crawl")
            assert scope(client, top["id"], "Locals")["depth"]["value"] == "2"


def test_exception_scope_and_exception_info_show_the_chain(crash: tuple[Path, Path]) -> None:
    dump, program = crash
    with attached(dump) as (client, stopped, _):
        thread_id = stopped["body"]["threadId"]
        top = frames(client, thread_id)[0]
        exception = scope(client, top["id"], "Exception")["ValueError"]
        assert exception["value"] == "ValueError('cannot price order 17')"
        linked = variables(client, exception["variablesReference"])
        assert linked["__cause__"]["value"] == f"ZeroDivisionError('{DIVISION_MESSAGE}')"
        info = client.call("exceptionInfo", {"threadId": thread_id})
        assert (info["exceptionId"], info["description"]) == ("ValueError", "cannot price order 17")
        trace = info["details"]["stackTrace"]
        assert f'File "{program}", line {marker_line(program, "RAISE_LINE")}, in apply_discount' in trace
        assert "The above exception was the direct cause of the following exception:" in trace
        assert "# RERAISE_LINE" in trace  # the dumped source text, through linecache


def test_evaluate_works_on_the_dumped_values_in_console_watch_and_hover(crash: tuple[Path, Path]) -> None:
    dump, _ = crash
    with attached(dump) as (client, _, _):
        frame_id = frames(client, cause_thread(client))[0]["id"]

        def evaluate(expression: str, context: str) -> dict[str, Any]:
            return client.call("evaluate", {"expression": expression, "frameId": frame_id, "context": context})

        assert evaluate("settings['pricing']['discount']['cap'] * 2 + order['id']", "repl")["result"] == "97"
        assert evaluate("order['total']", "watch") == {"result": "120.0", "type": "float", "variablesReference": 0}
        hover = evaluate("settings['pricing']", "hover")
        assert hover["result"] == "{'discount': {'cap': 40, 'rate': 0.25}}" and hover["variablesReference"] > 0
        assert variables(client, hover["variablesReference"])["'discount'"]["evaluateName"] == (
            "settings['pricing']['discount']"
        )
        assert evaluate("SERVICE_NAME.upper()", "repl")["result"] == "'INVENTORY'"  # a dumped global
        assert evaluate("job.owner", "hover")["result"] == "'ops'"  # an attribute of a surrogate
        assert evaluate("bonus = rate * 4", "repl")["result"] == ""
        assert evaluate("bonus", "repl")["result"] == "1.0"  # console statements change the session's values
        assert evaluate("print('total is', order['total'])", "repl")["result"] == "total is 120.0\n"

        refused = client.request("evaluate", {"expression": "len(settings)", "frameId": frame_id, "context": "hover"})
        assert not refused["success"] and "hover shows names, attributes and items only" in refused["message"]
        missing = client.request("evaluate", {"expression": "undefined_name", "frameId": frame_id, "context": "repl"})
        assert not missing["success"] and missing["message"] == "NameError: name 'undefined_name' is not defined"


def test_evaluate_in_a_safe_load_runs_no_code_of_the_dump_and_trusted_passes_through(tmp_path: Path) -> None:
    dump, program = write_dump(tmp_path)
    ran = program.parent / "describe-ran.txt"
    with attached(dump) as (client, _, _):
        frame_id = frames(client, cause_thread(client))[0]["id"]
        response = client.request("evaluate", {"expression": "job.describe()", "frameId": frame_id, "context": "repl"})
        assert not response["success"] and "describe" in response["message"]
        globals_call = client.request("evaluate", {"expression": "checkout([])", "frameId": frame_id})
        assert not globals_call["success"] and "cannot run here" in globals_call["message"]
    assert not ran.exists()
    with attached(dump, "--trusted") as (client, _, _):
        frame_id = frames(client, cause_thread(client))[0]["id"]
        job = scope(client, frame_id, "Locals")["job"]
        assert job["type"].endswith(".Job") and "surrogate" not in job["type"]  # the program's real class
        described = client.call("evaluate", {"expression": "job.describe()", "frameId": frame_id, "context": "repl"})
        assert described["result"] == "'job checkout owned by ops'"
    assert ran.read_text() == "Job.describe ran"


def test_source_comes_from_the_dump_even_when_the_local_file_differs(tmp_path: Path) -> None:
    dump, program = write_dump(tmp_path)
    original = program.read_text()
    program.write_text(original.replace("# RERAISE_LINE", "# EDITED ON DISK"))
    with attached(dump) as (client, stopped, _):
        top = frames(client, stopped["body"]["threadId"])[0]
        source = top["source"]
        assert source["path"] == str(program) and source["sourceReference"] > 0  # the IDE must ask, not read the disk
        content = client.call("source", {"source": source, "sourceReference": source["sourceReference"]})["content"]
        assert content == original
        lines = content.splitlines()
        assert "# RERAISE_LINE" in lines[top["line"] - 1]
        loaded = client.call("loadedSources")["sources"]
        assert str(program) in [s.get("path") for s in loaded]
        threading_frame = frames(client, threads_by_name(client)["restock-worker"])[0]
        reference = threading_frame["source"]["sourceReference"]
        assert "class Condition" in client.call("source", {"sourceReference": reference})["content"]


@pytest.mark.parametrize("command", ["continue", "next", "stepIn", "stepOut"])
def test_commands_that_would_run_the_program_are_refused_and_it_stays_stopped(
    crash: tuple[Path, Path], command: str
) -> None:
    dump, _ = crash
    with attached(dump) as (client, stopped, server):
        thread_id = stopped["body"]["threadId"]
        before = frames(client, thread_id)
        response = client.request(command, {"threadId": thread_id})
        assert not response["success"]
        assert "this is a heap dump, not a running program" in response["message"]
        assert client.call("pause", {"threadId": thread_id}) == {}
        assert frames(client, thread_id) == before
        assert not [e for e in client.events if e["event"] in ("continued", "terminated", "exited")]
        assert server.process.poll() is None


def test_a_client_that_goes_away_leaves_the_server_for_the_next_one(crash: tuple[Path, Path]) -> None:
    dump, _ = crash
    with serving(dump) as server:
        with server.client() as first:
            first.attach_like_vscode()
        server.wait_for_line("the debugger went away without disconnecting; waiting for the next one")
        with server.client() as second:
            _, stopped = second.attach_like_vscode()
            assert stopped["body"]["reason"] == "exception"
            second.call("disconnect")
        assert server.wait() == 0


def test_terminate_is_acknowledged_and_disconnect_ends_the_server(crash: tuple[Path, Path]) -> None:
    dump, _ = crash
    with attached(dump) as (client, _, server):
        client.call("terminate")
        client.wait_event("terminated")
        client.call("disconnect", {"terminateDebuggee": True})
        assert server.wait() == 0


def test_serve_warns_when_listening_beyond_loopback(crash: tuple[Path, Path]) -> None:
    dump, _ = crash
    with serving(dump, "--host", "0.0.0.0") as server:
        assert server.host == "0.0.0.0"
        with server.client() as client:
            client.attach_like_vscode()
            client.call("disconnect")
        assert server.wait() == 0
        assert "warning: 0.0.0.0 is not a loopback address" in server.stderr


def test_serve_with_a_missing_dump_or_a_busy_port_fails_with_one_line(crash: tuple[Path, Path], tmp_path: Path) -> None:
    missing = run_cli("serve", tmp_path / "nothing.heapdump", "--port", "0")
    assert missing.returncode == 1
    assert missing.stderr == f"pyheapdump: error: no dump at {tmp_path / 'nothing.heapdump'}: check the path\n"
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = run_cli("serve", crash[0], "--port", str(taken.getsockname()[1]))
    assert busy.returncode == 1
    assert re.fullmatch(
        r"pyheapdump: error: cannot listen on 127\.0\.0\.1:\d+: .+; choose another --port\n", busy.stderr
    )


def test_the_dap_client_times_out_instead_of_hanging_on_a_silent_server() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        client = DapClient("127.0.0.1", silent.getsockname()[1], timeout=0.5)
        with client, pytest.raises(DapError, match="did not answer in time"):
            client.request("initialize", {"adapterID": "debugpy"})


# ---- PyCharm / PyDev: pyheapdump debug --pydevd HOST:PORT ----


@contextlib.contextmanager
def debugging_with_pydevd(dump: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "pyheapdump", "debug", str(dump), "--pydevd", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=TIMEOUT)


def test_pydevd_shows_every_dumped_stack_with_values_in_a_waiting_debug_server(crash: tuple[Path, Path]) -> None:
    pytest.importorskip("debugpy", reason="--pydevd needs pydevd (or debugpy, which vendors it)")
    dump, program = crash
    line = lambda marker: marker_line(program, marker)  # noqa: E731
    with FakePydevdIde() as ide, debugging_with_pydevd(dump, ide.port) as process:
        ide.accept()
        ide.start()
        suspended = {thread.name: thread for thread in (ide.suspension() for _ in range(6))}
        raised = suspended["exception: ValueError: cannot price order 17"]
        where = [(f["name"], f["line"]) for f in raised.frames]
        assert where[:2] == [("checkout", line("RERAISE_LINE")), ("main", line("MAIN_CALL_LINE"))]
        chained = f"[Chained Exc: {DIVISION_MESSAGE}] "
        assert (chained + "apply_discount", line("RAISE_LINE")) in where  # pydevd's view of the cause
        assert all(f["file"] == str(program) for f in raised.frames)
        main = suspended["MainThread (dumped here)"].frames[0]
        assert (main["name"], main["line"]) == ("main", line("DUMP_LINE"))
        worker = [(f["name"], f["line"]) for f in suspended["restock-worker"].frames]
        assert ("restock_worker", line("WORKER_WAIT_LINE")) in worker
        task = [(f["name"], f["line"]) for f in suspended["asyncio-task inventory-poller (pending)"].frames]
        assert ("poll_inventory", line("TASK_AWAIT_LINE")) in task
        assert "asyncio-loop" in suspended

        listed = ide.request(CMD_LIST_THREADS, "").xml().iter("thread")
        assert {unquote(t.attrib["name"]) for t in listed} == set(suspended)  # no thread of the loader

        checkout = raised.frames[0]["id"]
        local_vars = ide.variables(ide.request(CMD_GET_FRAME, f"{raised.id}\t{checkout}\tFRAME"))
        assert local_vars["order"] == "dict: {'id': 17, 'total': 120.0}"
        assert local_vars["job"] == (
            "Job: <surrogate __main__.Job (not importable): name='checkout', owner='ops', attempts=[1, 2]>")
        job = ide.variables(ide.request(CMD_GET_VARIABLE, f"{raised.id}\t{checkout}\tFRAME\tjob"))
        assert (job["name"], job["owner"]) == ("str: checkout", "str: ops")
        total = ide.request(CMD_EVALUATE_EXPRESSION, f"{raised.id}\t{checkout}\tFRAME\torder['total'] * 2\t1")
        assert ide.variables(total) == {"order['total'] * 2": "float: 240.0"}
        cause = suspended[f"cause: ZeroDivisionError: {DIVISION_MESSAGE}"]
        assert (cause.frames[0]["name"], cause.frames[0]["line"]) == ("apply_discount", line("RAISE_LINE"))
        cap = f"{cause.id}\t{cause.frames[0]['id']}\tFRAME\tsettings['pricing']['discount']['cap']\t1"
        assert list(ide.variables(ide.request(CMD_EVALUATE_EXPRESSION, cap)).values()) == ["int: 40"]

        ide.send(CMD_THREAD_RUN, raised.id)
        console = ide.next_message(CMD_WRITE_TO_CONSOLE).xml().find("io")
        assert console is not None and "this is a heap dump, not a running program" in unquote(console.attrib["s"])
        again = ide.suspension()
        assert again.id == raised.id and again.frames[0]["line"] == line("RERAISE_LINE")  # suspended again
        assert process.poll() is None

        ide.disconnect()
        assert process.wait(timeout=TIMEOUT) == 0


def test_pydevd_without_a_debug_server_fails_with_one_line(crash: tuple[Path, Path]) -> None:
    pytest.importorskip("debugpy", reason="--pydevd needs pydevd (or debugpy, which vendors it)")
    with socket.create_server(("127.0.0.1", 0)) as probe:
        free_port = probe.getsockname()[1]
    completed = run_cli("debug", crash[0], "--pydevd", f"127.0.0.1:{free_port}")
    assert completed.returncode == 1
    assert completed.stderr.splitlines()[-1].startswith(
        f"pyheapdump: error: no debug server answers at 127.0.0.1:{free_port}"
    )
    assert "Traceback" not in completed.stderr
    bad = run_cli("debug", crash[0], "--pydevd", "localhost")
    assert (
        bad.returncode == 1
        and bad.stderr == "pyheapdump: error: --pydevd wants HOST:PORT, like localhost:5678, not 'localhost'\n"
    )
