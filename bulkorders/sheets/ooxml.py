"""Looks inside an .xlsx for what calamine does not tell: a formula with no computed value,
an Excel error cell (calamine reads both as blank), and the declared size of a sheet.

Only the XML of one worksheet is read, streamed in chunks, and only when needed.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from defusedxml import ElementTree

_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CHUNK = 1 << 20
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]+)?(\d+)?(?::([A-Z]+)(\d+))?"')
_CELL_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_CELL_TYPE = re.compile(rb'\bt="(\w+)"')
_VALUE = re.compile(rb"<(?:\w+:)?v(?:\s[^>]*)?>([^<]*)</(?:\w+:)?v>")
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_ERROR_TYPE = b't="e"'
_CELL_CLOSE = re.compile(rb"</(?:\w+:)?c>")
_CELL_OPEN = re.compile(rb"<(?:\w+:)?c(\s[^>]*?)?(/?)>")


@dataclass(frozen=True)
class CellProblem:
    """A cell calamine reads as blank although it is not: `kind` is "formula" or "error"."""

    row: int  # Excel row number
    column: int  # 0-based column index
    kind: str
    text: str = ""  # the error value, e.g. "#REF!"


def column_index(letters: bytes | str) -> int:
    """`b"A"` -> 0, `b"AA"` -> 26."""
    index = 0
    for char in letters.upper() if isinstance(letters, str) else letters.decode().upper():
        index = index * 26 + ord(char) - 64
    return index - 1


def column_letter(index: int) -> str:
    """0 -> "A", 26 -> "AA"."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def sheet_part(archive: zipfile.ZipFile, sheet_name: str) -> str | None:
    """The zip member holding the worksheet called `sheet_name`, or None when it cannot be told."""
    try:
        workbook = _office_document(archive)
        root = ElementTree.fromstring(archive.read(workbook))
        rel_id = None
        for element in root.iter():
            if element.tag.endswith("}sheet") or element.tag == "sheet":
                if element.get("name") == sheet_name:
                    rel_id = element.get(f"{{{_REL_NS}}}id") or element.get("id")
                    break
        if rel_id is None:
            return None
        base = posixpath.dirname(workbook)
        rels_path = posixpath.join(base, "_rels", posixpath.basename(workbook) + ".rels")
        rels = ElementTree.fromstring(archive.read(rels_path))
        for rel in rels.iter():
            if rel.get("Id") == rel_id:
                target = rel.get("Target") or ""
                path = target.lstrip("/") if target.startswith("/") else posixpath.join(base, target)
                return posixpath.normpath(path)
    except (KeyError, ElementTree.ParseError, ValueError):
        return None
    return None


def _office_document(archive: zipfile.ZipFile) -> str:
    try:
        rels = ElementTree.fromstring(archive.read("_rels/.rels"))
        for rel in rels.iter():
            if (rel.get("Type") or "").endswith("/officeDocument"):
                return (rel.get("Target") or "").lstrip("/")
    except (KeyError, ElementTree.ParseError):
        pass
    return "xl/workbook.xml"


def declared_size(archive: zipfile.ZipFile, part: str) -> tuple[int, int] | None:
    """(rows, columns) from the sheet's `<dimension ref="A1:Z900"/>`, if it declares one."""
    with archive.open(part) as member:
        head = member.read(8192)
    match = _DIMENSION.search(head)
    if not match or not match.group(2):
        return None
    last_col, last_row = match.group(3) or match.group(1), match.group(4) or match.group(2)
    if not last_col:
        return None
    return int(last_row), column_index(last_col) + 1


def used_extent(archive: zipfile.ZipFile, part: str) -> tuple[int, int]:
    """(last row, last column) of the cells that hold something; some writers declare A1:XFD1048576
    and fill it with empty styled cells, which calamine (and this) ignore. Cells without an `r`
    (allowed, rare) are counted as a row each: the product is never below the cells read."""
    last_row = last_col = unlabelled = 0
    with archive.open(part) as member:
        carry = b""
        while True:
            chunk = member.read(_CHUNK)
            data = carry + chunk
            cut = data.rfind(b">") + 1 if chunk else len(data)
            for match in _CELL_OPEN.finditer(data, 0, cut):
                if match.group(2):
                    continue  # an empty styled cell `<c r="ZZ9" s="1"/>` holds nothing
                ref = _CELL_REF.search(match.group(1) or b"")
                if ref is None:
                    unlabelled += 1
                    continue
                row, col = int(ref.group(2)), column_index(ref.group(1)) + 1
                last_row, last_col = max(last_row, row), max(last_col, col)
            if not chunk:
                return last_row + unlabelled, max(last_col, 1 if unlabelled else 0)
            carry = data[cut:]


def blank_looking_cells(path: Path, part: str) -> list[CellProblem]:
    """Every formula cell without a computed value and every error cell of one worksheet."""
    problems: list[CellProblem] = []
    with zipfile.ZipFile(path) as archive, archive.open(part) as member:
        carry = b""
        while True:
            chunk = member.read(_CHUNK)
            data = carry + chunk
            if not chunk:
                _scan(data, problems)
                break
            cut = data.rfind(b"</row>")
            if cut < 0:
                carry = data
                continue
            cut += len(b"</row>")
            _scan(data[:cut], problems)
            carry = data[cut:]
    return problems


def _scan(data: bytes, problems: list[CellProblem]) -> None:
    if b"<f" not in data and b":f" not in data and _ERROR_TYPE not in data:
        return
    hits = sorted({m.start() for m in _FORMULA.finditer(data)} | _positions(data, _ERROR_TYPE))
    last_cell = -1
    for at in hits:
        start = max(data.rfind(b"<c ", 0, at), data.rfind(b":c ", 0, at))
        if start < 0 or start == last_cell:
            continue
        last_cell = start
        close = data.find(b">", start)
        if close < 0 or data[close - 1 : close] == b"/":
            continue
        cell_end = _CELL_CLOSE.search(data, close)
        if cell_end is None:
            continue
        problem = _judge(data[start:close], data[close : cell_end.start()])
        if problem is not None:
            problems.append(problem)


def _positions(data: bytes, needle: bytes) -> set[int]:
    found, at = set(), data.find(needle)
    while at >= 0:
        found.add(at)
        at = data.find(needle, at + 1)
    return found


def _judge(open_tag: bytes, body: bytes) -> CellProblem | None:
    ref = _CELL_REF.search(open_tag)
    if ref is None:
        return None
    row, column = int(ref.group(2)), column_index(ref.group(1))
    cell_type = _CELL_TYPE.search(open_tag)
    kind = cell_type.group(1) if cell_type else b"n"
    value = _VALUE.search(body)
    if kind == b"e":
        text = value.group(1).decode(errors="replace") if value else "#ERROR"
        return CellProblem(row, column, "error", text)
    if _FORMULA.search(body) and (value is None or (not value.group(1) and kind not in (b"str", b"s"))):
        return CellProblem(row, column, "formula")
    return None
