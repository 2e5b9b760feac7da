"""Speed of `validate`: read + validate a 100k-row xlsx, against pandas.read_excel(engine="openpyxl").

    python bench/validate.py [--rows 100000] [--repeat 3] [--keep FILE.xlsx]

Goals (issue 3): read + validate <= 1.5 s wall at 100k rows on a 2-core machine, >= 4x faster
than the pandas read of the same file, peak memory < 300 MB. Each side runs in its own child
process, so peak memory (ru_maxrss) is that of one side only. Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from goals import verdict

GOAL_SECONDS = 1.5
GOAL_RATIO = 4.0
GOAL_MEGABYTES = 300.0
HEADER = ["link", "service", "quantity", "runs", "interval", "comments", "notes"]


def generate(path: Path, rows: int) -> None:
    """A realistic order sheet: followers/likes/views, some drip-feed, some custom comments."""
    from openpyxl import Workbook

    rng = random.Random(48)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Orders")
    sheet.append(["Weekly campaign (benchmark)"])
    sheet.append(HEADER)
    comments = "Love it!\nGreat shot\nSo good\nWow\nAmazing colours\nNeed this"
    for i in range(rows):
        link = f"https://www.instagram.com/p/B{i:08d}/"
        pick = rng.random()
        if pick < 0.55:
            sheet.append([link, rng.choice([1001, 1002, 1003, 1022]), rng.randrange(100, 5000), None, None, None, "wk48"])
        elif pick < 0.75:
            sheet.append([link, "1002", str(rng.randrange(100, 900)), rng.randrange(2, 6), 60, None, None])
        elif pick < 0.90:
            sheet.append([link, 1004, f"{rng.randrange(1, 99)},000", None, None, None, None])
        else:
            sheet.append([link, 1007, None, None, None, comments, "custom"])
    workbook.save(path)


def child_bulkorders(path: Path, repeat: int) -> dict[str, float]:
    from bulkorders.catalog import Catalogue, service_from_dict
    from bulkorders.panel.sandbox.catalogue import SERVICES
    from bulkorders.sheets.read import read_sheet
    from bulkorders.validation.rules import validate_sheet

    catalogue = Catalogue("sandbox", 0.0, {str(s["service"]): service_from_dict(s) for s in SERVICES})
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        report = validate_sheet(read_sheet(path), catalogue)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        assert not report.invalid_rows, report.issues[:3]
        rows = len(report.rows)
        del report
    return {"wall": best_wall, "cpu": best_cpu, "rows": rows, "peak_mb": _peak_mb()}


def child_pandas(path: Path) -> dict[str, float]:
    import pandas

    wall, cpu = time.perf_counter(), time.process_time()
    frame = pandas.read_excel(path, engine="openpyxl", header=1)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "rows": len(frame),
            "peak_mb": _peak_mb()}  # fmt: skip


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _run_child(*args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of bulkorders; the best counts")
    parser.add_argument("--keep", type=Path, help="write the generated sheet here and keep it")
    parser.add_argument("--child", choices=["bulkorders", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "bulkorders":
        print(json.dumps(child_bulkorders(args.file, args.repeat)))
        return 0
    if args.child == "pandas":
        print(json.dumps(child_pandas(args.file)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench-orders.xlsx"
        started = time.perf_counter()
        generate(path, args.rows)
        print(f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s ({path.stat().st_size:,} bytes)")
        ours = _run_child("--child", "bulkorders", "--file", str(path), "--repeat", str(args.repeat))
        theirs = _run_child("--child", "pandas", "--file", str(path))
    ratio = theirs["wall"] / ours["wall"]
    print(f"bulkorders read + validate: {ours['wall']:.3f} s wall, {ours['cpu']:.3f} s CPU, "
          f"{ours['rows']:,} valid rows, peak {ours['peak_mb']:.0f} MB (best of {args.repeat})")
    print(f"pandas.read_excel(openpyxl): {theirs['wall']:.3f} s wall, {theirs['cpu']:.3f} s CPU, "
          f"{theirs['rows']:,} rows, peak {theirs['peak_mb']:.0f} MB")
    print(f"ratio: {ratio:.1f}x faster")
    missed = []
    if args.rows >= 100_000 and ours["wall"] > GOAL_SECONDS:
        missed.append(f"read + validate took {ours['wall']:.3f} s > {GOAL_SECONDS} s")
    if ratio < GOAL_RATIO:
        missed.append(f"only {ratio:.1f}x faster than pandas (goal {GOAL_RATIO}x)")
    if ours["peak_mb"] >= GOAL_MEGABYTES:
        missed.append(f"peak memory {ours['peak_mb']:.0f} MB >= {GOAL_MEGABYTES:.0f} MB")
    return verdict(missed)


if __name__ == "__main__":
    sys.exit(main())
