"""Cell values as read -> the values an order needs, or a `BadCell` saying what is wrong.

SPEC: `1000`, `"1000"`, `"1,000"`, `1000.0` are 1000; `1000.5`, `-5`, `abc`, a date, `TRUE`
are errors. Ids read back from result sheets are normalised here too (`id_text`), for
submit, the lifecycle commands and the report alike. Pure: no I/O. Messages read after
"row 7, quantity: ".
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any


class BadCell(ValueError):
    """A cell that cannot be used; `str()` is the message (without row and column)."""


_GROUPED = re.compile(r"^([+-]?)(\d{1,3}(?:[,\u00a0\u202f' ]\d{3})+|\d+)(?:\.(\d+))?$")
_DOTTED_THOUSANDS = re.compile(r"^\d{1,3}(?:\.\d{3})+$")
_DAY_MONTH_YEAR = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$")


def shown(text: str, limit: int = 60) -> str:
    """Text for a message: line breaks as \\n, long values cut with an ellipsis."""
    flat = text.replace("\r\n", "\n").replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def display(value: Any) -> str:
    """A cell value as the user would recognise it in a message."""
    if value is True or value is False:
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ") if value.time() != dt.time() else value.date().isoformat()
    if isinstance(value, str):
        return shown(value.strip())
    return str(value)


class CommaText(str):
    """A text cell of a sheet whose numbers have decimal commas (`1000,0`, `1.000`)."""


_COMMA_GROUPED = re.compile(r"^([+-]?)(\d{1,3}(?:[.\u00a0\u202f' ]\d{3})+|\d+)(?:,(\d+))?$")
_AMBIGUOUS_COMMA = re.compile(r"^\d{1,3},\d{3}$")
# 0,375 and 12,5 cannot have a thousands comma (1,000 can); likewise for points.
_COMMA_EVIDENCE = re.compile(r"^[+-]?(\d+,(\d{1,2}|\d{4,})|0,\d+|\d{1,3}(\.\d{3})+,\d+)$")
_DOT_EVIDENCE = re.compile(r"^[+-]?(\d+\.(\d{1,2}|\d{4,})|0\.\d+|\d{1,3}(,\d{3})+\.\d+)$")
_NUMBER_LIKE = re.compile(r"^[+-]?\d[\d.,\u00a0\u202f' ]*$")


def decimal_evidence(value: Any) -> str | None:
    """"," for a text that can only be a decimal-comma number (`0,375`, `1.000,5`), "." for
    one that can only be a decimal-point number (`0.375`), None otherwise."""
    if value.__class__ is not str:
        return None
    text = value.strip()
    if _COMMA_EVIDENCE.match(text):
        return ","
    if _DOT_EVIDENCE.match(text):
        return "."
    return None


def as_comma_text(value: Any) -> Any:
    """A number-looking text cell of a decimal-comma sheet, marked so (other values as they are)."""
    if value.__class__ is str and _NUMBER_LIKE.match(value.strip()):
        return CommaText(value)
    return value


def comma_amount(text: str) -> Decimal | None:
    """`0,375`, `1.000,5` -> their exact Decimal; None when `text` is not such a number."""
    match = _COMMA_GROUPED.match(text.strip())
    if match is None:
        return None
    sign, digits, fraction = match.groups()
    number = Decimal(re.sub(r"\D", "", digits) + (f".{fraction}" if fraction else ""))
    return -number if sign == "-" else number


_COMMA_DECIMAL = re.compile(r"\d+,\d+")
_DOT_THOUSANDS_AMOUNT = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_COMMA_THOUSANDS_AMOUNT = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def amount(text: str, decimal: str | None) -> Decimal:
    """An exact, non-negative amount: `20.00`, or `20,00` (a decimal comma, unless --decimal .).

    `20,000` could be twenty or twenty thousand: refused unless `decimal` says which. Raises
    BadCell, its message starting with the text.
    """
    value = text.strip()
    if decimal == "," and _DOT_THOUSANDS_AMOUNT.fullmatch(value):  # 1.000,50: thousands dots
        value = value.replace(".", "")
    elif decimal == "." and _COMMA_THOUSANDS_AMOUNT.fullmatch(value):  # 1,000.50: thousands commas
        value = value.replace(",", "")
    if "," in value:
        if decimal == "." or (decimal is None and _AMBIGUOUS_COMMA.fullmatch(value)):
            raise BadCell(
                f"{text}: is the comma a decimal comma or a thousands separator? Write the "
                f"amount without thousands separators ({value.replace(',', '')} or "
                f"{value.replace(',', '.')}), or give --decimal , (or .) to say which."
            )
        if not _COMMA_DECIMAL.fullmatch(value):
            raise BadCell(f"{text} is not an amount (e.g. 25, 12.50 or 12,50).")
        value = value.replace(",", ".")
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or number < 0:
        raise BadCell(f"{text} is not an amount (e.g. 25, 12.50 or 12,50).")
    return number


def whole_number(value: Any) -> int:
    """A whole number of 0 or more, from a number or text cell (a `CommaText` read with
    decimal commas: `1000,0` and `1.000` are 1000)."""
    cls = value.__class__
    if cls is CommaText:
        number = _parse_comma_number(value.strip())
    elif cls is int:
        number = value
    elif cls is float:
        if not value.is_integer():
            raise BadCell(f'"{display(value)}" is not a whole number')
        number = int(value)
    elif cls is str:
        text = value.strip()
        number = int(text) if text.isascii() and text.isdigit() else _parse_text_number(text)
    elif isinstance(value, (dt.date, dt.datetime)):
        raise BadCell(f'"{display(value)}" is a date, not a whole number')
    elif isinstance(value, (dt.time, dt.timedelta)):
        raise BadCell(f'"{display(value)}" is a time, not a whole number')
    else:
        raise BadCell(f'"{display(value)}" is not a whole number')
    if number < 0:
        raise BadCell(f'"{display(value)}" is negative; give a whole number of 0 or more')
    return number


def _parse_text_number(text: str) -> int:
    if _DOTTED_THOUSANDS.match(text):  # "10.000": ten thousand in much of Europe, ten in the US
        raise BadCell(f'"{text}" is not a whole number (write thousands without dots, e.g. 10000)')
    match = _GROUPED.match(text)
    if match is None:
        raise BadCell(f'"{text}" is not a whole number')
    sign, digits, fraction = match.groups()
    if fraction and fraction.strip("0"):
        raise BadCell(f'"{text}" is not a whole number')
    number = int(re.sub(r"\D", "", digits))
    return -number if sign == "-" else number


def _parse_comma_number(text: str) -> int:
    if _AMBIGUOUS_COMMA.match(text):  # "1,000": one with a decimal comma, one thousand in the US
        raise BadCell(f'"{text}" is ambiguous (a decimal comma or a thousands comma?): '
                      f"write thousands without a separator, e.g. {text.replace(',', '')}")
    amount = comma_amount(text)
    if amount is None or amount != amount.to_integral_value():
        raise BadCell(f'"{text}" is not a whole number')
    return int(amount)


def text(value: Any) -> str | None:
    """A text cell, trimmed; numbers as written (1001.0 -> "1001"); blank -> None."""
    if value is None:
        return None
    if value.__class__ is str:
        return value.strip() or None
    if isinstance(value, (dt.date, dt.datetime, dt.time, dt.timedelta)):
        raise BadCell(f'"{display(value)}" is a date or time, not text')
    return display(value)


def lines(value: Any) -> str | None:
    """A one-item-per-line cell: line ends made "\\n", blank lines and trailing spaces dropped."""
    raw = text(value)
    if raw is None:
        return None
    kept = [line.strip() for line in raw.splitlines() if line.strip()]
    return "\n".join(kept) or None


def day_month_year(value: Any) -> str | None:
    """A date cell or d/m/Y text (also ISO 2025-12-31) -> "31/12/2025", as panels take it."""
    if value is None:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return f"{value.day:02d}/{value.month:02d}/{value.year}"
    raw = text(value)
    if raw is None:
        return None
    match = _DAY_MONTH_YEAR.match(raw)
    day_month = (match.group(1), match.group(2), match.group(3)) if match else None
    iso = _ISO_DATE.match(raw)
    if iso:
        day_month = (iso.group(3), iso.group(2), iso.group(1))
    if day_month is None:
        raise BadCell(f'"{raw}" is not a date; write it as day/month/year, e.g. 31/12/2025')
    day, month, year = (int(part) for part in day_month)
    try:
        dt.date(year, month, day)
    except ValueError:
        raise BadCell(f'"{raw}" is not a real date (day/month/year)') from None
    return f"{day:02d}/{month:02d}/{year}"


def cell_text(value: Any) -> str | None:
    """A cell as stripped text; None for empty. Whole floats lose their ".0" (ids, services)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    text = str(value).strip()
    return text or None


# "23,501", "23 501" (one separator kind, groups of three), with or without a whole ".0"
_GROUPED_ID = re.compile(r"\d{1,3}(?:([,\s'])\d{3})(?:\1\d{3})*(?:\.0+)?")
_WHOLE_ID = re.compile(r"(\d+)\.0+")


def id_text(value: Any) -> str | None:
    """An order or refill id cell as the panel knows it; None for an empty cell.

    Ids are text, so leading zeros stay. What spreadsheets do to numbers is undone:
    23501.0 (an xlsx float, or the text pandas writes into a CSV column with blanks)
    and "23,501" (thousands separators) are "23501". An id that is still not usable
    (a comma or a space inside) is returned as it is: see `id_problem`.
    """
    text = cell_text(value)
    if text is None:
        return None
    if _GROUPED_ID.fullmatch(text):
        text = re.sub(r"[,\s']", "", text)
    whole = _WHOLE_ID.fullmatch(text)
    return whole.group(1) if whole else text


def id_problem(column: str, text: str | None) -> str | None:
    """Why an id from `id_text` cannot be sent to the panel (ids go as a comma list), or None."""
    if text is None or not re.search(r"[,\s]", text):
        return None
    return f'{column} "{text}" cannot be sent to the panel: an id holds no commas or spaces; correct the cell'
