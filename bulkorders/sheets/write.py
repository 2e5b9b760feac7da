"""Write-back: the user's own sheet, with the results in the output columns of SPEC.

`write_back` is the one entry point. The output columns (models.OUTPUT_COLUMNS) are
reused where the sheet already has them as bulkorders wrote them (headers.ours) and the
missing ones are all added, in SPEC's order, to the right of every used column the first
time a sheet is written, so a results sheet always has the same shape; a user's own column
of the same name (their `Status`) is never written, ours is then `status (panel)`. A results
file that is already there gets the new results written into it, keeping the user's edits
(see merge); one that no longer matches the input is kept as a timestamped backup first. Everything else in the file survives: the .xlsx writer edits only the
order sheet's XML and appends two cell formats (see write_xlsx), the CSV writer only the
records that change (see write_csv). The file is written to a temporary file beside the
target, synced and renamed over it, so a failure never leaves half a file behind.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from bulkorders.clock import Clock
from bulkorders.errors import UsageError, WriteBackError
from bulkorders.models import OUTPUT_COLUMNS
from bulkorders.sheets.headers import canonical, ours
from bulkorders.sheets.merge import into_existing, is_other_file
from bulkorders.sheets.write_csv import write_csv
from bulkorders.sheets.write_values import ColumnPlan, WriteProblem
from bulkorders.sheets.write_xlsx import write_xlsx

__all__ = ["WriteSummary", "backup_copy", "check_writable", "default_output_path", "write_back"]

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
NOTHING_LOST = "Nothing is lost: the ledger holds every result."


class SheetLike(Protocol):
    """What write-back needs of `bulkorders.sheets.read.Sheet`."""

    path: Path
    sheet_name: str | None
    header_row: int
    headers: list[str]
    columns: dict[str, int]
    csv_delimiter: str | None
    csv_encoding: str | None


@dataclass
class WriteSummary:
    """What a write did: where, how many rows, which columns it added (and titled how)."""

    path: Path
    rows_written: int
    columns_added: list[str]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said to the user as they are
    backup: Path | None = None  # the results file kept before it was replaced


def default_output_path(source: Path) -> Path:
    """`orders.xlsx` -> `orders.results.xlsx` beside it (the suffix is kept).

    A results file given as input is its own output: `status orders.results.xlsx`
    refreshes that file rather than making `orders.results.results.xlsx`.
    """
    if source.stem.lower().endswith(".results"):
        return source
    return source.with_name(f"{source.stem}.results{source.suffix}")


def backup_copy(source: Path, clock: Clock = time.time, *, before: str = "writing it in place") -> Path:
    """Copy `source` to `NAME.backup-YYYYMMDD-HHMMSS.EXT` beside it (UTC), for --in-place
    and before a results file is replaced."""
    stamp = datetime.fromtimestamp(clock(), UTC).strftime("%Y%m%d-%H%M%S")
    target = source.with_name(f"{source.stem}.backup-{stamp}{source.suffix}")
    counter = 2
    while target.exists():
        target = source.with_name(f"{source.stem}.backup-{stamp}-{counter}{source.suffix}")
        counter += 1
    try:
        shutil.copy2(source, target)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise WriteBackError(
            f"Could not keep a copy of {source} before {before}: {_why(exc)}. "
            f"Nothing was written. {NOTHING_LOST}"
        ) from exc
    return target


def check_writable(out: Path) -> None:
    """Refuse now, before anything is ordered, when `out` clearly cannot be written.

    The ledger would keep the results anyway, but a user should learn that the file is
    open in Excel before spending money, not after.
    """
    problem = _unwritable(Path(out))
    if problem:
        raise WriteBackError(
            f"Cannot write the results to {out}: {problem}. Nothing was sent to the panel; "
            "fix that (or choose another --out), then rerun."
        )


def _unwritable(out: Path) -> str | None:
    """Why `out` cannot be written, or None when it looks writable."""
    folder = out.parent
    if out.is_dir():
        return "a folder of that name is in the way"
    if not folder.is_dir():
        return f"the folder {folder} does not exist"
    for lock, program in ((f"~${out.name}", "Excel"), (f".~lock.{out.name}#", "LibreOffice")):
        if (folder / lock).exists():
            return f"it is open in {program} (its lock file {lock} is there): close it first"
    if not os.access(folder, os.W_OK):
        return f"you may not write to the folder {folder}"
    if out.exists() and not os.access(out, os.W_OK):
        return "the file is read-only"
    return None


def write_back(
    sheet: SheetLike,
    updates: Mapping[int, Mapping[str, Any]],
    out: Path,
    *,
    clock: Clock = time.time,
    rebuild: bool = False,
) -> WriteSummary:
    """Write `sheet`'s file with `updates` applied to `out` (which may be the input itself).

    `updates` maps an Excel row number to {output column: value}; a column missing from a
    row's mapping leaves its cell as it is, a None value clears it. Values are str, int,
    Decimal or datetime (written as UTC ISO 8601 text). An `out` that exists (an earlier
    results file) is written into when its rows are the input's; otherwise it is kept as
    a timestamped backup (`summary.backup`) before it is replaced. `rebuild`: `out` is
    bulkorders' own file as it last wrote it (nothing of the user's in it), written anew
    from the input, its rows where the input has them. Raises WriteBackError
    when the file cannot be written; the original is then untouched.
    """
    out = Path(out)
    _check(sheet, updates, out)
    notes: list[str] = []
    backup = None
    cells: Mapping[int, Mapping[int, Any]] = {}
    if not rebuild and is_other_file(Path(sheet.path), out):
        merged = into_existing(sheet, updates, out)
        if isinstance(merged, str):
            backup = backup_copy(out, clock, before="replacing it")
            notes.append(
                f"{out.name} no longer matches {Path(sheet.path).name} ({merged}): kept it as "
                f"{backup.name}, with any edits you made in it, and wrote a new {out.name}."
            )
        else:
            if merged.added:
                notes.append(_added_note(Path(sheet.path).name, out.name, merged.added))
            sheet, updates, cells = merged.sheet, merged.updates, merged.cells
    summary = _write(sheet, updates, out, cells)
    summary.notes[:0] = notes
    summary.backup = backup
    return summary


def _added_note(source: str, out: str, added: list[tuple[int, int]]) -> str:
    """`Added 1 row new in orders.xlsx to orders.results.xlsx …`: rows new in the input."""
    what = ", ".join(f"{row} as row {theirs}" for row, theirs in added[:5]) + (", …" if len(added) > 5 else "")
    return (
        f"Added {len(added)} row{'s' if len(added) > 1 else ''} new in {source} to {out}, below its "
        f"last row of orders (input row{'s' if len(added) > 1 else ''} {what}); your edits there are kept."
    )


def _write(
    sheet: SheetLike,
    updates: Mapping[int, Mapping[str, Any]],
    out: Path,
    cells: Mapping[int, Mapping[int, Any]] | None = None,
) -> WriteSummary:
    known = {**ours(sheet.headers), **{n: i for n, i in sheet.columns.items() if n in OUTPUT_COLUMNS}}
    is_csv = sheet.path.suffix.lower() == ".csv"

    def produce(stream: IO[bytes]) -> tuple[ColumnPlan, list[str]]:
        common: dict[str, Any] = {"header_row": sheet.header_row, "headers": list(sheet.headers),
                                  "known": known, "updates": updates, "cells": cells or {}}  # fmt: skip
        if is_csv:
            return write_csv(sheet.path, stream, delimiter=sheet.csv_delimiter, encoding=sheet.csv_encoding,
                             decimal=getattr(sheet, "decimal", "."), **common)  # fmt: skip
        return write_xlsx(sheet.path, stream, sheet_name=sheet.sheet_name, **common)

    plan, warnings = _atomic_write(sheet.path, out, produce)
    rows = sum(1 for columns in updates.values() if columns)
    summary = WriteSummary(path=out, rows_written=rows, columns_added=plan.added, warnings=warnings)
    marked = plan.beside_users()
    if marked:
        summary.notes.append(_beside_users_note(sheet.headers, plan, marked))
    return summary


def _beside_users_note(headers: list[str], plan: ColumnPlan, marked: list[str]) -> str:
    """`Your sheet has its own Status and Error columns: …`, said on the write that adds ours."""
    names = [name for name in plan.added if plan.titles[name] in marked]
    theirs = [next(h for h in headers if canonical(h) == name) for name in names]
    return (
        f"Your sheet has its own {_and(theirs)} column{'s' if len(theirs) > 1 else ''}: "
        f"{'they stay' if len(theirs) > 1 else 'it stays'} as you wrote "
        f"{'them' if len(theirs) > 1 else 'it'}, and bulkorders writes its results to {_and(marked)}."
    )


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _check(sheet: SheetLike, updates: Mapping[int, Mapping[str, Any]], out: Path) -> None:
    source_kind = sheet.path.suffix.lower()
    if source_kind not in (*WORKBOOK_SUFFIXES, ".csv"):
        raise UsageError(
            f"Cannot write results into {sheet.path.name}: bulkorders writes .xlsx, .xlsm and "
            ".csv files. Save the sheet in one of those formats and run the command on that file."
        )
    if out.suffix.lower() != source_kind:
        raise UsageError(
            f"Cannot write the results of {sheet.path.name} to {out.name}: the results keep the "
            f"input's format, so give --out a name ending in {sheet.path.suffix}."
        )
    for row, columns in updates.items():
        if row <= sheet.header_row:
            raise ValueError(f"row {row} is not below the header row {sheet.header_row}")
        unknown = set(columns) - set(OUTPUT_COLUMNS)
        if unknown:
            raise ValueError(f"not output columns: {sorted(unknown)}")


def _atomic_write(
    source: Path, out: Path, produce: Callable[[IO[bytes]], tuple[ColumnPlan, list[str]]]
) -> tuple[ColumnPlan, list[str]]:
    """Run `produce` into a temporary file beside `out`, sync it and rename it over `out`."""
    tmp: str | None = None
    held: int | None = None
    try:
        if not source.is_file():
            raise WriteProblem(f"the input {source} is no longer there")
        problem = _unwritable(out)
        if problem:
            raise WriteProblem(problem)
        mode = _mode_for(out)
        clean_leftovers(out)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        held = os.dup(fd)  # locked until renamed: a live write's file is never a leftover
        _hold(held)
        with os.fdopen(fd, "wb") as stream:
            result = produce(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, out)
        tmp = None
        _sync_dir(out.parent)
        return result
    except WriteProblem as exc:
        raise WriteBackError(f"Could not write the results to {out}: {exc}. {NOTHING_LOST}") from exc
    except OSError as exc:
        raise WriteBackError(f"Could not write the results to {out}: {_why(exc)}. {NOTHING_LOST}") from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if held is not None:
            os.close(held)


def clean_leftovers(out: Path) -> list[Path]:
    """Remove the temporary files of earlier writes of `out` that never reached their rename
    (the writer was killed); a file another process is writing right now is left alone."""
    removed = []
    for stray in out.parent.glob(f".{glob.escape(out.name)}.{'?' * 8}.tmp"):
        try:
            fd = os.open(stray, os.O_RDONLY)
        except OSError:
            continue
        try:
            if not _hold(fd, wait=False):
                continue  # held: its writer is alive
            stray.unlink()
            removed.append(stray)
        except OSError:
            pass  # in use (Windows) or gone already: the next write tries again
        finally:
            os.close(fd)
    return removed


def _hold(fd: int, *, wait: bool = True) -> bool:
    """An exclusive lock on `fd` (released when it is closed, or its process dies)."""
    try:
        import fcntl
    except ImportError:  # Windows: an open file cannot be deleted anyway
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _mode_for(out: Path) -> int:
    """The permissions the target has (or a new file would get): mkstemp's are 0600."""
    try:
        return out.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not possible everywhere (Windows); the rename itself is atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _why(exc: OSError) -> str:
    if isinstance(exc, IsADirectoryError):
        return "a folder of that name is in the way"
    if isinstance(exc, PermissionError):
        return (
            "permission denied (close the file if it is open in Excel or another program, "
            "and check that you may write to that folder)"
        )
    if isinstance(exc, FileNotFoundError):
        return "the folder does not exist"
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EROFS:
        return "the disk is read-only"
    return exc.strerror or str(exc)
