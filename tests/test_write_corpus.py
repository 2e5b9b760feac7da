"""Write-back against real-world workbooks (shared corpus): written intact, or a clear refusal."""

from __future__ import annotations

import shutil
import subprocess
import warnings
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from test_write import FakeSheet, fidelity_workbook

from bulkorders.errors import WriteBackError
from bulkorders.models import OUTPUT_COLUMNS
from bulkorders.sheets.headers import OUTPUT_TITLES, output_title
from bulkorders.sheets.write import write_back
from bulkorders.sheets.write_values import header_key

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real-world-workbooks"
WORKBOOKS = sorted(CORPUS.glob("*.xls[xm]")) if CORPUS.is_dir() else []
needs_corpus = pytest.mark.skipif(not WORKBOOKS, reason="shared corpus not present")


def _open(path: Path) -> openpyxl.Workbook | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            book = openpyxl.load_workbook(path)
        except Exception:  # noqa: BLE001 - openpyxl cannot read every real file; the writer still must cope
            return None
    return book if book.worksheets else None


def _cells(ws: Any) -> dict[tuple[int, int], Any]:
    # ws._cells, not iter_rows: some files claim a dimension of A1:XFD1048576
    return {key: cell.value for key, cell in ws._cells.items() if cell.value is not None}


OURS = {*OUTPUT_TITLES, *(output_title(name, beside_users=True) for name in OUTPUT_COLUMNS)}


@needs_corpus
@pytest.mark.parametrize("path", WORKBOOKS, ids=lambda p: p.name)
def test_corpus_workbook_is_written_intact_or_refused_clearly(path, tmp_path):
    before = _open(path)
    first = before.worksheets[0] if before else None
    headers: list[str] = []
    if first is not None:
        row1 = {col: value for (row, col), value in _cells(first).items() if row == 1}
        headers = [str(row1.get(col, "") or "") for col in range(1, max(row1, default=0) + 1)]
    sheet = FakeSheet(path, headers, sheet_name=first.title if first else None)
    out = tmp_path / f"results{path.suffix}"
    try:
        write_back(sheet, {2: {"status": "checked"}}, out)
    except WriteBackError as exc:
        assert str(exc).startswith(f"Could not write the results to {out}: {path.name} is not a workbook")
        assert str(exc).endswith("Nothing is lost: the ledger holds every result.")
        assert not out.exists()
        return
    with zipfile.ZipFile(path) as a, zipfile.ZipFile(out) as b:
        assert b.testzip() is None
        assert a.namelist() == b.namelist()
    if before is None:
        return
    after = _open(out)
    assert after is not None, "openpyxl opened the original but not the result"
    assert after.sheetnames == before.sheetnames
    for old, new in zip(before.worksheets[1:], after.worksheets[1:], strict=True):
        assert _cells(new) == _cells(old)
    old_cells, new_cells = _cells(before.worksheets[0]), _cells(after.worksheets[0])
    header = {col: value for (row, col), value in new_cells.items() if row == 1}
    # ours is the last: a workbook with its own Status column gets ours beside it, `status (panel)`
    status_col = max(col for col, value in header.items() if header_key(value) in ("status", "status (panel)"))
    assert new_cells[(2, status_col)] == "checked"
    changed = {key for key in old_cells if new_cells.get(key) != old_cells[key]}
    assert changed <= {(2, status_col)}
    added = {key for key in new_cells if key not in old_cells}
    assert {value for (row, col), value in new_cells.items() if (row, col) in added and row == 1} <= OURS
    assert {key for key in added if key[0] != 1} <= {(2, status_col)}


@needs_corpus
@pytest.mark.parametrize(
    "name", ["picture.xlsx", "pivots.xlsx", "vba.xlsm", "pictures_in_cell_and_over_cell.xlsx", "table-multiple.xlsx"]
)
def test_pictures_pivots_tables_and_macros_survive_byte_for_byte(name, tmp_path):
    source = CORPUS / name
    out = tmp_path / f"results{source.suffix}"
    write_back(FakeSheet(source, []), {2: {"order_id": "1", "charge": "0.5"}}, out)
    with zipfile.ZipFile(source) as a, zipfile.ZipFile(out) as b:
        changed = {n for n in a.namelist() if a.read(n) != b.read(n)}
        sheet = next(n for n in changed if n.startswith("xl/worksheets/"))
    assert changed == {sheet, "xl/styles.xml"}


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_libreoffice_opens_what_we_write(tmp_path):
    source = fidelity_workbook(tmp_path / "orders.xlsx")
    out = tmp_path / "orders.results.xlsx"
    updates = {2: {"order_id": "23501", "charge": "0.00001234", "error": "=1+1"}, 3: {"error": "_x0041_ a&b"}}
    write_back(FakeSheet(source, ["link", "service", "quantity", "double"]), updates, out)
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to", "csv",
         "--outdir", str(tmp_path), str(out)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    lines = (tmp_path / "orders.results.csv").read_text().splitlines()
    assert lines[0] == "link,service,quantity,double,,,,," + ",".join(OUTPUT_TITLES)
    assert lines[1] == "https://x.test/2,1001,200,400,,,,201,23501,0.00001234,,,,,,,,=1+1,,"
    assert lines[2] == "https://x.test/3,1001,300,600,,,,,,,,,,,,,,_x0041_ a&b,,"
