"""kill -9 in the middle of a submit loses nothing and orders nothing twice.

`sandbox serve --latency 0.05` runs in one subprocess, `submit` of 200 rows in another;
the submit is killed with SIGKILL mid-run, then rerun to completion. The sandbox's own
state is the judge: no link was ordered twice, every row is placed or uncertain, and
every placed row's order is the one the panel created for its link.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bulkorders.ledger.store import Ledger
from bulkorders.panel.sandbox.server import spawn
from bulkorders.panel.sandbox.store import LiveSandbox

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

ROWS = 200
CONCURRENCY = 8
KEY = "crash-test-key"


def submit_cmd(url: str, sheet: Path, ledger: Path) -> list[str]:
    return [sys.executable, "-m", "bulkorders", "--panel", url, "--ledger", str(ledger), "--json",
            "submit", str(sheet), "--yes", "--concurrency", str(CONCURRENCY)]  # fmt: skip


def placed_count(ledger_path: Path) -> int:
    if not ledger_path.exists():
        return 0
    with Ledger.open(ledger_path) as ledger:
        campaign = ledger.find_campaign("crash")
        return 0 if campaign is None else sum(r.state == "placed" for r in ledger.rows(campaign))


def test_sigkill_mid_submit_then_rerun_orders_nothing_twice(tmp_path):
    state = tmp_path / "sandbox.jsonl"
    ledger_path = tmp_path / "ledger.sqlite"
    sheet = tmp_path / "crash.csv"
    links = [f"https://instagram.com/p/crash{i}" for i in range(ROWS)]
    with sheet.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["link", "service", "quantity"])
        writer.writerows([link, "1001", "100"] for link in links)
    env = {**os.environ, "BULKORDERS_API_KEY": KEY}
    server, url = spawn("--state", str(state), "--latency", "0.05")
    try:
        victim = subprocess.Popen(submit_cmd(url, sheet, ledger_path), env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 20
        while placed_count(ledger_path) < 40 and time.monotonic() < deadline:
            assert victim.poll() is None, "the submit ended before it could be killed"
            time.sleep(0.02)  # polling another process: there is no clock to inject
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        assert victim.returncode == -signal.SIGKILL
        killed_at = placed_count(ledger_path)
        assert 40 <= killed_at < ROWS

        with Ledger.open(ledger_path) as ledger:
            campaign = ledger.find_campaign("crash")
            in_flight = sum(r.state == "sending" for r in ledger.rows(campaign))
        assert in_flight <= CONCURRENCY

        rerun = subprocess.run(submit_cmd(url, sheet, ledger_path), env=env, capture_output=True,
                               text=True, timeout=60)  # fmt: skip
        assert rerun.returncode in (0, 1), rerun.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)

    live = LiveSandbox(state)
    orders = list(live.state().orders.values())
    live.close()
    per_link = Counter(order.link for order in orders)
    assert max(per_link.values()) == 1  # no row ordered twice
    with Ledger.open(ledger_path) as ledger:
        rows = ledger.rows(ledger.find_campaign("crash"))
    states = Counter(row.state for row in rows)
    assert set(states) <= {"placed", "uncertain"} and len(rows) == ROWS
    assert states["uncertain"] <= in_flight
    by_id = {str(order.id): order.link for order in orders}
    for row in rows:
        if row.state == "placed":
            assert by_id[row.order_id] == row.link
    # Orders without a placed row can only be the uncertain ones (sent, answer never recorded).
    placed_links = {row.link for row in rows if row.state == "placed"}
    uncertain_links = {row.link for row in rows if row.state == "uncertain"}
    assert set(per_link) - placed_links <= uncertain_links


# Ctrl-C while bulkorders starts: the modules load for most of start-up, before the
# command line's error handling exists. The interrupt is raised at a chosen import.
INTERRUPTED_AT_IMPORT = """
import builtins, runpy, sys
real_import, target = builtins.__import__, sys.argv[1]
def interrupting(name, *args, **kwargs):
    if name == target:
        raise KeyboardInterrupt
    return real_import(name, *args, **kwargs)
builtins.__import__ = interrupting
sys.argv = ["bulkorders", *sys.argv[2:]]
runpy.run_module("bulkorders", run_name="__main__")
"""


@pytest.mark.parametrize("module", ["click", "platformdirs", "httpx", "bulkorders.submit"])
def test_ctrl_c_during_start_up_exits_130_without_a_traceback(tmp_path, module):
    sheet = tmp_path / "crash.csv"
    sheet.write_text("link,service,quantity\nhttps://instagram.com/p/x,1001,100\n")
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_AT_IMPORT, module, "--panel", "sandbox",
         "--ledger", str(tmp_path / "ledger.sqlite"), "submit", str(sheet), "--yes"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stderr, done.stdout) == (
        130, "Interrupted while starting: nothing was done. Rerun the command.\n", ""
    )
    assert not (tmp_path / "ledger.sqlite").exists()


def test_ctrl_c_before_the_pipeline_runs_exits_130_cleanly(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import bulkorders.cli.app
    from bulkorders.cli import cli

    def interrupted(**options):
        raise KeyboardInterrupt

    monkeypatch.setattr(bulkorders.cli.app, "load_settings", interrupted)
    sheet = tmp_path / "crash.csv"
    sheet.write_text("link,service,quantity\nhttps://instagram.com/p/x,1001,100\n")
    result = CliRunner().invoke(cli, ["--panel", "sandbox", "submit", str(sheet), "--yes"])
    assert result.exit_code == 130
    assert result.output == "Interrupted: everything answered so far is saved; rerun to resume.\n"


@pytest.mark.parametrize(
    ("option", "began", "said"),
    [
        ("--config", False, "Interrupted while starting: nothing was done. Rerun the command."),  # the group's options
        ("--concurrency", True, "Interrupted: everything answered so far is saved; rerun to resume."),  # submit's
        ("close", True, "Interrupted: everything answered so far is saved; rerun to resume."),  # a finished command closing
    ],
)
def test_ctrl_c_while_click_parses_or_closes_is_our_line_and_130_not_aborted(
    tmp_path, monkeypatch, capsys, option, began, said
):
    import click

    from bulkorders import cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    if option == "--config":
        monkeypatch.setattr(click.Path, "convert", interrupted)
    elif option == "--concurrency":
        monkeypatch.setattr(click.IntRange, "convert", interrupted)
    else:
        monkeypatch.setattr(click.Context, "_close_with_exception_info", interrupted)
    monkeypatch.setattr(cli, "_ignore_late_ctrl_c", lambda: None)  # this process is pytest's
    sheet = tmp_path / "crash.csv"
    sheet.write_text("link,service,quantity\nhttps://instagram.com/p/x,1001,100\n")
    config = ["--config", str(tmp_path / "config.toml")] if option == "--config" else []
    monkeypatch.setattr(sys, "argv", ["bulkorders", *config, "--panel", "sandbox", "--ledger", str(tmp_path / "l.sqlite"),
                                      "submit", str(sheet), "--yes", "--concurrency", "2", "--dry-run"])  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    assert (exited.value.code, cli.cli.began) == (130, began)
    assert captured.err.strip().splitlines()[-1] == said
    assert "Aborted" not in captured.err and "Traceback" not in captured.err


def test_main_keeps_clicks_exit_codes_and_messages(monkeypatch, capsys):
    from bulkorders import cli

    monkeypatch.setattr(cli, "_ignore_late_ctrl_c", lambda: None)  # this process is pytest's
    monkeypatch.setattr(sys, "argv", ["bulkorders", "no-such-command"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    assert "No such command 'no-such-command'" in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", ["bulkorders", "--version"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("bulkorders, version ")


INTERRUPTED_LINES = {
    "Interrupted while starting: nothing was done. Rerun the command.",
    "Interrupted: everything answered so far is saved; rerun to resume.",
    "Error: Interrupted after every row was sent: each answer is saved in the ledger; nothing is left to place.",
}


def test_a_real_ctrl_c_at_any_moment_of_a_run_ends_with_130_and_a_message_or_0_never_killed(tmp_path):
    # A SIGINT at 20 moments spread from the plan's first line (start-up is done) to past the
    # end: placing, writing, closing the ledger and the interpreter's shutdown, where Python's
    # default handler is back and a press used to kill the process (exit -2, no message).
    env = {**os.environ, "BULKORDERS_API_KEY": KEY}

    def start(n: int) -> tuple[subprocess.Popen[str], float]:
        """The run, and when its first line came (its work has begun)."""
        sheet = tmp_path / f"run{n}.csv"
        sheet.write_text("link,service,quantity\n" + "".join(f"https://x.test/{n}/{i},1001,100\n" for i in range(40)))
        cmd = [sys.executable, "-m", "bulkorders", "--panel", "sandbox", "--ledger", str(tmp_path / "l.sqlite"),
               "submit", str(sheet), "--yes"]  # fmt: skip
        run = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert run.stderr is not None
        first = run.stderr.readline()
        assert first.startswith("Campaign run"), first
        return run, time.monotonic()

    whole, began = start(0)
    whole.communicate(timeout=60)
    assert whole.returncode == 0
    seconds = time.monotonic() - began
    outcomes = []
    for n in range(1, 21):
        run, began = start(n)
        time.sleep(seconds * 1.1 * (n - 1) / 19)  # another process's moment: there is no clock to inject
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=60)
        last = (err.strip().splitlines() or [""])[-1]
        outcomes.append((run.returncode, last if run.returncode else ""))
        assert "Traceback" not in err
    assert [(code, last) for code, last in outcomes if code not in (0, 130)] == []
    interrupted = [last for code, last in outcomes if code == 130]
    assert interrupted, outcomes  # the sweep did reach running commands
    assert [last for last in interrupted if last not in INTERRUPTED_LINES and not last.startswith("Error: Interrupted: ")] == []


# kill -9 in the middle of the write-back: os.fsync of the results' temporary file kills
# the process, as a power cut or the OOM killer would at that moment.
KILLED_IN_WRITE_BACK = """
import os, runpy, signal, sys
real_fsync = os.fsync
def fsync(fd):
    if ".results.csv." in os.readlink(f"/proc/self/fd/{fd}"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_fsync(fd)
os.fsync = fsync
sys.argv = ["bulkorders", *sys.argv[1:]]
runpy.run_module("bulkorders", run_name="__main__")
"""


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*.tmp"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_write_back_killed_midway_leaves_a_temporary_file_the_next_write_removes(tmp_path):
    sheet = tmp_path / "week.csv"
    sheet.write_text("link,service,quantity\nhttps://instagram.com/p/k1,1001,100\n")
    args = ["--panel", "sandbox", "--ledger", str(tmp_path / "ledger.sqlite"), "submit",
            str(sheet), "--yes"]  # fmt: skip
    killed = subprocess.run([sys.executable, "-c", KILLED_IN_WRITE_BACK, *args],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    (stray,) = leftovers(tmp_path)
    assert stray.startswith(".week.results.csv.") and not (tmp_path / "week.results.csv").exists()

    rerun = subprocess.run([sys.executable, "-m", "bulkorders", *args], capture_output=True,
                           text=True, timeout=60)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert leftovers(tmp_path) == []
    assert "Placed no new order." in rerun.stdout  # placed before the kill, not again
    assert (tmp_path / "week.results.csv").read_text().count("https://instagram.com/p/k1") == 1


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_the_temporary_file_of_a_write_in_progress_is_left_alone(tmp_path):
    import fcntl

    from click.testing import CliRunner

    from bulkorders.cli import cli

    sheet = tmp_path / "week.csv"
    sheet.write_text("link,service,quantity\nhttps://instagram.com/p/k2,1001,100\n")
    dead = tmp_path / ".week.results.csv.dead0001.tmp"
    live = tmp_path / ".week.results.csv.live0001.tmp"
    other = tmp_path / ".other.csv.dead0002.tmp"  # another file's: not this write's business
    for path in (dead, live, other):
        path.write_text("partial")
    with live.open("rb") as writer:
        fcntl.flock(writer.fileno(), fcntl.LOCK_EX)  # as a live writer holds it
        result = CliRunner().invoke(cli, ["--panel", "sandbox", "submit", str(sheet), "--yes"])
    assert result.exit_code == 0, result.output
    assert leftovers(tmp_path) == [".other.csv.dead0002.tmp", ".week.results.csv.live0001.tmp"]
