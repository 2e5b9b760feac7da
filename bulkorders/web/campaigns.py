"""The campaigns of the ledger, a campaign's rows, and status / refill / cancel on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from bulkorders.errors import BulkOrdersError
from bulkorders.lifecycle import SheetOptions, parse_rows
from bulkorders.web.jobs import Job, Result, WebReporter
from bulkorders.web.pages import checked_form, int_param, render
from bulkorders.web.views import last_checks, row_selection, rows_page, spend_text
from bulkorders.web.world import Opened

ACTIONS = {
    "status": "Refresh the statuses",
    "refill": "Ask refills",
    "cancel": "Cancel orders",
}


def index(request: Request) -> Response:
    """Every campaign: rows by state, spend by currency (the audit's figures), last check."""
    world = request.app.state.world
    listed: list[dict[str, Any]] = []
    with world.ledger() as ledger:
        if ledger is not None:
            figures, orders = _figures(ledger, world)
            spend = {item["campaign"]: item["spend"] for item in figures.get("by_campaign", [])}
            checked = last_checks(orders)
            for campaign in ledger.campaigns():
                states = ledger.state_counts(campaign)
                listed.append({
                    "campaign": campaign, "rows": sum(states.values()), "by_state": states,
                    "spend": spend_text(spend.get(campaign.name, {})), "checked": checked.get(campaign.name, ""),
                })  # fmt: skip
    return render(request, "campaigns.html", {"campaigns": listed, "ledger": world.settings.ledger.shown})


def _figures(ledger: Any, world: Any) -> tuple[dict[str, Any], list[Any]]:
    from bulkorders.report import ReportFilters, build_report, cached_services, summary_figures

    try:
        audit = build_report(ledger, ReportFilters(), where=world.settings.ledger.shown,
                             services=lambda panel: cached_services(world.settings.cache_dir, panel))
    except BulkOrdersError:  # nothing placed yet
        return {}, []
    return summary_figures(audit), audit.orders


def _campaign(ledger: Any, cid: int) -> Any:
    found = next((c for c in ledger.campaigns() if c.id == cid), None) if ledger is not None else None
    if found is None:
        raise HTTPException(404, f"There is no campaign {cid} in the ledger.")
    return found


def page(request: Request) -> Response:
    """A campaign's rows, paged and filtered by state, each with its order's latest values."""
    config = request.app.state.config
    world = request.app.state.world
    state = request.query_params.get("state") or None
    with world.ledger() as ledger:
        campaign = _campaign(ledger, request.path_params["cid"])
        page = int_param(request.query_params.get("page"), 1)
        shown = rows_page(ledger.state_counts(campaign), state, page, config.page_size)
        rows = ledger.rows_page(campaign, state=state, offset=shown.offset, limit=config.page_size)
        ids = [row.order_id for row in rows if row.order_id]
        orders = ledger.orders(campaign.panel, ids) if ids else {}
    results = campaign.results_path and Path(campaign.results_path).exists()
    return render(request, "campaign.html", {
        "campaign": campaign, "shown": shown, "rows": rows, "orders": orders, "state": state or "", "actions": ACTIONS,
        "results": results, "same_panel": campaign.panel == world.panel(),
        "source": world.shown(campaign.source_path) if campaign.source_path else "unknown",
    })  # fmt: skip


async def confirm(request: Request) -> Response:
    """The confirmation page of an action on the checked rows (all rows when none is checked).

    For cancel it is the pipeline's own plan (statuses asked first, as the CLI does)."""
    form = await checked_form(request)
    return await run_in_threadpool(_confirm_page, request, form)


def _confirm_page(request: Request, form: Any) -> Response:
    action = _action(form.get("action"))
    rows = row_selection(form.getlist("row"))
    world = request.app.state.world
    plan_text, orders = "", ""
    with world.opened() as opened:
        campaign = _campaign(opened.ledger, request.path_params["cid"])
        _on_this_panel(campaign, world)
        if action == "cancel":
            plan = _cancel_plan(opened, campaign, rows)
            if plan is None:
                raise BulkOrdersError("Nothing to cancel: no chosen row's order can be cancelled now "
                                      "(its service allows no cancel, or it is final).")  # fmt: skip
            from bulkorders.lifecycle import describe_cancel

            plan_text, orders = describe_cancel(plan), ",".join(plan.orders)
    return render(request, "confirm.html", {
        "campaign": campaign, "action": action, "label": ACTIONS[action], "rows": rows or "",
        "plan": plan_text, "orders": orders,
    })  # fmt: skip


def _on_this_panel(campaign: Any, world: Any) -> None:
    if campaign.panel != world.panel():
        raise BulkOrdersError(
            f"Campaign {campaign.name} was placed on panel {campaign.panel}, not on {world.panel()}: "
            f"start `bulkorders --panel {campaign.panel} ui` to work on it."
        )


def _cancel_plan(opened: Opened, campaign: Any, rows: str | None) -> Any:
    """What cancel would do now: the pipeline run up to its confirmation, answered no."""
    from bulkorders.lifecycle import cancel_sheet

    seen: list[Any] = []

    def look(plan: Any) -> bool:
        seen.append(plan)
        return False

    sheet = opened.follow(campaign, notify=lambda message: None)
    try:
        cancel_sheet(sheet, _options(rows), opened.lifecycle_io(lambda m: None), opened.catalogue(), confirm=look)
    except BulkOrdersError:
        if not seen:
            raise
    return seen[0] if seen else None


def _options(rows: str | None) -> SheetOptions:
    return SheetOptions(rows=parse_rows(rows) if rows else None)


def _action(value: Any) -> str:
    if value not in ACTIONS:
        raise HTTPException(400, "Unknown action: choose refresh statuses, refill or cancel.")
    return str(value)


async def run(request: Request) -> Response:
    """The action, confirmed: run it as a job and follow it on the job page."""
    form = await checked_form(request)
    action = _action(form.get("action"))
    rows = str(form.get("rows") or "").strip() or None  # the confirmed --rows text, parsed by the pipeline's parser
    confirmed = str(form.get("orders") or "")
    state = request.app.state
    with state.world.ledger() as ledger:
        campaign = _campaign(ledger, request.path_params["cid"])
    _on_this_panel(campaign, state.world)
    job = Job(action, f"{ACTIONS[action]}: campaign {campaign.name}", f"/campaigns/{campaign.id}")
    state.jobs.start(job, lambda job: _lifecycle(job, state.world, campaign, action, rows, confirmed))
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _lifecycle(job: Job, world: Any, campaign: Any, action: str, rows: str | None, confirmed: str) -> Result:
    from bulkorders.lifecycle import cancel_sheet, failure_lines, refill_sheet, status_sheet, summary_text

    def note(text: str) -> None:
        job.note(world.shown(text))

    with world.opened() as opened:
        sheet = opened.follow(campaign, notify=note)
        io = opened.lifecycle_io(note, WebReporter(job))
        if action == "status":
            report = status_sheet(sheet, _options(rows), io)
        elif action == "refill":
            report = refill_sheet(sheet, _options(rows), io, opened.catalogue())
        else:
            def same_plan(plan: Any) -> bool:  # the orders shown on the confirmation page, no others
                if ",".join(plan.orders) != confirmed:
                    raise BulkOrdersError("Nothing cancelled: the orders to cancel changed since you confirmed "
                                          "(a status moved on). Look at the new plan and confirm again.")  # fmt: skip
                return True

            report = cancel_sheet(sheet, _options(rows), io, opened.catalogue(), confirm=same_plan)
    error = report.write_error or (report.stop.message if report.stop else None)
    return Result(ok=not report.exit_code, summary=world.shown(summary_text(report)),
                  problems=[world.shown(line) for line in failure_lines(report)], error=error and world.shown(error),
                  links=[("Download the results sheet", f"/campaigns/{campaign.id}/results"),
                         ("Back to the campaign", f"/campaigns/{campaign.id}")])  # fmt: skip


def results(request: Request) -> Response:
    """The campaign's results workbook (written again from the ledger when its last write failed)."""
    world = request.app.state.world
    with world.opened() as opened:
        campaign = _campaign(opened.ledger, request.path_params["cid"])
        path = opened.follow(campaign, notify=lambda message: None) if campaign.source_path else None
        path = path or (Path(campaign.results_path) if campaign.results_path else None)
    if path is None or not path.exists() or path == Path(campaign.source_path or ""):
        raise HTTPException(404, f"Campaign {campaign.name} has no results sheet yet: place it first.")
    return FileResponse(path, filename=path.name)


def after_login(request: Request) -> Response:
    """/login once logged in: nothing to do but go home."""
    return RedirectResponse("/", status_code=303)
