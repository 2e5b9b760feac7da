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

from bulkorders.errors import UsageError

if TYPE_CHECKING:
    from bulkorders.ledger import Campaign


def sheet_to_follow(
    source: Path,
    campaigns: Iterable[Campaign],
    panel: str,
    rewrite: Callable[[Campaign], Path],
    notify: Callable[[str], None],
) -> Path:
    """`source` itself, or the results sheet of the campaign whose input `source` is.

    One input may have fed several campaigns (`submit --campaign`). The ledger does not
    say which was used last, so when their results are different sheets (or one of them
    has to be written again) the choice is the user's: UsageError naming the candidates.
    """
    where = str(source.absolute())
    found = [
        c for c in campaigns if c.panel == panel and c.source_path == where and c.results_path not in (None, where)
    ]
    if not found:
        return source
    if len(found) > 1 and (len({c.results_path for c in found}) > 1 or any(c.needs_write for c in found)):
        listed = "\n".join(f"  campaign {c.name}: {c.results_path}" for c in found)
        raise UsageError(
            f"{source.name} is the input of {len(found)} campaigns on {panel}:\n{listed}\n"
            "Run the command on the results sheet of the campaign you mean."
        )
    campaign = found[0]
    results = Path(campaign.results_path or where)
    if campaign.needs_write or not results.exists():
        results = rewrite(campaign)
        notify(f"Wrote the results of campaign {campaign.name} again from the ledger: {results}.")
    names = ", ".join(c.name for c in found)
    what = f"campaign {names}: working on its" if len(found) == 1 else f"campaigns {names}: working on their"
    notify(f"{source.name} is the input of {what} results, {results}.")
    return results


def written_into_itself(source: Path, campaigns: Iterable[Campaign], panel: str) -> Campaign | None:
    """The campaign whose results sheet is `source` although it is not a NAME.results file:
    `submit --in-place` wrote them into its input, so its results stay there."""
    from bulkorders.sheets import default_output_path

    if default_output_path(source) == source:
        return None  # NAME.results.xlsx is written into itself anyway
    where = str(source.absolute())
    return next((c for c in campaigns if c.panel == panel and c.results_path == where), None)
