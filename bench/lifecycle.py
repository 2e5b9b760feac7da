"""Bench: `status` of 10,000 orders against `sandbox serve --latency 0.05`.

Starts the sandbox panel over HTTP as a subprocess (port 0), creates the orders
in-process in the same state file (created "in the future", so they stay Pending and
every one of them is asked about), writes a CSV sheet of their ids, then times the
status pipeline over HTTP. Prints the requests made and the seconds; exits 1 unless the
requests are exactly ceil(10,000 / 100) = 100.

    python bench/lifecycle.py [--orders 10000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from userdirs import isolated_env

from bulkorders.ledger.store import Ledger
from bulkorders.lifecycle.pipelines import LifecycleIO, SheetOptions, status_sheet
from bulkorders.panel.client import PanelClient
from bulkorders.panel.sandbox.server import spawn
from bulkorders.panel.sandbox.transport import SandboxTransport
from bulkorders.settings import SANDBOX_URL

SERVICE = "1004"  # Instagram Reel Views: 0.0015 USD an order of 100


def create_orders(state: Path, count: int) -> list[str]:
    """`count` orders in the sandbox state, Pending for the next hour."""
    transport = SandboxTransport(state, clock=lambda: time.time() + 3600)
    ids = []
    with PanelClient(SANDBOX_URL, "bench", transport=transport) as client:
        for n in range(count):
            result = client.add({"service": SERVICE, "link": f"https://example.com/b/{n}", "quantity": "100"})
            if result.order is None:
                raise SystemExit(f"could not create order {n}: {result}")
            ids.append(result.order)
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    expected = math.ceil(args.orders / 100)
    with tempfile.TemporaryDirectory(prefix="bulkorders-bench-") as tmp:
        work = Path(tmp)
        env = isolated_env(work)
        state = work / "sandbox-state.jsonl"
        started = time.perf_counter()
        ids = create_orders(state, args.orders)
        print(f"created {len(ids)} orders in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        sheet = work / "orders.csv"
        sheet.write_text("order_id\n" + "\n".join(ids) + "\n", encoding="utf-8")
        server, url = spawn("--latency", str(args.latency), "--state", str(state), env=env)
        try:
            with PanelClient(url, "bench") as client, Ledger.open(work / "ledger.sqlite") as ledger:
                io = LifecycleIO(client=client, ledger=ledger, panel=url)
                started = time.perf_counter()
                report = status_sheet(sheet, SheetOptions(), io)
                seconds = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"status of {report.orders} orders (latency {args.latency:g} s): {report.requests} requests, "
          f"{seconds:.2f} s; {report.by_status}")  # fmt: skip
    if report.requests != expected:
        print(f"FAIL: expected exactly {expected} requests", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
