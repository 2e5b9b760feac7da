"""Options several commands share: the decimal mark of a sheet's numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def decimal_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--decimal , | .`: the decimal mark of the sheet's numbers, instead of detecting it."""
    return click.option(
        "--decimal", type=click.Choice([",", "."]), default=None,
        help="Decimal mark of the sheet's numbers written as text (default: detected; a ;-separated "
             "CSV uses commas). Also how --max-spend is read.",
    )(command)  # fmt: skip
