"""Write-back into a CSV file, keeping every byte the results do not replace.

The file is cut into records the way the csv module reads them (a quoted field may span
lines), and only the records that change are cut into fields; every other record, its
quoting and its line ending, is written back as it was. The delimiter, the encoding,
a UTF-8 byte-order mark and Excel's `sep=;` line are kept. New fields are quoted only
when they need it, and a formula-like text gets a leading `'` (see write_values).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from bulkorders.models import OUTPUT_COLUMNS
from bulkorders.sheets.csvfile import sep_directive
from bulkorders.sheets.write_values import ColumnPlan, WriteProblem, cell_out, csv_field, plan_columns

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_TERMINATOR = re.compile(r"(?:\r\n|\r|\n)\Z")
_EMPTY_FIELDS = ("", '""')


def write_csv(
    source: Path,
    out: IO[bytes],
    *,
    header_row: int,
    headers: list[str],
    known: dict[str, int],
    delimiter: str | None,
    encoding: str | None,
    updates: Mapping[int, Mapping[str, Any]],
    decimal: str = ".",
    cells: Mapping[int, Mapping[int, Any]] | None = None,
) -> tuple[ColumnPlan, list[str]]:
    """Write `source` with the updates applied to `out`; returns (where the columns went, warnings).

    Records are numbered from 1 as a spreadsheet shows them (a blank line is a record,
    a quoted field over several lines is one). With `decimal` ",", numbers are written with
    decimal commas (`0,375`: exact, no thousands separator), as the file writes its own.
    `cells` are other cells to write (row -> 0-based column -> value: a row added to a results file).
    """
    raw = source.read_bytes()
    codec = _codec(encoding)
    lead = b""  # written back as it was: a byte-order mark, Excel's `sep=;` line
    if codec == "utf-8" and raw.startswith(codecs.BOM_UTF8):
        lead, raw = codecs.BOM_UTF8, raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode(codec)
    except (UnicodeDecodeError, LookupError) as exc:
        raise WriteProblem(f"{source.name} cannot be read as {codec} text ({exc})") from exc
    directive = sep_directive(text)
    if directive is not None:  # not a row: Excel does not show it
        lead += directive[0].encode(codec)
        text, delimiter = text[len(directive[0]) :], directive[1]
    delimiter = delimiter or ","
    records = list(_records(text, delimiter))
    width = _used_width(records, delimiter)
    headers = _without_unused_tail(headers, width)
    plan = plan_columns(headers, known, width, OUTPUT_COLUMNS)
    warnings: list[str] = []
    changes: dict[int, dict[int, str]] = {}
    if plan.added:
        changes[header_row] = {plan.positions[name]: _quote(plan.titles[name], delimiter) for name in plan.added}
    for row, values in (cells or {}).items():
        for index, value in values.items():
            field = _encodable(csv_field(cell_out("", value), decimal), codec, row, str(index + 1), warnings)
            changes.setdefault(row, {})[index] = _quote(field, delimiter)
    for row, cols in updates.items():
        row_changes = changes.setdefault(row, {})
        for name, value in cols.items():
            field = _encodable(csv_field(cell_out(name, value), decimal), codec, row, name, warnings)
            row_changes[plan.positions[name]] = _quote(field, delimiter)
    newline = next((m.group(0) for r in records if (m := _TERMINATOR.search(r))), "\r\n")
    beyond_the_end = max(changes, default=0) > len(records)
    if beyond_the_end and records and not _TERMINATOR.search(records[-1]):
        records[-1] += newline
    full = max(plan.positions.values()) + 1  # an edited record gets every output column
    pieces = []
    for number in range(1, max(len(records), max(changes, default=0)) + 1):
        record = records[number - 1] if number <= len(records) else newline
        pieces.append(_edit(record, changes[number], delimiter, full) if number in changes else record)
    out.write(lead + "".join(pieces).encode(codec))
    return plan, warnings


def _used_width(records: list[str], delimiter: str) -> int:
    """Fields up to the last one holding anything in some record: an Excel export whose every
    line ends in `,,,` has unused columns there, and the results go right after the used ones."""
    width = 0
    for record in records:
        fields = _fields(record, delimiter)
        used = len(fields)
        while used > width and fields[used - 1] in _EMPTY_FIELDS:
            used -= 1
        width = max(width, used)
    return width


def _without_unused_tail(headers: list[str], width: int) -> list[str]:
    """The header texts without the blank ones right of the used width."""
    end = len(headers)
    while end > width and (headers[end - 1] is None or not str(headers[end - 1]).strip()):
        end -= 1
    return headers[:end]


def _codec(encoding: str | None) -> str:
    name = codecs.lookup(encoding or "utf-8").name
    return "utf-8" if name in ("utf-8", "utf-8-sig") else name


def _records(text: str, delimiter: str) -> Iterator[str]:
    """Raw records, line ending included; a quoted field may hold line breaks."""
    pending = ""
    for match in _LINE.finditer(text):
        pending += match.group(0)
        if '"' in pending and _split(pending, delimiter)[1]:
            continue
        yield pending
        pending = ""
    if pending:
        yield pending


def _fields(record: str, delimiter: str) -> list[str]:
    body = _TERMINATOR.sub("", record)
    if not body:
        return []
    if '"' not in body:
        return body.split(delimiter)
    return _split(body, delimiter)[0]


def _split(body: str, delimiter: str) -> tuple[list[str], bool]:
    """Raw fields (quotes kept) as the csv module would cut them, and whether a quote is open.

    States: 0 start of field, 1 unquoted, 2 inside quotes, 3 quote seen inside quotes.
    """
    fields: list[str] = []
    state, start = 0, 0
    for i, char in enumerate(body):
        if state == 2:
            if char == '"':
                state = 3
            continue
        if char == delimiter:
            fields.append(body[start:i])
            state, start = 0, i + 1
        elif state == 0:
            state = 2 if char == '"' else 1
        elif state == 3:
            state = 2 if char == '"' else 1
    fields.append(body[start:])
    return fields, state == 2


def _edit(record: str, changes: dict[int, str], delimiter: str, width: int) -> str:
    ending = _TERMINATOR.search(record)
    fields = _fields(record, delimiter)
    fields += [""] * (width - len(fields))
    for index, field in changes.items():
        fields[index] = field
    return delimiter.join(fields) + (ending.group(0) if ending else "")


def _quote(text: str, delimiter: str) -> str:
    if any(c in text for c in (delimiter, '"', "\r", "\n")):
        return '"' + text.replace('"', '""') + '"'
    return text


def _encodable(text: str, codec: str, row: int, column: str, warnings: list[str]) -> str:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        warnings.append(f"row {row}, {column}: characters that {codec} cannot hold were written as ?")
        return text.encode(codec, "replace").decode(codec)
    return text
