"""What a ledger is and holds, for `bulkorders ledger info`: where, engine, schema, counts.

One read of the ledger (one snapshot), through its own connection; the same portable SQL
on both engines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bulkorders.ledger.records import STATES

if TYPE_CHECKING:
    from bulkorders.ledger.location import LedgerLocation
    from bulkorders.ledger.store import Ledger

TABLES = {  # what is counted -> its table
    "campaigns": "campaigns", "rows": "rows", "orders": "orders", "observations": "observations",
    "balance_readings": "balance_readings", "runs": "runs",
}  # fmt: skip


@dataclass(frozen=True)
class LedgerInfo:
    """Where a ledger is (shown form), its engine and schema, and how much it holds."""

    where: str
    engine: str
    exists: bool = True
    schema: int | None = None
    counts: dict[str, int] = field(default_factory=dict)  # TABLES key -> rows in it
    rows_by_state: dict[str, int] = field(default_factory=dict)  # every state, 0 included

    def to_dict(self) -> dict[str, Any]:
        """The info as a JSON object (`--json`)."""
        data: dict[str, Any] = {"ledger": self.where, "engine": self.engine, "exists": self.exists}
        if self.exists:
            data |= {"schema": self.schema, "counts": self.counts, "rows_by_state": self.rows_by_state}
        return data


def table_counts(ledger: Ledger) -> tuple[int, dict[str, int], dict[str, int]]:
    """(schema version, rows per TABLES key, rows per state) in one snapshot."""
    with ledger._read() as db:  # noqa: SLF001
        version = db.version()
        counts = {name: int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                  for name, table in TABLES.items()}  # fmt: skip
        states = dict.fromkeys(STATES, 0)
        states.update((s, int(n)) for s, n in db.execute("SELECT state, count(*) FROM rows GROUP BY state"))
    return version, counts, states


def ledger_info(location: LedgerLocation, open_ledger: Any) -> LedgerInfo:
    """The info of the ledger at `location`; `open_ledger()` opens it (creating a team
    database's schema). A ledger file not there yet is said so, and not created."""
    if not location.may_exist():
        return LedgerInfo(location.shown, location.engine, exists=False)
    ledger = open_ledger()
    version, counts, states = table_counts(ledger)
    return LedgerInfo(location.shown, location.engine, True, version, counts, states)


LABELS = {"campaigns": "Campaigns", "rows": "Rows", "orders": "Orders", "observations": "Observations",
          "balance_readings": "Balance readings", "runs": "Runs"}  # fmt: skip


def info_text(info: LedgerInfo) -> str:
    """The info as lines for a person: where, engine, schema, then the counts."""
    lines = [f"Ledger:  {info.where}", f"Engine:  {info.engine}"]
    if not info.exists:
        return "\n".join([*lines, "There is no ledger here yet: submit creates it, or "
                          f"`bulkorders ledger migrate --to {info.where}` copies one here."])  # fmt: skip
    lines.append(f"Schema:  version {info.schema}")
    width = max(len(label) for label in LABELS.values()) + 1
    for name, label in LABELS.items():
        line = f"{label + ':':<{width}} {info.counts.get(name, 0):,}"
        if name == "rows" and info.counts.get("rows"):
            held = [f"{state} {count:,}" for state, count in info.rows_by_state.items() if count]
            line += f" ({', '.join(held)})"
        lines.append(line)
    return "\n".join(lines)
