"""What `submit` would send of a sheet, as the ledger knows its campaign: for `validate`.

The same planning as a run, read only: the campaign name rule, the row identities (content
and occurrence, rows carrying a known order id keeping theirs) and which ledger states a run
sends. Nothing is written: a campaign the ledger does not know has sent nothing yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bulkorders.ledger import RowState, assign_identities
from bulkorders.submit.joining import CampaignTaken, check_joining
from bulkorders.submit.pipeline import campaign_name, claimed, named, sends
from bulkorders.submit.recovery import order_ids_of, without_order_ids
from bulkorders.submit.world import SubmitOptions
from bulkorders.validation import Pending

if TYPE_CHECKING:
    from bulkorders.ledger import Ledger
    from bulkorders.models import ServiceLookup
    from bulkorders.sheets import Sheet


def pending_rows(
    sheet: Sheet,
    catalogue: ServiceLookup,
    ledger: Ledger | None,
    panel: str,
    options: SubmitOptions,
) -> Pending:
    """The valid rows of `sheet` that `submit` with `options` would send, and what it would not.

    `ledger` None (no ledger file yet): every valid row without an order id would be sent.
    """
    from bulkorders.validation import validate_sheet

    name = campaign_name(Path(sheet.path), options.campaign)
    valid = validate_sheet(without_order_ids(sheet), catalogue).rows
    existing = order_ids_of(sheet)
    campaign = ledger.find_campaign(name, panel) if ledger is not None else None
    if campaign is None or ledger is None:
        return Pending(name, known=False, rows=[row for row in valid if row.row not in existing])
    if not named(options):
        try:
            check_joining(name, Path(sheet.path), ledger, panel)
        except CampaignTaken as exc:  # submit sends nothing; under another name, every row
            refused = exc.message.removeprefix("Nothing sent: ")
            return Pending(name, known=False, rows=[row for row in valid if row.row not in existing], refused=refused)
    payloads = [row.payload() for row in valid]
    identities = assign_identities(payloads, claimed(campaign, valid, payloads, existing, ledger))
    states = {row.identity: row.state for row in ledger.rows(campaign)}
    to_send, placed, held = [], 0, 0
    for identity, row in zip(identities, valid):
        state = states.get(identity, RowState.PLANNED)
        if row.row in existing:
            continue  # it carries its order: submit records it, never sends it
        if state == RowState.PLACED:
            placed += 1
        elif sends(state, options):
            to_send.append(row)
        else:
            held += 1
    return Pending(name, known=True, rows=to_send, placed=placed, held=held)
