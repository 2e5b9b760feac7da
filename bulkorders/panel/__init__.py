"""Talking to SMM panels: the API v2 client, its answer schemas, and opening the configured panel.

Public: `PanelClient` and `open_client`. Private: `client` (the API calls and what each
answer proves), `wire` (HTTP, retries, pacing), `transport` (the httpx client: a deadline per
request, answer size caps, proxies, the Ctrl-C abort switch), `masking` (the key in every
encoding), `answers` (reading every dialect's answers),
`values` (money, counts, ids: the thousands-separator rule), `shapes` (wrappers, refusals),
`decoding` (JSON and the answer schemas), `replies` (challenge and maintenance pages),
`retry`, `pacing`, `connect`. The sandbox panel is the subpackage `sandbox`.
"""

from bulkorders.surface import public_surface

EXPORTS = {
    "PanelClient": "client",
    "open_client": "connect",
    "is_funds_refusal": "shapes",
}
__all__, __getattr__, __dir__ = public_surface(__name__, EXPORTS)
