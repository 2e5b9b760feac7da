"""What a result value becomes in a sheet cell: a number or a text, formula-safe. Pure.

The panel's answers are not trusted: a text that a spreadsheet would run as a formula
(OWASP's CSV-injection list: `=`, `+`, `-`, `@`, tab, carriage return at the start) is
flagged so each writer can keep it inert — a text cell with a quote prefix in xlsx, a
leading `'` in CSV. Numbers stay numbers, negative ones included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bulkorders.sheets.headers import PANEL_MARK, TIME_COLUMNS, canonical, output_title

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel keeps at most this many characters in a cell; a longer panel text is cut.
MAX_CELL_TEXT = 32_767

# Columns whose digits-only text (an id, a count) is written as a whole number.
INTEGER_COLUMNS = frozenset({"order_id", "refill_id", "start_count", "remains"})
# Columns whose numeric text is written as a number (signed, decimals allowed).
NUMBER_COLUMNS = frozenset({"charge", "start_count", "remains"})
# Ids with more digits than this would lose digits as an Excel number: they stay text.
_MAX_EXACT_DIGITS = 15

_ID_DIGITS = re.compile(r"[1-9][0-9]*|0")
_SIGNED_INT = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class WriteProblem(Exception):
    """The file cannot be edited (not a workbook, no such sheet, undecodable text)."""


@dataclass(frozen=True)
class CellOut:
    """One value ready for a writer: `text` is the number's digits or the cell's text."""

    text: str
    is_number: bool = False
    formula_like: bool = False


def cell_out(column: str, value: Any) -> CellOut | None:
    """The cell for `value` in output column `column`; None clears the cell.

    Decimals and ints become numbers (exact digits, no exponent); ids and counts given as
    digits become numbers too; datetimes become UTC ISO 8601 text; anything else is text.
    """
    if value is None:
        return None
    if column in TIME_COLUMNS:
        value = sheet_time(value)
    if isinstance(value, bool):
        return _text(str(value))
    if isinstance(value, int):
        return CellOut(str(value), is_number=True)
    if isinstance(value, Decimal | float):
        number = Decimal(str(value)) if isinstance(value, float) else value
        if not number.is_finite():
            return _text(str(value))
        return CellOut(_plain_decimal(number), is_number=True)
    if isinstance(value, datetime):
        return _text(utc_iso(value))
    if isinstance(value, date):
        return _text(value.isoformat())
    text = str(value)
    stripped = text.strip()
    if column in INTEGER_COLUMNS and _as_integer(column, stripped):
        return CellOut(str(int(stripped)), is_number=True)
    if column in NUMBER_COLUMNS and _NUMBER.fullmatch(stripped):
        try:
            return CellOut(_plain_decimal(Decimal(stripped)), is_number=True)
        except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
            pass
    return _text(text)


_EXCEL_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
_ISO_MOMENT = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:Z|[+-]00:?00)?")


def excel_time(value: Any) -> CellOut | None:
    """A moment (a datetime, or UTC ISO 8601 text as the ledger keeps it) as an Excel
    date-time number (days since 1899-12-30, to the second); None for anything else."""
    moment = excel_moment(value)
    if moment is None:
        return None
    seconds = int((moment - _EXCEL_EPOCH).total_seconds())
    days = (Decimal(seconds) / Decimal(86400)).quantize(Decimal("1e-10"))
    return CellOut(_plain_decimal(days), is_number=True)


def sheet_time(value: Any) -> Any:
    """A moment as a time column shows it in text: `2027-01-15 08:00:05` (UTC, as the header
    says), which spreadsheets read as a date-time (ISO's `T…Z` they read as text)."""
    moment = excel_moment(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else value


def excel_moment(value: Any) -> datetime | None:
    """A datetime or UTC ISO 8601 text as an aware UTC datetime; None for anything else."""
    moment = value if isinstance(value, datetime) else None
    if isinstance(value, str) and (found := _ISO_MOMENT.fullmatch(value.strip())):
        moment = datetime(*(int(part) for part in found.groups()), tzinfo=UTC)  # type: ignore[misc]
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_iso(moment: datetime) -> str:
    """`2024-05-01T12:00:00Z`: a moment in UTC, ISO 8601, to the second (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def csv_field(cell: CellOut | None, decimal: str = ".") -> str:
    """The text of a CSV field: formula-like texts get a leading `'` so no program runs them;
    numbers get the file's decimal mark."""
    if cell is None:
        return ""
    if cell.is_number:
        return cell.text.replace(".", decimal)
    return "'" + cell.text if cell.formula_like else cell.text


def _text(text: str) -> CellOut:
    if len(text) > MAX_CELL_TEXT:
        text = text[: MAX_CELL_TEXT - 1] + "…"
    return CellOut(text, formula_like=text.startswith(FORMULA_STARTS))


def _as_integer(column: str, text: str) -> bool:
    if len(text.lstrip("-")) > _MAX_EXACT_DIGITS:
        return False
    if column in NUMBER_COLUMNS:  # counts: signed (panels do report negative remains)
        return bool(_SIGNED_INT.fullmatch(text))
    return bool(_ID_DIGITS.fullmatch(text))  # ids: "00123" stays text, it is not 123


def _plain_decimal(number: Decimal) -> str:
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# --- where the output columns go ---------------------------------------------------------


@dataclass(frozen=True)
class ColumnPlan:
    """0-based column index of every output column, the ones that are new (in order), and the
    header each new one gets (`status`, or `status (panel)` beside a user's own `Status`)."""

    positions: dict[str, int]
    added: list[str]
    titles: dict[str, str] = field(default_factory=dict)

    def beside_users(self) -> list[str]:
        """Titles of the added columns that got the `(panel)` mark, in order."""
        return [self.titles[name] for name in self.added if self.titles[name].endswith(f"{PANEL_MARK})")]


def header_key(text: Any) -> str:
    """`" Order ID "`, `order_id` and `ORDER  id` compare equal."""
    return re.sub(r"[\s_]+", " ", str(text)).strip().lower()


def plan_columns(
    headers: list[str], known: dict[str, int], used_width: int, output_columns: tuple[str, ...]
) -> ColumnPlan:
    """Reuse each output column bulkorders wrote (`known`, see headers.ours); put the others,
    in order, after `used_width` (the count of columns holding anything: cells, formulas,
    merges). A column of the user's with the same name is never reused: ours is marked."""
    users = {canonical(text) for index, text in enumerate(headers) if index not in known.values()}
    positions: dict[str, int] = {}
    added: list[str] = []
    titles: dict[str, str] = {}
    next_free = max(used_width, len(headers))
    for name in output_columns:
        index = known.get(name)
        if index is None:
            index = next_free
            next_free += 1
            added.append(name)
            titles[name] = output_title(name, beside_users=name in users)
        positions[name] = index
    return ColumnPlan(positions, added, titles)
