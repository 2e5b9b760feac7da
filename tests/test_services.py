"""`services` and `balance` against the sandbox panel, and the catalogue cache."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import openpyxl
from conftest import bulkorders, environment, run

from bulkorders.catalog import cache_path
from bulkorders.settings import cache_dir


def test_services_table_lists_the_catalogue():
    result = run("services")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "type", "category", "rate", "min", "max", "refill", "cancel"]
    assert len(lines) == 1 + 22
    assert any(line.startswith("1001  Instagram Followers [Real, 30-day refill]") for line in lines)
    assert "22 of 22 services, catalogue of " in result.stderr


def test_services_search_and_category():
    result = run("services", "--search", "mentions")
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 1 + 6
    result = run("services", "--category", "telegram")
    ids = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert ids == ["1018", "1019"]


def test_services_json_uses_panel_field_names():
    result = run("--json", "services", "--search", "Reel")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == [{
        "service": "1004", "name": "Instagram Reel Views", "type": "Default",
        "category": "Instagram Views", "rate": "0.015", "min": 100, "max": 1000000,
        "refill": False, "cancel": False,
    }]  # fmt: skip


def test_services_out_xlsx_is_styled(tmp_path):
    out = tmp_path / "services.xlsx"
    result = run("services", "--out", str(out))
    assert result.exit_code == 0, result.output
    ws = openpyxl.load_workbook(out).active
    assert [c.value for c in ws[1]] == ["id", "name", "type", "category", "rate", "min", "max", "refill", "cancel"]
    assert ws["A1"].font.bold
    assert ws.auto_filter.ref == "A1:I23"
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["B"].width > 20
    assert ws["A2"].value == 1001
    assert Decimal(str(ws["E5"].value)) == Decimal("0.015")


def test_services_out_csv_and_json(tmp_path):
    assert run("services", "--out", str(tmp_path / "s.csv")).exit_code == 0
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == "id,name,type,category,rate,min,max,refill,cancel"
    assert run("services", "--out", str(tmp_path / "s.json")).exit_code == 0
    assert len(json.loads((tmp_path / "s.json").read_text())) == 22


def test_services_out_unknown_suffix(tmp_path):
    result = run("services", "--out", str(tmp_path / "s.txt"))
    assert result.exit_code == 2
    assert result.stderr == "Error: Cannot export to s.txt: use a .xlsx, .csv or .json file name.\n"
    assert result.stdout == ""  # refused before the table is printed


def test_catalogue_is_cached_and_refreshed_after_ttl():
    assert run("services").exit_code == 0
    path = cache_path(cache_dir(), "sandbox")
    first = json.loads(path.read_text())
    assert run("services").exit_code == 0
    assert json.loads(path.read_text())["fetched_at"] == first["fetched_at"]  # fresh: not refetched
    assert run("services", "--refresh").exit_code == 0
    assert json.loads(path.read_text())["fetched_at"] > first["fetched_at"]


def test_stale_cache_used_with_warning_when_panel_unreachable(tmp_path):
    path = cache_path(cache_dir(), "http://127.0.0.1:9/api/v2")
    path.parent.mkdir(parents=True, exist_ok=True)
    sandbox = run("--json", "services")
    stale = {"panel": "http://127.0.0.1:9/api/v2", "fetched_at": time.time() - 7200,
             "services": json.loads(sandbox.stdout)}
    path.write_text(json.dumps(stale))
    result = bulkorders("--panel", "http://127.0.0.1:9/api/v2", "services", env={"BULKORDERS_API_KEY": "k"})
    assert result.exit_code == 0, result.output
    waits = [line for line in result.stderr.splitlines() if line.startswith("panel unreachable: waiting ")]
    assert len(waits) == 2  # the retries' waits over 2 s are said (4 s, 8 s with jitter)
    assert result.stderr.split("\n", 2)[2].startswith("Warning: using the cached catalogue of ")
    assert "because the panel could not be reached" in result.stderr
    assert len(result.stdout.splitlines()) == 23


def test_unreachable_without_cache_is_exit_3():
    result = bulkorders("--panel", "http://127.0.0.1:9/api/v2", "services", env={"BULKORDERS_API_KEY": "k"})
    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1].startswith("Error: Cannot reach the panel at http://127.0.0.1:9/api/v2")


def test_the_waits_between_retries_go_through_the_injected_environment():
    waits: list[float] = []
    result = bulkorders("--panel", "http://127.0.0.1:9/api/v2", "balance", env={"BULKORDERS_API_KEY": "k"},
                        obj=environment(sleep=waits.append))  # fmt: skip
    assert result.exit_code == 3
    assert "after 5 attempts" in result.stderr
    # 0.5 s doubling, each with up to 25 % jitter: asked of the environment, not slept
    assert len(waits) == 4 and all(base <= wait <= base * 1.25 for base, wait in zip((0.5, 1, 2, 4), waits))


def test_balance_text_and_json():
    result = run("balance")
    assert result.exit_code == 0
    assert result.stdout == "1000.00 USD\n"
    result = run("--json", "balance")
    assert json.loads(result.stdout) == {"balance": "1000.00", "currency": "USD"}
