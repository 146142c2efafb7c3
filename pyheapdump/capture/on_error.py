"""`dump_on_error`: a context manager (sync and async) and decorator that dumps when its block raises.

Imported with the package, by every process that installs the hooks: typing is for the type checker only, and
inspect (with ast, dis and tokenize, 2.6 MB) is imported only to decorate a function, never to dump.
"""

from __future__ import annotations

import functools
import os
import sys

from pyheapdump.capture.caps import (
    _GLOBAL_BUDGET,
)
from pyheapdump.capture.install import _check_exclude
from pyheapdump.capture.writer import CaptureOptions, DumpWriter, write_quietly

TYPE_CHECKING = False  # typing.TYPE_CHECKING without typing: `import pyheapdump` loads this module
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, Literal, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])


class DumpOnError:
    """Context manager (sync and async) and decorator that writes a dump when its block raises, then re-raises.

    Made by `dump_on_error(...)`.
    """

    def __init__(self, writer: DumpWriter, exclude: tuple[type[BaseException], ...], description: str | None) -> None:
        self.writer = writer
        self.exclude = exclude
        self.description = description

    def _dump(self, exc: BaseException | None) -> None:
        if exc is None or isinstance(exc, self.exclude) or _is_cancellation(exc):
            return
        write_quietly(self.writer, reason="dump_on_error", exc=exc, description=self.description)

    def __enter__(self) -> DumpOnError:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        self._dump(exc)
        return False

    async def __aenter__(self) -> DumpOnError:
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        self._dump(exc)
        return False

    def __call__(self, func: F) -> F:
        import inspect  # when a function is decorated, not when it fails (see the module's docstring)

        if inspect.isasyncgenfunction(func):
            raise TypeError(
                f"dump_on_error cannot wrap the async generator function {func.__qualname__}: "
                "use `async with dump_on_error():` inside it instead"
            )
        if inspect.iscoroutinefunction(func):
            return self._wrap_coroutine_function(func)
        if inspect.isgeneratorfunction(func):
            return self._wrap_generator_function(func)
        return self._wrap_function(func)

    def _wrap_function(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except BaseException as exc:
                self._dump(exc)
                raise

        return wrapper  # type: ignore[return-value]

    def _wrap_coroutine_function(self, func: F) -> F:
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await func(*args, **kwargs)
            except BaseException as exc:
                self._dump(exc)
                raise

        return wrapper  # type: ignore[return-value]

    def _wrap_generator_function(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                return (yield from func(*args, **kwargs))
            except BaseException as exc:
                self._dump(exc)
                raise

        return wrapper  # type: ignore[return-value]


def dump_on_error(
    func: Callable[..., Any] | str | os.PathLike[str] | None = None,
    /,
    *,
    directory: str | os.PathLike[str] | None = None,
    exclude: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit, GeneratorExit),
    description: str | None = None,
    threads: bool = True,
    keep: int | None = None,
    keep_bytes: int | None = None,
    **limits: Any,
) -> Any:
    """Dump when a block or a function raises, then let the exception go on.

    As a decorator: `@dump_on_error`, `@dump_on_error("/var/dumps")` or `@dump_on_error(directory=...)` on a
    function, a coroutine function or a generator function. As a context manager: `with dump_on_error(): ...` or
    `async with dump_on_error(): ...`.
    Exceptions in `exclude` and task cancellation (asyncio.CancelledError) never dump. The dump counts against the
    process-wide caps (see `install()`); the directory defaults to `$PYHEAPDUMP_DIR`, else the engine's default.
    """
    if isinstance(func, (str, os.PathLike)):  # @dump_on_error("/var/dumps"), as install("/var/dumps") reads
        if directory is not None:
            raise TypeError("dump_on_error() got the directory twice: positionally and as directory=")
        func, directory = None, func
    # The process-wide caps as install() set them: only pruning, threads and limits are dump_on_error's own.
    writer = CaptureOptions(keep=keep, keep_bytes=keep_bytes, threads=threads, limits=limits).writer(
        directory, _GLOBAL_BUDGET)
    guard = DumpOnError(writer, _check_exclude(exclude), description)
    if func is not None:
        if not callable(func):
            raise TypeError(f"dump_on_error() takes a function, a directory or keyword options, not {func!r}")
        return guard(func)
    return guard


def _is_cancellation(exc: BaseException) -> bool:
    asyncio_exceptions = sys.modules.get("asyncio.exceptions")
    cancelled = getattr(asyncio_exceptions, "CancelledError", None)
    return isinstance(cancelled, type) and isinstance(exc, cancelled)
