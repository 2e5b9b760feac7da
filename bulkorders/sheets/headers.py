"""Which sheet columns bulkorders understands, and where the header row is.

Header texts match case-, space- and underscore-insensitively (`Service ID`, `service_id`
and `SERVICE  id` are the same column), with SPEC's aliases. Pure: no I/O.

The output columns are bulkorders' own: a header is one of them only when bulkorders could
have written it (`ours`): its exact title (`status`, `submitted_at (UTC)`, `status (panel)`)
at or right of the order id column. A user's `Status` or `Error` is theirs, carried along and
never written; ours then get the distinct title `status (panel)`. The order id column is the
exception: a column of order ids, whatever its title, is read (and filled) as the order ids.
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


# Output columns whose header says their values are UTC times.
TIME_COLUMNS = frozenset({"submitted_at", "checked_at"})
PANEL_MARK = "panel"  # the qualifier of our column beside a user's of the same name


def output_title(name: str, beside_users: bool = False) -> str:
    """The header bulkorders writes for output column `name`: `status`, `submitted_at (UTC)`,
    or, next to a user's column of that name, `status (panel)`, `submitted_at (UTC, panel)`."""
    qualifiers = ["UTC"] if name in TIME_COLUMNS else []
    if beside_users:
        qualifiers.append(PANEL_MARK)
    return f"{name} ({', '.join(qualifiers)})" if qualifiers else name


def _titles(name: str) -> tuple[str, ...]:
    """Every header bulkorders writes or wrote for `name` (earlier versions: no `(UTC)`)."""
    return tuple(dict.fromkeys((name, f"{name} ({PANEL_MARK})", output_title(name), output_title(name, True))))


_OUR_TITLES: dict[str, str] = {title: name for name in OUTPUT_COLUMNS for title in _titles(name)}
_CANONICAL: dict[str, str] = {normalise(name): name for name in (*INPUT_COLUMNS, *OUTPUT_COLUMNS)}
_CANONICAL.update({normalise(title): name for title, name in _OUR_TITLES.items()})
_CANONICAL.update(ALIASES)
_OUTPUT = frozenset(OUTPUT_COLUMNS)


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
    """Canonical name -> every 0-based column index of `row` holding it; output columns
    only where they are bulkorders' own (`ours`)."""
    found: dict[str, list[int]] = {}
    for index, cell in enumerate(row):
        name = canonical(cell)
        if name is not None and name not in _OUTPUT:
            found.setdefault(name, []).append(index)
    for name, index in ours(row).items():
        found[name] = [index]
    return found


def ours(row: Sequence[Any]) -> dict[str, int]:
    """Output column -> 0-based index of the header cell bulkorders wrote for it.

    The order id column is the first whose header means `order_id`. Any other output
    column is ours when its header is exactly a title bulkorders writes, and either carries
    the `(panel)` mark or stands at or right of the order id column: a user's `Status` (or
    their own `status` left of the order ids) is not.
    """
    found: dict[str, int] = {}
    anchor: int | None = None
    for index, cell in enumerate(row):
        if canonical(cell) == "order_id":
            anchor = index
            found["order_id"] = index
            break
    for index, cell in enumerate(row):
        title = header_text(cell) if isinstance(cell, str) else ""
        name = _OUR_TITLES.get(title)
        if name is None or name in found:
            continue
        if title.endswith(f"{PANEL_MARK})") or (anchor is not None and index >= anchor):
            found[name] = index
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


OUTPUT_TITLES: tuple[str, ...] = tuple(output_title(name) for name in OUTPUT_COLUMNS)
