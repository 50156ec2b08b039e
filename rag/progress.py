"""Progress of long operations: one protocol, a silent default, and the terminal bar every command uses."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, TextIO, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    """Receives progress of a long operation (the CLI shows a bar; the service records a status).

    `start` may be called again for a new phase (parsing documents, then indexing paragraphs); `unit` names
    what is counted, for display.
    """

    def start(self, total: int, label: str, unit: str = "tài liệu") -> None: ...

    def advance(self, n: int = 1) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    """Reports nothing (the default for library calls)."""

    def start(self, total: int, label: str, unit: str = "tài liệu") -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


class TerminalProgress:
    """A tqdm bar on a stream (stderr in the CLI and evaluation runs).

    Args:
        stream: where the bar is drawn.
        leave: keep the finished bar on screen (the CLI) or clear it (evaluation phases).
        mininterval: seconds between redraws.
    """

    def __init__(self, stream: TextIO, *, leave: bool = True, mininterval: float = 0.5) -> None:
        self._stream = stream
        self._leave = leave
        self._mininterval = mininterval
        self._bar: Any = None

    def start(self, total: int, label: str, unit: str = "tài liệu") -> None:
        from tqdm import tqdm

        self.finish()
        self._bar = tqdm(
            total=total,
            desc=label,
            unit=f" {unit}",
            file=self._stream,
            dynamic_ncols=True,
            mininterval=self._mininterval,
            leave=self._leave,
        )

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def track(items: Sequence[T], label: str, unit: str, stream: TextIO | None, *, leave: bool = True) -> Iterator[T]:
    """Iterate over `items`, advancing a `TerminalProgress` on `stream` (no bar when `stream` is None)."""
    if stream is None:
        yield from items
        return
    bar = TerminalProgress(stream, leave=leave)
    bar.start(len(items), label, unit)
    try:
        for item in items:
            yield item
            bar.advance()
    finally:
        bar.finish()
