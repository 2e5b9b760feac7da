"""The team ledger on a real PostgreSQL server (tests/pgserver.py): opening and its messages,
the claim only one process wins, liveness decided by the database, and several `submit`
processes sharing one campaign against one `sandbox serve --latency 0.05`, one of them
killed with SIGKILL. The sandbox's own state is the judge of what was ordered."""

from __future__ import annotations

import csv
import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from conftest import BOTH_ENGINES, planned_rows

from bulkorders.errors import LedgerError, LedgerLocked
from bulkorders.ledger.location import mask_url as masked
from bulkorders.ledger.postgres import to_psycopg
from bulkorders.ledger.store import Ledger
from bulkorders.panel.sandbox.server import spawn
from bulkorders.panel.sandbox.store import LiveSandbox

PANEL = "sandbox"
T0 = "2026-11-26T15:45:00Z"


def payload(link: str) -> dict:
    return {"service": "1004", "link": link, "quantity": "100"}


# --- without a server -------------------------------------------------------------------


def test_urls_are_shown_with_the_password_masked():
    assert masked("postgresql://bob:s3cr%40t@db.example:5432/team?sslmode=require") == (
        "postgresql://bob:***@db.example:5432/team?sslmode=require"
    )
    assert masked("postgres://bob@db/team") == "postgres://bob@db/team"
    assert masked("postgresql:///team?host=/run/postgresql") == "postgresql:///team?host=/run/postgresql"


def test_queries_keep_their_marks_and_literal_percent_signs():
    assert to_psycopg("SELECT id FROM rows WHERE id = ? AND link LIKE '%?%'") == (
        "SELECT id FROM rows WHERE id = %s AND link LIKE '%%?%%'"
    )
    assert to_psycopg("UPDATE orders SET error = :error WHERE x = CAST(? AS OID)") == (
        "UPDATE orders SET error = %(error)s WHERE x = CAST(%s AS OID)"
    )


def test_a_team_ledger_without_psycopg_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(LedgerError) as err:
        Ledger.open("postgresql://bob:secret@db.example/team")
    assert str(err.value) == (
        "The ledger postgresql://bob:***@db.example/team is a PostgreSQL database, which needs "
        'psycopg: install the team extra (pip install "bulkorders[team]", or pip install ".[team]" in a clone), '
        "then rerun."
    )


# --- opening a team ledger ------------------------------------------------------------------

@pytest.mark.postgres
def test_a_new_database_gets_the_schema_once_even_from_two_processes_at_once(pg_url):
    opened: list[Ledger] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def open_it() -> None:
        start.wait()
        try:
            opened.append(Ledger.open(pg_url))
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(opened) == 2
    assert (opened[0].engine, opened[0].path, opened[0].where) == ("postgresql", None, masked(pg_url))
    assert opened[0]._db.version() == 5
    assert opened[0]._db.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1
    for ledger in opened:
        ledger.close()


@pytest.mark.postgres
def test_a_wrong_password_is_refused_saying_where_to_give_it_never_printing_it(pg_server, pg_url):
    url = pg_url.replace(":pg-test-secret@", ":not-the-password@")
    with pytest.raises(LedgerError) as err:
        Ledger.open(url)
    message = str(err.value)
    assert message == (
        f"The team ledger {masked(url)} refused the login (connection to server at \"127.0.0.1\", port "
        f'{pg_server.port} failed: FATAL: password authentication failed for user "bulkorders"). Nothing '
        "was sent. Give the right user and password: in the URL, PGPASSWORD, ~/.pgpass or a service file."
    )
    assert "not-the-password" not in message


@pytest.mark.postgres
def test_a_server_not_running_and_a_missing_database_say_what_to_do(pg_server, pg_url):
    with pytest.raises(LedgerError) as err:
        Ledger.open(pg_url.replace(f":{pg_server.port}/", ":1/"))
    assert str(err.value).startswith("Cannot reach the team ledger postgresql://bulkorders:***@127.0.0.1:1/")
    assert str(err.value).endswith(
        "Nothing was sent. Check that the server is running and the host, port and sslmode of the URL, then rerun."
    )
    with pytest.raises(LedgerError) as err:
        Ledger.open(pg_server.url("no_such_db"))
    assert "names a database the server does not have" in str(err.value)
    assert "pg-test-secret" not in str(err.value)


@pytest.mark.postgres
def test_a_database_with_other_tables_is_not_taken_for_a_ledger(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id integer)")
    with pytest.raises(LedgerError) as err:
        Ledger.open(pg_url)
    assert str(err.value) == (
        f"{masked(pg_url)} is a database with tables but not a bulkorders ledger. "
        "Choose another ledger with --ledger (BULKORDERS_LEDGER)."
    )


@pytest.mark.postgres
def test_a_lost_server_connection_is_one_message_and_records_nothing(pg_url):
    with Ledger.open(pg_url) as ledger:
        campaign = ledger.campaign("weekly", PANEL)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            pid = ledger._db.execute("SELECT pg_backend_pid()").fetchone()[0]
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(LedgerError) as err:
            ledger.sync_rows(campaign, planned_rows([payload("https://a")]))
    assert str(err.value).startswith(f"Lost the team ledger {masked(pg_url)} (")
    assert str(err.value).endswith(
        "Nothing of this step was recorded. Rows being sent then become uncertain; check that the "
        "server is running, then rerun."
    )
    with Ledger.open(pg_url) as again:
        assert again.rows(again.find_campaign("weekly")) == []


@pytest.mark.postgres
def test_a_connection_lost_inside_a_batch_is_the_same_message_and_keeps_nothing(pg_url):
    with Ledger.open(pg_url) as ledger:
        campaign = ledger.campaign("weekly", PANEL)
        (row,) = ledger.sync_rows(campaign, planned_rows([payload("https://a")]))
        with psycopg.connect(pg_url, autocommit=True) as admin:
            pid = ledger._db.execute("SELECT pg_backend_pid()").fetchone()[0]
            with pytest.raises(LedgerError) as err:
                with ledger.together():  # placement's step: pipelined statements, one commit
                    ledger.mark_sending([row.id], T0)
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    ledger.mark_placed(row.id, "501", Decimal("0.0015"), "USD", T0)
    assert str(err.value).startswith(f"Lost the team ledger {masked(pg_url)} (")
    with Ledger.open(pg_url) as again:
        assert [r.state for r in again.rows(campaign)] == ["planned"]


# --- claims and liveness ----------------------------------------------------------------------


@pytest.mark.postgres
def test_two_connections_claiming_the_same_rows_at_once_win_each_row_exactly_once(pg_url):
    with Ledger.open(pg_url) as setup:
        campaign = setup.campaign("weekly", PANEL)
        ids = [r.id for r in setup.sync_rows(campaign, planned_rows([payload(f"https://x/{i}") for i in range(600)]))]
    ledgers = [Ledger.open(pg_url), Ledger.open(pg_url)]
    won: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    batches = [ids[first : first + 20] for first in range(0, len(ids), 20)]

    def claim(n: int) -> None:
        start.wait()
        half = len(batches) // 2 * n  # the second starts half-way and wraps: each takes all
        mine = batches[half:] + batches[:half]
        won[n] += ledgers[n].mark_sending(mine[0], T0)
        start.wait()  # each has won its first batch before either goes on: both win some, always
        for batch in mine[1:]:
            won[n] += ledgers[n].mark_sending(batch, T0)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not set(won[0]) & set(won[1])
    assert sorted(won[0] + won[1]) == sorted(ids)
    assert won[0] and won[1]
    runs = dict(ledgers[0]._db.execute("SELECT id, run_id FROM rows").fetchall())
    assert {runs[i] for i in won[0]} == {ledgers[0].run_id} and {runs[i] for i in won[1]} == {ledgers[1].run_id}
    for ledger in ledgers:
        ledger.close()


@pytest.mark.parametrize("engine", BOTH_ENGINES)
def test_a_row_another_run_sent_since_it_was_planned_is_not_sent_again(ledger_location):
    """Runs A and B planned the same rows; B sent them first, and its answers came back lost
    (uncertain) or refused (rejected): states a rerun may send, but A planned them as planned,
    or as uncertain from an older run, so A must leave B's outcome alone."""
    with Ledger.open(ledger_location) as setup:
        campaign = setup.campaign("weekly", PANEL)
        ids = [r.id for r in setup.sync_rows(campaign, planned_rows([payload(f"https://x/{i}") for i in range(4)]))]
        setup.mark_sending(ids[2:], T0)
        for row_id in ids[2:]:
            setup.mark_uncertain(row_id, "lost", T0)
        planned = {r.id: (r.state, r.run_id) for r in setup.rows(campaign)}  # what A and B both read
    a, b = Ledger.open(ledger_location), Ledger.open(ledger_location)
    try:
        assert b.mark_sending(ids, T0, planned) == ids
        b.mark_uncertain(ids[0], "lost again", T0)
        b.mark_rejected(ids[1], "refused", T0)
        b.mark_uncertain(ids[2], "lost again", T0)
        b.mark_placed(ids[3], "9001", Decimal("1"), "USD", T0)
        assert a.mark_sending(ids, T0, planned) == []  # A's plan is out of date for every row
        now = {r.id: (r.state, r.run_id) for r in a.rows(campaign)}
        assert [now[i][0] for i in ids] == ["uncertain", "rejected", "uncertain", "placed"]
        assert {now[i][1] for i in ids} == {b.run_id}
        assert a.mark_sending(ids[:3], T0, now) == ids[:3]  # planned again from what it is now: A's
    finally:
        a.close()
        b.close()


@pytest.mark.postgres
def test_the_campaign_lock_is_held_in_the_database(pg_url):
    with Ledger.open(pg_url) as first, Ledger.open(pg_url) as second:
        campaign = first.campaign("weekly", PANEL)
        assert first.shared and first.placing(campaign).__class__.__name__ == "nullcontext"
        with first.lock(campaign, "refilled"):
            with pytest.raises(LedgerLocked) as err:
                with second.lock(campaign, "cancelled"):
                    pass
            assert 'Campaign "weekly" is being cancelled by another bulkorders process (' in str(err.value)
        with second.lock(campaign, "cancelled"):  # released by the first holder
            pass


@pytest.mark.postgres
def test_no_two_processes_refill_or_cancel_a_panels_orders_at_once(pg_url, tmp_path):
    from bulkorders.lifecycle.pipelines import cancel_sheet, refill_sheet
    from bulkorders.lifecycle.run import LifecycleIO, SheetOptions

    with Ledger.open(pg_url) as first, Ledger.open(pg_url) as second:
        io = LifecycleIO(client=None, ledger=second, panel=PANEL)  # refused before the panel is asked
        holder = f"({getpass.getuser()}@{socket.gethostname()}, pid {os.getpid()})"
        with first.hold_panel(PANEL, "refilled"):
            with pytest.raises(LedgerLocked) as err:
                refill_sheet(tmp_path / "weekly.xlsx", SheetOptions(), io, {})
            assert str(err.value) == (
                f"Orders of panel {PANEL} are being refilled by another bulkorders process {holder}. "
                "Wait for it to finish, or stop it, then rerun."
            )
            with pytest.raises(LedgerLocked, match="Orders of panel sandbox are being cancelled by another"):
                cancel_sheet(tmp_path / "weekly.xlsx", SheetOptions(), io, {}, confirm=lambda plan: True)
            with second.hold_panel("another-panel", "refilled"):  # panels lock separately
                pass
        with second.hold_panel(PANEL, "refilled"):  # released with the first holder's block
            pass


@pytest.mark.postgres
def test_the_report_reads_a_team_ledger_naming_it_without_its_password(pg_url):
    from bulkorders.errors import NothingToReport
    from bulkorders.report import ReportFilters, build_report, summary_figures

    with Ledger.open(pg_url) as ledger:
        with pytest.raises(NothingToReport) as err:
            build_report(ledger, ReportFilters())
        assert str(err.value) == (
            f"Nothing to report: the ledger {masked(pg_url)} has no orders or problem rows. No workbook was written."
        )
        campaign = ledger.campaign("weekly", PANEL)
        (row,) = ledger.sync_rows(campaign, planned_rows([payload("https://a")]))
        ledger.mark_sending([row.id], T0)
        ledger.mark_placed(row.id, "501", Decimal("0.0015"), "USD", T0)
        report = build_report(ledger, ReportFilters())
    assert report.ledger == masked(pg_url) and [o.order_id for o in report.orders] == ["501"]
    assert "pg-test-secret" not in json.dumps(summary_figures(report), default=str)


# --- several submit processes on one campaign -------------------------------------------------

ROWS = 2000
CONCURRENCY = 4
KEY = "team-test-key"


def write_sheet(path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["link", "service", "quantity"])
        writer.writerows([f"https://instagram.com/reel/team{i}", "1004", "100"] for i in range(ROWS))


@contextmanager
def four_submits(ledger_url: str, tmp_path: Path) -> Iterator[tuple[list[subprocess.Popen], Path]]:
    """Four `submit` processes of one 2,000-row campaign on the team ledger at `ledger_url`,
    against one `sandbox serve --latency 0.05`; (the processes, the sandbox's state file)."""
    state, sheet = tmp_path / "sandbox.jsonl", tmp_path / "team.csv"
    write_sheet(sheet)
    server, url = spawn("--state", str(state), "--latency", "0.05")
    try:
        yield start_submits(url, sheet, ledger_url, 4, tmp_path), state
    finally:
        server.terminate()
        server.wait(timeout=10)


def start_submits(url: str, sheet: Path, ledger_url: str, count: int, tmp_path: Path) -> list[subprocess.Popen]:
    env = {**os.environ, "BULKORDERS_API_KEY": KEY}
    Ledger.open(ledger_url).close()  # the schema, before anyone polls the tables
    return [
        subprocess.Popen(
            [sys.executable, "-m", "bulkorders", "--panel", url, "--ledger", ledger_url, "--json", "submit", str(sheet),
             "--yes", "--campaign", "team", "--concurrency", str(CONCURRENCY), "--out", str(tmp_path / f"out{n}.csv")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for n in range(count)
    ]


def sandbox_orders(state: Path) -> list:
    live = LiveSandbox(state)
    try:
        return list(live.state().orders.values())
    finally:
        live.close()


def team_rows(ledger_url: str) -> list:
    with Ledger.open(ledger_url) as ledger:
        return ledger.rows(ledger.find_campaign("team"))


def placed_by(ledger_url: str, pid: int) -> int:
    with psycopg.connect(ledger_url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM rows r JOIN runs u ON u.id = r.run_id WHERE u.pid = %s AND r.state = 'placed'",
            (pid,),
        ).fetchone()
    return found[0]


@pytest.mark.postgres
@pytest.mark.e2e
def test_four_submits_of_one_campaign_place_every_row_exactly_once(pg_url, tmp_path):
    with four_submits(pg_url, tmp_path) as (runs, state):
        results = [run.communicate(timeout=240) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], "\n---\n".join(err for _, err in results)
    docs = [json.loads(out) for out, _ in results]
    per_link = Counter(order.link for order in sandbox_orders(state))
    assert len(per_link) == ROWS and set(per_link.values()) == {1}  # every row once, none twice
    assert all(doc["placed_now"] > 0 for doc in docs)  # every process placed some
    assert sum(doc["placed_now"] for doc in docs) == ROWS
    assert all(0 < doc["placed_by_other_runs"] <= ROWS - doc["placed_now"] for doc in docs)
    rows = team_rows(pg_url)
    assert Counter(r.state for r in rows) == {"placed": ROWS}
    by_order = {str(order.id): order.link for order in sandbox_orders(state)}
    assert all(by_order[r.order_id] == r.link for r in rows)


@pytest.mark.postgres
@pytest.mark.e2e
def test_a_submit_killed_mid_run_leaves_its_rows_in_flight_uncertain_and_the_others_finish(pg_url, tmp_path):
    with four_submits(pg_url, tmp_path) as (runs, state):
        victim = runs[0]
        deadline = time.monotonic() + 60
        while placed_by(pg_url, victim.pid) < 50 and time.monotonic() < deadline:
            assert victim.poll() is None, "the victim ended before it could be killed"
            time.sleep(0.02)  # polling other processes: there is no clock to inject
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            in_flight = {r[0] for r in conn.execute(
                "SELECT r.id FROM rows r JOIN runs u ON u.id = r.run_id WHERE u.pid = %s AND r.state = 'sending'",
                (victim.pid,),
            )}  # fmt: skip
        results = [run.communicate(timeout=240) for run in runs[1:]]
    assert victim.returncode == -signal.SIGKILL
    expected = 1 if in_flight else 0  # 1: the dead run's rows in flight are uncertain
    assert [run.returncode for run in runs[1:]] == [expected] * 3, [err for _, err in results]
    assert len(in_flight) <= CONCURRENCY
    orders = sandbox_orders(state)
    per_link = Counter(order.link for order in orders)
    assert max(per_link.values()) == 1  # nothing twice
    rows = team_rows(pg_url)
    states = Counter(r.state for r in rows)
    assert set(states) <= {"placed", "uncertain"} and len(rows) == ROWS  # the others finished the campaign
    uncertain = {r.id for r in rows if r.state == "uncertain"}
    assert uncertain == in_flight  # exactly the dead run's rows in flight, decided after its death
    placed_links = {r.link for r in rows if r.state == "placed"}
    assert set(per_link) - placed_links <= {r.link for r in rows if r.id in uncertain}
    assert any("another bulkorders run of this campaign stopped" in err for _, err in results) == bool(in_flight)
