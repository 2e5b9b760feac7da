"""The ledger's transactions: writes, consistent reads, and `together` (one commit for many changes).

`Transactions` is the base of `Ledger`: one engine connection shared by a pipeline's
threads behind one re-entrant lock; the first change records this run (`claims.start_run`);
engine errors become the engine's `LedgerError` (damage, busy, a lost server…). The ledger's
own modules (finance, reconcile) run their queries inside `_read`/`_write` too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

from bulkorders.clock import Clock, utc_now_iso
from bulkorders.ledger import claims as ledger_claims
from bulkorders.ledger.engine import Engine


class _Group:
    """A `Ledger.together` block: whether no change inside it is half done."""

    whole = True


class Transactions:
    """The transaction plumbing of `Ledger` over one `Engine`."""

    def __init__(self, db: Engine, clock: Clock, command: str | None = None) -> None:
        self._db = db
        self._mutex = threading.RLock()  # re-entered by the changes inside `together`
        self._group: _Group | None = None
        self._clock = clock
        self._command = command or "bulkorders"
        self._run_id: int | None = None

    @contextmanager
    def _write(self, durable: bool = True) -> Iterator[Engine]:
        """One committed transaction, holding the write lock from its start.

        `durable=False`: on a team ledger the commit returns before the server has flushed it
        to disk. Only for the outcome of a row in flight: a server crash can then lose it,
        and the row, still `sending`, becomes uncertain (never sent again by a plain rerun).
        A claim, and every other change, is durable when the call returns."""
        with self._mutex:
            if self._group is not None:  # inside `together` (this thread: it holds the mutex)
                self._group.whole = False
                yield self._db
                self._group.whole = True
                return
            with self._transaction(durable, None) as db:
                yield db

    @contextmanager
    def together(self) -> Iterator[None]:
        """One durable transaction for every change this thread makes in the `with` block:
        placement records the answers just in and claims the next rows in one commit (on a
        team ledger one round trip and one flush to disk instead of one per row).

        An error rolls all of it back; Ctrl-C between two changes keeps the ones made."""
        with self._mutex:
            group = _Group()
            with self._transaction(True, lambda: group.whole, batch=True):
                self._group = group
                try:
                    yield
                finally:
                    self._group = None

    @contextmanager
    def _transaction(
        self, durable: bool, keep_on_ctrl_c: Callable[[], bool] | None, batch: bool = False
    ) -> Iterator[Engine]:
        db = self._db
        try:
            db.begin_batch() if batch else db.begin_write(durable)
        except Exception as exc:
            self._fail(exc, writing=True)
        new_run = False
        try:
            new_run = self._start_run(db)
            yield db
            db.commit()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt) and keep_on_ctrl_c is not None and keep_on_ctrl_c():
                db.commit()
                raise
            db.rollback()
            if new_run:
                self._run_id = None  # its row was rolled back with the rest
            self._fail(exc, writing=True)

    @contextmanager
    def _read(self, order_ids: Sequence[str] | None = None) -> Iterator[Engine]:
        """A consistent snapshot; `order_ids` are loaded into the temp table `wanted` for joins.
        Inside `together` (this thread), its transaction: what it changed so far included."""
        with self._mutex:
            db = self._db
            if self._group is None:
                try:
                    db.begin_read()
                except Exception as exc:
                    self._fail(exc, writing=False)
            try:
                if order_ids is not None:
                    db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (id TEXT PRIMARY KEY)")
                    db.execute("DELETE FROM wanted")
                    ids = [(str(i),) for i in order_ids]
                    db.executemany("INSERT INTO wanted VALUES (?) ON CONFLICT DO NOTHING", ids)
                yield db
            except BaseException as exc:
                if self._group is None:
                    db.rollback()
                self._fail(exc, writing=False)  # what quick_check at open cannot see: a record's bytes
            else:
                if self._group is None:
                    db.commit()

    def _fail(self, exc: BaseException, *, writing: bool) -> NoReturn:
        """Raise the engine's message for `exc` (damage, busy, a lost server…), else `exc` itself."""
        failure = self._db.failure(exc, writing)
        if failure is None:
            raise exc
        raise failure from exc

    def _start_run(self, db: Engine) -> bool:
        """At this ledger's first change: its run (see `claims.start_run`); whether it began now."""
        if self._run_id is not None:
            return False
        self._run_id = ledger_claims.start_run(db, self._command, self._now())
        return True

    def _now(self) -> str:
        return utc_now_iso(self._clock)
