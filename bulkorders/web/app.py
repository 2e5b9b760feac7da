"""The ASGI app: routes, the guard in front, templates and static files as package data."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bulkorders.errors import BulkOrdersError, ExitCode
from bulkorders.models import format_money
from bulkorders.web import campaigns, new_campaign, panel_pages
from bulkorders.web.config import WebConfig
from bulkorders.web.guard import BodyTooLarge, Guard, _too_large
from bulkorders.web.jobs import Jobs
from bulkorders.web.pages import render
from bulkorders.web.world import World

SHUTDOWN_WAIT = 120.0  # seconds a stopping server waits for its jobs to record what is in flight

ROUTES = [
    Route("/", campaigns.index),
    Route("/campaigns/{cid:int}", campaigns.page),
    Route("/campaigns/{cid:int}/confirm", campaigns.confirm, methods=["POST"]),
    Route("/campaigns/{cid:int}/run", campaigns.run, methods=["POST"]),
    Route("/campaigns/{cid:int}/results", campaigns.results),
    Route("/new", new_campaign.form),
    Route("/new", new_campaign.upload, methods=["POST"], name="upload"),
    Route("/new/{slug}", new_campaign.check),
    Route("/new/{slug}/place", new_campaign.place, methods=["POST"]),
    Route("/jobs/{job_id}", new_campaign.job_page),
    Route("/jobs/{job_id}/events", new_campaign.job_events),
    Route("/jobs/{job_id}/stop", new_campaign.stop_job, methods=["POST"]),
    Route("/services", panel_pages.services),
    Route("/balance", panel_pages.balance),
    Route("/report", panel_pages.report_form),
    Route("/report/download", panel_pages.report_download),
    Route("/login", campaigns.after_login, methods=["GET", "POST"]),
]


def create_app(config: WebConfig) -> Starlette:
    """The web app of `config` (its panel, ledger and secrets)."""
    world = World(config)
    jobs = Jobs(keep=world.jobs())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        jobs.stop_all(SHUTDOWN_WAIT)  # Ctrl-C: running submits stop between orders, saved

    app = Starlette(
        routes=[*ROUTES, Mount("/static", StaticFiles(packages=[("bulkorders.web", "static")]), name="static")],
        middleware=[Middleware(Guard, config=config)],
        exception_handlers={BulkOrdersError: _bulk_error, HTTPException: _http_error, BodyTooLarge: _body_too_large,
                            Exception: _bug},
        lifespan=lifespan,
    )  # fmt: skip
    env = Environment(loader=PackageLoader("bulkorders.web", "templates"), autoescape=select_autoescape())
    env.filters["money"] = format_money  # exact, as the CLI shows money: 0.718, 12.50
    app.state.templates = Jinja2Templates(env=env)
    app.state.config = config
    app.state.world = world
    app.state.jobs = jobs
    return app


_STATUS = {ExitCode.USAGE: 400, ExitCode.ROWS_FAILED: 422, ExitCode.PANEL: 502}


async def _bulk_error(request: Request, exc: Any) -> Response:
    """A pipeline's refusal, said as the CLI says it (one message saying what to do; a team
    ledger's password masked, whatever said it)."""
    message = request.app.state.world.settings.ledger.scrub(exc.message)
    return render(request, "error.html", {"message": message}, status=_STATUS.get(exc.exit_code, 500))


async def _http_error(request: Request, exc: Any) -> Response:
    return render(request, "error.html", {"message": exc.detail}, status=exc.status_code)


async def _bug(request: Request, exc: Exception) -> Response:
    """A bug: said plainly on the page; the traceback goes to the server's stderr (uvicorn's log)."""
    message = f"Unexpected error: {type(exc).__name__}: {exc}. This is a bug in bulkorders; the server's output has the details."
    return render(request, "error.html", {"message": message}, status=500)


async def _body_too_large(request: Request, exc: Any) -> Response:
    return _too_large(request.app.state.config.max_upload)
