"""`report`: the audit workbook, built from the ledger alone.

Public: the filters, the report and its writer. Private: `audit` (the figures, pandas),
`layout` (what goes where), `xlsx` (the streaming workbook writer).
"""

from bulkorders.surface import public_surface

EXPORTS = {
    "ReportFilters": "audit",
    "build_report": "audit",
    "cached_services": "audit",
    "summary_figures": "audit",
    "summary_text": "audit",
    "write_report": "layout",
}
__all__, __getattr__, __dir__ = public_surface(__name__, EXPORTS)
