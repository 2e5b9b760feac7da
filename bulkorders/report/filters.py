"""What a report is about: the filters of `report`, in words for the workbook and messages.

Pure: no pandas, so that the command can check its options before the report loads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ReportFilters:
    """What to report on; empty fields do not narrow. `until` includes its whole day."""

    campaigns: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    panel: str | None = None
    sheets: tuple[Path, ...] = ()

    def described(self) -> list[tuple[str, str]]:
        """The filters as (label, text) lines for the Summary sheet."""
        return [
            ("Panel", self.panel or "all"),
            ("Campaigns", ", ".join(self.campaigns) or "all"),
            ("Placed from (UTC)", self.since.isoformat() if self.since else "any day"),
            ("Placed until (UTC)", self.until.isoformat() if self.until else "any day"),
            ("Sheets", ", ".join(str(p) for p in self.sheets) or "all"),
        ]

    def phrases(self) -> list[str]:
        """The filters in words, for messages: ["campaign spring", "placed on or after …"]."""
        found = []
        if self.panel:
            found.append(f"panel {self.panel}")
        if self.campaigns:
            found.append(f"campaign{'s' if len(self.campaigns) > 1 else ''} {', '.join(self.campaigns)}")
        if self.since:
            found.append(f"placed on or after {self.since.isoformat()}")
        if self.until:
            found.append(f"placed on or before {self.until.isoformat()}")
        if self.sheets:
            found.append(f"order ids in {', '.join(str(p) for p in self.sheets)}")
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "panel": self.panel,
            "campaigns": list(self.campaigns),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "sheets": [str(p) for p in self.sheets],
        }
