"""The audit as a document: page setup in the workbook, and the PDF LibreOffice prints from it.

The unit tests read the page setup back with openpyxl. The e2e test (`-m e2e`) converts the
audit of a fixed 681-order ledger to PDF with headless LibreOffice and counts the pages.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from bulkorders.cli import cli
from bulkorders.ledger import Ledger, PlannedRow, record_row_columns
from bulkorders.models import OrderStatus
from bulkorders.report.spend import SPEND_NOTE

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z
SERVICES = [("1001", "0.90"), ("1002", "0.25"), ("1004", "0.015"), ("1005", "1.95"), ("1022", "2.20")]
STATUSES = ["Completed", "Completed", "Completed", "In progress", "Partial", "Canceled", "Pending"]
CLIENTS = ["Acme", "Beta Ltd", "Corvid & Sons", "Delta"]
ORDERS = 681


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fixed_ledger(path: Path, orders: int = ORDERS) -> Path:
    """`orders` orders over two campaigns and five days, each checked once; 3 rejected, 2 uncertain.

    Everything is derived from the row number, so the ledger (and its report) is the same
    on every run.
    """
    clock = Clock(T0)
    with Ledger.open(path, clock=clock) as ledger:
        for name, numbers in (("spring", range(orders // 2)), ("summer", range(orders // 2, orders + 5))):
            campaign = ledger.campaign(name, "sandbox", Path(f"{name}.xlsx"))
            planned = []
            for n in numbers:
                service, rate = SERVICES[n % len(SERVICES)]
                quantity = 100 + (n * 37) % 900
                payload = {"service": service, "link": f"https://instagram.com/p/{n:05d}", "quantity": str(quantity)}
                estimate = Decimal(rate) * quantity / 1000
                planned.append(PlannedRow(f"row{n}", n + 2, service, payload["link"], payload, estimate))
            rows = ledger.sync_rows(campaign, planned)
            record_row_columns(ledger, [(row.id, {"client": CLIENTS[row.excel_row % 4]}) for row in rows])
            for row in rows:
                n = row.excel_row - 2
                clock.now = T0 + 86_400 * (n * 5 // (orders + 5)) + n
                at = _iso(clock.now)
                ledger.mark_sending([row.id], at)
                if n >= orders + 3:
                    ledger.mark_uncertain(row.id, "the connection dropped after the request was sent", at)
                elif n >= orders:
                    ledger.mark_rejected(row.id, "Quantity less than minimal 1000", at)
                else:
                    ledger.mark_placed(row.id, str(30_000 + n), row.estimate, "USD", at)
        placed = [(str(30_000 + n), n) for n in range(orders)]
        statuses = []
        for order_id, n in placed:
            status = STATUSES[n % len(STATUSES)]
            _, rate = SERVICES[n % len(SERVICES)]
            full = Decimal(rate) * (100 + (n * 37) % 900) / 1000
            charge = {"Partial": full / 2, "Canceled": Decimal(0)}.get(status, full)
            statuses.append(OrderStatus(order_id, status, charge, "USD", 100, 0))
        clock.now = T0 + 6 * 86_400
        ledger.record_statuses("sandbox", statuses, _iso(clock.now))
    return path


def _iso(moment: float) -> str:
    from bulkorders.clock import utc_now_iso

    return utc_now_iso(lambda: moment)


def write_audit(tmp_path: Path, orders: int = ORDERS, *extra: str) -> Path:
    ledger = fixed_ledger(tmp_path / "ledger.sqlite", orders)
    out = tmp_path / "audit.xlsx"
    result = CliRunner().invoke(cli, ["--ledger", str(ledger), "report", *extra, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_every_sheet_prints_one_page_wide_with_titles_header_and_footer(tmp_path):
    out = write_audit(tmp_path, 40, "--by", "client")
    wb = openpyxl.load_workbook(out)
    for ws in wb.worksheets:
        setup = ws.page_setup
        assert (setup.paperSize, setup.fitToWidth, setup.fitToHeight) == (9, 1, 0), ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.oddHeader.left.text == "bulkorders audit report"
        assert ws.oddHeader.right.text == "orders placed 2025-11-24 to 2025-11-28 (UTC)"
        assert ws.oddFooter.right.text == "Page &P of &N" and ws.oddFooter.left.text == ws.title
    assert wb["Summary"].page_setup.orientation == "portrait"
    assert wb["Orders"].page_setup.orientation == "landscape"  # 20 columns
    for name in ("Orders", "Problems", "History", "Reconciliation"):
        assert wb[name].print_title_rows == "$1:$1"
    with zipfile.ZipFile(out) as xlsx:
        book = xlsx.read("xl/workbook.xml").decode()
    assert book.count('name="_xlnm.Print_Titles"') == 4


def test_amounts_to_the_cent_with_their_code_ids_right_long_texts_wrapped(tmp_path):
    out = write_audit(tmp_path, 40, "--by", "client")
    wb = openpyxl.load_workbook(out)
    summary = wb["Summary"]
    rows = {row[0].value: row for row in summary.iter_rows()}
    spend = next(r for r in summary.iter_rows() if r[0].value == "USD")
    assert spend[2].number_format == '#,##0.00" USD"'
    assert rows["Spend"][1].value == SPEND_NOTE and rows["Spend"][1].alignment.wrap_text
    money = [c for r in summary.iter_rows() for c in r if isinstance(c.value, float)]
    assert money and all(c.number_format.startswith("#,##0.00\"") or c.number_format == "#,##0.00"
                         for c in money)  # fmt: skip
    orders = wb["Orders"]
    assert orders["A1"].value == "order id" and orders["A2"].alignment.horizontal == "right"
    assert orders["H1"].value == "charge (USD)" and "USD" not in orders["H2"].number_format
    problems = wb["Problems"]
    assert problems["E1"].value == "what to do" and problems["E2"].alignment.wrap_text


def test_charts_label_every_bar_and_the_pie_is_spend_by_checked_status(tmp_path):
    out = write_audit(tmp_path, 40, "--by", "client")
    with zipfile.ZipFile(out) as xlsx:
        charts = {n: xlsx.read(n).decode() for n in xlsx.namelist() if n.startswith("xl/charts/chart")}
    bars = [c for c in charts.values() if "<barChart>" in c]
    (pie,) = [c for c in charts.values() if "<pieChart>" in c]
    assert len(bars) == 2 and all('<showVal val="1"' in c for c in bars)
    assert "Spend by status (USD)" in pie and '<showPercent val="1"' in pie
    summary = openpyxl.load_workbook(out)["Summary"]
    statuses = [r[0] for r in summary.iter_rows(values_only=True)]
    start = statuses.index("By status") + 3  # rows count from 1, then the header
    # the pie takes the statuses that cost something: Canceled (zero) and not-checked are left out
    ref = re.search(r"<c:val>.*?<c:f>'Summary'!\$C\$(\d+):\$C\$(\d+)</c:f>", pie.replace("\n", ""))
    if ref is None:
        ref = re.search(r"<val>.*?<f>'Summary'!\$C\$(\d+):\$C\$(\d+)</f>", pie.replace("\n", ""))
    assert ref is not None
    first, last = int(ref.group(1)), int(ref.group(2))
    assert first == start and sorted(statuses[first - 1 : last]) == ["Completed", "In progress", "Partial", "Pending"]


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
PDFTOTEXT = shutil.which("pdftotext")


def pdf_pages(pdf: Path) -> list[str]:
    text = subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return text.split("\f")


@pytest.mark.e2e
@pytest.mark.skipif(SOFFICE is None or PDFTOTEXT is None,
                    reason="needs LibreOffice and poppler: apt-get install -y libreoffice-calc-nogui poppler-utils")
def test_the_681_order_audit_prints_as_a_document(tmp_path):
    out = write_audit(tmp_path, ORDERS, "--by", "client")
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(tmp_path), str(out)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    pages = [p for p in pdf_pages(tmp_path / "audit.pdf") if p.strip()]
    by_sheet: dict[str, list[str]] = {}
    for page in pages:
        footer = [line for line in page.splitlines() if re.search(r"Page \d+ of \d+", line)][-1]
        assert footer.strip().endswith(f"of {len(pages)}")
        by_sheet.setdefault(footer.split("Page ")[0].strip(), []).append(page)
    counts = {sheet: len(found) for sheet, found in by_sheet.items()}
    # Measured with LibreOffice 7.4: Summary 3, Orders 7, Problems 1, History 12, Reconciliation 1 (24 pages;
    # the same ledger printed 145 pages before page setup). Bounds leave room for fonts.
    assert list(counts) == ["Summary", "Orders", "Problems", "History", "Reconciliation"], counts
    assert counts["Orders"] <= 8, counts  # 681 rows: at least 85 a page
    assert counts["History"] <= 12, counts  # one status answer per order
    print("pages by sheet:", counts)
    rest = counts["Summary"] + counts["Problems"] + counts["Reconciliation"]
    assert rest <= 5, counts  # "a few pages for everything else"
    assert all(page.splitlines()[0].startswith("bulkorders audit report") for page in pages)
    assert all("orders placed 2025-11-24 to 2025-11-28 (UTC)" in page.splitlines()[0] for page in pages)
    summary = by_sheet["Summary"]
    for label, figure in (
        ("orders placed", "681"), ("rows rejected by the panel", "3"), ("rows uncertain (answer lost)", "2"),
        ("orders cancelled or refunded", "97"), ("USD", r"681\s+\d[\d,]*\.\d\d USD"),
        ("summer", r"341\s+\d+\.\d\d USD"), ("Delta", r"170\s+\d+\.\d\d USD"),
    ):  # fmt: skip
        assert sum(1 for page in summary if re.search(rf"^{re.escape(label)}\s+{figure}\b", page, re.M)) == 1, label
    for title, last in (("By status", "Canceled"), ("By client", "Delta"), ("By day", "2025-11-28"),
                        ("By service", "1004")):  # fmt: skip
        (page,) = [p for p in summary if re.search(rf"^{title}$", p, re.M)]
        assert re.search(rf"^\s*{last}\s", page, re.M), f"{title} is split across pages"
    assert counts["Orders"] >= 681 // 120  # not shrunk to unreadable
    headers = [p for p in by_sheet["Orders"] if re.search(r"^order id\s+campaign", p, re.M)]
    assert len(headers) == counts["Orders"]  # the header row on every page


def test_a_ledger_without_balance_readings_says_so_on_its_reconciliation_sheet(tmp_path):
    from bulkorders.report.layout import NO_READINGS

    out = write_audit(tmp_path, 5)
    rows = list(openpyxl.load_workbook(out)["Reconciliation"].iter_rows(values_only=True))
    assert len(rows) == 2 and dict(zip(rows[0], rows[1]))["what it means"] == NO_READINGS
