"""The ledger: what each campaign row became, and everything later seen of its order.

A ledger file (SQLite) or a team database (PostgreSQL, a `postgresql://` URL): one schema
and one set of queries on both, through the thin adapter of `engine`. Every change
commits at once, so a row is `sending` in the ledger before its request leaves and its
outcome is there right after the answer. One connection serves the worker threads of a
pipeline, guarded by a lock. The first change a `Ledger` makes records its run (operator,
host, pid, command); the rows it claims for sending carry that run (`claims`). See
`migrations` for the tables and `records` for what is read back.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from decimal import Decimal
from pathlib import Path
from typing import Any

from bulkorders.clock import Clock, utc_now_iso
from bulkorders.errors import LedgerError
from bulkorders.ledger import claims as ledger_claims
from bulkorders.ledger import orders as ledger_orders
from bulkorders.ledger import rows as ledger_rows
from bulkorders.ledger.backups import KEEP
from bulkorders.ledger.engine import CAMPAIGN_LOCKS, PANEL_LOCKS, Engine
from bulkorders.ledger.files import connect, file_stamp
from bulkorders.ledger.identity import assign_identities, row_identity
from bulkorders.ledger.location import is_url
from bulkorders.ledger.lock import held_lock, ledger_lock
from bulkorders.ledger.records import (
    CAMPAIGN_COLUMNS,
    ROW_COLUMNS,
    Campaign,
    LedgerRow,
    OrderRecord,
    PlannedRow,
    RowState,
    money_text,
    to_campaign,
    to_ledger_row,
    to_order_record,
)
from bulkorders.ledger.transactions import Transactions
from bulkorders.models import CancelResult, OrderStatus, RefillResult, RefillStatus

__all__ = [
    "Campaign", "PlannedRow", "LedgerRow", "OrderRecord", "Ledger",
    "row_identity", "assign_identities", "utc_now_iso",
]  # fmt: skip

BATCH_ROWS = 5000  # rows read at a time by `rows_in_batches`
RECOVERED = (
    "bulkorders stopped before the panel answered this order: it may or may not have been "
    "placed. Check the panel; rerun with --resend-uncertain to send it again."
)


class Ledger(Transactions):
    """One ledger, a file or a team database. Open with `Ledger.open(location)`; a context manager.

    `engine` is "sqlite" or "postgresql"; `where` is what to show of it (the file's path, or
    the URL with its password masked); `path` is the file (None for a team database).
    """

    def __init__(self, db: Engine, clock: Clock, keep: int = KEEP, command: str | None = None) -> None:
        super().__init__(db, clock, command)
        self._keep = keep
        self._held: set[tuple[int, int]] = set()  # advisory locks this ledger holds
        self.engine = db.name
        self.where = db.where
        self.path: Path | None = getattr(db, "path", None)

    @classmethod
    def open(
        cls, location: Path | str, *, clock: Clock = time.time, backups: int = KEEP, command: str | None = None
    ) -> Ledger:
        """Open the ledger at `location`: a file path, or a `postgresql://` (`postgres://`) URL.

        A file is created (0600, parent dirs) only where no file is; an empty, damaged,
        hard-linked or unwritable one is refused (`LedgerError` saying what to do). A URL
        goes to libpq as given (its options pass through; the password from the URL,
        PGPASSWORD, ~/.pgpass or a service file), and its schema is created or migrated.
        `backups`: how many rolling backups of a file `close` keeps (0: none). `command`:
        what this run is, as recorded with it ("submit").
        """
        if is_url(location):
            from bulkorders.ledger.postgres import open_postgres

            return cls(open_postgres(str(location)), clock, backups, command)
        return cls(connect(Path(location).expanduser()), clock, backups, command)

    @property
    def shared(self) -> bool:
        """Whether several processes may work one campaign at once (a team ledger): then
        `submit` takes no campaign lock, and its claims split the rows."""
        return self._db.shared

    @property
    def run_id(self) -> int | None:
        """This run's id in `runs` (None until it changed something)."""
        return self._run_id

    def close(self) -> None:
        """Close the ledger, first backing up a file when this run changed it (see `backups`)."""
        with self._mutex:
            try:
                self._db.backup(self._clock, self._keep)
            finally:
                self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- campaigns ----------------------------------------------------------------------

    def campaign(self, name: str, panel: str, source: Path | None = None) -> Campaign:
        """The campaign `name` on `panel`, created if new; `source` updates its input path."""
        source_text = str(Path(source).absolute()) if source is not None else None
        with self._write() as db:
            db.execute(
                "INSERT INTO campaigns (name, panel, source_path, created_at) VALUES (?,?,?,?) "
                "ON CONFLICT (name, panel) DO UPDATE "
                "SET source_path = COALESCE(excluded.source_path, campaigns.source_path)",
                (name, panel, source_text, self._now()),
            )
            row = db.execute(
                f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE name = ? AND panel = ?",
                (name, panel),
            ).fetchone()
        return to_campaign(row)

    def find_campaign(self, name: str, panel: str | None = None) -> Campaign | None:
        """The campaign `name` (on `panel` if given) or None; on several panels → LedgerError."""
        found = [c for c in self.campaigns() if c.name == name and panel in (None, c.panel)]
        if len(found) > 1:
            panels = ", ".join(c.panel for c in found)
            raise LedgerError(
                f'Campaign "{name}" exists on several panels ({panels}): choose one with --panel.'
            )
        return found[0] if found else None

    def campaigns(self) -> list[Campaign]:
        """Every campaign, by name then panel."""
        with self._read() as db:
            rows = db.execute(f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY name, panel")
            return [to_campaign(r) for r in rows]

    def set_results_path(
        self, campaign: Campaign, path: Path | None, needs_write: bool
    ) -> Campaign:
        """Remember where the results sheet goes and whether it still has to be (re)written
        (when written, its `file_stamp` too)."""
        text = str(Path(path).absolute()) if path is not None else None
        stamp = None if needs_write or path is None else file_stamp(Path(path))
        with self._write() as db:
            db.execute(
                "UPDATE campaigns SET results_path = ?, needs_write = ?, results_stamp = ? "
                "WHERE id = ?",
                (text, int(needs_write), stamp, campaign.id),
            )
            row = db.execute(
                f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?", (campaign.id,)
            ).fetchone()
        return to_campaign(row)

    def lock(self, campaign: Campaign, doing: str = "submitted") -> AbstractContextManager[None]:
        """Hold the campaign for this process (a `with` block); held elsewhere → `LedgerLocked`.

        `doing` names the work in the message ("submitted", "refreshed"…). A file: OS locks
        beside it (`lock`); a team database: an advisory lock on this ledger's session.
        """
        if self.shared:
            return self._advisory_lock((CAMPAIGN_LOCKS, campaign.id), f'Campaign "{campaign.name}" is being {doing}')
        assert self.path is not None
        return ledger_lock(self.path, campaign.id, campaign.name, doing)

    def placing(self, campaign: Campaign) -> AbstractContextManager[None]:
        """What `submit` holds while it places the campaign's rows: the campaign lock on a
        file; nothing on a team ledger, where several runs share the rows (`mark_sending`)."""
        return nullcontext() if self.shared else self.lock(campaign, "submitted")

    def hold_panel(self, panel: str, doing: str) -> AbstractContextManager[None]:
        """What refill and cancel hold while they ask the panel about its orders: on a team
        ledger a lock no other process gets, so no order is refilled or cancelled twice by
        two operators at once (`doing`: "refilled", "cancelled"). A file: nothing (as before)."""
        if not self.shared:
            return nullcontext()
        key = zlib.crc32(panel.encode("utf-8")) - 2**31  # an int4 key
        return self._advisory_lock((PANEL_LOCKS, key), f"Orders of panel {panel} are being {doing}")

    @contextmanager
    def _advisory_lock(self, lock: tuple[int, int], busy: str) -> Iterator[None]:
        with self._write():
            pass  # this run is in `runs` first, so another process's refusal can name it
        with held_lock(self._db, self._mutex, self._held, lock, busy):
            yield

    # --- rows of a campaign ---------------------------------------------------------------

    def sync_rows(self, campaign: Campaign, planned: Sequence[PlannedRow]) -> list[LedgerRow]:
        """Record the sheet's valid rows; return their ledger rows in the order given.

        New identities are inserted `planned`; known ones keep their state and get the
        row number they have now (rows move when a sheet is sorted or rows inserted).
        Rows still planned also take the current payload and estimate.
        """
        with self._write() as db:
            return ledger_rows.sync(db, campaign.id, planned, self._now())

    def rows(self, campaign: Campaign) -> list[LedgerRow]:
        """Every row the ledger holds for the campaign, by Excel row."""
        with self._read() as db:
            found = db.execute(
                f"SELECT {ROW_COLUMNS} FROM rows r WHERE r.campaign_id = ? "
                "ORDER BY r.excel_row, r.id",
                (campaign.id,),
            ).fetchall()
        return [to_ledger_row(r) for r in found]

    def rows_in_batches(self, campaign: Campaign, size: int = BATCH_ROWS) -> Iterator[list[LedgerRow]]:
        """The campaign's rows as `rows` gives them, `size` at a time (each batch one read):
        a 100k-row campaign without all of it in memory. The lock is not held between
        batches, so the caller may use the ledger while it goes through them."""
        after: tuple[int, int] = (-1, -1)  # keyset: (excel_row, id) of the last row read
        common: dict[object, object] = {}  # one copy of each repeated text (state, service…)
        while True:
            with self._read() as db:
                found = db.execute(
                    f"SELECT {ROW_COLUMNS} FROM rows r WHERE r.campaign_id = ? "
                    "AND (r.excel_row > ? OR (r.excel_row = ? AND r.id > ?)) "
                    "ORDER BY r.excel_row, r.id LIMIT ?",
                    (campaign.id, after[0], after[0], after[1], size),
                ).fetchall()
            if not found:
                return
            after = (found[-1][2], found[-1][0])
            yield [to_ledger_row(r, common=common) for r in found]
            if len(found) < size:
                return

    def state_counts(self, campaign: Campaign) -> dict[str, int]:
        """How many rows of the campaign are in each state (states with none left out)."""
        with self._read() as db:
            found = db.execute(
                "SELECT state, COUNT(*) FROM rows WHERE campaign_id = ? GROUP BY state ORDER BY state",
                (campaign.id,),
            ).fetchall()
        return {state: count for state, count in found}

    def rows_page(
        self, campaign: Campaign, *, state: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[LedgerRow]:
        """`limit` rows of the campaign from `offset`, by Excel row; only rows in `state` if given.
        For a page of a big campaign without reading all of it (the web app)."""
        where, params = ("AND r.state = ? ", [state]) if state else ("", [])
        with self._read() as db:
            found = db.execute(
                f"SELECT {ROW_COLUMNS} FROM rows r WHERE r.campaign_id = ? {where}"
                "ORDER BY r.excel_row, r.id LIMIT ? OFFSET ?",
                (campaign.id, *params, limit, offset),
            ).fetchall()
        return [to_ledger_row(r) for r in found]

    def recover_sending(self, campaign: Campaign) -> list[LedgerRow]:
        """Rows left `sending` by a run that is over become `uncertain`; returns them.

        The database decides which runs are over: on a team ledger, those whose session
        no longer holds its run lock; on a file, every run but this one (the campaign lock
        keeps any other live process out)."""
        with self._write() as db:
            assert self._run_id is not None
            return ledger_claims.recover(db, campaign.id, self._run_id, RECOVERED)

    def mark_sending(
        self, row_ids: Sequence[int], at: str, expected: Mapping[int, tuple[str, int | None]] | None = None
    ) -> list[int]:
        """Claim rows for sending, committed before their requests leave; the ids won.

        Planned rows, uncertain ones sent again (--resend-uncertain) and rejected ones
        retried (--retry-rejected), each in one step, so no crash can leave a resent row
        `planned` for a plain rerun to send once more. A row another run took meanwhile
        (a team ledger) is not won: send only the ids returned. With `expected` (row id ->
        its state and claiming run when planned), a row another run sent since is not won either.
        """
        with self._write() as db:
            assert self._run_id is not None
            return ledger_claims.claim(db, row_ids, at, self._run_id, expected)

    def mark_placed(
        self, row_id: int, order_id: str, charge: Decimal, currency: str | None, at: str,
        warning: str | None = None,
    ) -> str | None:
        """The panel created order `order_id` for the row; its order is recorded too.

        `warning`: what else the panel said (`{"order": 1, "error": …}`), kept in `error`.

        Accepted in any state: the panel's word that an order exists is never dropped.
        A row already placed under another id keeps it, and the extra order is recorded
        against the row with an error saying it was ordered twice. An order id the panel
        already gave another row of that panel is not taken: both rows are flagged, this
        one becomes `uncertain`, and the returned text says why sending must stop.
        """
        with self._write(durable=False) as db:
            return ledger_rows.placed(db, row_id, str(order_id), money_text(charge), currency, at, warning)

    def mark_rejected(self, row_id: int, error: str, at: str) -> None:
        """The panel refused the row with `error`."""
        self._finish(row_id, RowState.REJECTED, error, at, (RowState.SENDING, RowState.UNCERTAIN))

    def mark_uncertain(self, row_id: int, detail: str, at: str) -> None:
        """The row was sent but its answer was lost (`detail` says how)."""
        self._finish(row_id, RowState.UNCERTAIN, detail, at, (RowState.SENDING, RowState.UNCERTAIN))

    def _finish(
        self, row_id: int, state: str, error: str, at: str, sources: tuple[str, ...]
    ) -> None:
        with self._write(durable=False) as db:
            ledger_rows.check_states(db, [row_id], state, sources)
            db.execute(
                "UPDATE rows SET state = ?, error = ?, answered_at = ? WHERE id = ?",
                (state, error, at, row_id),
            )

    def mark_planned(self, row_ids: Sequence[int], said: str | None = None) -> None:
        """Rows back to `planned`: uncertain ones, and ones marked sending that surely were
        not placed (the panel refused the key or the funds, or was never reached); `said`
        keeps the panel's words on them ("Not enough funds"), shown until they are sent."""
        with self._write(durable=False) as db:
            ledger_rows.check_states(db, row_ids, RowState.PLANNED, (RowState.UNCERTAIN, RowState.SENDING, RowState.PLANNED))
            db.executemany(
                "UPDATE rows SET state = 'planned', error = ?, sent_at = NULL, "
                "answered_at = NULL WHERE id = ? AND state IN ('uncertain', 'sending')",
                ((said, i) for i in row_ids),
            )

    def record_existing_orders(
        self, campaign: Campaign, orders: Sequence[tuple[int, str]], at: str
    ) -> None:
        """Rows a sheet shows with an order id, as (row id, order id): each counts as placed
        by it (a row already placed keeps its own). One transaction for them all."""
        with self._write() as db:
            ledger_rows.carried(db, campaign.id, orders, at)

    # --- lifecycle: what the panel said of orders (unknown orders are added) ---------------

    def record_statuses(self, panel: str, statuses: Sequence[OrderStatus], at: str) -> None:
        """Status answers, per-order errors included, recorded in one transaction."""
        with self._write() as db:
            ledger_orders.observe(db, panel, "status", at, statuses)

    def record_refills(self, panel: str, results: Sequence[RefillResult], at: str) -> None:
        """Refill answers: a refill id (its status reset to unknown), an error, or lost."""
        with self._write() as db:
            ledger_orders.observe(db, panel, "refill", at, results)

    def record_refill_statuses(
        self, panel: str, statuses: Sequence[tuple[str, RefillStatus]], at: str
    ) -> None:
        """Refill status answers, as (order id, answer about that order's refill) pairs."""
        with self._write() as db:
            ledger_orders.observe(db, panel, "refill_status", at, statuses)

    def record_cancels(self, panel: str, results: Sequence[CancelResult], at: str) -> None:
        """Cancel answers: the cancel id, or the panel's error, becomes cancel_result."""
        with self._write() as db:
            ledger_orders.observe(db, panel, "cancel", at, results)

    # --- reading orders (lifecycle, report): one query each ---------------------------------
    # Dates: `since` inclusive; `until` a date includes that day, a time is inclusive.

    def orders(self, panel: str, order_ids: Sequence[str]) -> dict[str, OrderRecord]:
        """The ledger's records of these orders on `panel`, by order id (unknown ones absent)."""
        return {o.order_id: o for o in self.order_records(panel=panel, order_ids=order_ids)}

    def order_records(
        self,
        *,
        campaigns: Sequence[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        panel: str | None = None,
        order_ids: Sequence[str] | None = None,
    ) -> list[OrderRecord]:
        """Orders with their latest values, by time placed (or first seen when not placed here)."""
        query, params = ledger_orders.order_records_query(
            campaigns, since, until, panel, order_ids is not None, self._db.insertion_order("o")
        )
        common: dict[object, object] = {}  # one copy of each repeated text (100k orders: ~25 MB less)
        with self._read(order_ids) as db:
            return [to_order_record(r, common) for r in db.execute(query, params)]

    def problem_rows(
        self,
        *,
        campaigns: Sequence[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        panel: str | None = None,
    ) -> list[tuple[str, LedgerRow]]:
        """(campaign name, row) of every rejected or uncertain row, by campaign and Excel row."""
        query, params = ledger_orders.problem_rows_query(campaigns, since, until, panel)
        with self._read() as db:
            return [(r[0], to_ledger_row(r[1:])) for r in db.execute(query, params)]

    def observations(
        self,
        *,
        campaigns: Sequence[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        order_ids: Sequence[str] | None = None,
        panel: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every observation, oldest first: panel, order_id, campaign, kind, at, data (dict)."""
        query, params = ledger_orders.observations_query(
            campaigns, since, until, panel, order_ids is not None
        )
        with self._read(order_ids) as db:
            return [ledger_orders.to_observation(r) for r in db.execute(query, params)]
