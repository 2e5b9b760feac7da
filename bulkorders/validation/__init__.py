"""Every row of a sheet against the catalogue: problems as data, plus the cost. Pure.

Public: `validate_sheet` and its report, and the texts a front end shows. Private: `rules`,
`rowschema` (the JSON Schema of a row), `text`.
"""

from bulkorders.surface import public_surface

EXPORTS = {
    "ValidationReport": "rules",
    "validate_sheet": "rules",
    "Pending": "text",
    "issue_lines": "text",
    "report_json": "text",
    "summary_lines": "text",
}
__all__, __getattr__, __dir__ = public_surface(__name__, EXPORTS)
