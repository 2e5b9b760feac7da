"""What an order really cost, and spend by the sheet's own columns (`report --by client`).

Spend is what the balance paid: cancelled and refunded orders count zero, a Partial order
what the panel charged after its refund (the charge its last status answer brought back),
any other order its latest known charge (the catalogue estimate until a status is read).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from bulkorders.errors import UsageError
from bulkorders.ledger import net_spend

if TYPE_CHECKING:
    from bulkorders.ledger import OrderRecord

__all__ = ["net_spend", "order_spend", "by_values", "sheet_title"]

ZERO = Decimal(0)
BLANK = "(blank)"
SPEND_NOTE = (
    "Spend is net of cancels and refunds: cancelled and refunded orders count zero, Partial "
    "orders what the panel charged after its refund, other orders their latest known charge."
)

_SEPARATORS = re.compile(r"[\s_]+")

Columns = Mapping[tuple[str, str], Mapping[str, str]]  # (panel, order id) -> header -> text


def order_spend(order: OrderRecord) -> Decimal:
    """`net_spend` of a ledger order."""
    return net_spend(order.status, order.charge)


def _key(header: str) -> str:
    return _SEPARATORS.sub(" ", header).strip().lower()


def by_values(orders: Sequence[OrderRecord], columns: Columns, wanted: str) -> list[str]:
    """The value of the sheet column `wanted` (case- and space-insensitive) for each order.

    Orders whose row had it blank, or that no sheet row placed, get "(blank)". A column no
    row has is a usage error naming the columns there are.
    """
    key = _key(wanted)
    found = False
    values = []
    for order in orders:
        value = None
        for header, text in columns.get((order.panel, order.order_id), {}).items():
            if _key(header) == key:
                value, found = text, True
                break
        values.append(value)
    if not found:
        spellings: dict[str, str] = {}
        for header in sorted({h for cells in columns.values() for h in cells}):
            spellings.setdefault(_key(header), header)  # Client and client are one column
        known = sorted(spellings.values(), key=str.lower)
        listed = ", ".join(known) if known else "none (submit keeps them from the sheets it places)"
        raise UsageError(
            f"--by {wanted}: no order in the report has a sheet column of that name. "
            f"The columns the ledger kept are: {listed}."
        )
    return _merged_spellings(values)


def _merged_spellings(values: Sequence[str | None]) -> list[str]:
    """One group per value whatever its case and spaces ("Acme", "acme ", " ACME"), named by
    its most common spelling (the first seen of equally common ones); blank ones "(blank)"."""
    spellings: dict[str, dict[str, int]] = {}
    for value in values:
        if value and value.strip():
            counts = spellings.setdefault(_value_key(value), {})
            counts[value.strip()] = counts.get(value.strip(), 0) + 1
    shown = {key: max(counts, key=counts.__getitem__) for key, counts in spellings.items()}
    return [shown[_value_key(value)] if value and value.strip() else BLANK for value in values]


def _value_key(value: str) -> str:
    return " ".join(value.split()).casefold()


def sheet_title(value: str, taken: set[str]) -> str:
    """A worksheet name for a statement: Excel's rules (≤ 31 chars, no []:*?/\\), unique."""
    base = re.sub(r"[\[\]:*?/\\]", "-", value).strip("' ") or BLANK
    base = base[:31]
    title, n = base, 2
    while title.lower() in {t.lower() for t in taken}:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(title)
    return title
