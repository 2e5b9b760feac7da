"""The campaign's orders that no longer match a row of the sheet (the row was edited or
deleted after its order was placed): listed in the results, so the sheet's spend and the
campaign's agree. A workbook gets a sheet of them; for a CSV a note says where they are.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from bulkorders.models import format_money

if TYPE_CHECKING:
    from bulkorders.ledger import Campaign
    from bulkorders.submit.world import SubmitIO

SHEET_TITLE = "Orders not in this sheet"
HEADER = ["order_id", "was row", "service", "link", "quantity", "charge", "currency", "status", "submitted_at (UTC)"]


def list_unmatched(campaign: Campaign, here: Collection[int], out: Path, io: SubmitIO) -> str | None:
    """Put the campaign's orders outside the ledger rows `here` (the sheet's) in the results at
    `out`; the note to show, if any."""
    orphans = [
        row for batch in io.ledger.rows_in_batches(campaign) for row in batch
        if row.id not in here and row.order_id
    ]  # fmt: skip
    if not orphans:
        return None
    records = io.ledger.orders(io.panel, [row.order_id for row in orphans if row.order_id])
    table: list[list[object]] = [list(HEADER)]
    totals: dict[str, Decimal] = {}
    for row in orphans:
        record = records.get(row.order_id or "")
        charge = record.charge if record and record.charge is not None else row.charge
        currency = (record.currency if record else None) or row.currency or ""
        if charge is not None:
            totals[currency] = totals.get(currency, Decimal(0)) + charge
        quantity = row.payload.get("quantity")
        table.append([row.order_id, row.excel_row, row.service, row.link, int(quantity) if quantity else None,
                      charge, currency or None, record.status if record else None,
                      record.submitted_at if record else row.sent_at])  # fmt: skip
    spent = ", ".join(f"{format_money(amount)} {currency}".rstrip() for currency, amount in sorted(totals.items()))
    count = f"{len(orphans)} order" + ("" if len(orphans) == 1 else "s")
    verb = "matches" if len(orphans) == 1 else "match"
    what = f"{count} of campaign {campaign.name} no longer {verb} a row (edited or deleted after placing; {spent})"
    if out.suffix.lower() == ".csv":
        return f"{what}: `bulkorders report --campaign {campaign.name}` lists them with every order."
    from bulkorders.sheets import put_side_sheet

    table.append([])
    table += [["total", None, None, None, None, amount, currency or None] for currency, amount in sorted(totals.items())]
    put_side_sheet(out, SHEET_TITLE, table)
    return f"{what}: listed in the sheet \"{SHEET_TITLE}\" of {out.name}."
