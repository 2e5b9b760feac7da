"""`submit`: validate a sheet, place each row exactly once, write the results back.

Public: the pipeline (`submit_sheet`, `rewrite_results`), its options and IO, and the texts
a front end shows. Private: `placement` (sending with bounded concurrency), `outcome`,
`recovery` (the results sheet as a second record).
"""

from bulkorders.surface import public_surface

EXPORTS = {
    "CampaignTaken": "joining",
    "DEFAULT_CONCURRENCY": "placement",
    "SubmitIO": "world",
    "SubmitOptions": "world",
    "describe_plan": "pipeline",
    "pending_rows": "preview",
    "problem_lines": "pipeline",
    "rewrite_results": "pipeline",
    "submit_sheet": "pipeline",
    "summary_text": "pipeline",
}
__all__, __getattr__, __dir__ = public_surface(__name__, EXPORTS)
