"""Reading the values of panels' answers: money, counts, ids, flags and service types.

Pure. Panels write numbers as JSON numbers or as text, and text the way their script
formats it: PHP's `number_format` writes `"2,500.00000"`, other scripts `"1 234,50"`.
The rule for money (README, "Real panels"):

- a JSON number is taken exactly (the JSON is decoded with `parse_float=Decimal`);
- in text, spaces (also no-break and thin spaces) and `'` only ever group thousands;
- when both `.` and `,` appear, the last one is the decimal point and the other groups
  thousands (`"2,500.00000"`, `"1.234,5"`);
- a separator that appears more than once groups thousands (`"1,234,567"`);
- a single `.` is the decimal point (`"0.718"`, `"1.234"`);
- a single `,` is the decimal point when it cannot group thousands: not followed by exactly
  three digits (`"0,90"`, `"1234,5"`), after more than three digits or a lone 0
  (`"1234,567"`, `"0,125"`), or with spaces grouping (`"1 234,567"`);
- a single `,` followed by exactly three digits after 1–3 digits (`"1,234"`) is ambiguous
  — 1234 or 1.234 — and refused, naming the field and the value, never guessed.

Groups of thousands must be of three digits (`"12,34.5"` is refused). Counts read the
same way, but a count is whole, so a lone `,` or `.` before three digits groups thousands
there (`"1,234"` and `"1.234"` are 1234). Blank, `null` and words such as `Unknown` mean
"not given".
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from bulkorders.models import TYPE_RULES

NOT_GIVEN = frozenset({"", "unknown", "n/a", "na", "none", "null", "-", "—", "?"})
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']")
_NUMBER = re.compile(r"^[+-]?[0-9][0-9.,]*$|^[+-]?[.,][0-9]+$")
_SPACED_GROUPS = re.compile(r"^[0-9]{1,3}(?:[\s\u00a0\u202f\u2009'][0-9]{3})+(?:[.,][0-9]*)?$")
_GROUPED = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})*$")
_TYPES = {name.lower(): name for name in TYPE_RULES}


class ValueProblem(ValueError):
    """A value that cannot be read; the message names the field and the value."""

    def __init__(self, field: str, value: Any, why: str) -> None:
        shown = value if isinstance(value, str) else repr(value)
        super().__init__(f'{field} "{shown}" {why}')
        self.field = field
        self.value = value


def not_given(value: Any) -> bool:
    """null, blank, or a word panels use for "no value" (`Unknown`, `N/A`, `-`)."""
    return value is None or (isinstance(value, str) and value.strip().lower() in NOT_GIVEN)


def read_money(value: Any, field: str) -> Decimal | None:
    """A money value -> exact Decimal, by the rule of the module docstring; not given -> None."""
    return _read_number(value, field, whole=False)


def read_count(value: Any, field: str) -> int | None:
    """A count -> int (`"1,234"`, `1234.0`, `"1 234"`); not given -> None."""
    number = _read_number(value, field, whole=True)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValueProblem(field, value, "is not a whole number")
    return int(number)


def _read_number(value: Any, field: str, *, whole: bool) -> Decimal | None:
    if isinstance(value, bool):
        raise ValueProblem(field, value, "is not a number")
    if isinstance(value, int | Decimal):
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueProblem(field, value, "is not a number")
        return Decimal(value)
    if not_given(value):
        return None
    if not isinstance(value, str):
        raise ValueProblem(field, value, "is not a number")
    text = value.strip()
    spaced = bool(_SPACES.search(text))
    compact = _SPACES.sub("", text)
    if not _NUMBER.match(compact) or (spaced and not _SPACED_GROUPS.match(text.lstrip("+-"))):
        raise ValueProblem(field, value, "is not a number")
    sign = "-" if compact.startswith("-") else ""
    digits = compact.lstrip("+-")
    plain = _plain(digits, spaced=spaced, whole=whole)
    if plain is None:
        raise ValueProblem(field, value, _why_unreadable(digits, whole))
    try:
        return Decimal(sign + plain)
    except InvalidOperation:
        raise ValueProblem(field, value, "is not a number") from None


def _plain(digits: str, *, spaced: bool, whole: bool) -> str | None:
    """`2,500.5` -> `2500.5`: the digits with the decimal point as `.`; None when unreadable."""
    dots, commas = digits.count("."), digits.count(",")
    if dots and commas:
        point = "." if digits.rfind(".") > digits.rfind(",") else ","
        group = "," if point == "." else "."
        head, _, tail = digits.rpartition(point)
        return _ungroup(head, group, tail)
    if not dots and not commas:
        return digits
    sep = "." if dots else ","
    if digits.count(sep) > 1:
        return _ungroup(digits, sep, None)
    head, _, tail = digits.partition(sep)
    could_group = len(tail) == 3 and 1 <= len(head) <= 3 and head != "0" and not spaced
    if not could_group:
        return f"{head or '0'}.{tail}" if tail else head or None
    if whole:
        return head + tail  # a count is whole: the separator groups thousands
    if sep == ".":
        return f"{head}.{tail}"  # a lone dot is the decimal point
    return None  # "1,234": 1234 or 1.234 — ambiguous, never guessed


def _ungroup(head: str, group: str, tail: str | None) -> str | None:
    if group in head and not _GROUPED.match(head.replace(group, ",")):
        return None
    joined = head.replace(group, "")
    if tail is None:
        return joined
    return f"{joined or '0'}.{tail}" if tail.isdigit() else None


def _why_unreadable(digits: str, whole: bool) -> str:
    if "," in digits and digits.count(",") == 1 and "." not in digits and not whole:
        return (
            "is ambiguous: the comma may group thousands or be the decimal point; "
            "ask the panel to send the amount with a decimal point"
        )
    return "is not a number (its thousands groups or decimal point are out of place)"


def read_id(value: Any) -> str:
    """An id the panel sent (int, integral Decimal or string, `ORD01HG…`) -> its text."""
    if isinstance(value, bool):
        raise ValueProblem("id", value, "is not an id")
    if isinstance(value, Decimal):
        if value != value.to_integral_value():
            raise ValueProblem("id", value, "is not an id")
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip() and not re.search(r"[\s,]", value.strip()):
        return value.strip()
    raise ValueProblem("id", value, "is not an id")


_TRUE = frozenset({"1", "true", "yes", "y", "on"})


def read_flag(value: Any) -> bool:
    """true/false, 1/0, "1"/"0", "true"/"false", "yes"/"no" (missing or blank: False)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE


def read_type(value: Any) -> str:
    """A service type in any case, with `_` or `-` for spaces -> SPEC's name (`custom_comments`
    is `Custom Comments`); a type SPEC does not know keeps its own spelling; none is Default."""
    if not isinstance(value, str) or not value.strip():
        return "Default"
    spaced = " ".join(re.sub(r"[_-]+", " ", value).split())
    return _TYPES.get(spaced.lower(), value.strip())


def read_text(value: Any) -> str | None:
    """A text value, stripped; null or blank -> None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None
