"""Benchmark of `bulkorders ui`: a campaign page of 10,000 rows, rendered server side.

    python bench/web.py [--rows 10000] [--repeat 5]

Builds a ledger of one campaign of `--rows` placed orders (plus 1.25 % rejected or
uncertain rows), each with a status answer, as bench/report.py builds its ledgers, then
times the campaign page through Starlette's TestClient (routing, the guard, the ledger
reads and the Jinja2 template; no network): the first page of every row, a page deep in
the placed rows, the rejected rows, and (no goal) the campaigns list, which draws on the
audit's figures. Each figure is the median of `--repeat` requests.

Goal: every campaign page under 300 ms. Prints the times and their share of the goal;
exits 1 when it is missed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from goals import verdict
from report import build

from bulkorders.ledger import LedgerLocation
from bulkorders.settings import Settings
from bulkorders.web import WebConfig, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

GOAL_MS = 300.0


def timed(client: TestClient, path: str, repeat: int) -> tuple[float, int]:
    """The median milliseconds of `repeat` GETs of `path`, and the page's size in bytes."""
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        size = len(answer.content)
    return statistics.median(times), size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bulkorders-bench-web-") as folder:
        root = Path(folder)
        ledger = root / "ledger.sqlite"
        started = time.perf_counter()
        build(ledger, args.rows, 1, random.Random(15))
        print(f"ledger of {args.rows} orders built in {time.perf_counter() - started:.1f} s")
        settings = Settings(panel_spec="sandbox", ledger=LedgerLocation.parse(ledger), data_dir=root / "data",
                            cache_dir=root / "cache")
        config = WebConfig(settings=settings, allowed_hosts=("testserver",))
        with TestClient(create_app(config)) as client:
            assert client.get(f"/?token={config.token}", follow_redirects=False).status_code == 303
            pages = {
                "campaign page, all rows, page 1": "/campaigns/1",
                "campaign page, placed rows, page 50": "/campaigns/1?state=placed&page=50",
                "campaign page, rejected rows": "/campaigns/1?state=rejected",
            }
            missed = []
            for label, path in pages.items():
                ms, size = timed(client, path, args.repeat)
                print(f"{label:<38} {ms:7.1f} ms  ({ms / GOAL_MS:.0%} of {GOAL_MS:.0f} ms)  {size / 1024:.0f} KiB")
                if ms > GOAL_MS:
                    missed.append(f"{label}: {ms:.1f} ms > {GOAL_MS:.0f} ms")
            ms, size = timed(client, "/", args.repeat)
            print(f"{'campaigns list (no goal)':<38} {ms:7.1f} ms  {size / 1024:.0f} KiB")
    return verdict(missed)


if __name__ == "__main__":
    sys.exit(main())
