"""The sandbox's dialects: each family of real panels, rendered from one panel logic, and the
whole bulkorders flow through the CLI against each of them (in-process and over HTTP).

Every flow counts the orders the sandbox really created, so "placed once" is checked against
the panel, and reads the ids back as the panel gave them.
"""

from __future__ import annotations

import csv
import json
import subprocess
import types
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from bulkorders.cli import cli
from bulkorders.errors import ConfigError
from bulkorders.ledger.store import Ledger
from bulkorders.panel.sandbox import transport as transport_module
from bulkorders.panel.sandbox.dialect import number_format
from bulkorders.panel.sandbox.dialects import (
    DIALECTS,
    ORDER_PREFIX,
    REFILL_PREFIX,
    decode_id,
    dialect,
    encode_id,
)
from bulkorders.panel.sandbox.panel import NO_FUNDS
from bulkorders.panel.sandbox.server import Faults, SandboxServer, spawn
from bulkorders.panel.sandbox.store import STATE_FILE, LiveSandbox, reset_state
from bulkorders.settings import data_dir

T0 = 1_800_000_000.0
KEY = "test-key"
NAMES = list(DIALECTS)


def sandbox(tmp_path: Path, name: str, balance: str = "5000", key: str | None = None) -> LiveSandbox:
    path = tmp_path / "state.jsonl"
    reset_state(path, Decimal(balance))
    return LiveSandbox(path, dialect=name, key=key)


def ask(live: LiveSandbox, now: float = T0, **fields: str) -> tuple[int, str, object]:
    """(HTTP status, content type, the body as JSON) of one call."""
    reply = live.answer({"key": KEY, **fields}, now)
    return reply.status, reply.content_type, json.loads(reply.content())


def body(live: LiveSandbox, now: float = T0, **fields: str):
    return ask(live, now, **fields)[2]


ADD_BIG = {"action": "add", "service": "1006", "link": "https://yt/a", "quantity": "1000000"}  # 1200.00
ADD_CANCEL = {"action": "add", "service": "1001", "link": "https://ig/c", "quantity": "1000"}  # 0.90


def two_orders(live: LiveSandbox) -> tuple[str, str]:
    """Place ADD_BIG and ADD_CANCEL; their ids as the dialect wrote them."""
    ids = []
    for form in (ADD_BIG, ADD_CANCEL):
        answer = body(live, **form)
        ids.append(str(answer.get("order") or answer.get("order_id")))
    return ids[0], ids[1]


# --- the rendering of each dialect ------------------------------------------------------------


def test_clean_is_todays_panel():
    assert dialect(None) is DIALECTS["clean"] and dialect(" PHP ") is DIALECTS["php"]
    with pytest.raises(ConfigError, match='Unknown sandbox dialect "wix": use one of clean, php, smartpanel, nextjs, serverless.'):
        dialect("wix")


def test_number_format_is_phps():
    assert number_format("2500") == "2,500.00000"
    assert number_format("1234567.123456") == "1,234,567.12346"
    assert number_format("0.0015") == "0.00150"


def test_php_takes_a_subscription_without_quantity(tmp_path):
    live = sandbox(tmp_path, "php")
    subscription = {"action": "add", "service": "1020", "username": "brand", "min": "100", "max": "200", "delay": "0"}
    assert body(live, **subscription) == {"order": "23501"}  # min/max per post, no quantity (SPEC)
    assert ask(live, action="add", service="1001", link="https://ig/x")[::2] == (
        400, {"error": "The quantity field is required."})  # fmt: skip


def test_the_sample_campaign_is_placed_whole_on_a_php_panel(tmp_path):
    """Its Subscriptions row (14) is sent without quantity, as SPEC gives it none."""
    config = tmp_path / "config.toml"
    config.write_text('[panels.sandbox]\ndialect = "php"\n')
    sheet = tmp_path / "weekly-campaign.xlsx"
    sheet.write_bytes((Path(__file__).resolve().parents[1] / "samples" / "weekly-campaign.xlsx").read_bytes())
    result = CliRunner().invoke(cli, ["--config", str(config), "--panel", "sandbox", "submit", str(sheet), "--yes"],
                                catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Placed 16 orders" in result.stdout


def test_php_money_codes_quantity_and_cancelled_with_the_charge_kept(tmp_path):
    live = sandbox(tmp_path, "php")
    assert ask(live, action="balance") == (200, "application/json", {"balance": "5,000.00000", "currency": "USD"})
    first = body(live, action="services")[0]
    assert (first["rate"], first["min"], first["refill"], first["cancel"]) == ("0.90000", "10", 1, 1)
    assert ask(live, action="add", service="1009", link="https://ig/p") == (
        400, "application/json", {"error": "The quantity field is required."})  # fmt: skip
    assert body(live, action="add", service="1009", link="https://ig/p", quantity="1") == {"order": "23501"}
    comments = {"action": "add", "service": "1007", "link": "https://ig/q", "comments": "a\nb\n\nc\nd\ne"}
    assert ask(live, **comments, quantity="6")[::2] == (
        400, {"error": "The quantity must be the number of comments (one per line)."})  # fmt: skip
    assert body(live, **comments, quantity="5") == {"order": "23502"}
    big, small = two_orders(live)
    assert (big, small) == ("23503", "23504")
    assert body(live, action="status", order=big)["charge"] == "1,200.00000"
    assert body(live, action="cancel", orders=small) == [{"order": 23504, "cancel": 1}]
    assert body(live, T0 + 1, action="status", order=small) == {
        "charge": "0.90000", "start_count": "0", "status": "Cancelled", "remains": "1000", "currency": "USD"}  # fmt: skip
    assert body(live, T0 + 5, action="status", order=big)["status"] == "Processing"
    assert body(live, action="balance")["balance"] == "3,784.94000"  # the cancel was refunded all the same
    assert ask(live, action="status", order="999") == (404, "application/json", {"error": "Incorrect order ID"})
    assert ask(live, **{**ADD_BIG, "link": "https://yt/b", "quantity": "99"})[0] == 400  # under the minimum
    for _ in range(3):
        body(live, **{**ADD_BIG, "link": f"https://yt/{_}"})
    assert ask(live, **{**ADD_BIG, "link": "https://yt/z"}) == (402, "application/json", {"error": "Insufficient balance"})
    assert ask(LiveSandbox(tmp_path / "state.jsonl", dialect="php", key="other"), action="balance") == (
        403, "application/json", {"error": "Invalid API key"})  # fmt: skip


def test_smartpanel_wrappers_lower_types_bare_string_errors_pretty_html_and_no_cancel(tmp_path):
    live = sandbox(tmp_path, "smartpanel")
    reply = live.answer({"key": KEY, "action": "balance"}, T0)
    assert reply.content_type == "text/html; charset=UTF-8"
    assert reply.content().decode() == '{\n    "status": "success",\n    "balance": "5000.00",\n    "currency": "USD"\n}'
    services = {s["service"]: s for s in body(live, action="services")}
    assert services[1007]["type"] == "custom_comments" and services[1008]["type"] == "custom_comments_package"
    assert services[1001]["type"] == "default" and not any(s["cancel"] for s in services.values())
    big, small = two_orders(live)
    assert body(live, action="add", service="1009", link="https://ig/p") == {"status": "success", "order": 23503}
    assert body(live, action="status", orders=f"{big},999")["999"] == "Incorrect order ID"
    assert body(live, action="cancel", orders=small) == {"status": "error", "message": "Incorrect request"}
    assert body(live, T0 + 20, action="refill", order=big) == {"status": "success", "refill": "1"}
    assert body(live, action="add", service="1006", link="https://yt/x", quantity="1000000") == {
        "status": "success", "order": 23504}  # fmt: skip
    for link in ("y", "z"):
        body(live, action="add", service="1006", link=f"https://yt/{link}", quantity="1000000")
    assert ask(live, **{**ADD_BIG, "link": "https://yt/w"})[::2] == (
        200, {"status": "error", "message": "Not enough balance"})  # fmt: skip
    other = LiveSandbox(tmp_path / "state.jsonl", dialect="smartpanel", key="other")
    assert ask(other, action="balance")[::2] == (200, {"status": "error", "message": "Invalid or inactive API key"})


def test_nextjs_codes_lower_statuses_string_flags_single_forms_and_item_errors(tmp_path):
    live = sandbox(tmp_path, "nextjs")
    services = body(live, action="services")
    assert (services[0]["refill"], services[0]["cancel"], services[3]["refill"]) == ("1", "1", "0")
    big, small = two_orders(live)
    assert body(live, action="status", orders=big) == {
        "charge": "1200.00", "start_count": "0", "status": "pending", "remains": "1000000", "currency": "USD"}  # fmt: skip
    assert set(body(live, action="status", orders=f"{big},{small}")) == {big, small}
    assert body(live, action="cancel", orders=f"{small},999") == [
        {"order": 23502, "cancel": 1}, {"order": 999, "error": "Incorrect order ID"}]  # fmt: skip
    assert ask(live, action="cancel", orders=big)[::2] == (400, {"error": "Cancel is disabled for this service"})
    assert body(live, T0 + 20, action="refill", orders=big) == {"refill": "1"}
    assert body(live, T0 + 20, action="refill", orders=f"{big},{small}") == [
        {"order": 23501, "error": "Refill is already in progress for this order"},
        {"order": 23502, "error": "Order is not eligible for refill"},
    ]  # fmt: skip
    assert body(live, T0 + 21, action="refill_status", refills="1") == {"status": "pending"}
    assert body(live, T0 + 30, action="refill_status", refills="1,7") == [
        {"refill": 1, "status": "completed"}, {"refill": 7, "error": "Refill not found"}]  # fmt: skip
    assert body(live, T0 + 30, action="status", order=small)["status"] == "canceled"
    for link in ("x", "y", "z"):
        body(live, T0 + 30, **{**ADD_BIG, "link": link})
    assert ask(live, T0 + 30, **{**ADD_BIG, "link": "w"})[::2] == (400, {"error": "neworder.error.not_enough_funds"})
    other = LiveSandbox(tmp_path / "state.jsonl", dialect="nextjs", key="other")
    assert ask(other, action="balance")[::2] == (401, {"error": "Unauthorized"})


def test_serverless_opaque_ids_numbers_cancel_true_keyed_refill_status(tmp_path):
    live = sandbox(tmp_path, "serverless")
    assert body(live, action="balance") == {"balance": 5000.0, "currency": "USD"}
    first = body(live, action="services")[0]
    assert (first["rate"], first["min"], first["max"], first["refill"]) == (0.9, 10, 100000, True)
    big, small = two_orders(live)
    assert big == encode_id(ORDER_PREFIX, 23501) and big.startswith("ORD01HG") and len(big) == 23
    assert decode_id(ORDER_PREFIX, big) == 23501 and decode_id(ORDER_PREFIX, big.lower()) == 23501
    assert decode_id(ORDER_PREFIX, "23501") is None and decode_id(REFILL_PREFIX, big) is None
    assert body(live, action="status", order=big) == {
        "charge": 1200.0, "start_count": 0, "status": "Pending", "remains": 1000000, "currency": "USD"}  # fmt: skip
    assert ask(live, action="status", order="23501")[::2] == (404, {"error": True, "message": "Incorrect order ID"})
    assert list(body(live, action="status", orders=f"{big},23501")) == [big, "23501"]
    assert body(live, action="cancel", orders=f"{small},{big}") == [
        {"order": small, "cancel": True},
        {"order": big, "cancel": {"error": "Cancel is disabled for this service"}},
    ]  # fmt: skip
    assert body(live, T0 + 1, action="status", order=small)["status"] == "Refunded"
    refill = body(live, T0 + 20, action="refill", order=big)["refill"]
    assert refill == encode_id(REFILL_PREFIX, 1)
    assert body(live, T0 + 20, action="refill_status", refills=f"{refill},RF01HG0") == {
        refill: {"status": "Pending"}, "RF01HG0": {"error": "Refill not found"}}  # fmt: skip
    assert body(live, T0 + 21, action="refill_status", refill=refill) == {"status": "Pending"}
    for link in ("x", "y", "z"):
        body(live, T0 + 30, **{**ADD_BIG, "link": link})
    assert ask(live, T0 + 30, **{**ADD_BIG, "link": "w"})[::2] == (402, {"error": True, "message": "low balance"})
    other = LiveSandbox(tmp_path / "state.jsonl", dialect="serverless", key="other")
    assert ask(other, action="balance")[::2] == (401, {"error": True, "message": "Invalid API key"})


@pytest.mark.parametrize("name", NAMES)
def test_a_dialect_is_only_a_rendering_the_panel_state_is_the_same(tmp_path, name):
    live = sandbox(tmp_path, name)
    body(live, action="add", service="1009", link="https://ig/p", quantity="1")
    two_orders(live)
    state = live.state(T0 + 20)
    assert sorted(state.orders) == [23501, 23502, 23503]
    assert state.balance == Decimal("5000") - Decimal("15.00") - Decimal("1200.00") - Decimal("0.90")


# --- the whole flow through the CLI -----------------------------------------------------------

HEADER = ["link", "service", "quantity", "comments", "note"]
COMMENTS = "Love it\nGreat shot\nWow\nSo good\nAmazing\nBeautiful"
ROWS = [
    ["https://www.youtube.com/watch?v=dialect", "1006", "1000000", "", "default, refill"],  # 1200.00
    ["https://www.instagram.com/dialect/", "1001", "1000", "", "default, cancelled"],  # 0.90, refunded
    ["https://www.instagram.com/p/dialect-pkg/", "1009", "", "", "package"],  # 15.00
    ["https://www.instagram.com/p/dialect-cc/", "1007", "", COMMENTS, "custom comments"],  # 0.072
]
SPEND = Decimal("1215.072")  # the cancelled order costs nothing


class Clock:
    """The sandbox's time, moved on by the test; in-process and (through a file) served."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.set(T0)

    def set(self, now: float) -> None:
        self.now = now
        self.path.write_text(repr(now), encoding="utf-8")

    def __call__(self) -> float:
        return self.now


def write_sheet(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(ROWS)
    return path


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def panel_orders() -> dict[str, list]:
    """The sandbox's own orders, by link."""
    live = LiveSandbox(data_dir() / STATE_FILE)
    try:
        found: dict[str, list] = {}
        for order in live.state().orders.values():
            found.setdefault(order.link, []).append(order)
        return found
    finally:
        live.close()


def ledger_states() -> list[str]:
    with Ledger.open(data_dir() / "ledger.sqlite") as ledger:
        return [row.state for campaign in ledger.campaigns() for row in ledger.rows(campaign)]


def panel_id(name: str, number: int, prefix: str = ORDER_PREFIX) -> str:
    return encode_id(prefix, number) if name == "serverless" else str(number)


def run_flow(tmp_path: Path, name: str, panel: str, clock: Clock) -> None:
    """services, balance, validate, submit, status, cancel, status, refill, status, report."""
    def run(*args: str, code: int = 0):
        result = CliRunner().invoke(cli, ["--panel", panel, *args])
        assert result.exit_code == code, (args, result.output)
        return result

    words = DIALECTS[name]
    sheet = write_sheet(tmp_path / "campaign.csv")
    results = tmp_path / "campaign.results.csv"
    assert "22 of 22 services" in run("services").stderr
    amount, currency = run("balance").stdout.split()
    assert (Decimal(amount), currency) == (Decimal("5000"), "USD")
    run("validate", str(sheet))
    run("submit", str(sheet), "--yes", "--campaign", f"dialect-{name}", "--out", str(results))
    placed = panel_orders()
    assert sorted(placed) == sorted(row[0] for row in ROWS)
    assert {link: len(orders) for link, orders in placed.items()} == {row[0]: 1 for row in ROWS}  # once each
    rows = read_rows(results)
    assert [r["order_id"] for r in rows] == [panel_id(name, placed[row[0]][0].id) for row in ROWS]
    assert "uncertain" not in ledger_states()
    clock.set(T0 + 1)
    run("status", str(results))
    assert {r["status"] for r in read_rows(results)} == {words.word("Pending")}
    cancel = run("cancel", "--rows", "3", "--yes", str(results), code=0 if words.has_cancel else 1)
    assert (panel_orders()[ROWS[1][0]][0].canceled is not None) == words.has_cancel, cancel.output
    clock.set(T0 + 100)
    status = run("status", str(results))
    spend = SPEND if words.has_cancel else SPEND + Decimal("0.90")
    assert f"{spend} USD" in status.stdout, status.stdout  # net of the refund, like the report
    statuses = [r["status"] for r in read_rows(results)]
    expected = words.word("Canceled") if words.has_cancel else words.word("Completed")
    assert statuses == [words.word("Completed"), expected, words.word("Completed"), words.word("Completed")]
    run("refill", "--rows", "2", str(results))
    assert read_rows(results)[0]["refill_id"] == panel_id(name, 1, REFILL_PREFIX)
    clock.set(T0 + 200)
    run("status", str(results))
    assert read_rows(results)[0]["refill_status"] == words.word("Completed")
    report = run("report", "--out", str(tmp_path / "audit.xlsx"))
    cancelled = 1 if words.has_cancel else 0
    assert report.stdout == (
        f"Wrote {tmp_path / 'audit.xlsx'}: 4 orders placed, 0 rejected, 0 uncertain, "
        f"{cancelled} cancelled or refunded; spend {spend} USD.\n"
    )
    assert "uncertain" not in ledger_states()
    assert LiveSandbox(data_dir() / STATE_FILE).state(clock.now).balance == Decimal("5000") - spend


@pytest.fixture
def clock(tmp_path, monkeypatch):
    """The in-process sandbox reads this clock; a served one reads its file."""
    now = Clock(tmp_path / "clock.txt")
    monkeypatch.setattr(transport_module, "time", types.SimpleNamespace(time=now))
    return now


def use_dialect(home: Path, name: str) -> None:
    """`[panels.sandbox] dialect = NAME` in the config file."""
    config = home / "config" / "bulkorders" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[panels.sandbox]\ndialect = "{name}"\n', encoding="utf-8")



FLOWS = NAMES


@pytest.mark.parametrize("name", FLOWS)
def test_the_whole_flow_in_process(tmp_path, isolated_user_dirs, clock, name):
    use_dialect(isolated_user_dirs, name)
    reset_state(data_dir() / STATE_FILE, Decimal("5000"))
    run_flow(tmp_path, name, "sandbox", clock)


def test_an_unknown_dialect_is_refused_naming_the_known_ones(isolated_user_dirs):
    use_dialect(isolated_user_dirs, "wix")
    result = CliRunner().invoke(cli, ["--panel", "sandbox", "balance"])
    assert result.exit_code == 3
    assert 'Unknown sandbox dialect "wix": use one of clean, php, smartpanel, nextjs, serverless.' in result.stderr
    result = CliRunner().invoke(cli, ["sandbox", "serve", "--port", "0", "--dialect", "wix"])
    assert result.exit_code == 2 and "'wix' is not one of 'clean', 'php', 'smartpanel'" in result.stderr


@pytest.fixture
def served(tmp_path, monkeypatch):
    """`sandbox serve --dialect NAME` in a child process on this test's state and clock."""
    procs: list[subprocess.Popen] = []

    def start(name: str, *options: str) -> tuple[str, Clock]:
        now = Clock(tmp_path / "served-clock.txt")
        proc, url = spawn("--dialect", name, "--clock-file", str(now.path), *options)
        procs.append(proc)
        monkeypatch.setenv("BULKORDERS_API_KEY", KEY)
        return url, now

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("name", FLOWS)
def test_the_whole_flow_over_http(tmp_path, isolated_user_dirs, served, name):
    reset_state(data_dir() / STATE_FILE, Decimal("5000"))
    url, now = served(name)
    run_flow(tmp_path, name, url, now)


@pytest.mark.parametrize("name", [name for name in NAMES if DIALECTS[name].has_cancel])
def test_cancel_result_says_in_words_what_the_panel_answered(tmp_path, isolated_user_dirs, clock, name):
    use_dialect(isolated_user_dirs, name)
    reset_state(data_dir() / STATE_FILE, Decimal("5000"))
    sheet = tmp_path / "cancel.csv"
    with sheet.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([HEADER, *[[f"https://www.instagram.com/c{i}/", "1001", "1000", "", ""] for i in (1, 2)]])
    results = tmp_path / "cancel.results.csv"

    def run(*args: str):
        return CliRunner().invoke(cli, ["--panel", "sandbox", *args])

    assert run("submit", str(sheet), "--yes", "--out", str(results)).exit_code == 0
    result = run("cancel", "--rows", "2", "--yes", str(results))
    assert result.exit_code == 0, result.output
    clock.set(T0 + 5)  # In progress: the panel refuses to cancel it
    refused = run("cancel", "--rows", "3", "--yes", str(results))
    assert refused.exit_code == 1, refused.output
    rows = read_rows(results)
    assert rows[0]["cancel_result"] == "requested"
    assert rows[1]["cancel_result"] == "refused: Order cannot be canceled: its status is In progress"
    assert [order.canceled is not None for order in sorted(
        (o for orders in panel_orders().values() for o in orders), key=lambda o: o.id)] == [True, False]  # fmt: skip


# --- funds and key refusals stop the run, in each dialect's words and status --------------------


@pytest.fixture
def threaded(tmp_path):
    """The sandbox server in a thread (real HTTP on loopback) on the CLI's state file."""
    servers: list[SandboxServer] = []

    def start(name: str, balance: str = "5000", key: str | None = None) -> SandboxServer:
        state = data_dir() / STATE_FILE
        reset_state(state, Decimal(balance))
        server = SandboxServer(state, dialect=name, key=key)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def submit(url: str, sheet: Path, *options: str):
    return CliRunner(env={"BULKORDERS_API_KEY": KEY}).invoke(
        cli, ["--panel", url, "submit", str(sheet), "--yes", "--concurrency", "1", *options]
    )


def big_sheet(path: Path, count: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows([[f"https://youtu.be/{i}", "1006", "1000000", "", ""] for i in range(count)])  # 1200 each
    return path


@pytest.mark.parametrize("name", NAMES)
def test_a_balance_under_the_estimate_stops_before_sending(tmp_path, isolated_user_dirs, threaded, name):
    server = threaded(name, balance="1000")
    result = submit(server.url, big_sheet(tmp_path / "big.csv", 2))
    assert result.exit_code == 3, result.output
    assert "2400.00" in result.stderr and "1000" in result.stderr, result.stderr
    assert panel_orders() == {}


@pytest.mark.parametrize("name", NAMES)
def test_a_funds_refusal_mid_run_stops_sending_and_is_no_uncertain_row(tmp_path, isolated_user_dirs, threaded, name):
    server = threaded(name)
    live = server.httpd.sandbox
    answer, adds, statuses = live.answer, [], []

    def someone_else_spends(form, now):  # after the balance check, before the run's third add
        if form.get("action") == "add":
            adds.append(form)
            if len(adds) == 3:
                for link in ("other-1", "other-2"):
                    live.handle({**form, "link": link}, now)
        reply = answer(form, now)
        if form.get("action") == "add":
            statuses.append(reply.status)
        return reply

    live.answer = someone_else_spends
    result = submit(server.url, big_sheet(tmp_path / "big.csv", 4))  # 4800 of 5000
    assert result.exit_code == 3, result.output
    assert len(adds) == 3  # the fourth row was never sent
    run_links = sorted(link for link in panel_orders() if link.startswith("https://youtu.be/"))
    assert run_links == ["https://youtu.be/0", "https://youtu.be/1"]
    rows = read_rows(tmp_path / "big.results.csv")
    assert [bool(r["order_id"]) for r in rows] == [True, True, False, False]
    words = DIALECTS[name].wording.get(NO_FUNDS, NO_FUNDS)
    assert statuses[-1] == FUNDS_STATUS[name]  # the refusal as the dialect sends it (submit reads the balance after)
    assert f"Error: The panel says the balance is too low ({words}). Top up the balance on the panel, then rerun." in (
        result.stderr)  # fmt: skip
    assert rows[2]["error"] == f"not sent yet (the panel said: {words}): rerun the same submit command to place it"
    assert "uncertain" not in ledger_states()


FUNDS_STATUS = {"clean": 200, "php": 402, "smartpanel": 200, "nextjs": 400, "serverless": 402}
AUTH = {"clean": (200, "Invalid API key"), "php": (403, "Invalid API key"),
        "smartpanel": (200, "Invalid or inactive API key"), "nextjs": (401, "Unauthorized"),
        "serverless": (401, "Invalid API key")}  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_a_wrong_key_stops_before_anything_is_placed(tmp_path, isolated_user_dirs, threaded, name):
    server = threaded(name, key="the-right-key")
    answer = httpx.post(server.url, data={"key": KEY, "action": "balance"})
    assert answer.status_code == AUTH[name][0] and AUTH[name][1] in answer.text
    balance = CliRunner(env={"BULKORDERS_API_KEY": KEY}).invoke(cli, ["--panel", server.url, "balance"])
    result = submit(server.url, write_sheet(tmp_path / "campaign.csv"))
    assert balance.exit_code == 3 and result.exit_code == 3, (balance.output, result.output)
    said = f"Error: The panel refused the API key ({AUTH[name][1]}). Check BULKORDERS_API_KEY or the key of your panel profile."
    assert said in balance.stderr and said in result.stderr, (balance.stderr, result.stderr)
    assert panel_orders() == {}


# --- what real panels put in front of the API: challenges and rate limits, through the CLI -------


class FakeTime:
    """The served sandbox's clock and the client's monotonic clock; the client's sleeps move both."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += max(0.0, seconds)
        self.now += max(0.0, seconds)


@pytest.fixture
def faulty(monkeypatch):
    """A served sandbox (in a thread) with faults, on a fake clock the client's sleeps advance."""
    import time

    import bulkorders.panel.connect

    servers: list[SandboxServer] = []
    # Start on a window boundary: the sandbox's rate windows are aligned on the epoch, and the
    # waiting a test expects assumes its first window is a whole one.
    fake = FakeTime(time.time() // 60 * 60)
    client = bulkorders.panel.connect.PanelClient

    def on_fake_time(*args, sleep=None, **options):  # the client waits on the fake clock, whatever it is given
        return client(*args, sleep=fake.sleep, monotonic=fake, **options)

    monkeypatch.setattr(bulkorders.panel.connect, "PanelClient", on_fake_time)

    def start(**faults) -> SandboxServer:
        state = data_dir() / STATE_FILE
        reset_state(state, Decimal("5000"))
        server = SandboxServer(state, faults=Faults(seed=3, **faults), clock=fake)
        server.start()
        servers.append(server)
        return server

    yield start, fake
    for server in servers:
        server.stop()


def likes_sheet(path: Path, count: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows([[f"https://www.instagram.com/p/likes{i}/", "1002", "100", "", ""] for i in range(count)])
    return path


def test_challenge_pages_leave_rows_unsent_and_they_are_placed_once(tmp_path, isolated_user_dirs, faulty):
    start, _ = faulty
    server = start(challenge=0.4)
    result = submit(server.url, likes_sheet(tmp_path / "likes.csv", 12), "--concurrency", "4")
    assert result.exit_code == 0, result.output
    assert {link: len(orders) for link, orders in panel_orders().items()} == {
        f"https://www.instagram.com/p/likes{i}/": 1 for i in range(12)}  # fmt: skip
    assert server.counts.values["faults"] > 0
    assert "uncertain" not in ledger_states()


def test_a_persistent_challenge_stops_the_run_saying_the_firewall_blocks_it(tmp_path, isolated_user_dirs, faulty):
    start, _ = faulty
    server = start(challenge=1.0)
    result = submit(server.url, likes_sheet(tmp_path / "likes.csv", 3))
    assert result.exit_code == 3, result.output
    assert "firewall" in result.stderr, result.stderr
    assert panel_orders() == {}
    assert "uncertain" not in ledger_states()


@pytest.mark.parametrize("headers", [True, False])
def test_a_rate_limit_is_waited_out_without_a_429_storm(tmp_path, isolated_user_dirs, faulty, headers):
    start, fake = faulty
    server = start(rate="4/2", rate_headers=headers)
    result = submit(server.url, likes_sheet(tmp_path / "likes.csv", 16), "--concurrency", "4")
    assert result.exit_code == 0, result.output
    assert sum(len(orders) for orders in panel_orders().values()) == 16
    assert "uncertain" not in ledger_states()
    requests, refused = server.counts.values["requests"], server.counts.values["rate_limited"]
    windows = (requests - refused) / 4  # windows of 4 requests the answered ones needed
    assert fake.slept >= (windows - 1) * 2 - 1e-6  # the first window is free; the client waited the rest
    assert refused <= 4 * windows, (requests, refused)  # no storm: at most one 429 per worker and window


def test_a_wrong_api_url_is_said_at_once_with_the_hint(tmp_path, isolated_user_dirs, threaded):
    import time

    server = threaded("clean")
    wrong = server.url.replace("/api/v2", "/api/v1")
    began = time.monotonic()
    result = CliRunner(env={"BULKORDERS_API_KEY": KEY}).invoke(cli, ["--panel", wrong, "balance"])
    assert result.exit_code == 3, result.output
    assert time.monotonic() - began < 2
    assert wrong in result.stderr and "/api/v2" in result.stderr, result.stderr
    assert server.counts.values["requests"] == 1  # answered at once, not retried


def test_maintenance_is_said_at_once_on_a_read_only_command(tmp_path, isolated_user_dirs, faulty):
    start, fake = faulty
    server = start(maintenance=3600)
    result = CliRunner(env={"BULKORDERS_API_KEY": KEY}).invoke(cli, ["--panel", server.url, "balance"])
    assert result.exit_code == 3, result.output
    assert f"The panel at {server.url} is down for maintenance" in result.stderr, result.stderr
    assert "60 min" in result.stderr
    assert fake.slept < 60  # not waited for silently
