"""Who placed what: the operator (OS user and host) of the run that placed each order.

A row carries the run that claimed it for sending (`rows.run_id`, schema 5), and an order
the row it was placed for; so an order's operator is `user@host` of that run. Orders the
ledger only met (a status answer about an order placed elsewhere), and rows placed before
schema 5, have none. A function over a `Ledger`, inside its transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bulkorders.ledger.store import Ledger

OPERATORS = (
    "SELECT o.panel, o.order_id, u.operator, u.host FROM orders o "
    "JOIN rows r ON r.id = o.row_id JOIN runs u ON u.id = r.run_id"
)


def order_operators(ledger: Ledger, panel: str | None = None) -> dict[tuple[str, str], str]:
    """(panel, order id) -> `user@host` of the run that placed it (orders with none left out)."""
    query = OPERATORS + (" WHERE o.panel = ?" if panel is not None else "")
    with ledger._read() as db:  # noqa: SLF001 - a ledger module, inside the ledger's transaction
        found = db.execute(query, (panel,) if panel is not None else ()).fetchall()
    return {(p, order_id): f"{user}@{host}" for p, order_id, user, host in found}
