"""Which sheet `status`, `refill` and `cancel` work on when given a campaign's input sheet.

A user who placed `weekly.xlsx` naturally runs `bulkorders status weekly.xlsx`. That
sheet holds no order ids: its campaign's results sheet does. So the command follows the
results sheet, and when the last write of it failed (the file was open in Excel), writes
it again from the ledger first: nothing the panel answered is ever lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bulkorders.ledger_schema import Campaign


def sheet_to_follow(
    source: Path,
    campaigns: Iterable[Campaign],
    panel: str,
    rewrite: Callable[[Campaign], Path],
    notify: Callable[[str], None],
) -> Path:
    """`source` itself, or the results sheet of the campaign whose input `source` is."""
    where = str(source.absolute())
    campaign = next(
        (c for c in campaigns if c.panel == panel and c.source_path == where and c.results_path != where),
        None,
    )
    if campaign is None or campaign.results_path is None:
        return source
    results = Path(campaign.results_path)
    if campaign.needs_write or not results.exists():
        results = rewrite(campaign)
        notify(f"Wrote the results of campaign {campaign.name} again from the ledger: {results}.")
    notify(f"{source.name} is the input of campaign {campaign.name}: working on its results, {results}.")
    return results
