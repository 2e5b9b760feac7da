"""Benchmark of a campaign under a panel's rate limit: wall time against what the limit allows.

    python bench/ratelimit.py [--orders 300] [--rate 20/2] [--concurrency 8] [--headers both|yes|no]

1. Starts `bulkorders sandbox serve --port 0 --rate N/SECONDS` in a subprocess (with its
   X-RateLimit-* headers, and again without them: Retry-After only).
2. Runs `bulkorders --panel URL submit SHEET --yes` of `--orders` rows in a subprocess, as a
   user would, and times it (start-up included).
3. Stops the server and reads from its closing line how many requests it answered and how
   many it refused with 429.

The time the limit allows is the requests answered ÷ the rate (N per SECONDS). Goals: the
wall time is at most 1.5× that, every row placed, and no 429 storm: on average at most one
429 per request in flight (--concurrency) and window of the limit, i.e. the client never
sends again what was refused before the panel's wait is over. Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from userdirs import isolated_env

from bulkorders.panel.sandbox.server import spawn

GOAL_RATIO = 1.5
SERVICE = "1004"  # Instagram Reel Views: 0.015 per 1000, so every campaign stays within the balance
QUANTITY = "100"
_STOPPED = re.compile(r"stopped after ([\d,]+) requests? \(([\d,]+) hit by a fault, ([\d,]+) refused by the rate limit")


def write_sheet(path: Path, count: int, tag: str) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["link", "service", "quantity"])
        for i in range(count):
            writer.writerow([f"https://bench.test/{tag}/{i}", SERVICE, QUANTITY])


def counts(stderr: str) -> tuple[int, int]:
    """(requests, 429s of the rate limit) from the closing line of `sandbox serve`."""
    found = _STOPPED.search(stderr)
    if found is None:
        raise RuntimeError(f"sandbox serve did not say what it answered: {stderr[-500:]!r}")
    return int(found[1].replace(",", "")), int(found[3].replace(",", ""))


def campaign(env: dict[str, str], work: Path, args: argparse.Namespace, headers: bool) -> dict[str, float]:
    """One submit against a rate-limited sandbox; its figures."""
    tag = "headers" if headers else "retry-after"
    state = work / f"{tag}.jsonl"
    options = ["--rate", args.rate, "--state", str(state)] + ([] if headers else ["--no-rate-headers"])
    server, url = spawn(*options, env=env)
    sheet = work / f"{tag}.csv"
    write_sheet(sheet, args.orders, tag)
    command = [sys.executable, "-m", "bulkorders", "--panel", url, "submit", str(sheet), "--yes",
               "--concurrency", str(args.concurrency)]  # fmt: skip
    try:
        began = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - began
    finally:
        server.terminate()
        closing = server.stderr.read() if server.stderr else ""  # not communicate(): spawn() buffered some
        server.wait(timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"submit exited {done.returncode}: {done.stderr[-2000:]}")
    requests, refused = counts(closing)
    placed = sum(1 for line in state.read_text(encoding="utf-8").splitlines() if '"e":"order"' in line)
    limit, seconds = args.rate.split("/")
    answered = requests - refused
    allowed = answered * float(seconds) / int(limit)
    windows = max(1.0, allowed / float(seconds))
    return {"wall": wall, "allowed": allowed, "ratio": wall / allowed, "requests": requests,
            "refused": refused, "per_window": refused / windows, "placed": placed}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rate", default="20/2", help="the sandbox's limit, N/SECONDS")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--headers", choices=["both", "yes", "no"], default="both",
                        help="run with X-RateLimit-* headers, without them (Retry-After only), or both")
    args = parser.parse_args()
    variants = {"both": [True, False], "yes": [True], "no": [False]}[args.headers]

    missed = []
    with tempfile.TemporaryDirectory(prefix="bulkorders-bench-") as tmp:
        work = Path(tmp)
        env = isolated_env(work, BULKORDERS_API_KEY="bench")
        print(f"{args.orders} orders at concurrency {args.concurrency} against sandbox serve --rate {args.rate}")
        print(f"{'limit headers':>13} {'wall s':>7} {'allowed s':>9} {'ratio':>6} {'requests':>8} "
              f"{'429s':>5} {'429/window':>10}")  # fmt: skip
        for headers in variants:
            name = "X-RateLimit" if headers else "Retry-After"
            f = campaign(env, work, args, headers)
            print(f"{name:>13} {f['wall']:>7.1f} {f['allowed']:>9.1f} {f['ratio']:>6.2f} {f['requests']:>8.0f} "
                  f"{f['refused']:>5.0f} {f['per_window']:>10.2f}")  # fmt: skip
            if f["placed"] != args.orders:
                missed.append(f"{name}: placed {f['placed']:.0f} of {args.orders}")
            if f["ratio"] > GOAL_RATIO:
                missed.append(f"{name}: {f['ratio']:.2f}x the time the limit allows > {GOAL_RATIO}x")
            if f["per_window"] > args.concurrency:
                missed.append(f"{name}: {f['refused']:.0f} 429s, {f['per_window']:.2f} per window > "
                              f"{args.concurrency} in flight (a 429 storm)")  # fmt: skip
    for line in missed:
        print(f"GOAL MISSED: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
