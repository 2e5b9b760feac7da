"""Reading one worksheet of an .xlsx/.xlsm with python-calamine (computed formula values, fast)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import python_calamine as calamine

from bulkorders.errors import SheetError
from bulkorders.sheets.filetype import SAVE_AS_XLSX, limit_from_env
from bulkorders.sheets.links import cell_links
from bulkorders.sheets.ooxml import blank_looking_cells, declared_size, sheet_part, used_extent
from bulkorders.sheets.raw import RawSheet

# 100k rows x 20 columns is 2M cells; beyond this a stray cell far away is the likely cause.
CELLS_ENV = "BULKORDERS_MAX_CELLS"
DEFAULT_MAX_CELLS = 5_000_000
# A worksheet part this big is scanned for its real extent, whatever it declares.
SCAN_ABOVE_BYTES = 16 << 20


def workbook_sheet_names(path: Path) -> list[str]:
    """The worksheet names of a workbook, in order (chart sheets left out)."""
    with _open(path) as workbook:
        return _worksheets(workbook)


def read_xlsx(path: Path, sheet_name: str | None) -> RawSheet:
    """The chosen worksheet (first visible one by default) as rows of computed values."""
    with _open(path) as workbook:
        names = _worksheets(workbook)
        name = _choose(path, workbook, names, sheet_name)
        part = _check_size(path, name)
        try:
            sheet = workbook.get_sheet_by_name(name)
        except BaseException as exc:  # calamine may raise PanicException (a BaseException)
            _reraise_fatal(exc)
            raise SheetError(_damaged(path, exc)) from None
    hidden = (lambda: blank_looking_cells(path, part)) if part else None
    links = (lambda: cell_links(path, part)) if part else None
    start = sheet.start
    return RawSheet(
        name=name, rows=_rows(sheet), col_offset=start[1] if start else 0,
        hidden_cells=hidden, links=links, sheet_names=names,
    )  # fmt: skip


def _open(path: Path) -> calamine.CalamineWorkbook:
    try:
        return calamine.CalamineWorkbook.from_path(str(path))
    except calamine.PasswordError:
        raise SheetError(
            f"{path} is password-protected. Open it in Excel, remove the password, save it, and rerun."
        ) from None
    except BaseException as exc:
        _reraise_fatal(exc)
        raise SheetError(_damaged(path, exc)) from None


def _worksheets(workbook: calamine.CalamineWorkbook) -> list[str]:
    return [m.name for m in workbook.sheets_metadata if m.typ == calamine.SheetTypeEnum.WorkSheet]


def _choose(path: Path, workbook: calamine.CalamineWorkbook, names: list[str], wanted: str | None) -> str:
    if not names:
        raise SheetError(f"{path} has no worksheet (only charts or macros). Put the orders on a worksheet.")
    if wanted is None:
        visible = [m.name for m in workbook.sheets_metadata
                   if m.name in names and m.visible == calamine.SheetVisibleEnum.Visible]  # fmt: skip
        return (visible or names)[0]
    if wanted in names:
        return wanted
    folded = [n for n in names if n.strip().casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    listed = ", ".join(f'"{n}"' for n in names)
    raise SheetError(f'{path} has no sheet "{wanted}". Its sheets: {listed}. Use --sheet with one of them.')


def _check_size(path: Path, name: str) -> str | None:
    """Refuse, before calamine reads it, a sheet whose cells span so far that reading it
    would take gigabytes; return its zip member. The declared size is trusted when it is
    small and the part is small; otherwise the cells are counted (a streamed scan)."""
    limit = limit_from_env(CELLS_ENV, DEFAULT_MAX_CELLS)
    try:
        with zipfile.ZipFile(path) as archive:
            part = sheet_part(archive, name)
            if part is None:
                return None
            size = declared_size(archive, part)
            big = archive.getinfo(part).file_size > SCAN_ABOVE_BYTES
            if big or size is None or size[0] * size[1] > limit:
                size = used_extent(archive, part)  # the declaration may be a writer's habit, or a lie
    except (zipfile.BadZipFile, KeyError, OSError):
        return None
    if size and size[0] * size[1] > limit:
        rows, cols = size
        raise SheetError(
            f'{path}: sheet "{name}" spans {rows:,} rows x {cols:,} columns ({rows * cols:,} cells), '
            f"more than the {limit:,} cells an order sheet can need, too many to read safely. Delete the "
            "unused rows and columns below and right of the orders (Ctrl+End shows the last used cell), "
            f"save, and rerun; or raise the limit with {CELLS_ENV}."
        )
    return part


def _rows(sheet: calamine.CalamineSheet) -> Iterator[tuple[int, list[Any]]]:
    start = sheet.start
    if start is None:
        return
    iterator = sheet.iter_rows()
    first = next(iterator, None)
    if first is None:
        return
    # python-calamine 0.9 yields rows from row 1 even when data starts lower; older ones
    # yielded from the first used row. The first used row is never blank, so tell by it.
    number = 1 if (start[0] > 0 and not any(c != "" for c in first)) else start[0] + 1
    # Cells start at the first used column (col_offset); should a version pad from column A, cut.
    cut = start[1] if (start[1] and len(first) > sheet.width) else 0
    yield number, first[cut:] if cut else first
    for cells in iterator:
        number += 1
        yield number, cells[cut:] if cut else cells


def _reraise_fatal(exc: BaseException) -> None:
    if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError)):
        raise exc


def _damaged(path: Path, exc: BaseException) -> str:
    detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    if "Cell limit exceeded" in detail:
        return f"{path} declares more cells than can be read safely ({detail}). Save it again from Excel."
    return f"{path} cannot be read as a workbook ({detail}). The file may be damaged. {SAVE_AS_XLSX}"


__all__ = ["read_xlsx", "workbook_sheet_names"]
