"""The sandbox panel with its state in a file: an append-only journal of JSON lines.

Each change of state (an order, a cancel, a refill) is one line appended with one
write, so a request costs O(1) whatever the number of orders. Loading replays the
journal; a torn last line (a crash mid-write) is ignored, and the journal is compacted
(cancels folded into their orders, damaged lines dropped) when there is anything to
compact. Threads of one process share a lock; processes sharing the file (a running
`sandbox serve` and a `--panel sandbox` command) take an flock and replay each
other's new lines before answering, so ids never collide.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from bulkorders.errors import PanelError
from bulkorders.panel.sandbox.dialect import Dialect, Reply
from bulkorders.panel.sandbox.dialects import dialect as dialect_named
from bulkorders.panel.sandbox.panel import START_BALANCE, Event, SandboxPanel, SandboxState

try:
    import fcntl
except ImportError:  # Windows: no flock; one process per state file there
    fcntl = None  # type: ignore[assignment]

STATE_FILE = "sandbox-state.jsonl"
_DAMAGE = (ValueError, KeyError, TypeError, ArithmeticError)


class LiveSandbox:
    """A `SandboxPanel` whose state persists in `path`; `handle` is thread-safe.

    `dialect` (a name of `DIALECTS`, default clean) is how `answer` renders the panel's answers.
    """

    def __init__(
        self, path: Path, *, key: str | None = None, error_status: int = 200, dialect: str | None = None
    ) -> None:
        self.dialect: Dialect = dialect_named(dialect)
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._offset = 0  # bytes of the journal already applied to the state
        self._clean_end = True  # the journal ends with a newline
        self._pending: list[Event] = []
        self.panel = SandboxPanel(
            SandboxState(), key=key, record=self._pending.append, error_status=error_status,
            canceled_charge_kept=self.dialect.keeps_canceled_charge,
        )  # fmt: skip

    def answer(self, form: Mapping[str, str], now: float) -> Reply:
        """Answer one API call in this sandbox's dialect (raises PanelError like `handle`)."""
        return self.dialect.answer(form, lambda panel_form: self.handle(panel_form, now))

    def handle(self, form: Mapping[str, str], now: float) -> tuple[int, Any]:
        """Answer one API call (see `SandboxPanel.handle`) and persist what it changed.

        Raises PanelError when the state file cannot be read or written.
        """
        try:
            return self._handle(form, now)
        except OSError as exc:
            raise PanelError(
                f"The sandbox cannot use its state file {self.path}: {exc.strerror or exc}. "
                "Check the disk and the file's permissions, or run `bulkorders sandbox reset`."
            ) from exc

    def _handle(self, form: Mapping[str, str], now: float) -> tuple[int, Any]:
        with self._lock:
            fd = self._open_current()
            stale = False
            try:
                self._catch_up(fd)
                self._pending.clear()
                answer = self.panel.handle(form, now)
                if self._pending:
                    self._append(fd, self._pending)
                return answer
            except BaseException:
                stale = bool(self._pending)  # memory may be ahead of the file
                raise
            finally:
                _unlock(fd)
                if stale:
                    self._forget()  # reload from the file on the next call

    def state(self, now: float | None = None) -> SandboxState:
        """The current state, caught up with the file (for tests and diagnostics)."""
        with self._lock:
            fd = self._open_current()
            try:
                self._catch_up(fd)
                if now is not None:
                    self.panel.state.settle(now)
                return self.panel.state
            finally:
                _unlock(fd)

    def close(self) -> None:
        """Close the journal file; the next call reopens it."""
        with self._lock:
            self._forget()

    # --- the journal -------------------------------------------------------------------

    def _open_current(self) -> int:
        """The journal's descriptor, locked, reloading when the file was replaced or deleted."""
        while True:
            if self._fd is None and not self._load():
                continue  # replaced while we opened it
            assert self._fd is not None
            _lock_file(self._fd)
            if _same_file(self._fd, self.path):
                return self._fd
            _unlock(self._fd)  # compacted by another process, or reset: start again
            self._forget()

    def _load(self) -> bool:
        """Open the journal and replay it (compacting it when worth it); False to retry."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        _lock_file(fd)
        try:
            if not _same_file(fd, self.path):
                return False
            self._fd, self._offset, self._clean_end = fd, 0, True
            self.panel.state = SandboxState()
            damaged, folded = self._catch_up(fd)
            if damaged or folded or not self._clean_end:
                self._compact()  # switches self._fd to the new file
            return True
        except BaseException:
            self._fd = None  # half-loaded: start again on the next call
            raise
        finally:
            _unlock(fd)
            if self._fd != fd:
                os.close(fd)

    def _catch_up(self, fd: int) -> tuple[int, int]:
        """Apply lines appended since our last look; (damaged lines, cancels) seen."""
        size = os.fstat(fd).st_size
        if size < self._offset:  # truncated behind our back: replay from the start
            self._offset, self.panel.state = 0, SandboxState()
        damaged = folded = 0
        if size == self._offset:
            return damaged, folded
        data = os.pread(fd, size - self._offset, self._offset)
        self._offset = size
        lines = data.split(b"\n")
        self._clean_end = lines[-1] == b""
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            torn = number == len(lines) - 1  # no newline after it: a write cut short
            try:
                event = json.loads(line)
                self.panel.state.apply(event)
            except _DAMAGE:
                damaged += 0 if torn else 1
                continue
            folded += event.get("e") == "cancel"
        return damaged, folded

    def _append(self, fd: int, events: list[Event]) -> None:
        text = "".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in events)
        data = text.encode()
        if not self._clean_end:  # keep a torn line from swallowing ours
            data = b"\n" + data
        os.write(fd, data)
        self._offset += len(data)
        self._clean_end = True

    def _compact(self) -> None:
        """Rewrite the journal as the fewest events; the old file is replaced atomically."""
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            for event in self.panel.state.snapshot():
                out.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        fd = os.open(tmp, os.O_RDWR | os.O_APPEND)
        os.replace(tmp, self.path)
        self._fd, self._offset, self._clean_end = fd, os.fstat(fd).st_size, True

    def _forget(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._offset = None, 0


def reset_state(path: Path, balance: Decimal | None = None) -> int | None:
    """Clear the sandbox at `path`: no orders or refills, the balance back to `balance`
    (an amount of 0 or more; default 1000.00 USD).

    Ids go on from where they were, as a real panel's never repeat: a ledger that knows
    the old order 23501 must never mistake a new order for it. Returns the next order id,
    or None when there was nothing to reset (and no balance to set).
    """
    path = Path(path)
    for stray in path.parent.glob(f"{path.name}.*.tmp"):
        stray.unlink(missing_ok=True)
    state = _readable_state(path)
    if state is None and balance is None:
        return None
    if balance is None and state is not None and not (state.orders or state.refills):
        if state.start_balance == START_BALANCE:
            return None  # nothing since the last reset; its numbering stays
    events = [(state or SandboxState()).numbering()]
    if balance is not None and balance != START_BALANCE:
        events.append({"e": "start", "balance": str(balance)})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return int(events[0]["order"])


def _readable_state(path: Path) -> SandboxState | None:
    """The state at `path`, or None when there is none (an unreadable file is removed)."""
    if not path.exists():
        return None
    live = LiveSandbox(path)
    try:
        return live.state()
    except PanelError:
        path.unlink()  # an unreadable state: start over from scratch
        return None
    finally:
        live.close()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _lock_file(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
