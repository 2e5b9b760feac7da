"""What a file reader hands to the sheet builder: rows of cells with their Excel row numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bulkorders.sheets.ooxml import CellProblem


@dataclass
class RawSheet:
    """One worksheet (or CSV file) as rows of cells.

    `rows` yields (Excel row number, cells); cell j sits in 0-based column `col_offset + j`.
    `hidden_cells` finds the cells that read as blank but are not (formulas without a
    computed value, error cells); it is costly, so it is called only when needed, like `links`.
    """

    name: str | None
    rows: Iterator[tuple[int, list[Any]]]
    col_offset: int = 0
    hidden_cells: Callable[[], list[CellProblem]] | None = None
    # (Excel row, 0-based column) -> the address a cell links to (its hyperlink, =HYPERLINK)
    links: Callable[[], dict[tuple[int, int], str]] | None = None
    csv_delimiter: str | None = None
    csv_bom: bool = False
    csv_encoding: str | None = None
    sheet_names: list[str] = field(default_factory=list)
