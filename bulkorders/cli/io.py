"""The world each pipeline receives from the command line: client, ledger, prompts, progress.

Command modules build their pipeline's IO here, so no command module imports another.
"""

from __future__ import annotations

from bulkorders.cli.app import App, confirm
from bulkorders.lifecycle import LifecycleIO
from bulkorders.progress import make_reporter
from bulkorders.report import ReportIO
from bulkorders.submit import SubmitIO, describe_plan


def submit_io(app: App, yes: bool) -> SubmitIO:
    """The submit pipeline's world for this run: client, ledger, catalogue, prompts on stderr."""
    return SubmitIO(
        client=app.client(),
        ledger=app.ledger(),
        catalogue=app.catalogue(),
        panel=app.panel_name(),
        confirm=lambda plan: confirm(
            describe_plan(plan),
            "Place these orders?",
            yes=yes,
            refusal=(
                "Nothing placed: there is no terminal to confirm on. Check the plan with "
                "--dry-run, then rerun with --yes to place the orders."
            ),
        ),
        notify=app.notify,
        reporter=make_reporter(json_output=app.settings.json),
    )


def lifecycle_io(app: App) -> LifecycleIO:
    """A lifecycle pipeline's world for this run."""
    return LifecycleIO(
        client=app.client(),
        ledger=app.ledger(),
        panel=app.panel_name(),
        notify=app.notify,
        reporter=make_reporter(json_output=app.settings.json),
    )


def report_io(app: App) -> ReportIO:
    """The report's world for this run: the ledger (opened only if it exists), the cached catalogues."""
    return ReportIO(
        ledger=app.settings.ledger,
        open_ledger=app.ledger,
        cache_dir=app.settings.cache_dir,
        warn=app.warn,
        reporter=make_reporter(json_output=app.settings.json),
    )
