"""The ledger: file, schema and migrations, row identity, states, the campaign lock,
lifecycle records and the report's queries. Every test on the `ledger` fixture runs on both
engines: a SQLite file and a PostgreSQL database (a server the session starts itself)."""

from __future__ import annotations

import getpass
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import BOTH_ENGINES, planned_rows

from bulkorders.errors import ExitCode, LedgerError, LedgerLocked
from bulkorders.ledger.migrations import MIGRATIONS, migrate
from bulkorders.ledger.store import (
    Ledger,
    LedgerRow,
    OrderRecord,
    PlannedRow,
    assign_identities,
    row_identity,
    utc_now_iso,
)
from bulkorders.models import CancelResult, OrderStatus, RefillResult, RefillStatus

PANEL = "sandbox"
T0 = "2026-11-26T15:45:00Z"
T1 = "2026-11-26T15:46:00Z"
T2 = "2026-11-27T09:00:00Z"


def payload(link: str, service: str = "1001", quantity: str = "100", **fields: str) -> dict:
    return {"service": service, "link": link, "quantity": quantity, **fields}


@pytest.fixture(params=BOTH_ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def weekly(ledger):
    return ledger.campaign("weekly", PANEL, Path("weekly.xlsx"))


def place(ledger: Ledger, row: LedgerRow, order_id: str, charge: str = "0.09") -> None:
    ledger.mark_sending([row.id], T0)
    ledger.mark_placed(row.id, order_id, Decimal(charge), "USD", T0)


# --- the file ------------------------------------------------------------------------


def test_new_ledger_is_private_wal_and_versioned(tmp_path):
    path = tmp_path / "deep" / "er" / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        ledger.sync_rows(ledger.campaign("w", PANEL), planned_rows([payload("https://a")]))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        wal = Path(f"{path}-wal")
        assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 5
    conn.close()


def test_ledger_never_stores_the_key(ledger, weekly, ledger_location):
    row = payload("https://a", key="SECRET-KEY-123", action="add")
    (stored,) = ledger.sync_rows(weekly, planned_rows([row]))
    assert stored.payload == payload("https://a")
    assert row_identity(row, 1) == row_identity(payload("https://a"), 1)
    ledger.close()
    if ledger.engine == "postgresql":
        with Ledger.open(ledger_location) as again:
            dump = again._db.execute("SELECT payload, identity FROM rows").fetchall()
        assert "SECRET-KEY-123" not in repr(dump)
        return
    for file in ledger.path.parent.glob("ledger.sqlite*"):
        assert b"SECRET-KEY-123" not in file.read_bytes()


def test_a_first_release_ledger_migrates_keeping_everything(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, path, target=1)
    conn.execute(
        "INSERT INTO campaigns (id, name, panel, source_path, created_at) "
        "VALUES (1, 'weekly', 'sandbox', '/data/weekly.xlsx', ?)", (T0,)
    )
    conn.execute(
        "INSERT INTO rows (campaign_id, identity, excel_row, service, link, payload, estimate, "
        "state, order_id, charge, currency, created_at, sent_at, answered_at) VALUES "
        "(1, 'id1', 2, '1001', 'https://a', ?, '0.718', 'placed', '501', '0.718', 'USD', ?, ?, ?), "
        "(1, 'id2', 3, '1001', 'https://b', ?, '0.09', 'planned', NULL, NULL, NULL, ?, NULL, NULL)",
        ('{"service": "1001", "link": "https://a", "quantity": "798"}', T0, T0, T1,
         '{"service": "1001", "link": "https://b", "quantity": "100"}', T0),
    )
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()

    with Ledger.open(path) as ledger:
        campaign = ledger.find_campaign("weekly")
        assert campaign is not None and campaign.source_path == "/data/weekly.xlsx"
        rows = ledger.rows(campaign)
        assert [(r.identity, r.state, r.order_id) for r in rows] == [
            ("id1", "placed", "501"), ("id2", "planned", None),
        ]  # fmt: skip
        (order,) = ledger.order_records()
        assert order == OrderRecord(
            "sandbox", "501", "weekly", 2, "1001", "https://a", 798, Decimal("0.718"), "USD",
            None, None, None, None, None, None, None, T0, None,
        )  # fmt: skip
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_ledger_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    Ledger.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 9")
    conn.close()
    with pytest.raises(LedgerError) as err:
        Ledger.open(path)
    assert str(err.value) == (
        f"The ledger {path} was written by a newer bulkorders (schema 9; this version knows "
        "up to 5). Upgrade bulkorders to use it."
    )
    assert err.value.exit_code == ExitCode.PANEL


def test_files_that_are_not_ledgers_are_refused(tmp_path):
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.close()
    with pytest.raises(LedgerError, match="is an SQLite database but not a bulkorders ledger"):
        Ledger.open(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is a spreadsheet, honest" * 100)
    with pytest.raises(LedgerError, match="cannot be used as a bulkorders ledger"):
        Ledger.open(junk)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(LedgerError, match="Cannot open the ledger .*--ledger"):
        Ledger.open(blocked / "ledger.sqlite")


# --- identity ------------------------------------------------------------------------


def test_utc_now_iso_uses_the_clock():
    assert utc_now_iso(lambda: 1795707900.0) == T0
    assert utc_now_iso(lambda: 1795707900.9) == T0


def test_identity_is_stable_under_insert_sort_and_edit_of_other_rows():
    a, b = payload("https://a"), payload("https://b", quantity="500")
    sheet = [a, b, dict(a)]  # the third row repeats the first: two distinct orders
    ids = assign_identities(sheet)
    assert len(set(ids)) == 3
    assert ids == [row_identity(a, 1), row_identity(b, 1), row_identity(a, 2)]

    edited_b = payload("https://b", quantity="600")
    inserted = [payload("https://new"), a, edited_b, a]  # a row inserted on top, b edited
    new_ids = assign_identities(inserted)
    assert new_ids[1] == ids[0] and new_ids[3] == ids[2]
    assert new_ids[2] not in ids

    sorted_sheet = [b, a, a]
    assert set(assign_identities(sorted_sheet)) == set(ids)


def test_identity_normalises_content_but_not_meaning():
    base = payload("https://a", comments="nice\ngreat")
    same = {"comments": "  nice\r\n\r\ngreat ", " Link ": " https://a ", "quantity": "100",
            "service": "1001", "runs": ""}  # fmt: skip
    assert row_identity(same, 1) == row_identity(base, 1)
    assert row_identity(base, 2) != row_identity(base, 1)
    for change in ({"quantity": "101"}, {"service": "1002"}, {"link": "https://A"},
                   {"comments": "nice\ngreat\nwow"}, {"runs": "2", "interval": "5"}):  # fmt: skip
        assert row_identity({**base, **change}, 1) != row_identity(base, 1), change
    with pytest.raises(ValueError):
        row_identity(base, 0)


# --- campaigns and rows ----------------------------------------------------------------


def test_campaigns_are_got_or_created_per_panel(ledger, tmp_path):
    first = ledger.campaign("weekly", PANEL, tmp_path / "weekly.xlsx")
    assert ledger.campaign("weekly", PANEL) == first
    assert first.source_path == str(tmp_path / "weekly.xlsx")
    other = ledger.campaign("weekly", "https://panel.example/api/v2")
    assert other.id != first.id
    assert ledger.find_campaign("weekly", PANEL) == first
    assert ledger.find_campaign("monthly") is None
    with pytest.raises(LedgerError) as err:
        ledger.find_campaign("weekly")
    assert str(err.value) == (
        'Campaign "weekly" exists on several panels (https://panel.example/api/v2, sandbox): '
        "choose one with --panel."
    )
    updated = ledger.set_results_path(first, tmp_path / "weekly.results.xlsx", True)
    assert updated.results_path == str(tmp_path / "weekly.results.xlsx") and updated.needs_write
    assert ledger.campaigns() == [other, updated]


def test_sync_rows_inserts_new_rows_and_follows_moved_ones(ledger, weekly):
    a, b = payload("https://a"), payload("https://b")
    first = ledger.sync_rows(weekly, planned_rows([a, b]))
    assert [(r.excel_row, r.state, r.link) for r in first] == [(2, "planned", "https://a"),
                                                              (3, "planned", "https://b")]
    place(ledger, first[0], "9001")

    # sorted, and a row inserted at the top: the placed row keeps its state at its new row
    again = ledger.sync_rows(weekly, planned_rows([payload("https://c"), b, a]))
    assert [(r.link, r.excel_row, r.state) for r in again] == [
        ("https://c", 2, "planned"), ("https://b", 3, "planned"), ("https://a", 4, "placed"),
    ]  # fmt: skip
    assert again[2].id == first[0].id and again[2].order_id == "9001"
    assert again[1].id == first[1].id
    assert len(ledger.rows(weekly)) == 3
    with pytest.raises(ValueError):
        ledger.sync_rows(weekly, planned_rows([a]) * 2)


def test_decimals_round_trip_exactly(ledger, weekly):
    row = planned_rows([payload("https://a")])[0]
    exact = PlannedRow(row.identity, 2, "1001", "https://a", row.payload, Decimal("0.718"))
    (stored,) = ledger.sync_rows(weekly, [exact])
    assert stored.estimate == Decimal("0.718") and str(stored.estimate) == "0.718"
    place(ledger, stored, "77", charge="0.00010")
    (back,) = ledger.rows(weekly)
    assert str(back.charge) == "0.00010"
    assert str(ledger.orders(PANEL, ["77"])["77"].charge) == "0.00010"
    with pytest.raises(TypeError):
        ledger.mark_placed(back.id, "77", 0.1, "USD", T0)  # type: ignore[arg-type]


# --- states ----------------------------------------------------------------------------


def test_state_transitions_and_outcomes(ledger, weekly):
    rows = ledger.sync_rows(weekly, planned_rows([payload(f"https://{n}") for n in "abcd"]))
    ledger.mark_sending([r.id for r in rows], T0)
    ledger.mark_placed(rows[0].id, "501", Decimal("0.09"), "USD", T1)
    ledger.mark_rejected(rows[1].id, "Incorrect service ID", T1)
    ledger.mark_uncertain(rows[2].id, "timeout after sending", T1)
    got = {r.link: r for r in ledger.rows(weekly)}
    assert [(r.state, r.order_id, r.error, r.sent_at, r.answered_at) for r in got.values()] == [
        ("placed", "501", None, T0, T1),
        ("rejected", None, "Incorrect service ID", T0, T1),
        ("uncertain", None, "timeout after sending", T0, T1),
        ("sending", None, None, T0, None),
    ]  # fmt: skip
    assert got["https://a"].charge == Decimal("0.09") and got["https://a"].currency == "USD"

    # --resend-uncertain puts the uncertain row back; a late answer for it still counts
    ledger.mark_planned([rows[2].id])
    assert ledger.rows(weekly)[2].state == "planned"
    ledger.mark_sending([rows[2].id], T2)
    ledger.mark_uncertain(rows[2].id, "connection dropped", T2)
    ledger.mark_placed(rows[2].id, "503", Decimal("0.09"), "USD", T2)
    assert ledger.rows(weekly)[2].state == "placed"


def test_state_counts_and_a_page_of_rows_read_only_what_they_show(ledger, weekly):
    rows = ledger.sync_rows(weekly, planned_rows([payload(f"https://{n}") for n in "abcdef"]))
    other = ledger.campaign("other", PANEL)
    ledger.sync_rows(other, planned_rows([payload("https://z")]))
    for row in rows[:3]:
        place(ledger, row, f"60{row.excel_row}")
    ledger.mark_sending([rows[3].id], T0)
    ledger.mark_rejected(rows[3].id, "Incorrect service ID", T1)
    assert ledger.state_counts(weekly) == {"placed": 3, "planned": 2, "rejected": 1}
    assert ledger.state_counts(ledger.campaign("empty", PANEL)) == {}
    assert ledger.rows_page(weekly, offset=2, limit=3) == ledger.rows(weekly)[2:5]
    assert [r.link for r in ledger.rows_page(weekly, state="placed", offset=1, limit=5)] == ["https://b", "https://c"]
    assert ledger.rows_page(weekly, state="uncertain") == []


def test_rows_in_batches_are_the_rows_a_few_at_a_time(ledger, weekly):
    # Rows sharing an Excel row (an edited row's earlier order) keep their order across a batch edge.
    rows = ledger.sync_rows(weekly, planned_rows([payload(f"https://{n}") for n in "abcdefg"]))
    place(ledger, rows[0], "700")
    ledger.sync_rows(weekly, planned_rows([payload("https://edited"), *[payload(f"https://{n}") for n in "bcdefg"]]))
    ledger.sync_rows(ledger.campaign("other", PANEL), planned_rows([payload("https://z")]))
    batches = list(ledger.rows_in_batches(weekly, size=3))
    assert [len(batch) for batch in batches] == [3, 3, 2]
    assert [row for batch in batches for row in batch] == ledger.rows(weekly)
    assert [row.excel_row for row in batches[0]] == [2, 2, 3]
    assert list(ledger.rows_in_batches(weekly, size=8)) == [ledger.rows(weekly)]
    assert list(ledger.rows_in_batches(ledger.campaign("empty", PANEL))) == []
    # The ledger is free between batches: the caller may read or write it meanwhile.
    for batch in ledger.rows_in_batches(weekly, size=2):
        ledger.state_counts(weekly)


def test_refused_transitions_change_nothing(ledger, weekly):
    rows = ledger.sync_rows(weekly, planned_rows([payload("https://a"), payload("https://b")]))
    place(ledger, rows[0], "501")
    with pytest.raises(LedgerError) as err:
        ledger.mark_sending([rows[1].id, rows[0].id], T1)
    assert str(err.value) == (
        f"Ledger rows {rows[0].id} (placed) cannot become sending: only planned, uncertain or rejected rows can. "
        "Nothing was changed or sent. This is a bug in bulkorders; please report it."
    )
    assert [r.state for r in ledger.rows(weekly)] == ["placed", "planned"]  # all or nothing
    ledger.mark_sending([rows[1].id], T1)
    with pytest.raises(LedgerError, match=rf"rows {rows[1].id} \(sending\) cannot become sending"):
        ledger.mark_sending([rows[1].id], T1)  # never two requests for one row
    ledger.mark_uncertain(rows[1].id, "timeout", T1)
    ledger.mark_planned([rows[1].id])
    for refused in (
        lambda: ledger.mark_uncertain(rows[0].id, "timeout", T1),
        lambda: ledger.mark_rejected(rows[0].id, "late error", T1),
        lambda: ledger.mark_rejected(rows[1].id, "never sent", T1),
        lambda: ledger.mark_planned([rows[0].id]),
    ):
        with pytest.raises(LedgerError):
            refused()
    assert [(r.state, r.error) for r in ledger.rows(weekly)] == [
        ("placed", None), ("planned", None),
    ]  # fmt: skip


def test_resend_and_unsend_are_single_steps(ledger, weekly):
    """An uncertain row is resent in one commit (no planned window a crash could leave), and a
    row the panel surely did not place (no funds, refused key) goes straight back to planned."""
    a, b = ledger.sync_rows(weekly, planned_rows([payload("https://a"), payload("https://b")]))
    ledger.mark_sending([a.id, b.id], T1)
    ledger.mark_uncertain(a.id, "timeout", T1)
    ledger.mark_sending([a.id], T1)  # --resend-uncertain
    ledger.mark_planned([b.id])  # not enough funds: never placed
    assert [(r.state, r.error) for r in ledger.rows(weekly)] == [("sending", None), ("planned", None)]
    ledger.mark_rejected(a.id, "You have active order with this link.", T1)
    ledger.mark_sending([a.id], T1)  # --retry-rejected: the panel refused it, so it is not placed
    ledger.mark_placed(a.id, "777", Decimal("0.09"), "USD", T1)
    with pytest.raises(LedgerError, match=rf"rows {a.id} \(placed\) cannot become sending"):
        ledger.mark_sending([a.id], T1)


def test_an_order_for_an_already_placed_row_is_kept_and_flagged(ledger, weekly):
    (row,) = ledger.sync_rows(weekly, planned_rows([payload("https://a")]))
    place(ledger, row, "501")
    ledger.mark_placed(row.id, "501", Decimal("0.09"), "USD", T1)  # the same answer again: no-op
    assert ledger.rows(weekly)[0].error is None
    ledger.mark_placed(row.id, "502", Decimal("0.09"), "USD", T1)
    (after,) = ledger.rows(weekly)
    assert (after.order_id, after.error) == ("501", "ordered twice: orders 501 and 502")
    assert set(ledger.orders(PANEL, ["501", "502"])) == {"501", "502"}


def test_recover_sending_after_a_crash(ledger_location, engine):
    ledger = Ledger.open(ledger_location)
    campaign = ledger.campaign("weekly", PANEL)
    rows = ledger.sync_rows(campaign, planned_rows([payload(f"https://{n}") for n in "abc"]))
    assert ledger.mark_sending([rows[0].id, rows[1].id], T0) == [rows[0].id, rows[1].id]
    ledger.mark_placed(rows[0].id, "501", Decimal("0.09"), "USD", T0)
    if engine == "postgresql":
        # The database knows the first run still lives: its in-flight row is left alone...
        with Ledger.open(ledger_location) as again:
            assert again.recover_sending(campaign) == []
        ledger._db.conn.close()  # ...until its session ends, as when its process is killed
    # the process dies here: no close, the next process opens the ledger
    with Ledger.open(ledger_location) as again:
        recovered = again.recover_sending(campaign)
        assert [(r.id, r.state) for r in recovered] == [(rows[1].id, "uncertain")]
        assert recovered[0].error.startswith("bulkorders stopped before the panel answered")
        assert [r.state for r in again.rows(campaign)] == ["placed", "uncertain", "planned"]
        assert again.recover_sending(campaign) == []
    ledger.close()


def test_each_run_is_recorded_with_its_operator_and_the_rows_it_claimed(ledger, ledger_location, weekly):
    a, b = ledger.sync_rows(weekly, planned_rows([payload("https://a"), payload("https://b")]))
    ledger.mark_sending([a.id], T0)
    with Ledger.open(ledger_location, command="submit") as other:
        assert other.run_id is None  # nothing changed yet: no run
        assert other.mark_sending([a.id, b.id], T1) == [b.id]  # a is the first run's
        runs = other._db.execute("SELECT id, operator, host, pid, command FROM runs ORDER BY id").fetchall()
        claimed = dict(other._db.execute("SELECT id, run_id FROM rows").fetchall())
    assert [tuple(r[1:]) for r in runs] == [
        (getpass.getuser(), socket.gethostname(), os.getpid(), "bulkorders"),
        (getpass.getuser(), socket.gethostname(), os.getpid(), "submit"),
    ]  # fmt: skip
    assert [r[0] for r in runs] == [ledger.run_id, other.run_id]
    assert claimed == {a.id: ledger.run_id, b.id: other.run_id}


def test_together_is_one_transaction_kept_whole_or_not_at_all(ledger, ledger_location, weekly):
    a, b, c = ledger.sync_rows(weekly, planned_rows([payload(f"https://{n}") for n in "abc"]))
    with Ledger.open(ledger_location) as other:
        with ledger.together():
            assert ledger.mark_sending([a.id, b.id], T0) == [a.id, b.id]
            ledger.mark_placed(a.id, "501", Decimal("0.09"), "USD", T1)
            assert ledger.rows(weekly)[0].state == "placed"  # this ledger sees its own changes
            assert [r.state for r in other.rows(weekly)] == ["planned"] * 3  # others: not yet
        assert [r.state for r in other.rows(weekly)] == ["placed", "sending", "planned"]

        with pytest.raises(LedgerError, match="cannot become sending"):
            with ledger.together():
                ledger.mark_placed(b.id, "502", Decimal("0.09"), "USD", T1)
                ledger.mark_sending([c.id, a.id], T1)  # a is placed by this run: a bug, refused
        assert [r.state for r in other.rows(weekly)] == ["placed", "sending", "planned"]  # none of it

        with pytest.raises(KeyboardInterrupt):
            with ledger.together():
                ledger.mark_placed(b.id, "502", Decimal("0.09"), "USD", T1)
                raise KeyboardInterrupt  # Ctrl-C between two changes: the ones made are kept
        assert [r.state for r in other.rows(weekly)] == ["placed", "placed", "planned"]


def test_rows_with_an_order_id_in_the_sheet_count_as_placed(ledger, weekly):
    rows = ledger.sync_rows(weekly, planned_rows([payload("https://a", quantity="250")]))
    ledger.record_existing_orders(weekly, [(rows[0].id, "4242")], T0)
    (row,) = ledger.rows(weekly)
    assert (row.state, row.order_id, row.charge) == ("placed", "4242", None)
    order = ledger.orders(PANEL, ["4242"])["4242"]
    assert (order.campaign, order.excel_row, order.quantity) == ("weekly", 2, 250)
    assert order.charge is None and order.submitted_at is None


def test_worker_threads_share_one_ledger(ledger, weekly):
    rows = ledger.sync_rows(weekly, planned_rows([payload(f"https://x/{n}") for n in range(400)]))

    def work(chunk: list[LedgerRow]) -> None:
        for row in chunk:
            ledger.mark_sending([row.id], T0)
            ledger.mark_placed(row.id, f"o{row.id}", Decimal("0.09"), "USD", T1)

    threads = [threading.Thread(target=work, args=(rows[n::8],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {r.state for r in ledger.rows(weekly)} == {"placed"}
    assert len(ledger.order_records()) == 400


# --- the campaign lock ------------------------------------------------------------------


def locked_message(pid: int, engine: str = "sqlite") -> str:
    holder = f"pid {pid}" if engine == "sqlite" else f"{getpass.getuser()}@{socket.gethostname()}, pid {pid}"
    return (
        f'Campaign "weekly" is being submitted by another bulkorders process ({holder}). '
        "Wait for it to finish, or stop it, then rerun."
    )


def test_a_second_holder_in_the_same_process_is_refused(ledger, weekly, ledger_location, engine):
    with Ledger.open(ledger_location) as other:
        with ledger.lock(weekly):
            with pytest.raises(LedgerLocked) as err:
                with other.lock(weekly):
                    pass
            assert str(err.value) == locked_message(os.getpid(), engine)
            assert err.value.exit_code == ExitCode.PANEL
        with other.lock(weekly):  # released when the first holder is done
            pass
    other_campaign = ledger.campaign("monthly", PANEL)
    with ledger.lock(weekly), ledger.lock(other_campaign):  # campaigns lock separately
        pass


HOLDER = textwrap.dedent(
    """
    import sys
    from bulkorders.ledger.store import Ledger
    ledger = Ledger.open(sys.argv[1])
    with ledger.lock(ledger.campaign("weekly", "sandbox")):
        print("locked", flush=True)
        sys.stdin.readline()
    """
)
TRYER = textwrap.dedent(
    """
    import sys
    from bulkorders.errors import LedgerLocked
    from bulkorders.ledger.store import Ledger
    ledger = Ledger.open(sys.argv[1])
    try:
        with ledger.lock(ledger.campaign("weekly", "sandbox")):
            print("got it")
    except LedgerLocked as exc:
        print(exc)
    """
)


def test_the_lock_holds_across_processes_and_dies_with_its_holder(ledger, weekly, ledger_location, engine):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(ledger_location)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LedgerLocked) as err:
            with ledger.lock(weekly):
                pass
        assert str(err.value) == locked_message(holder.pid, engine)
    finally:
        holder.send_signal(signal.SIGKILL)  # kill -9: no cleanup runs in the holder
        holder.wait(timeout=30)
    with ledger.lock(weekly):
        tryer = subprocess.run(
            [sys.executable, "-c", TRYER, str(ledger_location)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert tryer.stdout.strip() == locked_message(os.getpid(), engine)
    tryer = subprocess.run(
        [sys.executable, "-c", TRYER, str(ledger_location)], capture_output=True, text=True, timeout=60
    )
    assert tryer.stdout.strip() == "got it"


# --- lifecycle ------------------------------------------------------------------------------


@pytest.fixture
def placed(ledger, weekly):
    rows = ledger.sync_rows(weekly, planned_rows([payload("https://a"), payload("https://b")]))
    place(ledger, rows[0], "501")
    place(ledger, rows[1], "502")
    return rows


def test_statuses_update_orders_and_keep_the_history(ledger, placed):
    ledger.record_statuses(PANEL, [
        OrderStatus("501", "In progress", Decimal("0.09"), "USD", 10, 60),
        OrderStatus("502", error="Incorrect order ID"),
        OrderStatus("999", "Completed", Decimal("1.5"), "USD", 0, 0),  # not placed by us
        OrderStatus("404", error="Incorrect order ID"),  # no such order: history only
    ], T1)  # fmt: skip
    ledger.record_statuses(PANEL, [OrderStatus("501", "Partial", Decimal("0.072"), "USD", 10, 20)], T2)
    found = ledger.orders(PANEL, ["501", "502", "999", "404"])
    assert set(found) == {"501", "502", "999"}
    assert found["501"] == OrderRecord(
        PANEL, "501", "weekly", 2, "1001", "https://a", 100, Decimal("0.072"), "USD", "Partial",
        10, 20, None, None, None, None, T0, T2,
    )  # fmt: skip
    assert (found["502"].status, found["502"].error, found["502"].charge) == (
        None, "Incorrect order ID", Decimal("0.09")
    )  # fmt: skip
    unknown = found["999"]
    assert (unknown.campaign, unknown.excel_row, unknown.status) == (None, None, "Completed")
    history = ledger.observations(order_ids=["501"])
    assert [(h["kind"], h["at"], h["data"]["status"], h["data"]["charge"]) for h in history] == [
        ("status", T1, "In progress", Decimal("0.09")),
        ("status", T2, "Partial", Decimal("0.072")),
    ]  # fmt: skip
    assert history[0]["campaign"] == "weekly" and history[0]["panel"] == PANEL
    (missing,) = ledger.observations(order_ids=["404"])
    assert (missing["campaign"], missing["data"]["error"]) == (None, "Incorrect order ID")


def test_refills_and_cancels_are_recorded(ledger, placed):
    ledger.record_refills(PANEL, [RefillResult("501", refill="71"),
                                  RefillResult("502", error="Refill not allowed")], T1)  # fmt: skip
    ledger.record_refill_statuses(PANEL, [("501", RefillStatus("71", status="Pending"))], T1)
    ledger.record_refill_statuses(PANEL, [("501", RefillStatus("71", status="Completed"))], T2)
    ledger.record_cancels(PANEL, [CancelResult("502", cancel="88")], T2)
    ledger.record_cancels(PANEL, [CancelResult("501", error="Cancel not allowed"),
                                  CancelResult("777", lost=True)], T2)  # fmt: skip
    found = ledger.orders(PANEL, ["501", "502", "777"])
    assert set(found) == {"501", "502"}
    assert (found["501"].refill_id, found["501"].refill_status) == ("71", "Completed")
    # cancel_result says in words what the panel answered; error keeps the panel's text
    assert (found["501"].cancel_result, found["501"].error) == ("refused: Cancel not allowed", "Cancel not allowed")
    assert (found["502"].refill_id, found["502"].cancel_result, found["502"].error) == (
        None, "requested", None
    )  # fmt: skip
    assert "777" not in found  # a lost answer about an unknown order adds no order
    ledger.record_cancels(PANEL, [CancelResult("502", lost=True)], T2)
    again = ledger.orders(PANEL, ["502"])["502"]
    assert (again.cancel_result, again.error) == (
        "requested", "the panel's answer was lost: check the panel, then ask again"
    )  # fmt: skip
    kinds = [(h["order_id"], h["kind"]) for h in ledger.observations()]
    assert kinds == [
        ("501", "refill"), ("502", "refill"), ("501", "refill_status"), ("501", "refill_status"),
        ("502", "cancel"), ("501", "cancel"), ("777", "cancel"), ("502", "cancel"),
    ]  # fmt: skip
    # a new refill makes the old refill status unknown again
    ledger.record_refills(PANEL, [RefillResult("501", refill="72")], T2)
    assert ledger.orders(PANEL, ["501"])["501"].refill_status is None


def test_a_refill_the_panel_does_not_know_is_not_adopted(ledger, placed):
    # A mistyped refill id in a sheet: "Refill not found" must not become the order's refill.
    ledger.record_refill_statuses(PANEL, [("501", RefillStatus("777", error="Refill not found"))], T1)
    found = ledger.orders(PANEL, ["501"])["501"]
    assert (found.refill_id, found.refill_status, found.error) == (None, None, "Refill not found")
    # A refill the panel does know (made elsewhere) is adopted with its status.
    ledger.record_refill_statuses(PANEL, [("501", RefillStatus("71", status="In progress"))], T2)
    found = ledger.orders(PANEL, ["501"])["501"]
    assert (found.refill_id, found.refill_status, found.error) == ("71", "In progress", None)
    # and an error about another refill id later does not replace it
    ledger.record_refill_statuses(PANEL, [("501", RefillStatus("778", error="Refill not found"))], T2)
    assert ledger.orders(PANEL, ["501"])["501"].refill_id == "71"


# --- the report's queries -------------------------------------------------------------------


def test_report_queries_filter_by_campaign_time_panel_and_ids(ledger, weekly):
    monthly = ledger.campaign("monthly", "other-panel")
    w = ledger.sync_rows(weekly, planned_rows([payload("https://a"), payload("https://b")]))
    m = ledger.sync_rows(monthly, planned_rows([payload("https://c"), payload("https://d")]))
    place(ledger, w[0], "1")
    ledger.mark_sending([w[1].id], T0)
    ledger.mark_rejected(w[1].id, "Incorrect service ID", T0)
    ledger.mark_sending([m[0].id, m[1].id], T2)
    ledger.mark_placed(m[0].id, "2", Decimal("1"), "USD", T2)
    ledger.mark_uncertain(m[1].id, "timeout", T2)
    ledger.record_statuses(PANEL, [OrderStatus("1", "Completed")], T1)
    ledger.record_statuses("other-panel", [OrderStatus("2", "Pending")], T2)

    def ids(**filters: object) -> list[str]:
        return [o.order_id for o in ledger.order_records(**filters)]

    assert ids() == ["1", "2"]
    assert ids(campaigns=["monthly"]) == ["2"]
    assert ids(campaigns=["weekly", "monthly"]) == ["1", "2"]
    assert ids(panel=PANEL) == ["1"]
    assert ids(since="2026-11-27") == ["2"]
    assert ids(until="2026-11-26") == ["1"]  # a date includes its whole day
    assert ids(until="2026-11-26T15:44:59Z") == []
    assert ids(order_ids=["2", "3"]) == ["2"]
    assert ids(campaigns=["weekly"], order_ids=["2"]) == []

    problems = ledger.problem_rows()
    assert [(name, r.state, r.error) for name, r in problems] == [
        ("monthly", "uncertain", "timeout"), ("weekly", "rejected", "Incorrect service ID"),
    ]  # fmt: skip
    assert [n for n, _ in ledger.problem_rows(campaigns=["weekly"])] == ["weekly"]
    assert [n for n, _ in ledger.problem_rows(until="2026-11-26")] == ["weekly"]
    assert [n for n, _ in ledger.problem_rows(panel="other-panel")] == ["monthly"]

    assert [o["order_id"] for o in ledger.observations()] == ["1", "2"]
    assert [o["order_id"] for o in ledger.observations(campaigns=["monthly"])] == ["2"]
    assert [o["order_id"] for o in ledger.observations(since=T2)] == ["2"]
    assert [o["order_id"] for o in ledger.observations(panel=PANEL)] == ["1"]

