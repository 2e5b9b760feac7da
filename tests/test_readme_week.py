"""README's "A week with bulkorders", run as written, in order, against a fresh sandbox.

In-process (CliRunner), in a copy of the repository's samples, with an injected clock so the
sandbox's orders progress between steps without waiting. Each step's exit code is the one
the README shows beside it.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FakeClock

from bulkorders.cli import cli
from bulkorders.cli.app import Environment

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_800_000_000.0


def week_steps() -> list[tuple[list[str], int]]:
    """The walk-through's commands and the exit code the README gives each (`# exit N`)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## A week with bulkorders", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    steps = []
    for line in block.splitlines():
        command, _, comment = line.partition("#")
        words = shlex.split(command)
        if not words or words[0] != "bulkorders":
            continue
        code = re.search(r"exit (\d+)", comment)
        assert code, f"the README gives no exit code for: {line}"
        steps.append((words[1:], int(code.group(1))))
    return steps


def quick_start() -> list[str]:
    """The quick start's bulkorders command (after its `pip install . &&`)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    words = shlex.split(block.strip().split("&&")[-1])
    assert words[0] == "bulkorders", block
    return words[1:]


@pytest.mark.parametrize("after_quick_start", [True, False], ids=["after-the-quick-start", "fresh"])
def test_the_week_runs_as_written(tmp_path, monkeypatch, after_quick_start):
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    monkeypatch.chdir(tmp_path)
    clock = FakeClock(T0)
    env = Environment(stdin_is_terminal=lambda: True, sleep=clock.sleep, clock=clock)
    steps = week_steps()
    assert [args[0] for args, _ in steps] == ["services", "balance", "template", "validate", "validate", "submit",
                                             "status", "refill", "cancel", "report"]  # fmt: skip
    if after_quick_start:  # the README's week follows its quick start
        started = CliRunner().invoke(cli, quick_start(), obj=env)
        assert started.exit_code == 0, started.output
        clock.now += 3600
    outputs = {}
    for args, expected in steps:
        result = CliRunner(env={"BULKORDERS_PANEL": "sandbox"}).invoke(cli, args, input="y\n", obj=env)
        assert result.exit_code == expected, (args, result.output)
        outputs[" ".join(args[:2])] = result
        clock.now += 3600  # an hour between steps: the sandbox's orders move on
    submitted = outputs["submit samples/weekly-campaign.xlsx"].stdout
    validated = outputs["validate samples/weekly-campaign.xlsx"].stdout
    if after_quick_start:
        assert submitted.startswith("Placed no new order.\nAlso: 16 placed before.")
        assert (
            "Campaign weekly-campaign (ledger): 16 rows of this sheet already placed, not sent again; "
            "submit would send 0 rows."
        ) in validated
    else:
        assert "Placed 16 orders for an estimated 38.147 USD." in submitted
        assert "Balance: 1000.00 USD, enough (961.853 USD left after these orders)." in validated
    assert "warning" not in outputs["status samples/weekly-campaign.results.xlsx"].stderr
    refill = outputs["refill samples/weekly-campaign.results.xlsx"].stderr
    failed = [int(line.split(",")[0].removeprefix("row ")) for line in refill.splitlines() if line.startswith("row ")]
    assert failed == [5, 6, 7, 10]  # as the README says
    assert (tmp_path / "campaign.xlsx").is_file() and (tmp_path / "audit.xlsx").is_file()
    assert (tmp_path / "samples" / "weekly-campaign.results.xlsx").is_file()
