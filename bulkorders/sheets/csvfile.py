"""Reading a CSV sheet: UTF-8 with or without BOM; comma, semicolon or tab found by the header."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bulkorders.errors import SheetError
from bulkorders.sheets.filetype import DEFAULT_MAX_UNPACKED_MB, UNPACKED_ENV, limit_from_env
from bulkorders.sheets.headers import is_header, recognised
from bulkorders.sheets.raw import RawSheet

DELIMITERS = (",", ";", "\t")
_SNIFF_RECORDS = 50
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
SAVE_AS_UTF8 = 'Open it in Excel and save it as "CSV UTF-8 (Comma delimited) (*.csv)", then rerun.'

_SEP_DIRECTIVE = re.compile(r'(?i:sep)=([^\r\n"])(?:\r\n|\r|\n|\Z)')

csv.field_size_limit(1 << 24)  # long comment lists in one cell are legitimate


def read_csv(path: Path, purpose: str) -> RawSheet:
    """All records of a CSV file as rows of text cells; the record number is the row number.

    Excel's `sep=;` first line names the delimiter and is not a row (Excel does not show it).
    """
    text, bom = _decode(path)
    directive = sep_directive(text)
    if directive is not None:
        line, delimiter = directive
        text = text[len(line) :]
    else:
        delimiter = _delimiter(text, purpose)
    return RawSheet(
        name=None, rows=_records(path, text, delimiter), csv_delimiter=delimiter, csv_bom=bom, csv_encoding="utf-8"
    )


def sep_directive(text: str) -> tuple[str, str] | None:
    """Excel's `sep=X` first line: (the line with its ending, X), or None when there is none."""
    found = _SEP_DIRECTIVE.match(text)
    return (found.group(0), found.group(1)) if found else None


def _decode(path: Path) -> tuple[str, bool]:
    limit_mb = limit_from_env(UNPACKED_ENV, DEFAULT_MAX_UNPACKED_MB)
    try:
        size = path.stat().st_size
        if size > limit_mb << 20:
            raise SheetError(
                f"{path} is {size / (1 << 20):,.0f} MB, more than the {limit_mb:,} MB an order sheet can need; "
                f"refusing to read it. Split it into smaller files, or raise the limit with {UNPACKED_ENV}."
            )
        data = path.read_bytes()
    except OSError as exc:
        raise SheetError(f"Cannot read {path}: {exc.strerror}.") from None
    if data.startswith(_UTF16_BOMS) or _looks_utf16(data[:4096]):
        raise SheetError(f"{path} is saved as UTF-16 (Excel's \"Unicode Text\"), not UTF-8. {SAVE_AS_UTF8}")
    if data.startswith(b"\x00"):
        zeros = len(data) - len(data.lstrip(b"\x00"))
        raise SheetError(
            f"{path} starts with {zeros:,} NUL bytes (zeros) before any text: the file is damaged (a copy "
            "or a save that did not finish). Restore it from a backup, or save it again from Excel as "
            '"CSV UTF-8", then rerun.'
        )
    bom = data.startswith(_UTF8_BOM)
    try:
        return data[len(_UTF8_BOM) if bom else 0 :].decode("utf-8"), bom
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SheetError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): it was saved in "
            f"another encoding. {SAVE_AS_UTF8}"
        ) from None


def _looks_utf16(head: bytes) -> bool:
    """UTF-16 without a BOM: text of mostly Latin letters has a NUL at every other byte.
    NULs anywhere else (a damaged file, one starting with zeros) are not UTF-16: the rows
    holding them are refused one by one."""
    if len(head) < 4:
        return False
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    return max(even, odd) > half * 0.4 and min(even, odd) < half * 0.05


def _reader(text: str, delimiter: str) -> Iterator[list[str]]:
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)


def _delimiter(text: str, purpose: str) -> str:
    """The delimiter under which a header row appears first; else the one splitting line 1 most."""
    best: tuple[int, int, int] | None = None
    widest = (0, ",")
    for rank, delimiter in enumerate(DELIMITERS):
        try:
            sample = list(itertools.islice(_reader(text, delimiter), _SNIFF_RECORDS))
        except csv.Error:
            continue
        for number, record in enumerate(sample):
            if is_header(recognised(record), purpose):
                # ties (a one-column sheet splits the same under every delimiter) go to
                # the earlier of DELIMITERS, so a plain order_id list stays comma-separated
                candidate = (number, -len(record), rank)
                best = candidate if best is None or candidate < best else best
                break
        first = next((r for r in sample if any(c.strip() for c in r)), [])
        if len(first) > widest[0]:
            widest = (len(first), delimiter)
    return DELIMITERS[best[2]] if best else widest[1]


def _records(path: Path, text: str, delimiter: str) -> Iterator[tuple[int, list[Any]]]:
    try:
        for number, record in enumerate(_reader(text, delimiter), start=1):
            yield number, record
    except csv.Error as exc:
        raise SheetError(f"{path} cannot be parsed as CSV ({exc}). {SAVE_AS_UTF8}") from None
