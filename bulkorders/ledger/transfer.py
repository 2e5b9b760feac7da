"""Copying one ledger into another (`bulkorders ledger migrate --to`), merged by identity.

Normally a person's SQLite ledger into a team database; any engine into any other works.
Everything of the source is read in one snapshot and written into the target in one
transaction, so the target holds all of it or none. What the target already holds is
merged, never duplicated: a campaign by (name, panel), a row by (campaign, identity), an
order by (panel, order id), an observation or balance reading by its whole content. Ids
are the target's own (the source's are mapped). A row keeps the further of its two
states (a placed row never turns back to planned). After the commit, the target is read
back and every figure checked. Portable SQL with `?` placeholders, through the ledgers'
own connections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulkorders.errors import LedgerError, UsageError
from bulkorders.ledger.info import table_counts

if TYPE_CHECKING:
    from bulkorders.ledger.location import LedgerLocation
    from bulkorders.ledger.store import Ledger

Db = Any  # an open connection of a ledger, inside its transaction
# How far a row got: the target keeps its own state unless the source's got further. By
# what is known of an order: none asked, none made, one may exist (in flight, answer lost),
# one exists. A send that may have placed outranks another that was refused.
PROGRESS = {"planned": 0, "rejected": 1, "sending": 2, "uncertain": 3, "placed": 4}
CAMPAIGN = ("name", "panel", "source_path", "results_path", "needs_write", "created_at", "results_stamp")
ROW = ("identity", "excel_row", "service", "link", "payload", "estimate", "state", "order_id",
       "charge", "currency", "error", "created_at", "sent_at", "answered_at", "run_id")  # fmt: skip
OUTCOME = ROW[6:]  # what a row's further state brings along (state … the run that claimed it)
RUN = ("operator", "host", "pid", "command", "started_at")
ORDER = ("panel", "order_id", "campaign_id", "row_id", "service", "link", "quantity", "charge",
         "currency", "status", "start_count", "remains", "refill_id", "refill_status",
         "cancel_result", "error", "submitted_at", "checked_at", "seen_at")  # fmt: skip
CHECKED = ("status", "charge", "currency", "start_count", "remains", "error", "checked_at")
OBSERVATION = ("panel", "order_id", "kind", "at", "data")
BALANCE = ("panel", "at", "amount", "currency", "command", "campaign", "ledger_spend", "uncertain")
COPIED = ("campaigns", "rows", "orders", "observations", "balance_readings", "runs")
NOUNS = {"campaigns": "campaign", "rows": "row", "orders": "order", "observations": "observation",
         "balance_readings": "balance reading", "runs": "run"}  # fmt: skip


@dataclass
class Transfer:
    """What one migration did: per table, entries new to the target and ones it already held."""

    copied: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COPIED, 0))
    merged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COPIED, 0))
    advanced: int = 0  # rows of the target brought to the source's further state
    refreshed: int = 0  # orders of the target that took values (a later check) from the source
    sending: int = 0  # rows the source had in flight: the target decides them as uncertain
    held: dict[str, int] = field(default_factory=dict)  # the target's counts after, read back

    @property
    def changed(self) -> bool:
        return bool(self.advanced or self.refreshed or any(self.copied.values()))

    def to_dict(self) -> dict[str, Any]:
        """As JSON: copied, merged and held per table, rows advanced, rows in flight."""
        return {"copied": self.copied, "merged": self.merged, "advanced": self.advanced,
                "refreshed": self.refreshed, "sending": self.sending, "held": {name: self.held.get(name, 0) for name in COPIED}}  # fmt: skip


@dataclass
class _Snapshot:
    """Everything of the source ledger, read in one transaction."""

    campaigns: list[tuple[Any, ...]]  # id, *CAMPAIGN
    rows: list[tuple[Any, ...]]  # id, campaign_id, *ROW
    row_columns: list[tuple[Any, ...]]  # row_id, data
    orders: list[tuple[Any, ...]]  # ORDER
    observations: list[tuple[Any, ...]]
    balances: list[tuple[Any, ...]]
    runs: list[tuple[Any, ...]]  # id, *RUN


class _NothingNew(Exception):
    """The target held everything already: its transaction is rolled back (no run recorded)."""


def copy_ledger(source: Ledger, target: Ledger) -> Transfer:
    """Copy `source` into `target` (one target transaction), then verify by reading back.

    When there is nothing new, the target is left as it was: not even this run is recorded
    in it. Otherwise this run (the copy itself) is one more run of the target."""
    snap = _read(source)
    result = Transfer()
    result.sending = sum(1 for r in snap.rows if r[2 + ROW.index("state")] == "sending")
    _, before, _ = table_counts(target)
    recorded = target.run_id is not None  # this ledger's run is in it already (an earlier change)
    try:
        with target._write() as db:  # noqa: SLF001 - a ledger module, inside the ledger's transaction
            runs = _runs(db, snap.runs, result)
            campaigns = _campaigns(db, snap.campaigns, result)
            rows = _rows(db, snap.rows, campaigns, runs, result)
            _row_columns(db, snap.row_columns, rows)
            _orders(db, snap.orders, campaigns, rows, result)
            _by_content(db, "observations", OBSERVATION, snap.observations, result)
            _by_content(db, "balance_readings", BALANCE, snap.balances, result)
            if not result.changed:
                raise _NothingNew
    except _NothingNew:
        pass
    before["runs"] += not recorded and target.run_id is not None  # the run of this copy
    _verify(target, snap, before, result)
    return result


def _read(source: Ledger) -> _Snapshot:
    with source._read() as db:  # noqa: SLF001
        def rows(table: str, columns: Sequence[str], order: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")]

        return _Snapshot(
            campaigns=rows("campaigns", ("id", *CAMPAIGN), "id"),
            rows=rows("rows", ("id", "campaign_id", *ROW), "id"),
            row_columns=rows("row_columns", ("row_id", "data"), "row_id"),
            orders=rows("orders", ORDER, "COALESCE(submitted_at, seen_at), panel, order_id"),
            observations=rows("observations", OBSERVATION, "at, id"),
            balances=rows("balance_readings", BALANCE, "id"),
            runs=rows("runs", ("id", *RUN), "id"),
        )


def _marks(columns: Sequence[str]) -> str:
    return ", ".join("?" * len(columns))


def _campaigns(db: Db, found: list[tuple[Any, ...]], result: Transfer) -> dict[int, int]:
    """Source campaign id -> the target's; a campaign already there keeps its own paths
    unless it has none (then the source's are taken)."""
    known = {(n, p): i for i, n, p in db.execute("SELECT id, name, panel FROM campaigns")}
    mapped = {}
    for source_id, *values in found:
        key = (values[0], values[1])
        if key in known:
            result.merged["campaigns"] += 1
            db.execute(
                "UPDATE campaigns SET source_path = COALESCE(source_path, ?) WHERE id = ?", (values[2], known[key])
            )
            db.execute(
                "UPDATE campaigns SET results_path = ?, needs_write = ?, results_stamp = ? "
                "WHERE id = ? AND results_path IS NULL AND CAST(? AS TEXT) IS NOT NULL",
                (values[3], values[4], values[6], known[key], values[3]),
            )
        else:
            db.execute(f"INSERT INTO campaigns ({', '.join(CAMPAIGN)}) VALUES ({_marks(CAMPAIGN)})", values)
            known[key] = db.execute("SELECT id FROM campaigns WHERE name = ? AND panel = ?", key).fetchone()[0]
            result.copied["campaigns"] += 1
        mapped[source_id] = known[key]
    return mapped


def _runs(db: Db, found: list[tuple[Any, ...]], result: Transfer) -> dict[int, int]:
    """Source run id -> the target's; a run is known by all it records (who, where, when)."""
    columns = ", ".join(RUN)
    known = {tuple(r[1:]): r[0] for r in db.execute(f"SELECT id, {columns} FROM runs")}
    mapped = {}
    for source_id, *values in found:
        key = tuple(values)
        if key in known:
            result.merged["runs"] += 1
        else:
            known[key] = db.execute(f"INSERT INTO runs ({columns}) VALUES ({_marks(RUN)}) RETURNING id", key).fetchone()[0]
            result.copied["runs"] += 1
        mapped[source_id] = known[key]
    return mapped


def _rows(
    db: Db, found: list[tuple[Any, ...]], campaigns: dict[int, int], runs: dict[int, int], result: Transfer
) -> dict[int, int]:
    """Source row id -> the target's. A row the target holds is brought to the source's
    state only when that got further (`PROGRESS`). Ids of campaigns and runs: the target's."""
    by_campaign: dict[int, list[tuple[Any, ...]]] = {}
    for row in found:
        by_campaign.setdefault(campaigns[row[1]], []).append((*row[:-1], runs.get(row[-1])))
    mapped: dict[int, int] = {}
    for campaign_id, rows in by_campaign.items():
        known = _identities(db, campaign_id)
        new = [r for r in rows if r[2] not in known]
        for source_id, _, identity, *values in rows:
            if identity not in known:
                continue
            result.merged["rows"] += 1
            target_id, state = known[identity]
            mapped[source_id] = target_id
            outcome = values[5:]
            if PROGRESS[outcome[0]] > PROGRESS[state]:
                sets = ", ".join(f"{c} = ?" for c in OUTCOME)
                db.execute(f"UPDATE rows SET {sets} WHERE id = ?", (*outcome, target_id))
                result.advanced += 1
        columns = ("campaign_id", *ROW)
        db.executemany(
            f"INSERT INTO rows ({', '.join(columns)}) VALUES ({_marks(columns)})",
            [(campaign_id, *r[2:]) for r in new],
        )
        result.copied["rows"] += len(new)
        known = _identities(db, campaign_id)
        mapped.update((r[0], known[r[2]][0]) for r in new)
    return mapped


def _identities(db: Db, campaign_id: int) -> dict[str, tuple[int, str]]:
    found = db.execute("SELECT identity, id, state FROM rows WHERE campaign_id = ?", (campaign_id,))
    return {identity: (row_id, state) for identity, row_id, state in found}


def _row_columns(db: Db, found: list[tuple[Any, ...]], rows: dict[int, int]) -> None:
    """The sheet's other columns of each row, unless the target has its own for that row."""
    db.executemany(
        "INSERT INTO row_columns (row_id, data) VALUES (?, ?) ON CONFLICT (row_id) DO NOTHING",
        [(rows[row_id], data) for row_id, data in found if row_id in rows],
    )


def _orders(
    db: Db, found: list[tuple[Any, ...]], campaigns: dict[int, int], rows: dict[int, int], result: Transfer
) -> None:
    """New orders copied with the target's ids; an order the target holds keeps its values
    and takes the source's where it has none, and the source's latest check when later."""
    columns = ", ".join(ORDER)
    known = {(r[0], r[1]): tuple(r) for r in db.execute(f"SELECT {columns} FROM orders")}
    new, changed = [], []
    for order in found:
        order = (*order[:2], campaigns.get(order[2]), rows.get(order[3]), *order[4:])
        held = known.get(order[:2])
        if held is None:
            new.append(order)
            continue
        result.merged["orders"] += 1
        merged = _merged_order(held, order)
        if merged != held:
            changed.append((*merged[2:], *merged[:2]))
    db.executemany(f"INSERT INTO orders ({columns}) VALUES ({_marks(ORDER)})", new)
    sets = ", ".join(f"{c} = ?" for c in ORDER[2:])
    db.executemany(f"UPDATE orders SET {sets} WHERE panel = ? AND order_id = ?", changed)
    result.copied["orders"] += len(new)
    result.refreshed += len(changed)


def _merged_order(held: tuple[Any, ...], other: tuple[Any, ...]) -> tuple[Any, ...]:
    """The target's order with the source's values where it has none, and the source's
    checked values (status, charge…) when the source checked it later."""
    later = other[ORDER.index("checked_at")] is not None and (
        held[ORDER.index("checked_at")] is None or other[ORDER.index("checked_at")] > held[ORDER.index("checked_at")]
    )
    return tuple(
        theirs if (later and name in CHECKED) or ours is None else ours
        for name, ours, theirs in zip(ORDER, held, other)
    )


def _by_content(db: Db, table: str, columns: Sequence[str], found: list[tuple[Any, ...]], result: Transfer) -> None:
    """Entries with no identity but their content: each one the target lacks is added
    (as often as the source has it more than the target)."""
    held: dict[tuple[Any, ...], int] = {}
    for entry in db.execute(f"SELECT {', '.join(columns)} FROM {table}"):
        held[tuple(entry)] = held.get(tuple(entry), 0) + 1
    new = []
    for entry in found:
        if held.get(entry, 0):
            held[entry] -= 1
            result.merged[table] += 1
        else:
            new.append(entry)
    db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_marks(columns)})", new)
    result.copied[table] += len(new)


def _verify(target: Ledger, snap: _Snapshot, before: dict[str, int], result: Transfer) -> None:
    """Read the target back: its counts grew by what was copied, and it holds every
    campaign, row and order of the source by identity."""
    _, held, _ = table_counts(target)
    result.held = held
    expected = {name: before[name] + result.copied[name] for name in COPIED}
    wrong = [f"{name}: {held[name]:,} held, {expected[name]:,} expected" for name in COPIED if held[name] != expected[name]]
    with target._read() as db:  # noqa: SLF001
        campaigns = {tuple(r) for r in db.execute("SELECT name, panel FROM campaigns")}
        rows = {tuple(r) for r in db.execute(
            "SELECT c.name, c.panel, r.identity FROM rows r JOIN campaigns c ON c.id = r.campaign_id"
        )}  # fmt: skip
        orders = {tuple(r) for r in db.execute("SELECT panel, order_id FROM orders")}
    names = {c[0]: (c[1], c[2]) for c in snap.campaigns}
    missing = sum(1 for c in snap.campaigns if (c[1], c[2]) not in campaigns)
    missing += sum(1 for r in snap.rows if (*names[r[1]], r[2]) not in rows)
    missing += sum(1 for o in snap.orders if o[:2] not in orders)
    if wrong or missing:
        detail = "; ".join(wrong + ([f"{missing:,} campaigns, rows or orders of the source not found"] if missing else []))
        raise LedgerError(
            f"The copy did not verify: {detail}. Nothing of the source was changed. Run "
            "`bulkorders ledger info` on both ledgers, and report this as a bug in bulkorders."
        )


def migrate_ledger(source: LedgerLocation, target: LedgerLocation, open_source: Callable[[], Ledger]) -> Transfer:
    """Copy the ledger at `source` (opened by `open_source()`) into the one at `target`,
    creating the target (a file, or a team database's schema) when it has none yet."""
    if not source.may_exist():
        raise LedgerError(
            f"There is no ledger at {source} to copy. Choose the ledger to copy with --ledger "
            "(BULKORDERS_LEDGER); --to names where it goes."
        )
    if _same(source, target):
        raise UsageError(f"--to {target} is the ledger being copied (--ledger): give another ledger to copy it into.")
    from bulkorders.ledger.store import Ledger

    copied_from = open_source()
    with Ledger.open(target.target) as copied_to:
        return copy_ledger(copied_from, copied_to)


def _same(one: LedgerLocation, other: LedgerLocation) -> bool:
    if one.path is None or other.path is None:
        return one.text == other.text
    return Path(one.path).resolve() == Path(other.path).resolve()


def transfer_text(result: Transfer, source: str, target: str) -> str:
    """What a migration did, in words: what was copied and merged, then what the target holds."""
    held = ", ".join(_counted(result.held.get(name, 0), NOUNS[name]) for name in COPIED)
    checked = f"Verified: {target} now holds {held}."
    if not result.changed:
        return f"Nothing to copy: {target} already holds everything of {source}.\n{checked}"
    parts = []
    for name in COPIED:
        part = _counted(result.copied[name], NOUNS[name])
        if result.merged[name]:
            part += f" ({result.merged[name]:,} more already there)"
        parts.append(part)
    lines = [f"Copied {', '.join(parts)} from {source} into {target}."]
    if result.advanced:
        lines.append(f"{_counted(result.advanced, 'row')} of the target took the further state the source had.")
    if result.refreshed:
        lines.append(f"{_counted(result.refreshed, 'order')} of the target took what the source knew more of them.")
    if result.sending:
        lines.append(
            f"{_counted(result.sending, 'row')} of the source {'was' if result.sending == 1 else 'were'} being "
            "sent: on the target, the next submit of its campaign makes them uncertain once the run that "
            "sent them is over (check them in the panel before --resend-uncertain)."
        )
    return "\n".join([*lines, checked])


def _counted(count: int, noun: str) -> str:
    """`1 row`, `1,200 rows`."""
    return f"{count:,} {noun if count == 1 else noun + 's'}"
