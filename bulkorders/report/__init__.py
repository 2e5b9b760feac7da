"""`report`: the audit workbook, built from the ledger alone.

Public: the pipeline (`report_workbook`), its filters and IO, and the texts a front end
shows. Private: `audit` (the figures, pandas), `layout` (what goes where), `xlsx` (the
streaming workbook writer).
"""

from bulkorders.surface import public_surface

EXPORTS = {
    "ReportFilters": "filters",
    "ReportIO": "pipeline",
    "build_report": "audit",
    "cached_services": "audit",
    "report_workbook": "pipeline",
    "summary_figures": "audit",
    "summary_text": "audit",
}
__all__, __getattr__, __dir__ = public_surface(__name__, EXPORTS)
