"""Peak memory of bulkorders on hostile input files and on 100k-row commands.

    python bench/memory.py [--rows 100000] [--only NAME …] [--keep DIR]

Each case runs `python -m bulkorders …` in its own subprocess (user dirs under a temporary
folder, the sandbox panel in-process), and its peak RSS is read from the child's own
rusage (os.wait4). Goals: every hostile file under 600 MB (refused or read), `submit` and
`status` of 100k rows (xlsx, sandbox) under 350 MB each.

Hostile files:
- zip-bomb: an .xlsx whose worksheet unpacks to 1 GB of rows from a few MB;
- wide-cells: 16,384 rows x 2,000 cells of real values (the worksheet is ~600 MB unpacked);
- doctype-dat: a billion-laughs DOCTYPE in a worksheet stored as `xl/worksheets/sheet1.dat`;
- huge-csv: a 1 GB CSV;
- max-cells: a sheet just under the cell limit (4.9M cells: 245k rows x 20 columns, numbers
  beside the order columns, ~130 MB unpacked), read and validated in full: the largest
  input the limits let through.

Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from goals import verdict

HOSTILE_GOAL_MB = 600
BIG_GOAL_MB = 350
SERVICE = "1004"  # cheap enough that 100k orders stay within the sandbox balance


def _workbook(path: Path, rows: int, extra_columns: int = 0) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Orders")
    ws.append(["link", "service", "quantity", *(f"note{i}" for i in range(extra_columns))])
    for i in range(rows):
        ws.append([f"https://bench.test/m/{i}", int(SERVICE), 100, *range(extra_columns)])
    wb.save(path)


def _with_sheet(path: Path, write_rows: Callable[[Callable[[bytes], None]], None], name: str = "sheet1.xml",
                prolog: bytes = b"") -> None:  # fmt: skip
    """A one-sheet workbook whose worksheet XML rows are streamed by `write_rows`."""
    small = path.with_suffix(".seed.xlsx")
    _workbook(small, 1)
    with zipfile.ZipFile(small) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                head, tail = data.split(b"</sheetData>")
                head = head.replace(b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>", b"")
                target = zipfile.ZipInfo(f"xl/worksheets/{name}")
                target.compress_type = zipfile.ZIP_DEFLATED
                with dst.open(target, "w", force_zip64=True) as out:
                    out.write(b'<?xml version="1.0"?>' + prolog + head)
                    write_rows(out.write)
                    out.write(b"</sheetData>" + tail)
                continue
            if name != "sheet1.xml" and info.filename in ("xl/_rels/workbook.xml.rels", "[Content_Types].xml"):
                data = data.replace(b"sheet1.xml", name.encode())
            dst.writestr(info, data)
    small.unlink()


def zip_bomb(path: Path) -> None:
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * 1000
    _with_sheet(path, lambda write: [write(row) for _ in range((1 << 30) // len(row))])


def wide_cells(path: Path) -> None:
    from bulkorders.sheets.ooxml import column_letter

    letters = [column_letter(i) for i in range(2000)]

    def rows(write: Callable[[bytes], None]) -> None:
        for r in range(2, 16_386):
            write(f'<row r="{r}">'.encode() + "".join(f'<c r="{c}{r}"><v>1</v></c>' for c in letters).encode()
                  + b"</row>")  # fmt: skip

    _with_sheet(path, rows)


def doctype_dat(path: Path) -> None:
    """The classic billion laughs: &lol9; expands to 10^9 "lol"s."""
    entities = [b'<!ENTITY lol0 "lol">'] + [
        b'<!ENTITY lol%d "%s">' % (n, b"&lol%d;" % (n - 1) * 10) for n in range(1, 10)
    ]
    prolog = b"<!DOCTYPE lolz [" + b"".join(entities) + b"]>"
    cell = b'<row r="2"><c r="A2" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
    _with_sheet(path, lambda write: write(cell), name="sheet1.dat", prolog=prolog)


def huge_csv(path: Path) -> None:
    line = f"https://bench.test/csv/x,{SERVICE},100\n".encode() * 10_000
    with path.open("wb") as fh:
        fh.write(b"link,service,quantity\n")
        for _ in range((1 << 30) // len(line)):
            fh.write(line)


def max_cells(path: Path) -> None:
    _workbook(path, 245_000, extra_columns=17)


HOSTILE: dict[str, tuple[str, Callable[[Path], None]]] = {
    "zip-bomb": ("bomb.xlsx", zip_bomb),
    "wide-cells": ("wide.xlsx", wide_cells),
    "doctype-dat": ("lol.xlsx", doctype_dat),
    "huge-csv": ("huge.csv", huge_csv),
    "max-cells": ("max.xlsx", max_cells),
}


def measure(args: list[str], env: dict[str, str], work: Path) -> tuple[int, float, float, str]:
    """(exit code, seconds, peak RSS MB, last stderr line) of `python -m bulkorders ARGS`."""
    err_path = work / "stderr.txt"
    began = time.perf_counter()
    with err_path.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bulkorders", "--panel", "sandbox", *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=err, cwd=work)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own peak RSS
    seconds = time.perf_counter() - began
    rss_mb = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20
    lines = [line for line in err_path.read_text(errors="replace").splitlines() if line.strip()]
    return os.waitstatus_to_exitcode(status), seconds, rss_mb, (lines[-1] if lines else "")[:150]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the submit/status cases")
    parser.add_argument("--only", nargs="*", help="run only these cases (names as printed)")
    parser.add_argument("--keep", type=Path, help="keep the files in this folder")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bulkorders-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_DATA_HOME": str(work / "data"), "XDG_CACHE_HOME": str(work / "cache"),
           "XDG_CONFIG_HOME": str(work / "config"), "BULKORDERS_LEDGER": str(work / "ledger.sqlite")}  # fmt: skip
    env.pop("BULKORDERS_PANEL", None)
    wanted = set(args.only or [])
    missed: list[str] = []
    print(f"{'case':<14} {'exit':>4} {'seconds':>8} {'peak MB':>8} {'goal':>6}  outcome")
    try:
        for name, (file_name, build) in HOSTILE.items():
            if wanted and name not in wanted:
                continue
            path = work / file_name
            build(path)
            code, seconds, rss, last = measure(["validate", str(path)], env, work)
            missed += _line(name, code, seconds, rss, HOSTILE_GOAL_MB, last)
            path.unlink()
        for name in ("submit-100k", "status-100k"):
            if wanted and name not in wanted:
                continue
            sheet = work / "big.xlsx"
            if not sheet.exists():
                _workbook(sheet, args.rows)
            if name == "submit-100k":
                cmd = ["--json", "submit", str(sheet), "--yes", "--concurrency", "8"]
            else:
                cmd = ["--json", "status", str(work / "big.results.xlsx")]
            code, seconds, rss, last = measure(cmd, env, work)
            missed += _line(f"{name.split('-')[0]}-{args.rows // 1000}k", code, seconds, rss, BIG_GOAL_MB, last)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return verdict(missed)


def _line(name: str, code: int, seconds: float, rss: float, goal: int, last: str) -> list[str]:
    """Print the case's line; the goal it missed, if it did."""
    over = rss >= goal
    print(f"{name:<14} {code:>4} {seconds:>8.1f} {rss:>8.0f} {goal:>6}  {'OVER ' if over else ''}{last}")
    sys.stdout.flush()
    return [f"{name}: peak {rss:.0f} MB, goal under {goal} MB"] if over else []


if __name__ == "__main__":
    raise SystemExit(main())
