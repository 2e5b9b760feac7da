"""What the panel sells and what is left to spend, and the audit workbook of the ledger."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from bulkorders.models import format_money
from bulkorders.services_view import COLUMNS, filter_services, service_cells
from bulkorders.web.pages import render


def services(request: Request) -> Response:
    """The catalogue (cached for its TTL; ?refresh=1 fetches it), filtered by search and category."""
    world = request.app.state.world
    query = request.query_params
    search, category = query.get("search") or None, query.get("category") or None
    with world.opened() as opened:
        catalogue = opened.catalogue(refresh=query.get("refresh") == "1")
    every = list(catalogue.services.values())
    chosen = filter_services(every, search=search, category=category)
    return render(request, "services.html", {
        "columns": COLUMNS, "rows": [service_cells(s) for s in chosen], "count": len(every),
        "categories": sorted({s.category for s in every}), "search": search or "", "category": category or "",
        "fetched": catalogue.fetched_text(),
    })  # fmt: skip


def balance(request: Request) -> Response:
    world = request.app.state.world
    with world.opened() as opened:
        found = opened.client.balance()
    return render(request, "balance.html", {"amount": format_money(found.amount), "currency": found.currency})


def report_form(request: Request) -> Response:
    world = request.app.state.world
    with world.ledger() as ledger:
        names = sorted({c.name for c in ledger.campaigns()}) if ledger is not None else []
    return render(request, "report.html", {"campaigns": names})


def report_download(request: Request) -> Response:
    """The audit workbook with the filters of `bulkorders report` (campaigns, since, until)."""
    from bulkorders.report import ReportFilters, ReportIO, report_workbook

    world = request.app.state.world
    query = request.query_params
    since, until = _day(query.get("since"), "since"), _day(query.get("until"), "until")
    if since and until and since > until:
        raise HTTPException(400, f"From {since} is after until {until}: nothing can match.")
    filters = ReportFilters(
        campaigns=tuple(c for c in query.getlist("campaign") if c), since=since, until=until,
        panel=world.settings.panel_identity(),
    )  # fmt: skip
    folder = world.reports()
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"audit-{secrets.token_hex(4)}.xlsx"
    with world.ledger() as ledger:
        if ledger is None:
            raise HTTPException(404, "Nothing to report: there is no ledger yet (placing a campaign creates it).")
        io = ReportIO(ledger=world.settings.ledger, open_ledger=lambda: ledger,
                      cache_dir=world.settings.cache_dir)  # fmt: skip
        report_workbook(out, filters, io)  # the same pipeline as `bulkorders report`
    stamp = dt.datetime.fromtimestamp(world.config.clock(), dt.timezone.utc).strftime("%Y-%m-%d")
    return FileResponse(out, filename=f"bulkorders-audit-{stamp}.xlsx")


def _day(value: Any, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise HTTPException(400, f"{name}: {value!r} is not a day (YYYY-MM-DD).") from None
