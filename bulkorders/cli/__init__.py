"""Command line: `bulkorders [global options] COMMAND …`. Click parsing only; the work is elsewhere."""

# Each module registers its commands on `cli`.
from bulkorders.cli import (
    lifecycle_cmds,  # noqa: E402,F401
    panel_cmds,  # noqa: E402,F401
    report_cmd,  # noqa: E402,F401
    sandbox_cmds,  # noqa: E402,F401
    sheet_cmds,  # noqa: E402,F401
    submit_cmd,  # noqa: E402,F401
    ui_cmd,  # noqa: E402,F401
)
from bulkorders.cli.app import cli


def main() -> None:
    cli(prog_name="bulkorders")


__all__ = ["cli", "main"]
