"""The results sheet as a second record: a row it shows with an order id is never placed again.

The ledger is the record of what was placed, and the campaign's results sheet a view of it
written after every run. When the ledger lost rows (deleted, or restored from an older
backup) the results sheet still shows their order ids. Before anything is sent, the rows
without an order are looked up in it by the ledger's own row identity (content and
occurrence, so a sorted or edited sheet still matches) and the ones it shows placed are
recorded placed again: recovered into the ledger, not sent. The same records the id of an
uncertain row that the user found in the panel's order list and typed into the results sheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from bulkorders.clock import utc_now_iso
from bulkorders.errors import BulkOrdersError, SheetError
from bulkorders.ledger import assign_identities, file_stamp
from bulkorders.models import counted
from bulkorders.sheets import id_text

if TYPE_CHECKING:
    from bulkorders.ledger import Campaign, LedgerRow
    from bulkorders.sheets import Sheet
    from bulkorders.submit.world import SubmitIO


def recover_placed(
    campaign: Campaign,
    unplaced: Sequence[LedgerRow],
    results: Sequence[Path],
    sheet_name: str | None,
    io: SubmitIO,
    decimal: str | None = None,
) -> int:
    """Record placed the rows of `unplaced` (rows of the campaign without an order) that a
    results sheet of `results` shows with an order id.

    Returns how many were recovered (and says so through `io.notify`). A results sheet that
    exists but cannot be read stops the run before anything is sent: it may be the only
    record of what was placed. `decimal` is the input's --decimal: its results file is
    written with the same decimal mark.
    """
    wanted = {row.identity: row for row in unplaced}
    recovered = 0
    for path in results:
        if not wanted or not path.is_file() or written_by_this_ledger(campaign, path):
            continue
        found = [
            (wanted.pop(identity).id, order_id)
            for identity, order_id in shown_placed(path, sheet_name, io, decimal).items()
            if identity in wanted
        ]
        if found:
            io.ledger.record_existing_orders(campaign, found, utc_now_iso(io.clock))
            io.notify(
                f"Recovered {counted(len(found), 'placed row')} into the ledger from the results sheet "
                f"{path}: the ledger did not have their orders (it was replaced or restored), "
                "and they are not placed again."
            )
        recovered += len(found)
    return recovered


def written_by_this_ledger(campaign: Campaign, path: Path) -> bool:
    """The file is the one this ledger last wrote, unchanged: it knows nothing the ledger
    does not (a deleted ledger has no such record; a restored one an older file's)."""
    if campaign.results_path is None or campaign.results_stamp is None:
        return False
    same_file = Path(campaign.results_path).resolve() == path.resolve()
    return same_file and file_stamp(path) == campaign.results_stamp


def shown_placed(path: Path, sheet_name: str | None, io: SubmitIO, decimal: str | None = None) -> dict[str, str]:
    """Row identity -> order id, for the rows of the results sheet at `path` with an order id."""
    from bulkorders.sheets import read_sheet
    from bulkorders.validation import validate_sheet

    try:
        sheet = read_sheet(path, sheet_name, purpose="orders", decimal=decimal)
    except BulkOrdersError as exc:
        raise SheetError(
            f"Cannot read the results sheet {path} to check which rows it shows placed: "
            f"{exc.message} Nothing was sent. Repair that file or put it back, then rerun."
        ) from exc
    order_ids = order_ids_of(sheet)
    if not order_ids:
        return {}
    valid = validate_sheet(without_order_ids(sheet), io.catalogue).rows
    identities = assign_identities([row.payload() for row in valid])
    return {
        identity: order_ids[row.row]
        for identity, row in zip(identities, valid) if row.row in order_ids
    }  # fmt: skip


def order_ids_of(sheet: Sheet) -> dict[int, str]:
    """Excel row -> order id, for the rows of a sheet that carry one."""
    found = {}
    for row in sheet.rows:
        text = id_text(row.values.get("order_id"))  # as status reads it: 23501.0, "23,501"
        if text:
            found[row.row] = text
    return found


def without_order_ids(sheet: Sheet) -> Sheet:
    """The sheet as validation sees it for identities: its rows without their order ids."""
    if "order_id" not in sheet.columns:
        return sheet
    from bulkorders.sheets import SheetRow

    rows = [
        SheetRow(row.row, {k: v for k, v in row.values.items() if k != "order_id"})
        for row in sheet.rows
    ]
    return replace(sheet, rows=rows)
