"""The `report` pipeline: check what is asked, read the ledger, write the audit workbook.

Everything it works with is passed in (`ReportIO`): where the ledger is and how to open
it, where the cached catalogues are, where warnings go, the progress reporter. pandas and
openpyxl load only once the request is known to be sound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bulkorders.errors import NothingToReport, UsageError
from bulkorders.progress import Reporter, SilentReporter
from bulkorders.report.filters import ReportFilters

if TYPE_CHECKING:
    from bulkorders.ledger import Ledger, LedgerLocation
    from bulkorders.report.audit import AuditReport


@dataclass
class ReportIO:
    """The world the report works in, passed in."""

    ledger: LedgerLocation  # a ledger file that does not exist yet holds nothing to report
    open_ledger: Callable[[], Ledger]
    cache_dir: Path  # the cached catalogues give service names and categories
    warn: Callable[[str], None] = lambda message: None
    reporter: Reporter = field(default_factory=SilentReporter)


def report_workbook(
    out: Path, filters: ReportFilters, io: ReportIO, *, by: tuple[str, ...] = (), statements: bool = False
) -> AuditReport:
    """Write the audit workbook of the ledger's orders that `filters` select to `out`.

    Raises before reading anything when `out` is not an .xlsx name or the days cannot
    match; raises (exit 1) when there is no ledger or it holds nothing selected. `by` adds
    spend by those columns of the sheets; `statements` a sheet per value of them.
    """
    if out.suffix.lower() != ".xlsx":
        raise UsageError(f"--out {out}: the audit workbook is an Excel file; name it *.xlsx.")
    since, until = filters.since, filters.until
    if since and until and since > until:
        raise UsageError(f"--since {since:%Y-%m-%d} is after --until {until:%Y-%m-%d}: nothing can match.")
    if statements and not by:
        raise UsageError("--statements makes a sheet per value of a --by column: add --by COLUMN (e.g. --by client).")
    from bulkorders.report.audit import build_report, cached_services  # pandas: loaded only for a report
    from bulkorders.report.layout import write_report

    if not io.ledger.may_exist():
        raise NothingToReport(
            f"Nothing to report: there is no ledger at {io.ledger} yet (submit creates "
            "it), or choose one with --ledger. No workbook was written."
        )
    audit = build_report(
        io.open_ledger(), filters, where=io.ledger.shown, services=lambda panel: cached_services(io.cache_dir, panel), by=by
    )
    for panel in audit.uncatalogued:
        io.warn(
            f"no cached catalogue of panel {panel}: service names and categories are blank. "
            f"Run `bulkorders --panel {panel} services` once to fill them in."
        )
    write_report(audit, out, io.reporter, statements=statements)
    return audit
