"""The balance around a submit run: kept in the ledger, and a warning when the run does not balance.

Before sending, the balance the cost guard used is kept; after the run, the balance is read
again and kept with the rows the run left uncertain. When the balance fell by more (or
less) than the run's orders cost, one line says so and what most likely explains it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from bulkorders.clock import utc_now_iso
from bulkorders.errors import BulkOrdersError
from bulkorders.ledger import RowState, keep_reading

if TYPE_CHECKING:
    from bulkorders.ledger import LedgerRow
    from bulkorders.models import Balance
    from bulkorders.submit.world import SubmitIO


def keep_balance(io: SubmitIO, command: str, balance: Balance, campaign: str, uncertain: Sequence[dict] = ()) -> None:
    """Keep a reading; after a run, warn (`io.notify`) when the run's interval does not balance."""
    line = keep_reading(io.ledger, io.panel, balance, command, utc_now_iso(io.clock), campaign, uncertain)
    if line and command == "submit after":
        io.notify(line)


def balance_after_run(
    io: SubmitIO, campaign: str, rows: Sequence[tuple[int, LedgerRow]], sent: Collection[int]
) -> None:
    """Read the balance once the run is over; a panel that does not answer is left alone
    (the run's own outcome says what failed)."""
    try:
        balance = io.client.balance()
    except BulkOrdersError:
        return
    uncertain = [
        {"row_id": row.id, "campaign": campaign, "excel_row": excel, "estimate": str(row.estimate),
         "sent_at": row.sent_at}
        for excel, row in rows if row.id in sent and row.state == RowState.UNCERTAIN
    ]  # fmt: skip
    keep_balance(io, "submit after", balance, campaign, uncertain)
