"""The SQLite ledger: what each campaign row became, and everything later seen of its order.

Every change commits at once, so a row is `sending` on disk before its request leaves
and its outcome is on disk right after the answer. One connection serves the worker
threads of a pipeline, guarded by a lock. See `migrations` for the tables and `records` for what is read back.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from bulkorders.clock import Clock, utc_now_iso
from bulkorders.errors import LedgerError
from bulkorders.ledger import orders as ledger_orders
from bulkorders.ledger import rows as ledger_rows
from bulkorders.ledger.backups import KEEP, take_backup
from bulkorders.ledger.files import cannot_use, connect, damaged, file_stamp, is_damage
from bulkorders.ledger.identity import assign_identities, row_identity
from bulkorders.ledger.lock import ledger_lock
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


class Ledger:
    """One ledger file. Open with `Ledger.open(path)`; usable as a context manager."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Clock, keep: int = KEEP) -> None:
        self._conn = conn
        self._mutex = threading.Lock()
        self._clock = clock
        self._keep = keep
        self.path = path

    @classmethod
    def open(cls, path: Path, *, clock: Clock = time.time, backups: int = KEEP) -> Ledger:
        """Open the ledger at `path`, creating it (0600, parent dirs) only where no file is.

        An empty, damaged, hard-linked or unwritable file is refused (`LedgerError`
        saying what to do). `backups` is how many rolling backups `close` keeps (0: none).
        """
        path = Path(path).expanduser()
        return cls(connect(path), path, clock, backups)

    def close(self) -> None:
        """Close the ledger, first backing it up when this run changed it (see `backups`)."""
        with self._mutex:
            try:
                if self._keep and self._conn.total_changes:
                    take_backup(self._conn, self.path, self._clock, self._keep)
            except (OSError, sqlite3.Error):
                pass  # a backup that cannot be taken costs only that backup, never the run
            finally:
                self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction, holding the write lock from its start."""
        with self._mutex:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise self._unwritable(exc) from exc
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError) and is_damage(exc):
                    raise self._damaged(exc) from exc
                if isinstance(exc, sqlite3.OperationalError):
                    raise self._unwritable(exc) from exc
                raise

    @contextmanager
    def _read(self, order_ids: Sequence[str] | None = None) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot; `order_ids` are loaded into temp.wanted for joins."""
        with self._mutex:
            self._conn.execute("BEGIN")
            try:
                if order_ids is not None:
                    db = self._conn
                    db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (id TEXT PRIMARY KEY)")
                    db.execute("DELETE FROM temp.wanted")
                    ids = ((str(i),) for i in order_ids)
                    db.executemany("INSERT OR IGNORE INTO temp.wanted VALUES (?)", ids)
                yield self._conn
            except sqlite3.DatabaseError as exc:
                if is_damage(exc):  # what quick_check at open cannot see: a record's bytes
                    raise self._damaged(exc) from exc
                raise
            finally:
                self._conn.execute("COMMIT")

    def _unwritable(self, exc: sqlite3.OperationalError) -> LedgerError:
        if "readonly" in str(exc) or "unable to open" in str(exc):
            return cannot_use(self.path, exc)
        return LedgerError(
            f"Cannot write the ledger {self.path}: {exc}. Nothing of this step was recorded; "
            "free disk space or wait for the other bulkorders process, then rerun."
        )

    def _damaged(self, exc: sqlite3.DatabaseError) -> LedgerError:
        self._keep = 0  # no backup of a damaged ledger: it would push out the good ones
        return damaged(self.path, f"SQLite says: {exc}", "Nothing of this step was recorded.")

    def _now(self) -> str:
        return utc_now_iso(self._clock)

    # --- campaigns ----------------------------------------------------------------------

    def campaign(self, name: str, panel: str, source: Path | None = None) -> Campaign:
        """The campaign `name` on `panel`, created if new; `source` updates its input path."""
        source_text = str(Path(source).absolute()) if source is not None else None
        with self._write() as db:
            db.execute(
                "INSERT INTO campaigns (name, panel, source_path, created_at) VALUES (?,?,?,?) "
                "ON CONFLICT (name, panel) DO UPDATE "
                "SET source_path = COALESCE(excluded.source_path, source_path)",
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

        `doing` names the work in the message ("submitted", "refreshed"…).
        """
        return ledger_lock(self.path, campaign.id, campaign.name, doing)

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
        """Rows left `sending` by a process that died become `uncertain`; returns them."""
        with self._write() as db:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM rows WHERE campaign_id = ? AND state = 'sending'", (campaign.id,)
            )]  # fmt: skip
            db.executemany(
                "UPDATE rows SET state = 'uncertain', error = ? WHERE id = ?",
                ((RECOVERED, i) for i in ids),
            )
            return ledger_rows.rows_by_id(db, ids)

    def mark_sending(self, row_ids: Sequence[int], at: str) -> None:
        """Rows about to be sent: committed before their requests leave.

        Planned rows, uncertain ones sent again (--resend-uncertain) and rejected ones
        retried (--retry-rejected), each in one step, so no crash can leave a resent row
        `planned` for a plain rerun to send once more.
        """
        with self._write() as db:
            ledger_rows.check_states(db, row_ids, RowState.SENDING, (RowState.PLANNED, RowState.UNCERTAIN, RowState.REJECTED))
            db.executemany(
                "UPDATE rows SET state = 'sending', sent_at = ?, answered_at = NULL, error = NULL "
                "WHERE id = ?",
                ((at, i) for i in row_ids),
            )

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
        order_id = str(order_id)
        with self._write() as db:
            shared = ledger_rows.shared_order(db, row_id, order_id, at)
            if shared is not None:
                return shared
            done = db.execute(
                "UPDATE rows SET state = 'placed', order_id = ?, charge = ?, currency = ?, "
                "error = ?, answered_at = ? WHERE id = ? AND state != 'placed'",
                (order_id, money_text(charge), currency, warning, at, row_id),
            ).rowcount
            if not done:
                first = ledger_rows.one(db, "SELECT order_id FROM rows WHERE id = ?", row_id)
                if first != order_id:
                    db.execute(
                        "UPDATE rows SET error = ? WHERE id = ?",
                        (f"ordered twice: orders {first} and {order_id}", row_id),
                    )
            ledger_orders.upsert_order(db, row_id, order_id, money_text(charge), currency, at, at)
        return None

    def mark_rejected(self, row_id: int, error: str, at: str) -> None:
        """The panel refused the row with `error`."""
        self._finish(row_id, RowState.REJECTED, error, at, (RowState.SENDING, RowState.UNCERTAIN))

    def mark_uncertain(self, row_id: int, detail: str, at: str) -> None:
        """The row was sent but its answer was lost (`detail` says how)."""
        self._finish(row_id, RowState.UNCERTAIN, detail, at, (RowState.SENDING, RowState.UNCERTAIN))

    def _finish(
        self, row_id: int, state: str, error: str, at: str, sources: tuple[str, ...]
    ) -> None:
        with self._write() as db:
            ledger_rows.check_states(db, [row_id], state, sources)
            db.execute(
                "UPDATE rows SET state = ?, error = ?, answered_at = ? WHERE id = ?",
                (state, error, at, row_id),
            )

    def mark_planned(self, row_ids: Sequence[int], said: str | None = None) -> None:
        """Rows back to `planned`: uncertain ones, and ones marked sending that surely were
        not placed (the panel refused the key or the funds, or was never reached); `said`
        keeps the panel's words on them ("Not enough funds"), shown until they are sent."""
        with self._write() as db:
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
            for row_id, order_id in orders:
                db.execute(
                    "UPDATE rows SET state = 'placed', order_id = ?, error = NULL, "
                    "answered_at = COALESCE(answered_at, ?) "
                    "WHERE id = ? AND campaign_id = ? AND state != 'placed'",
                    (str(order_id), at, row_id, campaign.id),
                )
                current = ledger_rows.one(db, "SELECT order_id FROM rows WHERE id = ?", row_id)
                if current is not None:
                    ledger_orders.upsert_order(db, row_id, current, None, None, None, at)

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
            campaigns, since, until, panel, order_ids is not None
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
