"""`status`, `refill`, `cancel`: what happens to orders after they are placed.

Public: the pipelines, their options and IO, the outcome texts, the `--rows` parser and
`sheet_to_follow`. Private: `plan` (pure: what to ask for, what changed), `run` (the
shared run of a lifecycle command), `outcome`, `follow`, `rowspec`.
"""

from bulkorders.surface import public_surface

EXPORTS = {
    "DEFAULT_EVERY": "pipelines",
    "LifecycleIO": "run",
    "SheetOptions": "run",
    "cancel_sheet": "pipelines",
    "refill_sheet": "pipelines",
    "status_sheet": "pipelines",
    "CancelPlan": "outcome",
    "LifecycleReport": "outcome",
    "describe_cancel": "outcome",
    "failure_lines": "outcome",
    "summary_text": "outcome",
    "RowSelection": "rowspec",
    "parse_rows": "rowspec",
    "sheet_to_follow": "follow",
}
__all__, __getattr__, __dir__ = public_surface(__name__, EXPORTS)
