"""The classes imported with the package, and the model of a loaded dump, are plain classes, no longer dataclasses
(which import inspect, ast, dis and tokenize): they keep the dataclasses' constructors, repr, equality, hashing and
frozen-ness."""

from __future__ import annotations

import copy
import pickle

import pytest

from pyheapdump.capture.writer import CaptureOptions
from pyheapdump.dump.policy import DumpOptions
from pyheapdump.dump.redaction import DEFAULT_PATTERNS, RedactionConfig
from pyheapdump.model import DumpedCode, DumpedFrame, DumpedThread, DumpedTraceback, HeapDump
from pyheapdump.surrogates.base import SurrogateInfo
from pyheapdump.typesupport import TypeSupport


def test_surrogate_info_is_a_frozen_value() -> None:
    info = SurrogateInfo("app.models", "User", "not trusted", facts={"id": 7})
    assert (info.detail, info.repr, info.original) == ("", None, "app.models.User")
    assert repr(info) == ("SurrogateInfo(module='app.models', qualname='User', reason='not trusted', detail='', "
                          "repr=None, facts={'id': 7})")
    assert info == SurrogateInfo("app.models", "User", "not trusted", "", None, {"id": 7})
    assert info != SurrogateInfo("app.models", "User", "cut by a limit", facts={"id": 7})
    assert info != ("app.models", "User", "not trusted", "", None, {"id": 7})
    hashable = SurrogateInfo("m", "Q", "opaque", "detail", "<Q>")
    assert hash(hashable) == hash(SurrogateInfo("m", "Q", "opaque", "detail", "<Q>"))
    with pytest.raises(AttributeError):
        info.reason = "changed"
    with pytest.raises(AttributeError):
        del info.module
    with pytest.raises(AttributeError):
        info.extra = 1  # type: ignore[attr-defined]
    assert pickle.loads(pickle.dumps(info)) == info
    assert copy.copy(info) == info and copy.deepcopy(info) == info


def capture(obj: object) -> object:
    return obj


def test_type_support_keeps_its_keywords_defaults_and_frozen_value() -> None:
    support = TypeSupport("thing", ("app.Thing",), capture, safe=True, answers=("ready",))
    assert (support.rebuild, support.describe, support.make, support.fill, support.facts_only) == (None,) * 4 + (False,)
    assert repr(support).startswith("TypeSupport(name='thing', types=('app.Thing',), capture=<function capture at ")
    assert repr(support).endswith(", rebuild=None, safe=True, facts_only=False, answers=('ready',), describe=None, "
                                  "make=None, fill=None)")
    same = TypeSupport(name="thing", types=("app.Thing",), capture=capture, safe=True, answers=("ready",))
    assert support == same and hash(support) == hash(same)
    assert {support: 1}[same] == 1
    with pytest.raises(AttributeError):
        support.safe = False
    assert support.type_names() == {"app.Thing"}


def test_redaction_config_is_mutable_with_fresh_default_lists() -> None:
    first, second = RedactionConfig(), RedactionConfig()
    assert first.patterns == list(DEFAULT_PATTERNS) and first.extra_secrets == []
    assert first.patterns is not second.patterns and first.extra_secrets is not second.extra_secrets
    first.extra_secrets.append("hunter2")
    first.enabled = False
    assert second.extra_secrets == [] and second.enabled
    assert first != second
    assert RedactionConfig(False, ["x"], 20, ["s"]) == RedactionConfig(enabled=False, patterns=["x"], env_min_length=20,
                                                                       extra_secrets=["s"])
    assert repr(RedactionConfig(False, ["x"], 20, ["s"])) == (
        "RedactionConfig(enabled=False, patterns=['x'], env_min_length=20, extra_secrets=['s'])")
    with pytest.raises(TypeError):
        hash(first)  # mutable, so unhashable, as a dataclass with eq


def test_dump_options_default_to_running_none_of_the_programs_code() -> None:
    assert DumpOptions() == DumpOptions(False, False)
    assert repr(DumpOptions(call_user_repr=True)) == "DumpOptions(call_user_reduce=False, call_user_repr=True)"


def test_capture_options_check_their_values_and_are_frozen() -> None:
    options = CaptureOptions(keep=3, limits={"max_objects": 10})
    assert (options.max_dumps, options.max_per_window, options.per_seconds, options.threads) == (10, 3, 300.0, True)
    assert CaptureOptions().limits == {} and CaptureOptions().limits is not CaptureOptions().limits
    assert options == CaptureOptions(10, 3, 300.0, 3, None, True, {"max_objects": 10})
    with pytest.raises(ValueError, match="max_dumps"):
        CaptureOptions(max_dumps=-1)
    with pytest.raises(TypeError, match="unknown dump options"):
        CaptureOptions(limits={"max_object": 10})
    with pytest.raises(AttributeError):
        options.keep = 4


def test_the_model_of_a_loaded_dump_keeps_its_keywords_and_repr_and_compares_by_identity() -> None:
    code = DumpedCode(co_filename="job.py", co_name="run", co_qualname="Job.run", co_firstlineno=3)
    assert (code.co_argcount, code.co_varnames, code.co_flags) == (0, (), 0)
    frame = DumpedFrame(code, 5, -1, {"x": 1}, {})
    assert frame.f_back is None and repr(frame) == "<dumped frame Job.run at job.py:5>"
    traceback = DumpedTraceback(tb_frame=frame, tb_lineno=5)
    assert (traceback.tb_lasti, traceback.tb_next) == (-1, None)
    thread = DumpedThread("MainThread", 1, False, True, [frame])
    assert repr(thread) == ("DumpedThread(name='MainThread', ident=1, daemon=False, current=True, "
                            "frames=[<dumped frame Job.run at job.py:5>], kind='thread', state='')")
    dump = HeapDump("job.heapdump", {}, [thread], None, [frame], {})
    assert (dump.warnings, dump.frame, dump.tracebacks) == ([], None, {})
    assert dump.warnings is not HeapDump("other", {}, [], None, [], {}).warnings
    assert repr(dump).startswith("HeapDump(path='job.heapdump', metadata={}, threads=[DumpedThread(name='MainThread'")
    assert repr(dump).endswith(", sources={}, warnings=[], frame=None, tracebacks={})")
    # As dataclasses with eq=False: equal only to themselves, hashable, and mutable (the loader fills them in place).
    assert code != DumpedCode("job.py", "run", "Job.run", 3) and code == code and {code: 1}[code] == 1
    frame.f_lineno = 6
    dump.warnings.append("lost a chunk")
    assert dump.current_thread is thread and thread.top is frame
