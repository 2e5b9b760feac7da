"""The one error tree of bulkorders, and the exit codes of SPEC.

Every failure a user can meet is a `BulkOrdersError` carrying its exit code and a
message that says what to do. The CLI turns it into output in exactly one place.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ROWS_FAILED = 1  # some rows invalid or failed; details in the sheet and on stderr
    USAGE = 2  # bad command line or unusable input file
    PANEL = 3  # panel or configuration failure: unreachable, bad key, no funds, aborted
    INTERRUPTED = 130  # Ctrl-C: state saved, rerun to resume


class BulkOrdersError(Exception):
    """Base of every user-facing failure. `str(err)` is the whole message."""

    exit_code: ExitCode = ExitCode.PANEL

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message

    def full_message(self) -> str:
        """The message and any notes added on the way (`add_note`), one per line."""
        return "\n".join([self.message, *getattr(self, "__notes__", ())])


class UsageError(BulkOrdersError):
    """The command line asks for something that cannot be done."""

    exit_code = ExitCode.USAGE


class ConfigError(BulkOrdersError):
    """No panel, a refused URL, a missing key, an unreadable config file."""

    exit_code = ExitCode.PANEL


class SheetError(BulkOrdersError):
    """The input file cannot be read as an order sheet at all (not a bad row: a bad file)."""

    exit_code = ExitCode.USAGE


class WriteBackError(BulkOrdersError):
    """The results could not be written to the sheet; the ledger still holds them."""

    exit_code = ExitCode.PANEL


class PanelError(BulkOrdersError):
    """The panel could not be used: unreachable, answered nonsense, refused the request.

    `said`: the panel's own words, when it refused (shown on the row that met the refusal).
    """

    exit_code = ExitCode.PANEL

    def __init__(self, message: str, *, exit_code: ExitCode | None = None, said: str | None = None) -> None:
        super().__init__(message, exit_code=exit_code)
        self.said = said


class PanelUnreachable(PanelError):
    """No answer could be had from the panel after the retries allowed."""


class AuthError(PanelError):
    """The panel refused the API key."""


class FundsError(PanelError):
    """The panel says the balance is too low for the order."""


class BadAnswer(PanelError):
    """The panel answered, but not with what the API promises (HTML, bad JSON, wrong shape)."""


class LedgerLocked(BulkOrdersError):
    """Another bulkorders process is working on the same campaign."""

    exit_code = ExitCode.PANEL


class LedgerError(BulkOrdersError):
    """The ledger cannot be used: not a ledger, written by a newer version, unwritable, busy."""

    exit_code = ExitCode.PANEL


class Interrupted(BulkOrdersError):
    """The user pressed Ctrl-C; everything answered so far is saved."""

    exit_code = ExitCode.INTERRUPTED


class NotConfirmed(BulkOrdersError):
    """The user answered no to the confirmation: nothing was sent."""

    exit_code = ExitCode.PANEL


class SpendRefused(BulkOrdersError):
    """The estimated cost is over the balance or --max-spend: nothing was placed."""

    exit_code = ExitCode.PANEL


class NothingToReport(BulkOrdersError):
    """The ledger holds nothing the report's filters select: no workbook was written."""

    exit_code = ExitCode.ROWS_FAILED


class ReportWriteError(BulkOrdersError):
    """The audit workbook could not be written."""

    exit_code = ExitCode.PANEL


def run_error(stop: BulkOrdersError | None, write_error: BulkOrdersError | None) -> BulkOrdersError | None:
    """The error a run over a sheet ends with: what stopped it early (with its failure to
    write the results as a note), else that failure, else None."""
    if stop is None:
        return write_error
    if write_error is not None and write_error.full_message() not in getattr(stop, "__notes__", ()):
        stop.add_note(write_error.full_message())
    return stop


def run_exit_code(stop: BulkOrdersError | None, write_error: BulkOrdersError | None, *, rows_failed: bool) -> ExitCode:
    """The exit code of a run over a sheet (submit, status, refill, cancel).

    The error that stopped it early, else its failure to write the results, else 1 when
    some rows failed, else 0.
    """
    for error in (stop, write_error):
        if error is not None:
            return error.exit_code
    return ExitCode.ROWS_FAILED if rows_failed else ExitCode.OK
