"""Finding one's way inside an .xlsx/.xlsm package: sheets, relationships, special parts.

An Office workbook is a zip of XML parts tied together by `_rels/*.rels` files. The
write-back edits one worksheet part and the styles part and copies every other part
byte for byte, so charts, pictures, pivot tables and macros survive untouched.
XML is parsed with defusedxml, so a hostile workbook cannot blow up the parser.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml.ElementTree import fromstring

# XML parts we parse whole are small (rels, workbook, drawings); anything bigger is refused.
MAX_SMALL_PART = 64 * 1024 * 1024


@dataclass(frozen=True)
class SheetPart:
    name: str
    part: str  # zip member name, e.g. "xl/worksheets/sheet1.xml"
    is_worksheet: bool  # False for chartsheets and dialog sheets


def local(tag: str) -> str:
    """`{namespace}row` -> `row`: OOXML comes in transitional and strict namespaces."""
    return tag.rsplit("}", 1)[-1]


def read_xml(zf: zipfile.ZipFile, part: str) -> Element:
    info = zf.getinfo(part)
    if info.file_size > MAX_SMALL_PART:
        raise ValueError(f"{part} is {info.file_size} bytes, too big to be genuine")
    return fromstring(zf.read(info))


def rels_of(zf: zipfile.ZipFile, part: str) -> list[tuple[str, str, str]]:
    """(id, type suffix, target member name) of each relationship of `part`."""
    directory, name = posixpath.split(part)
    rels_part = posixpath.join(directory, "_rels", name + ".rels")
    if rels_part not in zf.NameToInfo:
        return []
    found = []
    for rel in read_xml(zf, rels_part):
        if local(rel.tag) != "Relationship" or rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target", "")
        if target.startswith("/"):
            member = target.lstrip("/")
        else:
            member = posixpath.normpath(posixpath.join(directory, target))
        rel_type = rel.get("Type", "").rsplit("/", 1)[-1]
        found.append((rel.get("Id", ""), rel_type, member))
    return found


def workbook_part(zf: zipfile.ZipFile) -> str:
    for _id, rel_type, member in rels_of(zf, ""):
        if rel_type == "officeDocument":
            return member
    return "xl/workbook.xml"


def sheet_parts(zf: zipfile.ZipFile) -> list[SheetPart]:
    """Every sheet of the workbook in tab order, with its zip member name."""
    book = workbook_part(zf)
    targets = {rel_id: (rel_type, member) for rel_id, rel_type, member in rels_of(zf, book)}
    sheets = []
    for element in read_xml(zf, book).iter():
        if local(element.tag) != "sheet":
            continue
        rel_id = next((v for k, v in element.attrib.items() if k.startswith("{") and local(k) == "id"), "")
        rel_type, member = targets.get(rel_id, ("", ""))
        sheets.append(SheetPart(element.get("name", ""), member, rel_type == "worksheet"))
    return sheets


def styles_part(zf: zipfile.ZipFile) -> str | None:
    for _id, rel_type, member in rels_of(zf, workbook_part(zf)):
        if rel_type == "styles" and member in zf.NameToInfo:
            return member
    return None
