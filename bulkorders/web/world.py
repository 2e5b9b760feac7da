"""The world each pipeline receives from the web: client, ledger, catalogue, notes, progress.

The web's counterpart of cli/io.py. Each request or job opens its own client and ledger
(SQLite connections are not shared across threads) and closes them when done.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulkorders.lifecycle import LifecycleIO
from bulkorders.progress import Reporter, SilentReporter
from bulkorders.submit import SubmitIO
from bulkorders.web.config import WebConfig

if TYPE_CHECKING:
    from bulkorders.catalog import Catalogue
    from bulkorders.ledger import Campaign, Ledger
    from bulkorders.panel import PanelClient


@dataclass
class Opened:
    """A client and a ledger opened for one request or job."""

    world: World
    client: PanelClient
    ledger: Ledger

    def catalogue(self, *, refresh: bool = False) -> Catalogue:
        return self.world.catalogue(self.client, refresh=refresh)

    def submit_io(self, confirm: Callable[[Any], bool], notify: Callable[[str], None],
                  reporter: Reporter | None = None) -> SubmitIO:  # fmt: skip
        """The submit pipeline's world: the web's own confirmation, notes and progress."""
        config = self.world.config
        return SubmitIO(
            client=self.client, ledger=self.ledger, catalogue=self.catalogue(), panel=self.world.panel(),
            confirm=confirm, notify=notify, reporter=reporter or SilentReporter(), clock=config.clock,
        )  # fmt: skip

    def lifecycle_io(self, notify: Callable[[str], None], reporter: Reporter | None = None) -> LifecycleIO:
        config = self.world.config
        return LifecycleIO(
            client=self.client, ledger=self.ledger, panel=self.world.panel(), notify=notify,
            reporter=reporter or SilentReporter(), clock=config.clock, sleep=config.sleep,
        )  # fmt: skip

    def follow(self, campaign: Campaign, notify: Callable[[str], None]) -> Path:
        """The sheet status/refill/cancel work on: the campaign's results sheet (written
        again from the ledger first when its last write failed), as the CLI does."""
        from bulkorders.lifecycle import sheet_to_follow
        from bulkorders.submit import rewrite_results

        if not campaign.source_path:
            return Path(campaign.results_path or "")
        source = Path(campaign.source_path)
        io = self.submit_io(confirm=lambda plan: False, notify=notify)
        return sheet_to_follow(
            source, self.ledger.campaigns(), self.world.panel(),
            rewrite=lambda found: rewrite_results(source, found, io), notify=notify,
        )  # fmt: skip


class World:
    """Opens what the pipelines need for the configured panel and ledger."""

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.settings = config.settings

    def panel(self) -> str:
        """How the ledger names this server's panel (never the key)."""
        return self.settings.panel().identity

    @contextmanager
    def opened(self) -> Iterator[Opened]:
        from bulkorders.ledger import Ledger
        from bulkorders.panel import open_client

        with ExitStack() as stack:
            client = open_client(self.settings, clock=self.config.clock, sleep=self.config.sleep)
            stack.callback(client.close)
            ledger = Ledger.open(self.settings.ledger.target, clock=self.config.clock)
            stack.callback(ledger.close)
            yield Opened(self, client, ledger)

    @contextmanager
    def ledger(self) -> Iterator[Ledger | None]:
        """The ledger to read, or None when there is none yet (reading never creates one)."""
        from bulkorders.ledger import Ledger

        if not self.settings.ledger.may_exist():
            yield None
            return
        with Ledger.open(self.settings.ledger.target, clock=self.config.clock) as ledger:
            yield ledger

    def catalogue(self, client: PanelClient | None, *, refresh: bool = False) -> Catalogue:
        from bulkorders.catalog import load_catalogue

        return load_catalogue(self.settings, client, refresh=refresh, clock=self.config.clock)

    def uploads(self) -> Path:
        """Where uploaded sheets are kept: one folder per campaign, so its identity is stable."""
        return self.settings.data_dir / "uploads"

    def reports(self) -> Path:
        return self.settings.data_dir / "web-reports"

    def jobs(self) -> Path:
        """Where finished jobs are kept, so their pages outlive a restart of the server."""
        return self.settings.data_dir / "web-jobs"

    def shown(self, text: str) -> str:
        """`text` as a page shows it: an uploaded file by its name, not where the server keeps it
        (a remote browser has no use for the server's folders, and they say who runs it how)."""
        return re.sub(re.escape(str(self.uploads())) + r"[/\\][^/\\]+[/\\]", "", text)


def slug(name: str) -> str:
    """A campaign name as a folder name."""
    return re.sub(r"[^\w.-]+", "-", name).strip(".-") or "campaign"
