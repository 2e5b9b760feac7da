"""Which sheet columns bulkorders understands, and where the header row is.

Header texts match case-, space- and underscore-insensitively (`Service ID`, `service_id`
and `SERVICE  id` are the same column), with SPEC's aliases. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from bulkorders.models import OUTPUT_COLUMNS, TYPE_FIELDS

INPUT_COLUMNS: tuple[str, ...] = ("link", "service", "quantity", *TYPE_FIELDS)

ALIASES: dict[str, str] = {
    "url": "link",
    "service id": "service",
    "serviceid": "service",
    "qty": "quantity",
    "amount": "quantity",
}

_SEPARATORS = re.compile(r"[\s_]+")


def normalise(text: str) -> str:
    """`" Service_ID "` -> `"service id"`: the form headers are compared in."""
    return _SEPARATORS.sub(" ", text).strip().lower()


_CANONICAL: dict[str, str] = {normalise(name): name for name in (*INPUT_COLUMNS, *OUTPUT_COLUMNS)}
_CANONICAL.update(ALIASES)


def canonical(header: Any) -> str | None:
    """The column name bulkorders uses for a header cell, or None for a column it does not know."""
    if not isinstance(header, str):
        return None
    return _CANONICAL.get(normalise(header))


def header_text(cell: Any) -> str:
    """A header cell as text (numbers and blanks included), for messages and `Sheet.headers`."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def recognised(row: Sequence[Any]) -> dict[str, list[int]]:
    """Canonical name -> every 0-based column index of `row` holding it."""
    found: dict[str, list[int]] = {}
    for index, cell in enumerate(row):
        name = canonical(cell)
        if name is not None:
            found.setdefault(name, []).append(index)
    return found


def is_header(found: dict[str, list[int]], purpose: str) -> bool:
    """Does a row with these recognised columns qualify as the header row for `purpose`?"""
    if purpose == "results":
        return "order_id" in found
    return "service" in found and ("link" in found or "username" in found)


def best_candidate(rows: Iterable[tuple[int, Sequence[Any]]]) -> tuple[int, Sequence[Any]] | None:
    """When no row qualifies: the row that looks most like a header (most known names).

    Falls back to the first non-blank row, so the error message can list what was found.
    """
    best: tuple[int, Sequence[Any]] | None = None
    best_score = -1
    for number, row in rows:
        if not any(header_text(cell) for cell in row):
            continue
        score = len(recognised(row))
        if score > best_score:
            best, best_score = (number, row), score
    return best
