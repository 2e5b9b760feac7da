"""Command line: `bulkorders [global options] COMMAND …`. Click parsing only; the work is elsewhere."""

import sys

STARTING_INTERRUPTED = "Interrupted while starting: nothing was done. Rerun the command."

try:
    # Each module registers its commands on `cli`.
    from bulkorders.cli import (
        ledger_cmd,  # noqa: E402,F401
        lifecycle_cmds,  # noqa: E402,F401
        panel_cmds,  # noqa: E402,F401
        report_cmd,  # noqa: E402,F401
        sandbox_cmds,  # noqa: E402,F401
        sheet_cmds,  # noqa: E402,F401
        submit_cmd,  # noqa: E402,F401
        ui_cmd,  # noqa: E402,F401
    )
    from bulkorders.cli.app import cli
except KeyboardInterrupt:
    # Ctrl-C while the modules load (most of start-up), before app.py can turn it into a
    # message: exit 130 with a clean line, not a traceback.
    sys.stderr.write(f"{STARTING_INTERRUPTED}\n")
    raise SystemExit(130) from None


def main() -> None:
    cli(prog_name="bulkorders")


__all__ = ["cli", "main"]
