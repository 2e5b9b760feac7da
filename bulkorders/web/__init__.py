"""`bulkorders ui`: the same pipelines as a local web page (Starlette, Jinja2, server-sent events).

Public: `missing_extra` (is the `ui` extra installed?), `WebConfig` and `create_app` (the
ASGI app), `bind`/`make_server`/`serve` (uvicorn on a socket). Private: `guard` (token,
session, CSRF), `world` (the IO each pipeline gets from the web), `jobs` (pipelines in
background threads, their progress), `views` (what pages show, pure), the pages.
"""

from bulkorders.surface import public_surface

EXPORTS = {
    "missing_extra": "extra",
    "WebConfig": "config",
    "create_app": "app",
    "bind": "server",
    "make_server": "server",
    "serve": "server",
}
__all__, __getattr__, __dir__ = public_surface(__name__, EXPORTS)
