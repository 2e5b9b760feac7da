"""Progress on stderr that becomes a no-op when it must be silent (--json, no terminal).

Pipelines see only the `Reporter` protocol; rich is loaded when a bar is really shown.
"""

from __future__ import annotations

import sys
from typing import Protocol


class Reporter(Protocol):
    """What a pipeline calls; it never knows whether anything is shown."""

    def start(self, total: int, label: str) -> None: ...
    def advance(self, steps: int = 1, *, info: str = "") -> None: ...
    def close(self) -> None: ...


class SilentReporter:
    def start(self, total: int, label: str) -> None:
        pass

    def advance(self, steps: int = 1, *, info: str = "") -> None:
        pass

    def close(self) -> None:
        pass


class BarReporter:
    """A rich progress bar on stderr: count, rate, elapsed, and a free-text info field."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = None

    def start(self, total: int, label: str) -> None:
        self._progress.start()
        self._task = self._progress.add_task(label, total=total, info="")

    def advance(self, steps: int = 1, *, info: str = "") -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=steps, info=info)

    def close(self) -> None:
        self._progress.stop()


def make_reporter(*, json_output: bool, stream=None) -> Reporter:
    """A bar when stderr is a terminal and output is for humans, otherwise silence."""
    stream = stream or sys.stderr
    if json_output or not stream.isatty():
        return SilentReporter()
    return BarReporter()
