"""Where a link cell of an .xlsx points: its hyperlink, or the address of its =HYPERLINK().

A cell can show one text ("AAA111", "Post 3") and link to another address; what the
user means is the address. calamine reads the shown text only, so the worksheet's
`<hyperlinks>` (targets in the sheet's relationships) and its HYPERLINK formulas are read
here, streamed in chunks, looking only for those two things.
"""

from __future__ import annotations

import html
import posixpath
import re
import zipfile
from pathlib import Path

from defusedxml import ElementTree

from bulkorders.sheets.ooxml import column_index

_CHUNK = 1 << 20
_MAX_RANGE_CELLS = 1_000_000  # a hyperlink over a whole column is not per-cell information
_HYPERLINK_TAG = re.compile(rb"<(?:[\w.-]+:)?hyperlink\b([^>]*)>")
_ATTR = re.compile(rb'([\w.-]+:)?([\w.-]+)="([^"]*)"')
_RANGE = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)(?::\$?([A-Za-z]{1,3})\$?(\d+))?")
_FUNCTION = re.compile(rb"HYPERLINK\(", re.I)
_CELL_REF = re.compile(rb'\br="([A-Za-z]{1,3})(\d+)"')
_FORMULA_OPEN = re.compile(rb"<(?:[\w.-]+:)?f\b[^>]*>")
_STRING = re.compile(r'\s*"((?:[^"]|"")*)"')

Links = dict[tuple[int, int], str]  # (Excel row, 0-based column) -> the address


def cell_links(path: Path, part: str) -> Links:
    """The address of every cell of worksheet `part` that has a hyperlink or a HYPERLINK
    formula with a literal address (a formula wins: it is what Excel follows)."""
    found: Links = {}
    with zipfile.ZipFile(path) as archive:
        targets = _relationship_targets(archive, part)
        with archive.open(part) as member:
            carry = b""
            while True:
                chunk = member.read(_CHUNK)
                data = carry + chunk
                cut = data.rfind(b"</row>") + 6 if chunk else len(data)  # whole rows only
                if chunk and cut < 6:
                    carry = data
                    continue
                if targets:  # no hyperlink relationships: no hyperlinks to look for
                    _hyperlinks(data[:cut], targets, found)
                if b"YPERLINK(" in data or b"yperlink(" in data:  # cheap before the regex
                    _formulas(data[:cut], found)
                if not chunk:
                    return found
                carry = data[cut:]


def _hyperlinks(data: bytes, targets: dict[str, str], found: Links) -> None:
    if b"hyperlink" not in data:
        return
    for tag in _HYPERLINK_TAG.finditer(data):
        attrs = {name.decode(): value.decode() for _, name, value in _ATTR.findall(tag.group(1))}
        target = targets.get(attrs.get("id", ""))
        ref = _RANGE.fullmatch(attrs.get("ref", ""))
        if not target or ref is None:
            continue  # a link inside the workbook (location=), or a broken one
        top, bottom = int(ref.group(2)), int(ref.group(4) or ref.group(2))
        left = column_index(ref.group(1))
        right = column_index(ref.group(3) or ref.group(1))
        if (bottom - top + 1) * (right - left + 1) > _MAX_RANGE_CELLS:
            continue
        for row in range(top, bottom + 1):
            for column in range(left, right + 1):
                found.setdefault((row, column), target)


def _formulas(data: bytes, found: Links) -> None:
    """Cells whose formula is `HYPERLINK("address", …)`: the literal address."""
    for call in _FUNCTION.finditer(data):
        start = max(data.rfind(b"<c ", 0, call.start()), data.rfind(b":c ", 0, call.start()))
        if start < 0:
            continue
        head = data[start : call.start()]
        formula = _FORMULA_OPEN.search(head)
        if formula is None or head[formula.end() :].strip() not in (b"", b"_xlfn."):
            continue  # not a formula that starts with HYPERLINK(
        ref = _CELL_REF.search(head, 0, formula.start())
        if ref is None:
            continue
        text = html.unescape(data[call.end() : call.end() + 8200].split(b"<", 1)[0].decode(errors="replace"))
        literal = _STRING.match(text)
        if literal is not None:
            address = literal.group(1).replace('""', '"').strip()
            found[(int(ref.group(2)), column_index(ref.group(1).decode()))] = address


def _relationship_targets(archive: zipfile.ZipFile, part: str) -> dict[str, str]:
    """Relationship id -> external target, from the worksheet's `_rels` part."""
    rels = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
    try:
        root = ElementTree.fromstring(archive.read(rels))
    except (KeyError, ElementTree.ParseError):
        return {}
    targets = {}
    for rel in root.iter():
        if (rel.get("Type") or "").endswith("/hyperlink") and rel.get("Id"):
            targets[rel.get("Id")] = (rel.get("Target") or "").strip()
    return targets
