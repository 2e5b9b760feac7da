"""Package-level edits of an .xlsx/.xlsm: two cell formats, the calculation chain, the zip.

Byte-level splices, never a parse-and-serialise of a whole part, so namespace prefixes,
`mc:Ignorable` lists and everything this code does not know stay exactly as Excel wrote them.
"""

from __future__ import annotations

import functools
import re
import zipfile
from collections.abc import Iterable, Mapping
from typing import IO

from bulkorders.sheets.write_values import WriteProblem

CHARGE_FORMAT = "0.00############"  # at least cents, every further decimal the panel gives


_CELL_XFS = re.compile(rb"<((?:[\w.-]+:)?)cellXfs\b([^>]*?)(/?)>")
_NUM_FMTS = re.compile(rb"<((?:[\w.-]+:)?)numFmts\b([^>]*?)(/?)>")
_NUM_FMT_ID = re.compile(rb'<(?:[\w.-]+:)?numFmt\b[^>]*\bnumFmtId="(\d+)"')
_XF = re.compile(rb"<(?:[\w.-]+:)?xf\b")
_COUNT = re.compile(rb'\scount="\d*"')
_STYLE_SHEET = re.compile(rb"<((?:[\w.-]+:)?)styleSheet\b[^>]*>")


def _close_tag(xml: bytes, pos: int, end: int, name: bytes) -> int:
    found = re.compile(rb"</(?:[\w.-]+:)?" + name + rb">").search(xml, pos, end)
    if found is None:
        raise WriteProblem(f"<{name.decode()}> of the styles is not closed")
    return found.start()


def add_styles(styles: bytes) -> tuple[bytes, int | None, int | None]:
    """Append the charge format and the quote-prefix format; their cellXfs indices
    (None, None when the styles part has no cell formats to add to)."""
    sheet = _STYLE_SHEET.search(styles)
    xfs = _CELL_XFS.search(styles)
    if sheet is None or xfs is None or xfs.group(3):
        return styles, None, None
    prefix = xfs.group(1)
    fmt_id = max([163, *(int(i) for i in _NUM_FMT_ID.findall(styles))]) + 1
    xfs_end = _close_tag(styles, xfs.end(), len(styles), b"cellXfs")
    count = len(_XF.findall(styles, xfs.end(), xfs_end))
    new_xfs = (
        b'<%sxf numFmtId="%d" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        b'<%sxf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
        % (prefix, fmt_id, prefix)
    )
    xfs_open = b"<%scellXfs%s count=\"%d\">" % (prefix, _COUNT.sub(b"", xfs.group(2)), count + 2)
    styles = styles[: xfs.start()] + xfs_open + styles[xfs.end() : xfs_end] + new_xfs + styles[xfs_end:]
    num_fmt = b'<%snumFmt numFmtId="%d" formatCode="%s"/>' % (prefix, fmt_id, CHARGE_FORMAT.encode())
    fmts = _NUM_FMTS.search(styles)
    block = b'<%snumFmts count="1">%s</%snumFmts>' % (prefix, num_fmt, prefix)
    if fmts is None:  # numFmts comes first in a styleSheet
        at = _STYLE_SHEET.search(styles).end()  # type: ignore[union-attr]
        styles = styles[:at] + block + styles[at:]
    elif fmts.group(3):
        styles = styles[: fmts.start()] + block + styles[fmts.end() :]
    else:
        fmts_end = _close_tag(styles, fmts.end(), len(styles), b"numFmts")
        n = len(_NUM_FMT_ID.findall(styles, fmts.end(), fmts_end)) + 1
        opened = b"<%snumFmts%s count=\"%d\">" % (prefix, _COUNT.sub(b"", fmts.group(2)), n)
        styles = styles[: fmts.start()] + opened + styles[fmts.end() : fmts_end] + num_fmt + styles[fmts_end:]
    return styles, count, count + 1


def drop_calc_chain(zf: zipfile.ZipFile) -> dict[str, Iterable[bytes] | None]:
    """A formula cell was overwritten: drop the calculation chain (Excel rebuilds it),
    which would otherwise point at a cell that no longer holds a formula."""
    chain = next((n for n in zf.namelist() if n.lower().endswith("calcchain.xml")), None)
    if chain is None:
        return {}
    edits: dict[str, Iterable[bytes] | None] = {chain: None}
    remove = re.compile(rb"<(?:[\w.-]+:)?(?:Override|Relationship)\b[^>]*calcChain[^>]*/>", re.IGNORECASE)
    for member in zf.namelist():
        if member == "[Content_Types].xml" or member.endswith("workbook.xml.rels"):
            edits[member] = [remove.sub(b"", zf.read(member))]
    return edits


def copy_package(zf: zipfile.ZipFile, out: IO[bytes], edits: Mapping[str, Iterable[bytes] | None]) -> None:
    """Every member in its original order: edited ones from their pieces (None drops one),
    the others copied as they are."""
    seen: set[str] = set()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in zf.infolist():
            if info.filename in seen:
                continue
            seen.add(info.filename)
            if info.filename in edits:
                pieces = edits[info.filename]
                if pieces is not None:
                    _write_member(dst, info, pieces)
                continue
            with zf.open(info) as src:
                _write_member(dst, info, iter(lambda: src.read(1 << 20), b""), info.compress_type)


def _write_member(
    dst: zipfile.ZipFile, info: zipfile.ZipInfo, pieces: Iterable[bytes], compress: int = zipfile.ZIP_DEFLATED
) -> None:
    clone = zipfile.ZipInfo(info.filename, info.date_time)
    clone.external_attr = info.external_attr
    known = compress in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
    clone.compress_type = compress if known else zipfile.ZIP_DEFLATED
    with dst.open(clone, "w", force_zip64=True) as sink:
        buffer: list[bytes] = []
        size = 0
        for piece in pieces:  # gathered into ~1 MB writes: each write compresses
            buffer.append(piece)
            size += len(piece)
            if size >= 1 << 20:
                sink.write(b"".join(buffer))
                buffer, size = [], 0
        sink.write(b"".join(buffer))


@functools.lru_cache(maxsize=1024)
def column_letter(index: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@functools.lru_cache(maxsize=1024)
def column_index(letters: str) -> int:
    """A -> 1, AA -> 27."""
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
    return index
