"""One process at a time per campaign: OS file locks beside a ledger file, advisory locks in a team database.

Two locks per campaign: one named by the ledger's real path (symlinks resolved), one by
the file's identity (device and inode), so the same file reached by another name (a hard
link, a rename while a run holds it) is still one campaign held once. The OS releases a
lock when its holder ends, even by kill -9, so a lock file left on disk never blocks
anyone; the holder's pid is written in it for the message.

On PostgreSQL the lock is a session advisory lock on (CAMPAIGN_LOCKS, campaign id), and
refill and cancel hold one on (PANEL_LOCKS, the panel): the server releases it when the
holder's connection ends, and the refusal names the holder's operator@host from its run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bulkorders.errors import LedgerLocked
from bulkorders.ledger.engine import Engine
from bulkorders.ledger.files import check_file

PID_OFFSET = 16  # past the byte Windows locks (msvcrt locks block reads of that range)


@contextmanager
def ledger_lock(ledger: Path, campaign_id: int, campaign: str, doing: str = "submitted") -> Iterator[None]:
    """Hold campaign `campaign_id` of the ledger file at `ledger` (both of its locks)."""
    real = Path(ledger).resolve()
    check_file(real)  # a hard link made since the ledger was opened is refused here too
    info = os.stat(real)
    paths = (
        Path(f"{real}.{campaign_id}.lock"),
        real.parent / f".ledger-{info.st_dev}-{info.st_ino}.{campaign_id}.lock",
    )
    with ExitStack() as stack:
        for path in paths:
            stack.enter_context(campaign_lock(path, campaign, doing))
        yield


@contextmanager
def held_lock(
    db: Engine, mutex: threading.Lock, held: set[tuple[int, int]], lock: tuple[int, int], busy: str
) -> Iterator[None]:
    """Hold the advisory `lock` (namespace, key) on `db`'s session; held elsewhere →
    `LedgerLocked`: `busy` then " by another bulkorders process (holder). Wait…". `held`: what
    this ledger holds already (the server would let one session take its own lock twice)."""
    with mutex:
        got = lock not in held and db.try_lock(*lock)
        holder = "" if got else db.holder(*lock)
        if got:
            held.add(lock)
    if not got:
        raise LedgerLocked(
            f"{busy} by another bulkorders process{holder}. Wait for it to finish, or stop it, then rerun."
        )
    try:
        yield
    finally:
        with mutex:
            held.discard(lock)
            db.unlock(*lock)


@contextmanager
def campaign_lock(lock_path: Path, campaign: str, doing: str = "submitted") -> Iterator[None]:
    """Hold `lock_path` for this process; another holder → `LedgerLocked` naming its pid."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not _try_lock(fd):
            pid = _read_pid(fd)
            holder = f" (pid {pid})" if pid.isdigit() else ""
            raise LedgerLocked(
                f'Campaign "{campaign}" is being {doing} by another bulkorders '
                f"process{holder}. Wait for it to finish, or stop it, then rerun."
            )
        os.ftruncate(fd, 0)
        os.lseek(fd, PID_OFFSET, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _try_lock(fd: int) -> bool:
    """Take an exclusive, non-blocking lock on `fd`; False when someone else holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_pid(fd: int) -> str:
    """The pid the holder wrote ("" when not written yet or unreadable)."""
    try:
        os.lseek(fd, PID_OFFSET, os.SEEK_SET)
        return os.read(fd, 32).decode("ascii", "replace").strip("\0\n ")
    except OSError:
        return ""
