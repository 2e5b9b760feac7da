"""Every command has help, and the README shows every command (STYLE: docs are checked)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from conftest import bulkorders

from bulkorders.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += commands(command, (*prefix, name))
    return found


@pytest.mark.parametrize("path", commands(cli), ids=" ".join)
def test_every_command_has_help_and_is_in_the_readme(path):
    result = bulkorders(*path, "--help")
    assert result.exit_code == 0, result.output
    summary = result.stdout.split("\n\n")[1].strip()
    assert len(summary) > 20, f"{' '.join(path)} has no real help text"
    assert f"bulkorders {' '.join(path)}" in README or f"--panel sandbox {' '.join(path)}" in README, (
        f"README.md never shows `bulkorders {' '.join(path)}`"
    )
