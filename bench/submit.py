"""Benchmark of `submit`: orders per second against a panel with latency, and peak memory.

    python bench/submit.py [--orders 2000] [--latency 0.05] [--big 100000] [--ledger postgresql://…]

1. Starts `bulkorders sandbox serve --port 0 --latency L` in a subprocess.
2. Runs the whole submit pipeline (read, validate, ledger, placement, write-back) of N
   orders at concurrency 8, 16 and 32, and reports the placement rate and its ratio to
   the ceiling concurrency ÷ latency (the best any client can do with that many requests
   in flight). Goal: ≥ 85 % of the ceiling at 8 and 16. The ledger is a new SQLite file,
   or the team ledger `--ledger URL` names (each run its own campaign in it).
3. In the same run, the one-request-at-a-time loop other panel clients use (a plain
   sequential httpx loop), on a sample of the orders.
4. A submit of `--big` rows against the in-process sandbox (no latency) in a subprocess,
   with its peak RSS. Goal: < 500 MB.

Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from goals import verdict
from userdirs import isolated_env

from bulkorders.ledger.location import mask_url as masked
from bulkorders.panel.sandbox.server import spawn

GOAL_RATIO = 0.85
GOAL_RSS_MB = 500
SERVICE = "1004"  # Instagram Reel Views: 0.015 per 1000, so 100k orders stay within the balance
QUANTITY = "100"
SEQUENTIAL_SAMPLE = 200


def write_sheet(path: Path, count: int, tag: str) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["link", "service", "quantity"])
        for i in range(count):
            writer.writerow([f"https://bench.test/{tag}/{i}", SERVICE, QUANTITY])


class Timer:
    """A progress reporter that only notes when placement starts and ends."""

    def __init__(self) -> None:
        self.started = self.ended = 0.0
        self.count = 0

    def start(self, total: int, label: str) -> None:
        self.started = time.perf_counter()

    def advance(self, steps: int = 1, *, info: str = "") -> None:
        self.count += steps

    def close(self) -> None:
        self.ended = time.perf_counter()


def run_submit(url: str, sheet: Path, ledger_path: Path | str, concurrency: int) -> tuple[float, float, int]:
    """(placement seconds, whole-pipeline seconds, orders placed) of one in-process submit."""
    from bulkorders.catalog import Catalogue
    from bulkorders.ledger.store import Ledger
    from bulkorders.panel.client import PanelClient
    from bulkorders.submit.pipeline import SubmitIO, SubmitOptions, submit_sheet

    timer = Timer()
    with PanelClient(url, "bench") as client, Ledger.open(ledger_path) as ledger:
        catalogue = Catalogue(url, time.time(), {s.service: s for s in client.services()})
        io = SubmitIO(client, ledger, catalogue, url, confirm=lambda plan: True, reporter=timer)
        began = time.perf_counter()
        outcome = submit_sheet(sheet, SubmitOptions(concurrency=concurrency), io)
        whole = time.perf_counter() - began
    if outcome.stop is not None:
        raise SystemExit(f"submit stopped: {outcome.stop}")
    return timer.ended - timer.started, whole, outcome.placed_now


def sequential_loop(url: str, count: int) -> float:
    """Orders/s of the plain loop: one `add`, wait for the answer, the next."""
    began = time.perf_counter()
    with httpx.Client(timeout=30) as http:
        for i in range(count):
            answer = http.post(url, data={"key": "bench", "action": "add", "service": SERVICE,
                                          "link": f"https://bench.test/seq/{i}", "quantity": QUANTITY})
            answer.raise_for_status()
            if "order" not in answer.json():
                raise SystemExit(f"sequential add failed: {answer.text}")
    return count / (time.perf_counter() - began)


def big_submit(env: dict[str, str], work: Path, rows: int) -> tuple[float, float, str]:
    """(seconds, peak RSS MB, summary line) of `bulkorders --panel sandbox submit` of `rows` rows."""
    sheet = work / "big.csv"
    write_sheet(sheet, rows, "big")
    cmd = [sys.executable, "-m", "bulkorders", "--panel", "sandbox", "--json", "submit", str(sheet),
           "--yes", "--concurrency", "8"]  # fmt: skip
    out_path, err_path = work / "big.out.json", work / "big.err.txt"
    began = time.perf_counter()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own peak RSS
    seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"big submit failed ({proc.returncode}): {err_path.read_text()[-2000:]}")
    doc = json.loads(out_path.read_text(encoding="utf-8"))
    rss_mb = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    return seconds, rss_mb, f"placed {doc['placed_now']} of {doc['rows']} rows, spent {doc['spent']}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--big", type=int, default=100_000, help="rows of the memory run (0: skip)")
    parser.add_argument("--ledger", help="a team ledger's postgresql:// URL (default: a new SQLite file)")
    args = parser.parse_args()

    missed = []
    with tempfile.TemporaryDirectory(prefix="bulkorders-bench-") as tmp:
        work = Path(tmp)
        env = isolated_env(work, BULKORDERS_API_KEY="bench")
        server, url = spawn("--latency", str(args.latency), env=env)
        try:
            ledger = args.ledger or work / "ledger.sqlite"
            print(f"sandbox serve at {url}, latency {args.latency:g} s, {args.orders} orders per run, "
                  f"ledger {masked(args.ledger) if args.ledger else 'a new SQLite file'}")  # fmt: skip
            print(f"{'concurrency':>11} {'orders/s':>9} {'ceiling':>8} {'ratio':>6} "
                  f"{'placement s':>11} {'whole s':>8}")  # fmt: skip
            for concurrency in args.concurrency:
                tag = f"c{concurrency}-{os.getpid()}" if args.ledger else f"c{concurrency}"  # a kept ledger: new
                sheet = work / f"{tag}.csv"  # the campaign is named after the sheet
                write_sheet(sheet, args.orders, tag)
                placing, whole, placed = run_submit(url, sheet, ledger, concurrency)
                rate = placed / placing
                ceiling = concurrency / args.latency
                ratio = rate / ceiling
                print(f"{concurrency:>11} {rate:>9.1f} {ceiling:>8.0f} {ratio:>6.1%} "
                      f"{placing:>11.2f} {whole:>8.2f}")  # fmt: skip
                if placed != args.orders:
                    missed.append(f"concurrency {concurrency}: placed {placed} of {args.orders}")
                if concurrency in (8, 16) and ratio < GOAL_RATIO:
                    missed.append(f"concurrency {concurrency}: {ratio:.1%} of the ceiling < {GOAL_RATIO:.0%}")
            sample = min(args.orders, SEQUENTIAL_SAMPLE)
            seq = sequential_loop(url, sample)
            print(f"{'sequential':>11} {seq:>9.1f} {1 / args.latency:>8.0f} "
                  f"{seq * args.latency:>6.1%}   (plain httpx loop, {sample} orders)")  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=10)
        if args.big:
            seconds, rss, summary = big_submit(env, work, args.big)
            print(f"big submit: {args.big} rows (in-process sandbox, no latency) in {seconds:.1f} s, "
                  f"{args.big / seconds:.0f} rows/s, peak RSS {rss:.0f} MB; {summary}")
            if rss >= GOAL_RSS_MB:
                missed.append(f"big submit peak RSS {rss:.0f} MB >= {GOAL_RSS_MB} MB")
    return verdict(missed)


if __name__ == "__main__":
    sys.exit(main())
