"""Which campaign a sheet joins when its name was not chosen: a same-named file elsewhere.

A campaign is named after its file unless the user names it. Two folders each holding an
`orders.xlsx` (one per client) would then share one campaign: the second file's rows that
equal the first's would be taken as placed, and the first client's order ids written into
the second client's sheet. So a campaign that already sent rows from another file that
still exists is joined only when the user names it; a file that moved (its old path is gone)
or the campaign's own results sheet continues it. Reads the ledger; sends nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bulkorders.errors import UsageError
from bulkorders.ledger import RowState

if TYPE_CHECKING:
    from bulkorders.ledger import Campaign, Ledger


class CampaignTaken(UsageError):
    """The campaign named after the file was placed from another file: name it to go on."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


def check_joining(name: str, source: Path, ledger: Ledger, panel: str) -> str | None:
    """Refuse (`CampaignTaken`) joining campaign `name` placed from another existing file.

    Returns a note to show when the campaign continues from a file that moved, else None.
    """
    earlier = ledger.find_campaign(name, panel)
    here = str(source.absolute())
    if earlier is None or earlier.source_path in (None, here) or earlier.results_path == here:
        return None
    if not _sent_any(ledger, earlier):
        return None  # only planned rows (a dry run): nothing would be taken as placed
    before = Path(earlier.source_path)
    if before.exists() and _same_file(before, source):
        return None  # the same file by another path (a symlinked folder)
    if not before.exists():
        return (
            f"Campaign {name} was placed from {earlier.source_path}, which is no longer there: "
            f"continuing it from {here} (rows placed then are not placed again; for a new "
            "campaign, rerun with --campaign NEW-NAME)."
        )
    raise CampaignTaken(
        f"Nothing sent: campaign {name} was placed from {earlier.source_path}, and {here} has the "
        f"same name. Rerun with --campaign NEW-NAME for a new campaign, or --campaign {name} to "
        "continue that one.",
        name,
    )


def _same_file(one: Path, other: Path) -> bool:
    try:
        return one.samefile(other)
    except OSError:
        return False


def _sent_any(ledger: Ledger, campaign: Campaign) -> bool:
    """Whether any row of the campaign was ever sent (placed, rejected, uncertain, sending)."""
    return any(state != RowState.PLANNED for state in ledger.state_counts(campaign))
