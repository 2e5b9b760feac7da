"""The ledger under faults of real machines: truncated, deleted, hard-linked, damaged,
in a read-only folder; its rolling backups; and the results sheet as the second record.

Commands run on a real file system (truncation, links, chattr are what broke), in real
processes where two of them meet, and the sandbox's own state counts what was ordered.
"""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from bulkorders.cli import cli
from bulkorders.errors import LedgerError, LedgerLocked
from bulkorders.ledger.backups import KEEP, backup_folder, backups
from bulkorders.ledger.migrations import MIGRATIONS
from bulkorders.ledger.store import Ledger
from bulkorders.panel.connect import SANDBOX_STATE_FILE
from bulkorders.panel.sandbox.store import LiveSandbox
from bulkorders.settings import data_dir

LINKS = [f"https://instagram.com/p/fault{i}" for i in range(6)]


def write_sheet(path: Path, links: list[str] = LINKS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["link", "service", "quantity"])
        writer.writerows([link, "1001", "100"] for link in links)
    return path


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run(*args: str, ledger: Path) -> Ran:
    """`bulkorders --panel sandbox --ledger LEDGER ARGS…` on the real file system (in this
    process: the faults are in the files; the tests that need processes start their own)."""
    result = CliRunner().invoke(cli, ["--panel", "sandbox", "--ledger", str(ledger), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def ordered() -> Counter:
    """Orders the sandbox created, per link (its own state is the judge)."""
    path = data_dir() / SANDBOX_STATE_FILE
    if not path.exists():
        return Counter()
    live = LiveSandbox(path)
    try:
        return Counter(order.link for order in live.state().orders.values())
    finally:
        live.close()


def placed_rows(ledger: Path, campaign: str) -> list:
    with Ledger.open(ledger, backups=0) as opened:
        found = opened.find_campaign(campaign)
        return [] if found is None else [r for r in opened.rows(found) if r.state == "placed"]


@pytest.fixture
def placed_once(tmp_path):
    """A campaign of six rows submitted once: (sheet, ledger path)."""
    sheet = write_sheet(tmp_path / "week.csv")
    ledger = tmp_path / "ledger.sqlite"
    first = run("submit", str(sheet), "--yes", ledger=ledger)
    assert first.returncode == 0, first.stderr
    assert ordered() == Counter(LINKS)
    return sheet, ledger


# --- an empty ledger is refused; backups say what to do ----------------------------------


def test_a_truncated_ledger_is_refused_and_its_newest_backup_restores_it(placed_once):
    sheet, ledger = placed_once
    (backup,) = backups(ledger)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup_folder(ledger).stat().st_mode) == 0o700
    os.truncate(ledger, 0)
    for sidecar in (Path(f"{ledger}-wal"), Path(f"{ledger}-shm")):
        sidecar.unlink(missing_ok=True)

    for command in (["submit", str(sheet), "--yes"], ["status", str(sheet)]):
        refused = run(*command, ledger=ledger)
        assert refused.returncode == 3
        assert refused.stderr == (
            f"Error: The ledger {ledger} is empty (0 bytes): it was truncated or replaced by an "
            "empty file, and bulkorders never takes an empty file for a new ledger, because "
            "every row would then be placed again. Nothing was sent. Copy the newest backup, "
            f"{backup}, over {ledger} (delete ledger.sqlite-wal and ledger.sqlite-shm beside it "
            f"if they are there), then rerun; 1 backup(s) are in {backup_folder(ledger)}.\n"
        )
    assert ledger.stat().st_size == 0  # nothing was made of it
    assert ordered() == Counter(LINKS)

    shutil.copyfile(backup, ledger)  # what the message says to do
    again = run("submit", str(sheet), "--yes", ledger=ledger)
    assert again.returncode == 0, again.stderr
    assert "Placed no new order." in again.stdout
    assert ordered() == Counter(LINKS)


def test_an_empty_file_is_never_taken_for_a_new_ledger(tmp_path):
    empty = tmp_path / "ledgers" / "ledger.sqlite"
    empty.parent.mkdir()
    empty.touch()
    with pytest.raises(LedgerError, match="is empty \\(0 bytes\\)") as err:
        Ledger.open(empty)
    assert f"There is no backup of it in {backup_folder(empty)}." in str(err.value)
    assert empty.stat().st_size == 0
    assert sorted(p.name for p in empty.parent.iterdir()) == ["ledger.sqlite"]


def test_a_new_ledger_appears_whole_and_private(tmp_path):
    path = tmp_path / "new" / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        ledger.campaign("c", "sandbox")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger-backups", "ledger.sqlite"]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 5


def test_backups_roll_keeping_the_newest_and_only_after_a_change(tmp_path):
    path = tmp_path / "ledger.sqlite"
    times = iter(range(1_700_000_000, 1_700_000_100))
    for n in range(KEEP + 3):
        with Ledger.open(path, clock=lambda: next(times)) as ledger:
            ledger.campaign(f"c{n}", "sandbox")
    kept = backups(path)
    assert len(kept) == KEEP
    with Ledger.open(kept[-1], backups=0) as newest:
        assert [c.name for c in newest.campaigns()] == [f"c{n}" for n in range(KEEP + 3)]
    with Ledger.open(kept[0], backups=0) as oldest:
        assert len(oldest.campaigns()) == 4
    with Ledger.open(path) as reader:
        reader.campaigns()  # reading changes nothing: no backup
    assert backups(path) == kept
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in kept)


def test_backups_in_one_second_keep_their_order(tmp_path):
    path = tmp_path / "ledger.sqlite"
    for n in range(12):
        with Ledger.open(path, clock=lambda: 1_700_000_000.0) as ledger:
            ledger.campaign(f"c{n}", "sandbox")
    names = [p.name for p in backups(path)]
    assert names == [f"ledger-20231114-221320-{n:02d}.sqlite" for n in range(8, 13)]


# --- the results sheet is the second record ------------------------------------------------


def recovered_line(count: int, results: Path) -> str:
    return (
        f"Recovered {count} placed {'row' if count == 1 else 'rows'} into the ledger from the results sheet {results}: the "
        "ledger did not have their orders (it was replaced or restored), and they are not "
        "placed again."
    )


def test_a_deleted_ledger_places_nothing_twice_the_results_sheet_tells(placed_once):
    sheet, ledger = placed_once
    results = sheet.with_name("week.results.csv")
    first_ids = {row.link: row.order_id for row in placed_rows(ledger, "week")}
    for path in (ledger, Path(f"{ledger}-wal"), Path(f"{ledger}-shm")):
        path.unlink(missing_ok=True)
    write_sheet(sheet, list(reversed(LINKS)))  # sorted meanwhile: rows are known by content

    again = run("submit", str(sheet), "--yes", ledger=ledger)
    assert again.returncode == 0, again.stderr
    (recovered,) = again.stderr.splitlines()
    assert recovered == recovered_line(6, results)
    # The results file is written into, each order on its row there (no backup of it needed).
    assert not list(sheet.parent.glob("week.results.backup-*"))
    by_link = {row["link"]: row["order_id"] for row in csv.DictReader(results.open(newline=""))}
    assert by_link == {link: str(first_ids[link]) for link in LINKS}
    assert "Placed no new order." in again.stdout
    assert ordered() == Counter(LINKS)  # the sandbox created nothing more
    assert {row.link: row.order_id for row in placed_rows(ledger, "week")} == first_ids


def test_a_ledger_restored_from_an_older_backup_recovers_the_later_rows(tmp_path):
    sheet = write_sheet(tmp_path / "week.csv", LINKS[:3])
    ledger = tmp_path / "ledger.sqlite"
    assert run("submit", str(sheet), "--yes", ledger=ledger).returncode == 0
    (older,) = backups(ledger)
    write_sheet(sheet, LINKS)  # three rows added: placed by the second run
    assert run("submit", str(sheet), "--yes", ledger=ledger).returncode == 0
    assert ordered() == Counter(LINKS)
    shutil.copyfile(older, ledger)  # the restore of a backup older than the last run
    for sidecar in (Path(f"{ledger}-wal"), Path(f"{ledger}-shm")):
        sidecar.unlink(missing_ok=True)
    write_sheet(sheet, [*LINKS, "https://instagram.com/p/new"])

    again = run("submit", str(sheet), "--yes", ledger=ledger)
    assert again.returncode == 0, again.stderr
    lines = again.stderr.splitlines()
    assert lines[0] == recovered_line(3, sheet.with_name("week.results.csv"))
    assert lines[1:4] == [
        "Campaign week: 1 order to place, estimated 0.09 USD.",
        "Balance 999.46 USD (about 999.37 USD after).",
        "Skipped: 6 already placed.",
    ]
    assert lines[4:] == ["Added 1 row new in week.csv to week.results.csv, below its last row of orders "
                         "(input row 8 as row 8); your edits there are kept."]  # fmt: skip
    assert "Placed 1 order" in again.stdout
    assert ordered() == Counter([*LINKS, "https://instagram.com/p/new"])
    assert len(placed_rows(ledger, "week")) == 7


def test_an_unreadable_results_sheet_stops_before_anything_is_sent(placed_once):
    sheet, ledger = placed_once
    results = sheet.with_name("week.results.csv")
    ledger.unlink()
    results.write_bytes(b"\xff\xfe\x00garbage\x00" * 50)
    refused = run("submit", str(sheet), "--yes", ledger=ledger)
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        f"Error: Cannot read the results sheet {results} to check which rows it shows placed: "
    )
    assert refused.stderr.endswith("Nothing was sent. Repair that file or put it back, then rerun.\n")
    assert ordered() == Counter(LINKS)


def test_a_ledger_deleted_while_its_journal_holds_changes_is_refused(tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger.open(path, backups=0)
    ledger.campaign("kept-only-in-the-journal", "sandbox")
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0
    kept_wal, kept_shm = wal.read_bytes(), Path(f"{path}-shm").read_bytes()
    ledger.close()  # as after kill -9: the journal is left with the changes in it
    wal.write_bytes(kept_wal)
    Path(f"{path}-shm").write_bytes(kept_shm)
    path.unlink()
    with pytest.raises(LedgerError) as err:
        Ledger.open(path)
    assert str(err.value) == (
        f"The ledger {path} is missing, but its journal ledger.sqlite-wal is there: the ledger "
        "was deleted or moved away while its latest changes were still in the journal. Nothing "
        "was sent. Put the ledger file back beside its journal; or, to start a new ledger, "
        "delete ledger.sqlite-wal and ledger.sqlite-shm."
    )
    assert not path.exists()


# --- one file, one name, one lock ----------------------------------------------------------


def linked_message(path: Path) -> str:
    return (
        f"Error: The ledger {path} has 2 names (hard links). Two names of one ledger would get "
        "two locks and two journals, so two runs could place the same rows and damage the "
        "ledger. Nothing was sent. Keep one name: delete the other link(s) to it (`ls -i` "
        "shows the same number for each), then rerun.\n"
    )


def test_a_hard_linked_ledger_is_refused_by_both_of_two_concurrent_submits(tmp_path):
    sheet = write_sheet(tmp_path / "week.csv")
    ledger = tmp_path / "ledger.sqlite"
    Ledger.open(ledger).close()
    other = tmp_path / "elsewhere" / "same.sqlite"
    other.parent.mkdir()
    os.link(ledger, other)
    command = [sys.executable, "-m", "bulkorders", "--panel", "sandbox", "submit", str(sheet), "--yes"]
    both = [
        subprocess.Popen([*command[:5], "--ledger", str(path), *command[5:]], text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for path in (ledger, other)
    ]  # fmt: skip
    for process, path in zip(both, (ledger, other)):
        out, err = process.communicate(timeout=120)
        assert process.returncode == 3, err
        assert err == linked_message(path)
    assert ordered() == Counter()
    assert not Path(f"{other}-wal").exists() and not Path(f"{ledger}-wal").exists()


def test_a_link_made_after_opening_is_refused_when_the_campaign_is_locked(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path, backups=0) as ledger:
        campaign = ledger.campaign("weekly", "sandbox")
        os.link(path, tmp_path / "second-name.sqlite")
        with pytest.raises(LedgerError) as err:
            with ledger.lock(campaign):
                pass
    assert f"Error: {err.value}\n" == linked_message(path)


HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bulkorders.ledger.store import Ledger
    ledger = Ledger.open(Path(sys.argv[1]), backups=0)
    campaign = ledger.campaign("weekly", "sandbox")
    ledger._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the campaign in the file itself
    with ledger.lock(campaign):
        print("locked", flush=True)
        sys.stdin.readline()
    """
)


def test_the_lock_is_on_the_file_not_its_name(tmp_path):
    first = tmp_path / "ledger.sqlite"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(first)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        renamed = tmp_path / "renamed.sqlite"
        os.rename(first, renamed)  # moved while a run holds it: a new name, the same file
        with Ledger.open(renamed, backups=0) as other:
            campaign = other.find_campaign("weekly")
            with pytest.raises(LedgerLocked) as err:
                with other.lock(campaign):
                    pass
        assert str(err.value) == (
            f'Campaign "weekly" is being submitted by another bulkorders process (pid '
            f"{holder.pid}). Wait for it to finish, or stop it, then rerun."
        )
    finally:
        holder.communicate("\n", timeout=60)
    with Ledger.open(renamed, backups=0) as other, other.lock(other.find_campaign("weekly")):
        pass  # free again once the holder is done


# --- damaged ledgers, unwritable folders: a message saying what to do ----------------------


def restore_text(ledger: Path) -> str:
    (backup,) = backups(ledger)
    return (
        f"Copy the newest backup, {backup}, over {ledger} (delete ledger.sqlite-wal and "
        f"ledger.sqlite-shm beside it if they are there), then rerun; 1 backup(s) are in "
        f"{backup_folder(ledger)}.\n"
    )


@pytest.mark.parametrize(
    "damage",
    [lambda size: bytes(size), lambda size: bytes(__import__("random").Random(7).randbytes(size))],
    ids=["zeroed page", "random bytes"],
)
def test_a_damaged_ledger_stops_submit_and_status_alike(placed_once, damage):
    sheet, ledger = placed_once
    page = 4096
    assert ledger.stat().st_size >= 8 * page
    with ledger.open("r+b") as fh:
        fh.seek(5 * page)
        fh.write(damage(page))

    answers = [run(*command, ledger=ledger) for command in
               (["submit", str(sheet), "--yes"], ["status", str(sheet)])]  # fmt: skip
    assert [a.returncode for a in answers] == [3, 3]
    assert answers[0].stderr == answers[1].stderr
    assert answers[0].stderr.startswith(f"Error: The ledger {ledger} is damaged (SQLite")
    assert answers[0].stderr.endswith(f". Nothing was sent. {restore_text(ledger)}")
    assert ordered() == Counter(LINKS)

    (backup,) = backups(ledger)
    shutil.copyfile(backup, ledger)  # what the message says to do
    restored = run("submit", str(sheet), "--yes", ledger=ledger)
    assert restored.returncode == 0, restored.stderr
    assert ordered() == Counter(LINKS)


def test_damage_inside_a_record_is_named_too_when_it_is_read(placed_once):
    sheet, ledger = placed_once
    conn = sqlite3.connect(ledger)
    conn.execute("UPDATE rows SET identity = CAST(X'FF3FFE' AS TEXT) WHERE id = 2")
    conn.commit()
    conn.close()
    answer = run("submit", str(sheet), "--yes", ledger=ledger)
    assert answer.returncode == 3
    assert answer.stderr == (
        f"Error: The ledger {ledger} is damaged (SQLite says: Could not decode to UTF-8 column "
        f"'identity'). Nothing of this step was recorded. {restore_text(ledger)}"
    )
    assert ordered() == Counter(LINKS)


@pytest.fixture
def unwritable(tmp_path):
    """Make a folder or file read-only (chmod) or, for root, immutable (chattr +i); undone after."""

    made: list[tuple[Path, int]] = []

    def make(path: Path) -> None:
        made.append((path, stat.S_IMODE(path.stat().st_mode)))
        path.chmod(0o555 if path.is_dir() else 0o444)
        if os.access(path, os.W_OK):  # root ignores modes: the immutable flag stops it
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
            if done.returncode != 0 or os.access(path, os.W_OK):
                pytest.skip("cannot make a file unwritable here")

    yield make
    for path, mode in made:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(mode)


def unwritable_message(ledger: Path) -> str:
    return (
        f"Error: Cannot use the ledger {ledger}: its folder {ledger.parent} is read-only or "
        "immutable, and SQLite must create ledger.sqlite-wal and ledger.sqlite-shm beside the "
        "ledger. Nothing was sent. Make it writable for you (chmod u+w; chattr -i if it is "
        "immutable), or choose another ledger with --ledger.\n"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and chattr")
def test_a_ledger_in_a_read_only_folder_is_refused_saying_why(placed_once, unwritable):
    sheet, ledger = placed_once
    unwritable(ledger.parent)
    answers = [run(*command, ledger=ledger) for command in
               (["submit", str(sheet), "--yes"], ["status", str(sheet)])]  # fmt: skip
    for answer in answers:
        assert answer.returncode == 3
        assert answer.stderr == unwritable_message(ledger)
    assert ordered() == Counter(LINKS)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and chattr")
def test_a_new_ledger_in_a_read_only_folder_is_refused_saying_why(tmp_path, unwritable):
    sheet = write_sheet(tmp_path / "week.csv")
    folder = tmp_path / "locked"
    folder.mkdir()
    unwritable(folder)
    answer = run("submit", str(sheet), "--yes", ledger=folder / "ledger.sqlite")
    assert answer.returncode == 3
    assert answer.stderr == unwritable_message(folder / "ledger.sqlite")
    assert ordered() == Counter()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and chattr")
def test_a_read_only_ledger_file_is_refused_saying_why(placed_once, unwritable):
    sheet, ledger = placed_once
    unwritable(ledger)
    answer = run("submit", str(sheet), "--yes", ledger=ledger)
    assert answer.returncode == 3
    assert answer.stderr == (
        f"Error: Cannot use the ledger {ledger}: the file is read-only or immutable, or you may "
        "not read it. Nothing was sent. Make it writable for you (chmod u+w; chattr -i if it is "
        "immutable), or choose another ledger with --ledger.\n"
    )
    assert ordered() == Counter(LINKS)


def test_the_results_sheet_is_read_only_when_the_ledger_did_not_write_it_as_it_is(
    tmp_path, monkeypatch
):
    import bulkorders.submit.recovery as recovery

    reads: list[Path] = []
    real = recovery.shown_placed
    monkeypatch.setattr(recovery, "shown_placed", lambda path, *a: reads.append(path) or real(path, *a))
    sheet = write_sheet(tmp_path / "week.csv", LINKS[:2])
    ledger = tmp_path / "ledger.sqlite"
    results = tmp_path / "week.results.csv"
    assert run("submit", str(sheet), "--yes", ledger=ledger).returncode == 0
    write_sheet(sheet, LINKS[:3])
    assert run("submit", str(sheet), "--yes", ledger=ledger).returncode == 0
    assert reads == []  # the file is the one the ledger wrote: nothing to learn from it
    results.write_text(results.read_text() + "\n")  # someone saved it since
    write_sheet(sheet, LINKS[:4])
    again = run("submit", str(sheet), "--yes", ledger=ledger)
    assert again.returncode == 0 and reads == [results]
    assert "Placed 1 order" in again.stdout and ordered() == Counter(LINKS[:4])
