"""Benchmark of `report`: the audit workbook of a ledger of 100k orders, in seconds.

    python bench/report.py [--orders 100000] [--campaigns 10] [--ledger-rows 100000] [--keep DIR]

0. The ledger calls a big campaign makes (moved here from the unit suite): `sync_rows` of
   `--ledger-rows` new rows in one campaign, then the same rows again (a rerun), then
   `record_statuses` of 10k orders (100 placed, the rest unknown to the ledger) and
   `order_records` reading them back. Goal: each `sync_rows` within 30 s.
1. Builds a ledger through the ledger API: the rows of each campaign with `sync_rows`,
   then (the ledger has no batch `mark_placed`, and 100k single transactions would time
   the setup, not the report) their placement with SQL on the same tables, plus 1.25 %
   more rows, rejected or uncertain. Every order then gets a status answer
   (`record_statuses`, in batches of 100 like `status`): Completed, Partial (a smaller
   charge), In progress, Pending, Canceled (charge 0); 2 % get a refill and 1 % a
   cancel answer. Orders are spread over 30 days. The sandbox catalogue is cached, so
   service names and categories are filled in.
2. Times `bulkorders report --out audit.xlsx` in a subprocess (interpreter start-up and
   imports included: what a user waits for).

Prints the seconds, the workbook size and each figure's share of its goal; exits 1 when a goal
is missed (report over 20 s, a `sync_rows` over 30 s).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from goals import verdict
from userdirs import isolated_env

from bulkorders.catalog import cache_path, load_catalogue
from bulkorders.clock import utc_now_iso
from bulkorders.ledger.store import Ledger, PlannedRow, assign_identities
from bulkorders.models import CancelResult, OrderStatus, RefillResult
from bulkorders.panel.client import PanelClient
from bulkorders.panel.sandbox.panel import catalogue
from bulkorders.panel.sandbox.transport import SandboxTransport
from bulkorders.settings import SANDBOX_URL, Settings

GOAL_SECONDS = 20.0
SYNC_GOAL_SECONDS = 30.0  # sync_rows of 100k rows, new or again
STATUS_ORDERS = 10_000
PANEL = "sandbox"
START = 1_764_000_000.0
SERVICES = ["1001", "1002", "1003", "1004", "1005", "1006", "1018", "1021", "1022"]
PROBLEM_SHARE = 80  # one rejected or uncertain row per 80 orders, beyond the orders
CENT = Decimal("0.0001")
STATUSES = ["Completed"] * 14 + ["Partial"] * 2 + ["In progress"] * 2 + ["Pending", "Canceled"]


def build(path: Path, orders: int, campaigns: int, rng: random.Random) -> None:
    """A ledger of `orders` placed orders (plus rejected and uncertain rows) in `campaigns`."""
    services = catalogue()
    per_campaign = -(-orders // campaigns)
    next_id = 1_000_000
    with Ledger.open(path) as ledger:
        for number in range(campaigns):
            count = min(per_campaign, orders - number * per_campaign)
            campaign = ledger.campaign(f"campaign-{number:02}", PANEL, Path(f"campaign-{number:02}.xlsx"))
            planned = []
            for i in range(count + count // PROBLEM_SHARE):
                service = services[rng.choice(SERVICES)]
                quantity = rng.randrange(service.min, service.min + 5000)
                payload = {"service": service.service, "link": f"https://bench.test/{number}/{i}",
                           "quantity": str(quantity)}  # fmt: skip
                planned.append(PlannedRow(f"{number}-{i}", i + 2, service.service, payload["link"], payload,
                                          service.cost(quantity)))  # fmt: skip
            rows = ledger.sync_rows(campaign, planned)
            problems = set(rng.sample(range(len(rows)), len(rows) - count))
            placed = _settle(path, campaign.id, rows, problems, next_id, number, rng)
            next_id += len(rows)
            _observe(ledger, placed, number, rng)


def _settle(path: Path, campaign_id: int, rows: list, problems: set[int], first_id: int, day: int,
            rng: random.Random) -> list[tuple[str, Decimal, int]]:
    """Placement outcomes written with SQL, as mark_placed/mark_rejected/mark_uncertain would."""
    placed, rejected, uncertain, orders = [], [], [], []
    for offset, row in enumerate(rows):
        at = utc_now_iso(lambda: START + day * 3 * 86_400 + offset * 0.5)
        if offset in problems and rng.random() < 0.8:
            rejected.append(("Quantity more than maximum 5000", at, at, row.id))
        elif offset in problems:
            uncertain.append(("the connection dropped after the request was sent", at, at, row.id))
        else:
            order_id = str(first_id + offset)
            placed.append((order_id, str(row.estimate), at, at, row.id))
            orders.append((PANEL, order_id, campaign_id, row.id, row.service, row.link,
                           int(row.payload["quantity"]), str(row.estimate), "USD", at, at))  # fmt: skip
    db = sqlite3.connect(path)
    with db:
        db.executemany("UPDATE rows SET state='placed', order_id=?, charge=?, currency='USD', sent_at=?, "
                       "answered_at=? WHERE id=?", placed)  # fmt: skip
        for state, outcomes in (("rejected", rejected), ("uncertain", uncertain)):
            db.executemany(f"UPDATE rows SET state='{state}', error=?, sent_at=?, answered_at=? WHERE id=?",
                           outcomes)  # fmt: skip
        db.executemany("INSERT INTO orders (panel, order_id, campaign_id, row_id, service, link, quantity, "
                       "charge, currency, submitted_at, seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       orders)  # fmt: skip
    db.close()
    return [(o[1], Decimal(o[7]), o[6]) for o in orders]


def _observe(ledger: Ledger, placed: list, day: int, rng: random.Random) -> None:
    at = utc_now_iso(lambda: START + (day * 3 + 1) * 86_400)
    statuses = []
    for order_id, charge, quantity in placed:
        status = rng.choice(STATUSES)
        remains = quantity // 3 if status == "Partial" else 0 if status == "Completed" else quantity
        if status == "Partial":
            charge = (charge * 2 / 3).quantize(CENT)
        elif status == "Canceled":
            charge = Decimal(0)
        statuses.append(OrderStatus(order_id, status, charge, "USD", rng.randrange(10_000), remains))
    for start in range(0, len(statuses), 100):
        ledger.record_statuses(PANEL, statuses[start : start + 100], at)
    ids = [order_id for order_id, _, _ in placed]
    chosen = rng.sample(ids, len(ids) // 50)
    refills = [RefillResult(i, refill=str(9_000_000 + n)) for n, i in enumerate(chosen)]
    ledger.record_refills(PANEL, refills, at)
    cancels = [CancelResult(i, error="Order cannot be canceled: its status is Completed")
               for i in rng.sample(ids, len(ids) // 100)]  # fmt: skip
    ledger.record_cancels(PANEL, cancels, at)


def time_ledger(path: Path, count: int) -> dict[str, float]:
    """Seconds of the ledger calls of a `count`-row campaign: sync new, sync again, 10k statuses."""
    at = utc_now_iso(lambda: START)
    payloads = [{"service": "1001", "link": f"https://example.com/p/{n}", "quantity": str(100 + n % 50)}
                for n in range(count)]  # fmt: skip
    planned = [PlannedRow(identity, n + 2, p["service"], p["link"], p, Decimal("0.09"))
               for n, (identity, p) in enumerate(zip(assign_identities(payloads), payloads))]  # fmt: skip
    figures = {}
    with Ledger.open(path) as ledger:
        weekly = ledger.campaign("weekly", PANEL, Path("weekly.xlsx"))
        started = time.perf_counter()
        rows = ledger.sync_rows(weekly, planned)
        figures["sync_new"] = time.perf_counter() - started
        started = time.perf_counter()
        again = ledger.sync_rows(weekly, planned)
        figures["sync_again"] = time.perf_counter() - started
        if not len(rows) == len(again) == count or rows[-1].excel_row != count + 1:
            raise SystemExit(f"sync_rows gave {len(rows)} then {len(again)} rows for {count}")
        ids = [r.id for r in rows[:STATUS_ORDERS]]
        ledger.mark_sending(ids[:100], at)  # one batch of placements; the rest arrive unknown
        for row_id in ids[:100]:
            ledger.mark_placed(row_id, str(row_id), Decimal("0.09"), "USD", at)
        statuses = [OrderStatus(str(i), "Completed", Decimal("0.09"), "USD", 0, 0) for i in ids]
        started = time.perf_counter()
        ledger.record_statuses(PANEL, statuses, at)
        figures["statuses"] = time.perf_counter() - started
        started = time.perf_counter()
        records = ledger.order_records()
        figures["records"] = time.perf_counter() - started
        if len(records) != len(ids):
            raise SystemExit(f"order_records gave {len(records)} records for {len(ids)} statuses")
    return figures


def ledger_stage(path: Path, count: int) -> list[str]:
    """Time the ledger calls, print the figures and their share of the goal; the goals missed."""
    figures = time_ledger(path, count)
    orders = min(count, STATUS_ORDERS)
    print(f"sync_rows {count:,} new rows: {figures['sync_new']:.2f} s "
          f"({figures['sync_new'] / SYNC_GOAL_SECONDS:.0%} of the {SYNC_GOAL_SECONDS:g} s goal), "
          f"again: {figures['sync_again']:.2f} s ({figures['sync_again'] / SYNC_GOAL_SECONDS:.0%}); "
          f"record_statuses {orders:,}: {figures['statuses']:.2f} s; "
          f"order_records {orders:,}: {figures['records']:.2f} s")  # fmt: skip
    return [f"sync_rows {what} took {figures[key]:.2f} s > {SYNC_GOAL_SECONDS:g} s"
            for key, what in (("sync_new", "of new rows"), ("sync_again", "again"))
            if figures[key] > SYNC_GOAL_SECONDS]  # fmt: skip


def cache_catalogue(cache_dir: Path, state: Path) -> None:
    settings = Settings(panel_spec=PANEL, cache_dir=cache_dir)
    with PanelClient(SANDBOX_URL, "sandbox", transport=SandboxTransport(state)) as client:
        load_catalogue(settings, client)
    assert cache_path(cache_dir, PANEL).exists()


def main() -> int:
    args = _arguments()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        return run(args, work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--ledger-rows", type=int, default=100_000,
                        help="rows of the ledger speed stage (0: skip)")  # fmt: skip
    parser.add_argument("--keep", type=Path, help="Build in DIR and keep the ledger and workbook.")
    return parser.parse_args()


def run(args: argparse.Namespace, work: Path) -> int:
    """Time the ledger calls, build the ledger in `work`, time the report; 0 when every goal is met."""
    work.mkdir(parents=True, exist_ok=True)
    missed = []
    if args.ledger_rows:
        speed = work / "ledger-speed.sqlite"
        speed.unlink(missing_ok=True)
        missed += ledger_stage(speed, args.ledger_rows)
    ledger = work / "ledger.sqlite"
    if ledger.exists():
        ledger.unlink()
    env = isolated_env(work)
    started = time.perf_counter()
    build(ledger, args.orders, args.campaigns, random.Random(7))
    cache_catalogue(work / "cache" / "bulkorders", work / "sandbox.jsonl")
    print(f"built a ledger of {args.orders} orders in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    out = work / "audit.xlsx"
    cmd = [sys.executable, "-m", "bulkorders", "--ledger", str(ledger), "report", "--out", str(out)]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout, done.stderr, file=sys.stderr)
        print(f"report failed with exit code {done.returncode}", file=sys.stderr)
        return 1
    print(done.stdout.strip(), file=sys.stderr)
    size = out.stat().st_size / 1e6
    within = "ok" if seconds <= GOAL_SECONDS else f"OVER the {GOAL_SECONDS:g} s goal"
    print(f"report of {args.orders} orders: {seconds:.2f} s ({size:.1f} MB workbook, "
          f"{seconds / GOAL_SECONDS:.0%} of the {GOAL_SECONDS:g} s goal) — {within}")
    if seconds > GOAL_SECONDS:
        missed.append(f"report took {seconds:.2f} s > {GOAL_SECONDS:g} s")
    return verdict(missed)


if __name__ == "__main__":
    sys.exit(main())
