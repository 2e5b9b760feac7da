"""The built-in sandbox panel: one implementation, in-process and over HTTP.

Public: the in-process transport, the HTTP server and its faults, the state file, the
dialects. Private: `panel` (the pure panel logic), `rules`, `catalogue`, `dialect` (how an
answer is rendered), `ratelimit`, `pages` (HTML of faults), `store` (state on disk).
"""

from bulkorders.surface import public_surface

EXPORTS = {
    "DIALECTS": "dialects",
    "dialect": "dialects",
    "LISTENING": "server",
    "Faults": "server",
    "SandboxServer": "server",
    "spawn": "server",
    "file_clock": "server",
    "STATE_FILE": "store",
    "reset_state": "store",
    "SandboxTransport": "transport",
}
__all__, __getattr__, __dir__ = public_surface(__name__, EXPORTS)
