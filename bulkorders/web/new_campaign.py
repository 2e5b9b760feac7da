"""A new campaign: upload a sheet, see it validated, confirm the plan, follow the placing.

The upload is kept under the user data dir, one folder per campaign, so the campaign's
name and its results sheet stay the same however often the sheet is uploaded again; the
ledger then places only the rows not placed before, exactly as a rerun of `submit` does.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from bulkorders.errors import BulkOrdersError
from bulkorders.submit import CampaignTaken, SubmitOptions, describe_plan, problem_lines, submit_sheet, summary_text
from bulkorders.web.jobs import Job, Result, WebReporter
from bulkorders.web.pages import checked_form, render
from bulkorders.web.views import sheet_grid
from bulkorders.web.world import World, slug

SUFFIXES = (".xlsx", ".xlsm", ".csv")
META = "upload.json"
EVENT_GAP = 0.1  # seconds between two progress events of one page (they coalesce)
KEEP_ALIVE = 5.0


def form(request: Request) -> Response:
    return render(request, "new.html", {"limit_mb": request.app.state.config.max_upload // (1024 * 1024)})


async def upload(request: Request) -> Response:
    """Keep the uploaded sheet (size-limited) in its campaign's folder, then show its check."""
    config, world = request.app.state.config, request.app.state.world
    data = await checked_form(request)
    sheet = data.get("sheet")
    if not isinstance(sheet, UploadFile) or not sheet.filename:
        raise HTTPException(400, "Choose a sheet (.xlsx, .xlsm or .csv) to upload.")
    name = Path(sheet.filename).name
    if Path(name).suffix.lower() not in SUFFIXES:
        raise HTTPException(400, f"{name} is not a sheet bulkorders reads: upload an .xlsx, .xlsm or .csv file.")
    content = await sheet.read(config.max_upload + 1)
    if len(content) > config.max_upload:
        raise HTTPException(413, f"{name} is over the {config.max_upload // (1024 * 1024)} MB limit of an upload.")
    if not content:
        raise HTTPException(400, f"{name} is empty.")
    typed = str(data.get("campaign") or "").strip()
    campaign = typed or Path(name).stem
    key = slug(campaign)
    if any(job.kind == "submit" and job.back == f"/new/{key}" for job in request.app.state.jobs.running()):
        raise HTTPException(409, f"Campaign {campaign} is being placed right now: wait for it to finish.")
    folder = world.uploads() / key
    folder.mkdir(parents=True, exist_ok=True)
    kept = _kept_as(folder / _safe(name), content, named=bool(typed))
    kept.write_bytes(content)
    meta = {"file": kept.name, "campaign": campaign, "named": bool(typed)}
    (folder / META).write_text(json.dumps(meta), encoding="utf-8")
    return RedirectResponse(f"/new/{key}", status_code=303)


def _safe(name: str) -> str:
    stem, suffix = Path(name).stem, Path(name).suffix.lower()
    return f"{slug(stem)}{suffix}"


def _kept_as(path: Path, content: bytes, *, named: bool) -> Path:
    """Where an upload is kept. Another sheet of the same file name, its campaign not named,
    is kept beside the earlier one (`NAME-2.xlsx`): the submit pipeline then sees two files
    of one name and refuses to join them unless the campaign is named, as for `submit`."""
    if named or not path.exists() or path.read_bytes() == content:
        return path
    number = 2
    while (found := path.with_name(f"{path.stem}-{number}{path.suffix}")).exists() and found.read_bytes() != content:
        number += 1
    return found


def _upload(world: World, key: str) -> tuple[Path, SubmitOptions]:
    """The kept sheet of upload `key`, and the submit options of its campaign."""
    meta = world.uploads() / slug(key) / META
    if not meta.exists():
        raise HTTPException(404, "There is no such upload: upload the sheet again.")
    found = json.loads(meta.read_text(encoding="utf-8"))
    return meta.parent / found["file"], SubmitOptions(campaign=found["campaign"], named=found.get("named", True))


def _refusal(exc: BulkOrdersError) -> str:
    """A pipeline refusal as this page says it (a campaign is named in the upload form here)."""
    if isinstance(exc, CampaignTaken):
        return (  # the CLI's words name the server's files and options: said for this page instead
            f"Nothing sent: campaign {exc.name} was placed from another sheet of this name, uploaded before. "
            f"Upload this sheet again with a new campaign name for a new campaign, or with the campaign "
            f"name {exc.name} to continue that one."
        )
    return exc.message


def check(request: Request) -> Response:
    """The sheet as read with each bad cell marked, the cost against the balance, what is placed
    already, and the plan to confirm (the submit pipeline's dry run)."""
    from bulkorders.sheets import read_sheet
    from bulkorders.validation import summary_lines, validate_sheet

    world = request.app.state.world
    path, options = _upload(world, request.path_params["slug"])
    campaign = options.campaign
    notes: list[str] = []
    refusal, outcome = None, None
    with world.opened() as opened:
        catalogue = opened.catalogue()
        sheet = read_sheet(path, purpose="orders")
        report = validate_sheet(sheet, catalogue)
        balance = opened.client.balance()
        try:
            io = opened.submit_io(confirm=lambda plan: False, notify=notes.append)
            outcome = submit_sheet(path, replace(options, dry_run=True), io)
        except BulkOrdersError as exc:
            refusal = _refusal(exc)
    outcomes = {row.row: row for row in outcome.rows} if outcome else {}
    shown = world.shown
    return render(request, "check.html", {
        "key": slug(campaign), "campaign": campaign, "file": path.name,
        "grid": sheet_grid(sheet, report.issues, outcomes),
        "summary": [shown(line) for line in summary_lines(report, sheet, balance)],
        "plan": describe_plan(outcome.plan) if outcome else "", "refusal": refusal and shown(refusal),
        "to_place": outcome.plan.to_place if outcome else 0, "total": str(outcome.plan.total) if outcome else "",
        "notes": [shown(n) for n in notes if not n.startswith(("row ", "warning: row "))],
    })  # fmt: skip


async def place(request: Request) -> Response:
    """Place the confirmed plan as a job; the job page follows it."""
    data = await checked_form(request)
    state = request.app.state
    key = request.path_params["slug"]
    path, options = _upload(state.world, key)
    campaign = options.campaign
    confirmed = (str(data.get("to_place") or ""), str(data.get("total") or ""))
    job = Job("submit", f"Placing campaign {campaign}", f"/new/{slug(key)}", stoppable=True)
    state.jobs.start(job, lambda job: _submit(job, state.world, path, options, confirmed))
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _submit(job: Job, world: World, path: Path, options: SubmitOptions, confirmed: tuple[str, str]) -> Result:
    def same_plan(plan: Any) -> bool:  # what the check page showed, and nothing else
        if (str(plan.to_place), str(plan.total)) != confirmed:
            raise BulkOrdersError(
                f"Nothing placed: the plan changed since you confirmed it (now {plan.to_place} order(s), "
                f"estimated {plan.total}). Look at the check page again and confirm the new plan."
            )
        job.note(describe_plan(plan))
        return True

    with world.opened() as opened:
        io = opened.submit_io(confirm=same_plan, notify=lambda text: job.note(world.shown(text)),
                              reporter=WebReporter(job, stoppable=True))  # fmt: skip
        outcome = submit_sheet(path, options, io)
        found = opened.ledger.find_campaign(outcome.campaign, world.panel())
    links = [("Download the results sheet", f"/campaigns/{found.id}/results"),
             ("Open the campaign", f"/campaigns/{found.id}")] if found else []  # fmt: skip
    error = outcome.write_error or (outcome.stop.message if outcome.stop else None)
    return Result(ok=not outcome.exit_code, summary=world.shown(summary_text(outcome)),
                  problems=[world.shown(line) for line in problem_lines(outcome)],
                  error=error and world.shown(error), links=links)  # fmt: skip


def _job(request: Request) -> Job:
    job = request.app.state.jobs.get(request.path_params["job_id"])
    if job is None:
        raise HTTPException(404, "There is no such job on this server: check the address, or start the work "
                                 "again from its campaign.")  # fmt: skip
    return job


def job_page(request: Request) -> Response:
    job = _job(request)
    return render(request, "job.html", {"job": job, "snapshot": job.snapshot()})


async def stop_job(request: Request) -> Response:
    """The Stop button of a job page: stop placing after the orders in flight (all saved)."""
    await checked_form(request)
    job = _job(request)
    if not job.ask_to_stop() and job.result is None:
        raise HTTPException(409, "This job cannot be stopped halfway; wait for it to finish.")
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


async def job_events(request: Request) -> Response:
    """Server-sent events: the job's snapshot each time it changes, until it is finished."""
    job = _job(request)
    shown = request.query_params.get("notes", "0")  # notes the page has already

    async def stream() -> Any:
        seen, notes = -1, int(shown) if shown.isdigit() else 0
        while True:
            version = await asyncio.to_thread(job.wait_change, seen, KEEP_ALIVE)
            if version == seen and job.result is None:
                yield ": keep-alive\n\n"
                continue
            seen = version
            snapshot = job.snapshot(notes)
            notes = snapshot["notes_end"]
            yield f"data: {json.dumps(snapshot)}\n\n"
            if snapshot["finished"]:
                return
            await asyncio.sleep(EVENT_GAP)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
