"""A worksheet of bulkorders' own in a results workbook (the campaign's orders that no longer
match a row): added at the end, or its content replaced when the workbook has it already.

Package-level edits, as the write-back does: the workbook part, its relationships and the
content types get one entry each by splicing; every other part is copied as it is. Text
cells are inline strings, which are never formulas.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO
from xml.sax.saxutils import escape, quoteattr

from bulkorders.sheets.ooxml import sheet_part
from bulkorders.sheets.write import _atomic_write
from bulkorders.sheets.write_package import column_letter, copy_package
from bulkorders.sheets.write_values import WriteProblem

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SHEET_TYPE = _REL + "/worksheet"
_SHEET_CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_WORKBOOK = "xl/workbook.xml"
_WORKBOOK_RELS = "xl/_rels/workbook.xml.rels"
_TYPES = "[Content_Types].xml"

Cell = str | int | Decimal | None


def put_side_sheet(path: Path, title: str, rows: Sequence[Sequence[Cell]]) -> None:
    """Write `rows` (the first one a header) as the worksheet `title` of the workbook at `path`.

    Raises WriteBackError (through the atomic write) when the file cannot be written.
    """
    body = _sheet_xml(rows)

    def produce(stream: IO[bytes]) -> tuple[None, list[str]]:
        with zipfile.ZipFile(path) as zf:
            edits = _edits(zf, title, body)
            names = set(zf.namelist())
            added = {name: b"".join(pieces) for name, pieces in edits.items() if name not in names}
            copy_package(zf, stream, {n: p for n, p in edits.items() if n in names}, added)
        return None, []

    _atomic_write(path, path, produce)  # type: ignore[arg-type]


def _edits(zf: zipfile.ZipFile, title: str, body: bytes) -> dict[str, list[bytes]]:
    part = sheet_part(zf, title)
    if part is not None:
        return {part: [body]}
    names = set(zf.namelist())
    number = 1
    while f"xl/worksheets/sheet{number}.xml" in names:
        number += 1
    part = f"xl/worksheets/sheet{number}.xml"
    workbook = zf.read(_WORKBOOK)
    rels = zf.read(_WORKBOOK_RELS)
    rel_ids = {int(n) for n in re.findall(rb'Id="rId(\d+)"', rels)}
    rel_id = f"rId{max(rel_ids, default=0) + 1}"
    sheet_ids = [int(n) for n in re.findall(rb'<(?:[\w.-]+:)?sheet\b[^>]*\bsheetId="(\d+)"', workbook)]
    prefix = re.search(rb'xmlns:([\w.-]+)="' + _REL.encode() + b'"', workbook)
    r = prefix.group(1).decode() if prefix else "r"
    declare = "" if prefix else f' xmlns:r="{_REL}"'
    entry = (f'<sheet name={quoteattr(title)} sheetId="{max(sheet_ids, default=0) + 1}" '
             f'{r}:id="{rel_id}"{declare}/>').encode()  # fmt: skip
    return {
        _WORKBOOK: [_before_close(workbook, b"sheets", entry)],
        _WORKBOOK_RELS: [_before_close(rels, b"Relationships", (
            f'<Relationship Id="{rel_id}" Type="{_SHEET_TYPE}" Target="worksheets/sheet{number}.xml"/>'
        ).encode())],
        _TYPES: [_before_close(zf.read(_TYPES), b"Types", (
            f'<Override PartName="/{part}" ContentType="{_SHEET_CONTENT}"/>'
        ).encode())],
        part: [body],
    }  # fmt: skip


def _before_close(xml: bytes, tag: bytes, entry: bytes) -> bytes:
    found = list(re.finditer(rb"</(?:[\w.-]+:)?" + tag + rb"\s*>", xml))
    if not found:
        raise WriteProblem(f"the workbook has no <{tag.decode()}> list to add a sheet to")
    at = found[-1].start()
    return xml[:at] + entry + xml[at:]


def _sheet_xml(rows: Sequence[Sequence[Cell]]) -> bytes:
    lines = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN}"><sheetData>']
    for number, row in enumerate(rows, start=1):
        cells = "".join(_cell(f"{column_letter(index)}{number}", value) for index, value in enumerate(row, 1))
        lines.append(f'<row r="{number}">{cells}</row>')
    lines.append("</sheetData></worksheet>")
    return "".join(lines).encode("utf-8")


def _cell(ref: str, value: Cell) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return f'<c r="{ref}"><v>{value}</v></c>'
    text = escape(str(value))
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
