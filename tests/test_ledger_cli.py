"""Where the ledger is (a file or a postgresql:// URL, the password never shown), `ledger info`
and `ledger migrate --to`: copied, merged by identity, verified, nothing twice."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import BOTH_ENGINES, FakeClock, bulkorders, planned_rows, sandbox_client

from bulkorders.clock import utc_now_iso
from bulkorders.ledger import BalanceReading, balance_readings, order_columns, record_balance, record_row_columns
from bulkorders.ledger.location import LedgerLocation, is_url, mask_url
from bulkorders.ledger.store import Ledger
from bulkorders.settings import load_settings

DAY = 1_764_000_000.0  # 2025-11-24T16:00:00Z
PANEL = "sandbox"
SECRET = "s3cr3t-pw"


# --- where the ledger is -------------------------------------------------------------------


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://bob:s3cr3t-pw@db:5432/camp?sslmode=require", "postgresql://bob:***@db:5432/camp?sslmode=require"),
    ("postgres://bob:s3cr3t-pw@db/camp", "postgres://bob:***@db/camp"),
    ("postgresql://bob:s3/cr@3t-pw@db/camp", "postgresql://bob:***@db/camp"),  # unencoded / and @
    ("postgresql://bob@db/camp?password=s3cr3t-pw&sslmode=verify-full",
     "postgresql://bob@db/camp?password=***&sslmode=verify-full"),
    ("postgresql://db/camp?sslmode=require&PASSWORD=s3cr3t-pw", "postgresql://db/camp?sslmode=require&PASSWORD=***"),
    ("postgresql://bob@db:5432/camp", "postgresql://bob@db:5432/camp"),  # no password: nothing to mask
    ("postgresql:///camp?host=/run/postgresql", "postgresql:///camp?host=/run/postgresql"),
])  # fmt: skip
def test_a_url_is_shown_with_its_password_masked(url, shown):
    assert is_url(url)
    location = LedgerLocation.parse(url)
    assert (location.shown, str(location), mask_url(url)) == (shown, shown, shown)
    assert SECRET not in repr(location) and location.target == url  # the URL itself goes to the engine
    assert location.scrub(f"server said: {SECRET} is wrong") == (
        "server said: *** is wrong" if SECRET in url else f"server said: {SECRET} is wrong"
    )
    assert (location.engine, location.path, location.may_exist()) == ("postgresql", None, True)


def test_a_path_is_a_file_ledger(tmp_path, isolated_user_dirs):
    location = LedgerLocation.parse("~/team/ledger.sqlite")
    assert not is_url("~/team/ledger.sqlite")
    assert location.path == isolated_user_dirs / "team" / "ledger.sqlite"
    assert (location.engine, location.target, location.shown) == ("sqlite", location.path, str(location.path))
    assert not location.may_exist()


def test_the_ledger_from_the_option_the_environment_or_the_config_file(tmp_path):
    url = f"postgresql://bob:{SECRET}@db/camp"
    config = tmp_path / "config.toml"
    config.write_text('ledger = "postgres://team@db.example/agency?sslmode=require"\n')
    assert load_settings(ledger=url).ledger.text == url
    assert load_settings(config=config).ledger.shown == "postgres://team@db.example/agency?sslmode=require"
    assert load_settings(config=config, ledger=tmp_path / "own.sqlite").ledger.path == tmp_path / "own.sqlite"
    chosen = bulkorders("--ledger", "mysql://bob:s3cr3t-pw@db/camp", "ledger", "info")
    assert chosen.exit_code == 3
    assert chosen.stderr == (
        "Error: --ledger (BULKORDERS_LEDGER): mysql://bob:***@db/camp is not a ledger bulkorders can use. "
        "Give a file path (SQLite) or a postgresql://user@host:5432/database URL (a team ledger).\n"
    )
    by_env = bulkorders("ledger", "info", env={"BULKORDERS_LEDGER": str(tmp_path / "env.sqlite")})
    assert by_env.exit_code == 0 and by_env.stdout.startswith(f"Ledger:  {tmp_path / 'env.sqlite'}\n")
    config.write_text("ledger = 5\n")
    wrong = bulkorders("--config", str(config), "ledger", "info")
    assert wrong.exit_code == 3
    assert wrong.stderr == (
        f'Error: {config}: ledger must be a file path or a postgresql:// URL, e.g. ledger = "~/ledger.sqlite".\n'
    )


# --- ledgers to look at and copy ------------------------------------------------------------


def place(ledger: Ledger, client, clock: FakeClock, name: str, links: list[tuple[str, str, str]]) -> list[str]:
    """What submit does for each row: intent, send, outcome; the sheet's `client` column kept."""
    campaign = ledger.campaign(name, PANEL, Path(f"{name}.xlsx"))
    payloads = [{"service": s, "link": link, "quantity": q} for link, s, q in links]
    rows = ledger.sync_rows(campaign, planned_rows(payloads, estimate=Decimal("0.5")))
    record_row_columns(ledger, [(row.id, {"client": f"client-{row.excel_row}"}) for row in rows])
    placed = []
    for row in rows:
        at = utc_now_iso(clock)
        ledger.mark_sending([row.id], at)
        answer = client.add(row.payload)
        if answer.order:
            ledger.mark_placed(row.id, answer.order, row.estimate, "USD", at)
            placed.append(answer.order)
        else:
            ledger.mark_rejected(row.id, answer.error or "", at)
    return placed


SPRING = [("https://instagram.com/a", "1001", "100"), ("https://instagram.com/b", "1002", "250"),
          ("https://instagram.com/c", "1001", "5")]  # the last one below the minimum: rejected  # fmt: skip
SUMMER = [("https://tiktok.com/@a", "1005", "100"), ("https://tiktok.com/@b", "1005", "200")]


@pytest.fixture
def source(tmp_path) -> Path:
    """Two campaigns: spring (2 placed, 1 rejected, statuses checked), summer (2 placed)."""
    clock = FakeClock(DAY)
    path = tmp_path / "mine.sqlite"
    client = sandbox_client(tmp_path / "sb.jsonl", clock=clock)
    with Ledger.open(path, clock=clock) as ledger:
        spring = place(ledger, client, clock, "spring", SPRING)
        clock.now += 60
        ledger.record_statuses(PANEL, list(client.statuses(spring).values()), utc_now_iso(clock))
        place(ledger, client, clock, "summer", SUMMER)
        record_balance(ledger, BalanceReading(PANEL, utc_now_iso(clock), Decimal("990.25"), "USD", "balance"))
    client.close()
    return path


@pytest.fixture(params=BOTH_ENGINES)
def target(request, tmp_path) -> str:
    """The ledger to copy into: a new file, or a new, empty team database."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "team.sqlite")


def shown(location: str | Path) -> str:
    return LedgerLocation.parse(location).shown


def states(path: Path | str) -> dict[tuple[str, str | None], tuple[str, str | None]]:
    """(campaign, link) -> (state, order id) of every row of the ledger at `path`."""
    with Ledger.open(path) as ledger:
        return {(c.name, r.link): (r.state, r.order_id) for c in ledger.campaigns() for r in ledger.rows(c)}


# --- ledger info ----------------------------------------------------------------------------


def test_info_says_where_the_ledger_is_its_engine_schema_and_counts(source):
    result = bulkorders("--ledger", str(source), "ledger", "info")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Ledger:  {source}\n"
        "Engine:  sqlite\n"
        "Schema:  version 5\n"
        "Campaigns:        2\n"
        "Rows:             5 (placed 4, rejected 1)\n"
        "Orders:           4\n"
        "Observations:     2\n"
        "Balance readings: 1\n"
        "Runs:             1\n"
    )
    as_json = json.loads(bulkorders("--ledger", str(source), "--json", "ledger", "info").stdout)
    assert as_json == {
        "ledger": str(source), "engine": "sqlite", "exists": True, "schema": 5,
        "counts": {"campaigns": 2, "rows": 5, "orders": 4, "observations": 2, "balance_readings": 1, "runs": 1},
        "rows_by_state": {"planned": 0, "sending": 0, "placed": 4, "rejected": 1, "uncertain": 0},
    }  # fmt: skip


def test_info_on_a_ledger_file_not_there_yet_creates_none(tmp_path):
    missing = tmp_path / "none.sqlite"
    result = bulkorders("--ledger", str(missing), "ledger", "info")
    assert result.exit_code == 0
    assert result.stdout == (
        f"Ledger:  {missing}\nEngine:  sqlite\nThere is no ledger here yet: submit creates it, or "
        f"`bulkorders ledger migrate --to {missing}` copies one here.\n"
    )
    assert json.loads(bulkorders("--ledger", str(missing), "--json", "ledger", "info").stdout) == {
        "ledger": str(missing), "engine": "sqlite", "exists": False,
    }  # fmt: skip
    assert not missing.exists()


@pytest.mark.postgres
def test_info_on_a_new_team_database_creates_its_schema(pg_url):
    import psycopg

    result = bulkorders("--ledger", pg_url, "ledger", "info")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Ledger:  {shown(pg_url)}\nEngine:  postgresql\nSchema:  version 5\nCampaigns:        0\n"
        "Rows:             0\nOrders:           0\nObservations:     0\nBalance readings: 0\nRuns:             0\n"
    )
    with psycopg.connect(pg_url) as conn:  # the schema is there, created by that one command
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )}  # fmt: skip
    assert {"campaigns", "rows", "orders", "observations", "balance_readings", "row_columns", "runs"} <= tables


# --- ledger migrate -------------------------------------------------------------------------


def without_runs(rows: list) -> list:
    return [(name, replace(row, run_id=None)) for name, row in rows]


def runs_of(ledger: Ledger, rows: list) -> list:
    """The run each row was claimed by, as its operator, host, pid, command and start."""
    query = "SELECT operator, host, pid, command, started_at FROM runs WHERE id = ?"
    return [ledger._db.execute(query, (row.run_id,)).fetchone() if row.run_id else None for _, row in rows]


def test_migrate_copies_everything_into_a_new_ledger_and_verifies(source, target, tmp_path):
    result = bulkorders("--ledger", str(source), "ledger", "migrate", "--to", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Copied 2 campaigns, 5 rows, 4 orders, 2 observations, 1 balance reading, 1 run from {source} into {shown(target)}.\n"
        f"Verified: {shown(target)} now holds 2 campaigns, 5 rows, 4 orders, 2 observations, 1 balance reading, 2 runs.\n"
    )  # the runs: the one that placed the orders, and this copy
    assert states(target) == states(source)
    with Ledger.open(source) as mine, Ledger.open(target) as team:
        assert team.order_records() == mine.order_records()  # orders linked to the same campaign and row
        assert team.observations() == mine.observations()
        # a new target: the same ids, in the same order; each row's run remapped to the copy of its run
        assert without_runs(team.problem_rows()) == without_runs(mine.problem_rows())
        assert runs_of(team, team.problem_rows()) == runs_of(mine, mine.problem_rows())
        assert order_columns(team) == order_columns(mine)
        assert balance_readings(team) == balance_readings(mine)
    again = bulkorders("--ledger", str(source), "ledger", "migrate", "--to", str(target))
    assert again.exit_code == 0
    assert again.stdout == (
        f"Nothing to copy: {shown(target)} already holds everything of {source}.\n"
        f"Verified: {shown(target)} now holds 2 campaigns, 5 rows, 4 orders, 2 observations, 1 balance reading, 2 runs.\n"
    )  # not even a run of its own
    assert states(target) == states(source)


def test_migrate_merges_by_identity_and_keeps_the_further_state(source, target, tmp_path):
    """The team ledger already holds spring: row a planned there (placed here: it moves on),
    b placed there under its own order (kept), c uncertain there (rejected here: the order may
    exist, so it stays uncertain), d only there. Summer is new to it."""
    payloads = [{"service": s, "link": link, "quantity": q} for link, s, q in SPRING]
    payloads.append({"service": "1001", "link": "https://instagram.com/d", "quantity": "300"})
    with Ledger.open(target) as team:
        spring = team.campaign("spring", PANEL)
        a, b, c, d = team.sync_rows(spring, planned_rows(payloads, estimate=Decimal("0.5")))
        team.mark_sending([b.id, c.id, d.id], "2025-11-24T10:00:00Z")
        team.mark_placed(b.id, "T-77", Decimal("0.25"), "USD", "2025-11-24T10:00:01Z")
        team.mark_uncertain(c.id, "the connection dropped", "2025-11-24T10:00:01Z")
        team.mark_placed(d.id, "T-78", Decimal("0.30"), "USD", "2025-11-24T10:00:01Z")
    mine = states(source)
    result = bulkorders("--ledger", str(source), "ledger", "migrate", "--to", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Copied 1 campaign (1 more already there), 2 rows (3 more already there), 4 orders, 2 observations, "
        f"1 balance reading, 1 run from {source} into {shown(target)}.\n"
        "1 row of the target took the further state the source had.\n"
        f"Verified: {shown(target)} now holds 2 campaigns, 6 rows, 6 orders, 2 observations, 1 balance reading, 3 runs.\n"
    )
    held = states(target)
    link = "https://instagram.com/"
    assert held[("spring", link + "a")] == mine[("spring", link + "a")] and held[("spring", link + "a")][0] == "placed"
    assert held[("spring", link + "b")] == ("placed", "T-77")
    assert held[("spring", link + "c")] == ("uncertain", None)
    assert held[("spring", link + "d")] == ("placed", "T-78")
    assert {k: v for k, v in held.items() if k[0] == "summer"} == {k: v for k, v in mine.items() if k[0] == "summer"}
    with Ledger.open(target) as team:
        by_order = {o.order_id: o for o in team.order_records()}
    source_b = mine[("spring", link + "b")][1]
    assert (by_order[source_b].campaign, by_order[source_b].excel_row) == ("spring", 3)  # b's second order
    assert (by_order["T-77"].campaign, by_order["T-77"].excel_row) == ("spring", 3)


def test_a_second_migrate_copies_only_what_is_new(source, target, tmp_path):
    assert bulkorders("--ledger", str(source), "ledger", "migrate", "--to", str(target)).exit_code == 0
    clock = FakeClock(DAY + 3600)
    client = sandbox_client(tmp_path / "sb.jsonl", clock=clock)
    with Ledger.open(source, clock=clock) as ledger:
        ids = [o.order_id for o in ledger.order_records(campaigns=["summer"])]
        ledger.record_statuses(PANEL, list(client.statuses(ids).values()), utc_now_iso(clock))
    client.close()
    result = bulkorders("--ledger", str(source), "--json", "ledger", "migrate", "--to", str(target))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "from": str(source), "to": shown(target), "advanced": 0, "refreshed": 2, "sending": 0,
        "copied": {"campaigns": 0, "rows": 0, "orders": 0, "observations": 2, "balance_readings": 0, "runs": 1},
        "merged": {"campaigns": 2, "rows": 5, "orders": 4, "observations": 2, "balance_readings": 1, "runs": 1},
        "held": {"campaigns": 2, "rows": 5, "orders": 4, "observations": 4, "balance_readings": 1, "runs": 4},
    }  # fmt: skip
    assert result.stderr.startswith("Copied 0 campaigns (2 more already there), 0 rows (5 more already there), ")
    assert "\n2 orders of the target took what the source knew more of them.\n" in result.stderr
    with Ledger.open(source) as mine, Ledger.open(target) as team:
        assert team.observations() == mine.observations()
        assert team.order_records() == mine.order_records()  # the later status came along


def test_rows_in_flight_are_copied_as_such_and_the_target_decides_them(source, target):
    """A row the source's run was sending: copied `sending`, with its run; that run is over,
    so the target's recovery (on PostgreSQL: its lock is gone) makes it uncertain."""
    with Ledger.open(source) as mine:
        spring = mine.find_campaign("spring")
        row = mine.sync_rows(spring, planned_rows([{"service": "1002", "link": "https://instagram.com/z",
                                                    "quantity": "90"}], first_row=9))[0]  # fmt: skip
        assert mine.mark_sending([row.id], "2025-11-24T17:00:00Z") == [row.id]
    result = bulkorders("--ledger", str(source), "ledger", "migrate", "--to", target)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == (
        "1 row of the source was being sent: on the target, the next submit of its campaign makes them "
        "uncertain once the run that sent them is over (check them in the panel before --resend-uncertain)."
    )
    assert json.loads(bulkorders("--ledger", target, "--json", "ledger", "info").stdout)["rows_by_state"]["sending"] == 1
    with Ledger.open(target) as team:
        recovered = team.recover_sending(team.find_campaign("spring"))
        assert [(r.link, r.state) for r in recovered] == [("https://instagram.com/z", "uncertain")]


def test_one_target_ledger_can_take_two_copies(source, tmp_path):
    from bulkorders.ledger.transfer import copy_ledger

    with Ledger.open(source) as mine, Ledger.open(tmp_path / "team.sqlite") as team:
        first, second = copy_ledger(mine, team), copy_ledger(mine, team)
    assert first.changed and not second.changed
    assert second.held == first.held == {"campaigns": 2, "rows": 5, "orders": 4, "observations": 2,
                                         "balance_readings": 1, "runs": 2}  # fmt: skip


def test_migrate_refuses_the_ledger_itself_and_a_ledger_not_there(source, tmp_path):
    itself = bulkorders("--ledger", str(source), "ledger", "migrate", "--to", str(source.parent / "." / source.name))
    assert itself.exit_code == 2
    assert itself.stderr == (
        f"Error: --to {source.parent / source.name} is the ledger being copied (--ledger): "
        "give another ledger to copy it into.\n"
    )
    missing = tmp_path / "none.sqlite"
    nothing = bulkorders("--ledger", str(missing), "ledger", "migrate", "--to", str(tmp_path / "team.sqlite"))
    assert nothing.exit_code == 3
    assert nothing.stderr == (
        f"Error: There is no ledger at {missing} to copy. Choose the ledger to copy with --ledger "
        "(BULKORDERS_LEDGER); --to names where it goes.\n"
    )
    assert not missing.exists() and not (tmp_path / "team.sqlite").exists()
    wrong = bulkorders("--ledger", str(source), "ledger", "migrate", "--to", f"mysql://bob:{SECRET}@db/x")
    assert wrong.exit_code == 3 and SECRET not in wrong.output


# --- the password, never ------------------------------------------------------------------


def workbook_texts(path: Path) -> list[str]:
    """Every cell of every sheet of a workbook, as text."""
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    return [str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None]


@pytest.mark.postgres
def test_the_password_of_a_team_ledger_appears_nowhere(pg_url, tmp_path):
    from pgserver import PASSWORD

    assert PASSWORD in pg_url
    masked = pg_url.replace(PASSWORD, "***")
    sheet = tmp_path / "camp.csv"
    sheet.write_text("service,link,quantity\n1001,https://instagram.com/a,100\n1002,https://instagram.com/b,250\n")
    results, audit = tmp_path / "camp.results.csv", tmp_path / "audit.xlsx"
    runs = [  # (arguments, exit code)
        (("--panel", "sandbox", "submit", str(sheet), "--yes"), 0),
        (("--panel", "sandbox", "status", str(results), "--in-place"), 0),
        (("ledger", "info"), 0),
        (("--json", "ledger", "info"), 0),
        (("--panel", "sandbox", "report", "--out", str(audit)), 0),
        (("--json", "--panel", "sandbox", "report", "--campaign", "autumn", "--out", str(tmp_path / "no.xlsx")), 1),
        (("--json", "ledger", "migrate", "--to", pg_url), 2),  # into itself
    ]
    said = []
    for args, code in runs:
        result = bulkorders("--ledger", pg_url, *args)
        said += [result.stdout, result.stderr]
        assert result.exit_code == code, result.output
    assert said[4].startswith(f"Ledger:  {masked}\n")
    assert json.loads(said[6])["ledger"] == masked
    assert f"Nothing to report: the ledger {masked} has no orders" in json.loads(said[10])["error"]["message"]
    assert all(PASSWORD not in text for text in said)
    texts = workbook_texts(audit)
    assert masked in texts and all(PASSWORD not in t for t in texts)
    assert PASSWORD not in results.read_text() and PASSWORD not in sheet.read_text()


def test_an_unreachable_team_ledger_is_exit_3_and_says_what_to_do(tmp_path):
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install bulkorders[team]")
    for url, masked in (
        (f"postgresql://bob:{SECRET}@127.0.0.1:1/camp", "postgresql://bob:***@127.0.0.1:1/camp"),
        (f"postgresql://bob@127.0.0.1:1/camp?password={SECRET}", "postgresql://bob@127.0.0.1:1/camp?password=***"),
    ):
        result = bulkorders("--ledger", url, "ledger", "info")
        assert result.exit_code == 3
        assert result.stderr.startswith(f"Error: Cannot reach the team ledger {masked} (")
        assert result.stderr.endswith(
            "Nothing was sent. Check that the server is running and the host, port and sslmode of the URL, then rerun.\n"
        )
        as_json = bulkorders("--ledger", url, "--json", "ledger", "migrate", "--to", str(tmp_path / "x.sqlite"))
        assert as_json.exit_code == 3 and json.loads(as_json.stdout)["error"]["exit_code"] == 3
        assert SECRET not in result.output + as_json.output


def test_a_libpq_keyword_string_is_refused_never_taken_for_a_file_name(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    given = "host=127.0.0.1 port=5432 user=bob password=s3cret dbname=team"
    result = bulkorders("--ledger", given, "ledger", "info")
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: --ledger (BULKORDERS_LEDGER): a libpq keyword string (host=… dbname=…) is not taken as a ledger, "
        "and never as a file name (it may hold a password). Give a postgresql://user@host:5432/database URL "
        "instead.\n"
    )
    assert "s3cret" not in result.output and list(work.iterdir()) == []
    assert bulkorders("--ledger", str(work / "my ledger=1.sqlite"), "ledger", "info").exit_code == 0  # a file
