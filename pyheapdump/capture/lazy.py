"""Hooks applied when a module is first imported: asyncio, multiprocessing and concurrent.futures are patched
right after they load, so programs that never use them pay nothing.

Imported with the package, by every process that installs the hooks: importlib's modules and typing are named for
the type checker only.
"""

from __future__ import annotations

import functools
import sys
import threading

from pyheapdump.capture.writer import _complain

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    import importlib.machinery
    import types
    from collections.abc import Callable
    from typing import Any

    from pyheapdump.capture.install import _Installation


def _watch_lazy_modules(installation: _Installation) -> None:
    for name, apply in (
        ("asyncio.base_events", _patch_asyncio),
        ("multiprocessing.process", _patch_multiprocessing_process),
        ("multiprocessing.pool", _patch_multiprocessing_pool),
        ("concurrent.futures.process", _patch_process_pool_executor),
    ):
        _WATCHER.watch(name, installation, functools.partial(apply, installation))


def _patch_asyncio(installation: _Installation, module: types.ModuleType) -> None:
    def make(previous: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(previous)
        def call_exception_handler(self: Any, context: dict[str, Any]) -> Any:
            exc = context.get("exception") if isinstance(context, dict) else None
            if isinstance(exc, BaseException):
                message = context.get("message")
                installation.dump_exception(exc, "asyncio", message if isinstance(message, str) else None)
            return previous(self, context)

        return call_exception_handler

    installation.patch(module.BaseEventLoop, "call_exception_handler", make)


def _patch_multiprocessing_process(installation: _Installation, module: types.ModuleType) -> None:
    def make(previous: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(previous)
        def _bootstrap(self: Any, *args: Any, **kwargs: Any) -> Any:
            # Runs in the child: wrap this process's run() so its exception dumps before multiprocessing prints it.
            run = self.run

            @functools.wraps(run)
            def run_with_dump() -> Any:
                try:
                    return run()
                except BaseException as exc:
                    installation.dump_exception(exc, "multiprocessing", f"exception in process {self.name}")
                    raise

            self.run = run_with_dump
            return previous(self, *args, **kwargs)

        return _bootstrap

    installation.patch(module.BaseProcess, "_bootstrap", make)


def _patch_exception_with_traceback(installation: _Installation, cls: type, reason: str) -> None:
    # Pool workers wrap a task's exception in this class to send it to the parent: the one moment the worker sees it.
    def make(previous: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(previous)
        def __init__(self: Any, exc: BaseException, tb: Any, *args: Any, **kwargs: Any) -> None:
            installation.dump_exception(exc, reason, "exception in a pool worker's task")
            previous(self, exc, tb, *args, **kwargs)

        return __init__

    installation.patch(cls, "__init__", make)


def _patch_multiprocessing_pool(installation: _Installation, module: types.ModuleType) -> None:
    _patch_exception_with_traceback(installation, module.ExceptionWithTraceback, "multiprocessing-pool")


def _patch_process_pool_executor(installation: _Installation, module: types.ModuleType) -> None:
    _patch_exception_with_traceback(installation, module._ExceptionWithTraceback, "process-pool")


class _PatchingLoader:
    """Delegates to the real loader; once the module has executed, applies the hooks waiting for it."""

    def __init__(self, loader: Any, on_loaded: Callable[[types.ModuleType], None]) -> None:
        self.loader = loader
        self.on_loaded = on_loaded

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        # Hide ourselves: the module's __loader__ and __spec__.loader are the real loader, as without us.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        self.on_loaded(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


class _ImportWatcher:
    """A `sys.meta_path` finder that applies hooks to watched modules right after they are first imported.

    Neither it nor its loader derives from importlib.abc: the import system needs only their methods, and importing
    importlib.abc brings importlib.resources, tempfile and pathlib into every program the hooks are installed in.

    It answers only for the watched names (a dict lookup for every other import) and leaves `sys.meta_path` once
    nothing is left to watch.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pending: dict[str, list[tuple[object, Callable[[types.ModuleType], None]]]] = {}

    def watch(self, name: str, owner: object, apply: Callable[[types.ModuleType], None]) -> None:
        """`apply(module)` once `name` is imported (now, if it is); `forget(owner)` cancels what is still pending."""
        module = sys.modules.get(name)
        if module is not None and not _initializing(module):
            _apply_guarded(apply, module)
            return
        with self._lock:
            self._pending.setdefault(name, []).append((owner, apply))
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)

    def forget(self, owner: object) -> None:
        with self._lock:
            for name in list(self._pending):
                self._pending[name] = [item for item in self._pending[name] if item[0] is not owner]
                if not self._pending[name]:
                    del self._pending[name]
            self._leave_if_idle()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self._pending:
            return None
        spec = self._spec_from_other_finders(fullname, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        patching = _PatchingLoader(spec.loader, functools.partial(self._loaded, fullname))
        spec.loader = patching  # type: ignore[assignment]  # a Loader by its methods, not by its base
        return spec

    def _spec_from_other_finders(self, fullname: str, path: Any, target: Any) -> importlib.machinery.ModuleSpec | None:
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def _loaded(self, name: str, module: types.ModuleType) -> None:
        with self._lock:
            waiting = self._pending.pop(name, [])
            self._leave_if_idle()
        for _owner, apply in waiting:
            _apply_guarded(apply, module)

    def _leave_if_idle(self) -> None:
        if not self._pending and self in sys.meta_path:
            sys.meta_path.remove(self)


def _initializing(module: types.ModuleType) -> bool:
    spec = getattr(module, "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _apply_guarded(apply: Callable[[types.ModuleType], None], module: types.ModuleType) -> None:
    try:
        apply(module)
    except Exception as error:  # a changed stdlib: that hook is missing, the others work
        _complain(f"hooking {module.__name__}", error)


_WATCHER = _ImportWatcher()


def watch_module(name: str, apply: Callable[[types.ModuleType], None]) -> Callable[[], None]:
    """Call `apply(module)` once module `name` is imported (now if it already is); returns a function that cancels.

    For runners that hook a framework only if the program uses it (`pyheapdump run` and unittest).
    """
    owner = object()
    _WATCHER.watch(name, owner, apply)
    return lambda: _WATCHER.forget(owner)
