"""Talking to SMM panels: the API v2 client, its answer schemas, and opening the configured panel.

Public: `PanelClient` and `open_client`. Private: `answers` (reading every answer shape),
`retry`, `connect`. The sandbox panel is the subpackage `sandbox`.
"""

from bulkorders.surface import public_surface

EXPORTS = {
    "PanelClient": "client",
    "open_client": "connect",
}
__all__, __getattr__, __dir__ = public_surface(__name__, EXPORTS)
