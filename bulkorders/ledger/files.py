"""Opening the ledger file: a new ledger only where no file is, and only a whole one.

A file found at the ledger's path is never taken for a new ledger: an empty one (a sync
tool, a bad restore) would have every row placed again. A new ledger is built in a
temporary file beside the path and linked into place in one step, so a file at the path
is always a whole ledger. An existing file is refused, saying what to do, when it is empty,
reached by a second name (a hard link: two names would get two locks and two WAL files),
damaged (SQLite's quick_check runs once at every open, so every command agrees), or in a
place SQLite cannot write.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import tempfile
from pathlib import Path
from typing import Any

from bulkorders.errors import LedgerError
from bulkorders.ledger.backups import backups, restore_advice, take_backup
from bulkorders.ledger.engine import SqliteEngine
from bulkorders.ledger.migrations import migrate

BUSY_TIMEOUT_MS = 30_000
NOTHING_SENT = "Nothing was sent."


class LedgerFile(SqliteEngine):
    """The ledger's SQLite file: its errors said as what to do, its backups after a change."""

    damaged = False  # set once SQLite found the file damaged: no backup then

    def failure(self, exc: BaseException, writing: bool) -> LedgerError | None:
        if isinstance(exc, sqlite3.DatabaseError) and is_damage(exc):
            self.damaged = True  # a backup of a damaged ledger would push out the good ones
            done = "Nothing of this step was recorded." if writing else "Nothing was changed."
            return damaged(self.path, f"SQLite says: {exc}", done)
        if writing and isinstance(exc, sqlite3.OperationalError):
            if "readonly" in str(exc) or "unable to open" in str(exc):
                return cannot_use(self.path, exc)
            return LedgerError(
                f"Cannot write the ledger {self.path}: {exc}. Nothing of this step was recorded; "
                "free disk space or wait for the other bulkorders process, then rerun."
            )
        return None

    def backup(self, clock: Any, keep: int) -> None:
        try:
            if keep and not self.damaged and self.changed:
                take_backup(self.conn, self.path, clock, keep)
        except (OSError, sqlite3.Error):
            pass  # a backup that cannot be taken costs only that backup, never the run


def connect(path: Path) -> LedgerFile:
    """Open the ledger at `path` (creating a new one, 0600, only where no file is) and migrate it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not os.path.lexists(path):
            _refuse_orphan_journal(path)
            _create(path)
        check_file(path)
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except (OSError, sqlite3.Error) as exc:
        raise cannot_use(path, exc) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _quick_check(conn, path)
        engine = LedgerFile(conn, path)
        migrate(engine, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise cannot_use(path, exc) from exc
    except BaseException:
        conn.close()
        raise
    return engine


def file_stamp(path: Path) -> str | None:
    """Size and modification time of a file, as text; None when there is no such file."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return f"{info.st_size}:{info.st_mtime_ns}"


def check_file(path: Path) -> None:
    """Refuse a ledger path that is not one regular, non-empty file with a single name."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise LedgerError(
            f"The ledger {path} is not a file. Choose a file with --ledger (BULKORDERS_LEDGER)."
        )
    if info.st_size == 0:
        raise LedgerError(
            f"The ledger {path} is empty (0 bytes): it was truncated or replaced by an empty "
            "file, and bulkorders never takes an empty file for a new ledger, because every "
            f"row would then be placed again. {NOTHING_SENT} {restore_advice(path)}"
        )
    if info.st_nlink > 1:
        raise LedgerError(
            f"The ledger {path} has {info.st_nlink} names (hard links). Two names of one "
            "ledger would get two locks and two journals, so two runs could place the same "
            f"rows and damage the ledger. {NOTHING_SENT} Keep one name: delete the other "
            f"link(s) to it (`ls -i` shows the same number for each), then rerun."
        )


def cannot_use(path: Path, exc: BaseException) -> LedgerError:
    """The message for a ledger SQLite could not open, read or write: why, and what to do."""
    problem = _access_problem(path)
    if problem:
        return LedgerError(
            f"Cannot use the ledger {path}: {problem}. {NOTHING_SENT} Make it writable for you "
            "(chmod u+w; chattr -i if it is immutable), or choose another ledger with --ledger."
        )
    if "locked" in str(exc) or "busy" in str(exc):
        return LedgerError(
            f"The ledger {path} is busy: another bulkorders process kept it locked for "
            f"{BUSY_TIMEOUT_MS // 1000} s. {NOTHING_SENT} Wait for it to finish, then rerun."
        )
    if isinstance(exc, OSError):
        return LedgerError(
            f"Cannot open the ledger {path}: {exc.strerror or exc}. "
            "Check the path and its permissions, or choose another with --ledger."
        )
    if "not a database" in str(exc):
        return LedgerError(
            f"{path} cannot be used as a bulkorders ledger: it is not an SQLite database, or "
            f"its first page is damaged ({exc}). {NOTHING_SENT} {restore_advice(path)}"
        )
    return damaged(path, f"SQLite says: {exc}")


def damaged(path: Path, detail: str, done: str = NOTHING_SENT) -> LedgerError:
    """The message for a ledger whose pages SQLite finds damaged: restore the newest backup.

    `done` says what became of the work (at open: nothing was sent)."""
    detail = re.sub(r" with text '.*'$", "", detail, flags=re.S)  # the damaged bytes themselves
    return LedgerError(f"The ledger {path} is damaged ({detail}). {done} {restore_advice(path)}")


def is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Whether an error of SQLite says the file's content is damaged (not busy, not full)."""
    text = str(exc).lower()
    if not isinstance(exc, sqlite3.OperationalError):
        return "malformed" in text or "not a database" in text or "corrupt" in text
    return "could not decode" in text or "malformed" in text


def _access_problem(path: Path) -> str | None:
    """Why SQLite may not work on `path` here, or None when the file and folder look usable."""
    folder = path.parent
    if not folder.is_dir():
        return None  # not a permission problem: the path itself is wrong
    if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        return "the file is read-only or immutable, or you may not read it"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"its folder {folder} is read-only or immutable, and SQLite must create "
            f"{path.name}-wal and {path.name}-shm beside the ledger"
        )
    return None


def _quick_check(conn: sqlite3.Connection, path: Path) -> None:
    found = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)")]
    if found != ["ok"]:
        detail = "; ".join(line.replace("\n", " ") for line in found)
        raise damaged(path, f"SQLite's check found: {detail}")


def _refuse_orphan_journal(path: Path) -> None:
    """No ledger file but its journal: a new ledger would take the old one's pages from it."""
    wal = Path(f"{path}-wal")
    try:
        orphan = wal.stat().st_size > 0
    except FileNotFoundError:
        return
    if orphan and not os.path.lexists(path):  # not another process's new ledger meanwhile
        raise LedgerError(
            f"The ledger {path} is missing, but its journal {wal.name} is there: the ledger "
            "was deleted or moved away while its latest changes were still in the journal. "
            f"{NOTHING_SENT} Put the ledger file back beside its journal; or, to start a new "
            f"ledger, delete {wal.name} and {path.name}-shm.{_newest_backup(path)}"
        )


def _newest_backup(path: Path) -> str:
    found = backups(path)
    return f" The newest backup of the ledger is {found[-1]}." if found else ""


def _create(path: Path) -> None:
    """A new, migrated ledger at `path`, appearing there whole (0600) or not at all."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    os.close(fd)  # mkstemp made it 0600, whatever the umask; SQLite's -wal and -shm follow it
    tmp = Path(tmp_name)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            migrate(conn, path)
        finally:
            conn.close()  # the last connection folds the WAL into the file and removes it
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: that one is the ledger
        except OSError:  # no hard links on this file system
            if not os.path.lexists(path):
                os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
