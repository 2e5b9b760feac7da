"""Rolling backups of the ledger, and the words that tell a user how to restore one.

After a run that changed the ledger, a copy is taken with SQLite's online backup API (a
consistent copy even while other processes write) into `ledger-backups/` beside the
ledger, named `STEM-YYYYMMDD-HHMMSS-NN.SUFFIX` (UTC), created private (0600); the newest
`KEEP` are kept. A copy appears under its final name only once it is complete.
"""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from bulkorders.clock import Clock

KEEP = 5
FOLDER = "ledger-backups"


def backup_folder(ledger: Path) -> Path:
    """Where the backups of `ledger` go: `ledger-backups/` in the ledger's folder."""
    return Path(ledger).parent / FOLDER


def backups(ledger: Path) -> list[Path]:
    """The backups of `ledger`, oldest first (an unreadable folder has none)."""
    ledger = Path(ledger)
    pattern = re.compile(
        rf"{re.escape(ledger.stem)}-\d{{8}}-\d{{6}}-\d{{2,}}{re.escape(ledger.suffix)}"
    )
    try:
        names = [p.name for p in backup_folder(ledger).iterdir() if pattern.fullmatch(p.name)]
    except OSError:
        return []
    return [backup_folder(ledger) / name for name in sorted(names, key=_order)]


def take_backup(conn: sqlite3.Connection, ledger: Path, clock: Clock, keep: int = KEEP) -> Path:
    """Copy the open ledger `conn` into a new backup; drop all but the newest `keep`."""
    ledger = Path(ledger)
    folder = backup_folder(ledger)
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = datetime.fromtimestamp(clock(), UTC).strftime("%Y%m%d-%H%M%S")
    tmp = folder / f".{ledger.stem}-{stamp}.{os.getpid()}.tmp"
    _create_private(tmp)
    try:
        target = sqlite3.connect(tmp)
        try:
            conn.backup(target)
        finally:
            target.close()
        final = _free_name(folder, ledger, stamp)
        os.replace(tmp, final)
    finally:
        for leftover in (tmp, Path(f"{tmp}-journal")):
            leftover.unlink(missing_ok=True)
    for old in backups(ledger)[:-keep]:
        old.unlink(missing_ok=True)
    return final


def restore_advice(ledger: Path) -> str:
    """What to do about a ledger that cannot be used: restore the newest backup, or start anew."""
    ledger = Path(ledger)
    found = backups(ledger)
    sidecars = f"{ledger.name}-wal and {ledger.name}-shm"
    if found:
        return (
            f"Copy the newest backup, {found[-1]}, over {ledger} (delete {sidecars} beside it "
            f"if they are there), then rerun; {len(found)} backup(s) are in {backup_folder(ledger)}."
        )
    return (
        f"There is no backup of it in {backup_folder(ledger)}. Put back a copy of the ledger if "
        f"you have one (and delete {sidecars} beside it); or delete {ledger} to start a new "
        "ledger: rows whose results sheet shows an order id are then not placed again, other "
        "rows are."
    )


def _order(name: str) -> tuple[str, int]:
    """Sort key: the time stamp, then the number within that second (02 before 10)."""
    stem_stamp, _, rest = name.rpartition("-")
    number = re.match(r"\d+", rest)
    return stem_stamp, int(number.group()) if number else 0


def _free_name(folder: Path, ledger: Path, stamp: str) -> Path:
    """The next name of this second: after the highest number taken (pruned ones included)."""
    taken = [_order(p.name)[1] for p in backups(ledger) if f"-{stamp}-" in p.name]
    number = max(taken, default=0) + 1
    while True:
        candidate = folder / f"{ledger.stem}-{stamp}-{number:02d}{ledger.suffix}"
        if not candidate.exists():
            return candidate
        number += 1


def _create_private(path: Path) -> None:
    """Create `path` 0600 whatever the umask, before SQLite writes into it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
