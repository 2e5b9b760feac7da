"""Exactly once across processes: claiming rows for sending, and what a dead run left behind.

A claim is one transaction that takes only the rows still in a state that may be sent
(on PostgreSQL `FOR UPDATE SKIP LOCKED`: a row another run is claiming at that moment is
not waited for, it is that run's), stamps them with the claiming run, and returns the ids
it won; the caller sends only those. Rows `sending` become `uncertain` only where the run
that claimed them is over, which the database decides (`Engine.dead_run`).
Functions over an open engine, called by `Ledger` inside its transactions.
"""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping, Sequence

from bulkorders.errors import LedgerError
from bulkorders.ledger.engine import Engine
from bulkorders.ledger.records import LedgerRow, RowState
from bulkorders.ledger.rows import CHUNK, either, rows_by_id

SENDABLE = (RowState.PLANNED, RowState.UNCERTAIN, RowState.REJECTED)
Seen = tuple[str, "int | None"]  # a row's (state, claiming run) as a run saw it when it planned the row


def start_run(db: Engine, command: str, now: str) -> int:
    """Record a run (operator = OS user, host, pid, command) and, on a team ledger, hold its
    liveness lock for as long as the connection lives; its id."""
    try:
        operator = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        operator = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    run_id = int(db.execute(
        "INSERT INTO runs (operator, host, pid, command, started_at) VALUES (?,?,?,?,?) RETURNING id",
        (operator, socket.gethostname(), os.getpid(), command, now),
    ).fetchone()[0])  # fmt: skip
    db.hold_run(run_id)
    return run_id


def claim(
    db: Engine, row_ids: Sequence[int], at: str, run_id: int, expected: Mapping[int, Seen] | None = None
) -> list[int]:
    """Mark the rows that may still be sent `sending` for run `run_id`; the ids won, in order.

    `expected` (row id -> (state, run id) as the caller saw it when it planned the row): a
    row is won only if it is still so. A row another run sent meanwhile, even one that came
    back `uncertain` or `rejected` (sendable states for a rerun that asks for them), is that
    run's outcome: sending it again here could order it twice. Without `expected`, any
    sendable row is won (one process per campaign: nothing can change under it).
    A row another run has taken is simply not won. A row this run itself already took, or
    one that does not exist, is a bug: refused, changing nothing (the caller rolls back).
    """
    unique = list(dict.fromkeys(row_ids))
    won: set[int] = set()
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        which, params = _claimable(chunk, expected)
        # One statement (no round trip inside a pipelined batch); SKIP LOCKED: a row another
        # run is claiming at this moment is its own; the rows locked are the rows updated.
        found = db.execute(
            "UPDATE rows SET state = 'sending', sent_at = ?, answered_at = NULL, error = NULL, run_id = ? "
            f"WHERE id IN (SELECT id FROM rows WHERE {which}{db.skip_locked}) RETURNING id",
            (at, run_id, *params),
        )
        won.update(r[0] for r in found)
    lost = [i for i in unique if i not in won]
    if lost:
        _refuse_own(db, lost, run_id)
    return [i for i in unique if i in won]


def _claimable(ids: Sequence[int], expected: Mapping[int, Seen] | None) -> tuple[str, list[object]]:
    """The condition (and its parameters) of the rows of `ids` that may be claimed: in a
    sendable state, and, with `expected`, still in the state and run each was planned in."""
    if expected is None:
        states = ",".join("?" * len(SENDABLE))
        return f"id IN ({','.join('?' * len(ids))}) AND state IN ({states})", [*ids, *(s.value for s in SENDABLE)]
    groups: dict[Seen, list[int]] = {}
    for i in ids:
        seen = expected.get(i)
        if seen is not None and seen[0] in SENDABLE:
            groups.setdefault(seen, []).append(i)
    if not groups:
        return "1 = 0", []
    conditions, params = [], []
    for (state, by), members in groups.items():  # most batches: one group, (planned, never sent)
        conditions.append(f"(id IN ({','.join('?' * len(members))}) AND state = ? AND COALESCE(run_id, 0) = ?)")
        params += [*members, str(state), by or 0]
    return " OR ".join(conditions), params


def _refuse_own(db: Engine, ids: list[int], run_id: int) -> None:
    """Rows not won: fine when another run took them; a missing row, or one this run took, is a bug."""
    found: dict[int, tuple[str, int | None]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update((i, (s, r)) for i, s, r in db.execute(
            f"SELECT id, state, run_id FROM rows WHERE id IN ({marks})", chunk
        ))  # fmt: skip
    wrong = [
        f"{i} ({found[i][0] if i in found else 'missing'})"
        for i in ids
        if i not in found or (found[i][1] == run_id and found[i][0] not in SENDABLE)
    ]
    if wrong:
        raise LedgerError(
            f"Ledger rows {', '.join(wrong)} cannot become {RowState.SENDING}: only {either(SENDABLE)} "
            "rows can. Nothing was changed or sent. This is a bug in bulkorders; please report it."
        )


def recover(db: Engine, campaign_id: int, run_id: int, why: str) -> list[LedgerRow]:
    """The campaign's rows left `sending` by runs that are over become `uncertain` (`why`); those rows."""
    dead, params = db.dead_run("run_id", run_id)
    found = db.execute(
        f"UPDATE rows SET state = 'uncertain', error = ? WHERE campaign_id = ? AND state = 'sending' AND {dead} "
        "RETURNING id",
        (why, campaign_id, *params),
    )
    return rows_by_id(db, sorted(r[0] for r in found))
