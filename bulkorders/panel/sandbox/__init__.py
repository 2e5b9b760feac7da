"""The built-in sandbox panel: one implementation, in-process and over HTTP.

Public: the in-process transport, the HTTP server and its faults, the state file. Private:
`panel` (the pure panel logic), `rules`, `catalogue`, `store` (state on disk).
"""

from bulkorders.surface import public_surface

EXPORTS = {
    "LISTENING": "server",
    "Faults": "server",
    "SandboxServer": "server",
    "spawn": "server",
    "STATE_FILE": "store",
    "reset_state": "store",
    "SandboxTransport": "transport",
}
__all__, __getattr__, __dir__ = public_surface(__name__, EXPORTS)
