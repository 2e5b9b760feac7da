"""What one `submit` run is given: its options (the command's) and its world (`SubmitIO`:
the panel client, the ledger, the catalogue, the clock, progress, confirmation, messages)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from bulkorders.clock import Clock
from bulkorders.progress import Reporter, SilentReporter
from bulkorders.submit.placement import DEFAULT_CONCURRENCY

if TYPE_CHECKING:
    from bulkorders.catalog import Catalogue
    from bulkorders.ledger import Ledger
    from bulkorders.panel import PanelClient
    from bulkorders.submit.outcome import Plan


@dataclass(frozen=True, kw_only=True)
class SubmitOptions:
    """The choices of one `submit` run (the command's options)."""

    campaign: str | None = None
    sheet_name: str | None = None
    out: Path | None = None
    in_place: bool = False
    dry_run: bool = False
    max_spend: Decimal | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    resend_uncertain: bool = False
    retry_rejected: bool = False
    write_only: bool = False  # place nothing: write the results sheet from the ledger
    decimal: str | None = None  # the sheet's decimal mark ("," or "."); None: detected
    max_spend_text: str | None = None  # --max-spend as typed, read with the sheet's decimal mark
    named: bool | None = None  # the user chose `campaign` (None: when it is given)


@dataclass
class SubmitIO:
    """The world the pipeline works in, passed in."""

    client: PanelClient
    ledger: Ledger
    catalogue: Catalogue
    panel: str  # the panel's name in the ledger (never the key)
    confirm: Callable[[Plan], bool]
    notify: Callable[[str], None] = lambda message: None
    reporter: Reporter = field(default_factory=SilentReporter)
    clock: Clock = time.time
