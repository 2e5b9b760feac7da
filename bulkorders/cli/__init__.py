"""Command line: `bulkorders [global options] COMMAND …`. Click parsing only; the work is elsewhere."""

from bulkorders.cli.app import cli

# Each module registers its commands on `cli`.
from bulkorders.cli import lifecycle_cmds  # noqa: E402,F401
from bulkorders.cli import panel_cmds  # noqa: E402,F401
from bulkorders.cli import report_cmd  # noqa: E402,F401
from bulkorders.cli import sandbox_cmds  # noqa: E402,F401
from bulkorders.cli import sheet_cmds  # noqa: E402,F401
from bulkorders.cli import submit_cmd  # noqa: E402,F401


def main() -> None:
    cli(prog_name="bulkorders")


__all__ = ["cli", "main"]
