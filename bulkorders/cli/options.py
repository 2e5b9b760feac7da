"""Options more than one command takes, as decorator bundles (the way sqlite-utils shares them).

`sheet_input`: the SHEET argument and --sheet NAME; `results_output`: --out and --in-place,
whose conflict `check_output` refuses. `submit` and the lifecycle commands use them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bulkorders.errors import UsageError

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

RESULTS_HELP = "Results file (default: NAME.results.xlsx/.csv beside the input)."
IN_PLACE_HELP = "Write the results into the input (a timestamped copy is kept)."


def stacked(*decorators: Decorator) -> Decorator:
    """One decorator for several, applied as if written in this order above the command."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return decorate


sheet_input = stacked(
    click.argument("sheet", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
    click.option("--sheet", "sheet_name", metavar="NAME", help="Worksheet to read (default: the first)."),
)


def results_output(*, out_help: str = RESULTS_HELP, in_place_help: str = IN_PLACE_HELP) -> Decorator:
    """--out FILE and --in-place: where the results go (the command calls `check_output`)."""
    return stacked(
        click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help=out_help),
        click.option("--in-place", is_flag=True, help=in_place_help),
    )


def check_output(out: Path | None, in_place: bool) -> None:
    """Refuse --out together with --in-place (exit 2)."""
    if out and in_place:
        raise UsageError("Choose --out FILE or --in-place, not both.")
