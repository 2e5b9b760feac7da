"""Pipelines run in background threads, so a closed tab never stops or repeats one, and the
page follows their progress (server-sent events) from a snapshot that any new tab can read.

A job's work is one pipeline call. The ledger's rules are the pipeline's: a second job on a
campaign being worked on is refused by the campaign's lock, exactly as a second terminal is.
Stopping the server asks running submit jobs to stop between two orders (the same path as
Ctrl-C in the terminal: every answered row is saved) and waits for them.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkorders.errors import BulkOrdersError
from bulkorders.private_files import write_private_text

JOB_ID = re.compile(r"[A-Za-z0-9_-]{12}")  # secrets.token_urlsafe(9): a safe file name
MAX_NOTES = 500  # notes kept per job (a 10k-row sheet can warn on every row)


@dataclass
class Result:
    """What a finished job shows: a summary, per-row problems, an error, where to go next."""

    ok: bool
    summary: str = ""
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url)


class Job:
    """One pipeline run: its progress, its notes and, once done, its result."""

    def __init__(self, kind: str, title: str, back: str, *, stoppable: bool = False) -> None:
        self.id = secrets.token_urlsafe(9)
        self.kind, self.title, self.back = kind, title, back
        self.stoppable = stoppable  # the Stop button asks it to stop between two orders
        self.label, self.done, self.total, self.info = "", 0, 0, ""
        self.notes: list[str] = []
        self.result: Result | None = None
        self.version = 0
        self.stop_requested = threading.Event()
        self._changed = threading.Condition()
        self.thread: threading.Thread | None = None

    def _touch(self) -> None:
        with self._changed:
            self.version += 1
            self._changed.notify_all()

    def note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)
        elif len(self.notes) == MAX_NOTES:
            self.notes.append("… further notes are in the results sheet.")
        self._touch()

    def progress(self, done: int, total: int, info: str, label: str | None = None) -> None:
        self.done, self.total, self.info = done, total, info
        if label is not None:
            self.label = label
        self._touch()

    def ask_to_stop(self) -> bool:
        """The Stop button: a stoppable job still running stops at its next step (as Ctrl-C does
        in a terminal: the orders in flight are answered and saved). False when it cannot."""
        if not self.stoppable or self.result is not None:
            return False
        self.stop_requested.set()
        self._touch()
        return True

    def finish(self, result: Result) -> None:
        self.result = result
        self._touch()

    def wait_change(self, seen: int, timeout: float) -> int:
        """Block until the version passes `seen` (or `timeout`); the version now."""
        with self._changed:
            self._changed.wait_for(lambda: self.version > seen or self.result is not None, timeout)
            return self.version

    def snapshot(self, notes_from: int = 0) -> dict[str, Any]:
        """The state for the page: progress, the notes after `notes_from`, the result."""
        result = self.result
        return {
            "label": self.label, "done": self.done, "total": self.total, "info": self.info,
            "notes": self.notes[notes_from:], "notes_end": len(self.notes),
            "finished": result is not None, "stopping": self.stop_requested.is_set() and result is None,
            "result": None if result is None else {
                "ok": result.ok, "summary": result.summary, "problems": result.problems[:MAX_NOTES],
                "error": result.error, "links": result.links,
            },
        }  # fmt: skip


class WebReporter:
    """The `Reporter` a pipeline gets from the web: progress into the job. When the job is asked
    to stop, the next step raises KeyboardInterrupt once, which the submit pipeline takes as
    Ctrl-C (stop sending, record what is in flight) — only for jobs that can stop."""

    def __init__(self, job: Job, *, stoppable: bool = False) -> None:
        self.job = job
        self.stoppable = stoppable
        self._raised = False

    def start(self, total: int, label: str) -> None:
        self.job.progress(0, total, "", label)

    def advance(self, steps: int = 1, *, info: str = "") -> None:
        job = self.job
        job.progress(job.done + steps, job.total, info or job.info)
        if self.stoppable and job.stop_requested.is_set() and not self._raised:
            self._raised = True
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


class Jobs:
    """Every job of this server, by id. With `keep` (a folder), each finished job is written there
    too, so its page still shows how it ended after the server restarts."""

    def __init__(self, keep: Path | None = None) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._keep = keep

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id) or self._kept(job_id)

    def start(self, job: Job, work: Callable[[Job], Result]) -> Job:
        """Run `work(job)` in its own (non-daemon) thread; its errors become the job's result."""
        with self._lock:
            self._jobs[job.id] = job
        job.thread = threading.Thread(target=self._run, args=(job, work), name=f"bulkorders-web-{job.kind}")
        job.thread.start()
        return job

    def _run(self, job: Job, work: Callable[[Job], Result]) -> None:
        _run(job, work)
        if self._keep is not None:
            try:
                _keep(job, self._keep)
            except OSError as exc:  # only the page after a restart is lost, never the work
                print(f"bulkorders ui: could not keep job {job.id} for after a restart: {exc}", file=sys.stderr)

    def _kept(self, job_id: str) -> Job | None:
        if self._keep is None or not JOB_ID.fullmatch(job_id):
            return None
        try:
            kept = json.loads((self._keep / f"{job_id}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return _restored(job_id, kept)

    def running(self) -> list[Job]:
        return [job for job in list(self._jobs.values()) if job.result is None]

    def stop_all(self, timeout: float) -> None:
        """Ask every running job to stop at its next step, and wait for them (Ctrl-C of the server)."""
        jobs = self.running()
        for job in jobs:
            job.stop_requested.set()
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout)


def _keep(job: Job, folder: Path) -> None:
    """The finished job as the page shows it, written whole and private to the user."""
    kept = {"kind": job.kind, "title": job.title, "back": job.back, **job.snapshot()}
    write_private_text(folder / f"{job.id}.json", json.dumps(kept))


def _restored(job_id: str, kept: dict[str, Any]) -> Job:
    """A kept job back as a finished Job (nothing runs: it only shows how it ended)."""
    job = Job(str(kept.get("kind", "")), str(kept.get("title", "")), str(kept.get("back", "/")))
    job.id = job_id
    job.label, job.done, job.total, job.info = kept["label"], kept["done"], kept["total"], kept["info"]
    job.notes = list(kept["notes"])
    result = kept["result"] or {}
    job.result = Result(ok=bool(result.get("ok")), summary=result.get("summary", ""),
                        problems=list(result.get("problems", [])), error=result.get("error"),
                        links=[(label, url) for label, url in result.get("links", [])])  # fmt: skip
    return job


def _run(job: Job, work: Callable[[Job], Result]) -> None:
    try:
        result = work(job)
    except BulkOrdersError as exc:
        result = Result(ok=False, error=exc.message)
    except KeyboardInterrupt:
        result = Result(ok=False, error="Stopped: everything answered so far is saved; run it again to resume.")
    except Exception as exc:  # a bug: say so, with the traceback on the server's stderr
        traceback.print_exc(file=sys.stderr)
        result = Result(ok=False, error=f"Unexpected error: {type(exc).__name__}: {exc}. This is a bug in bulkorders.")
    job.finish(result)
