"""Package-level edits of an .xlsx/.xlsm: two cell formats, hidden column ranges, the
calculation chain, the zip.

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
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"  # submitted_at, checked_at: UTC, as their headers say


_CELL_XFS = re.compile(rb"<((?:[\w.-]+:)?)cellXfs\b([^>]*?)(/?)>")
_NUM_FMTS = re.compile(rb"<((?:[\w.-]+:)?)numFmts\b([^>]*?)(/?)>")
_NUM_FMT_ID = re.compile(rb'<(?:[\w.-]+:)?numFmt\b[^>]*\bnumFmtId="(\d+)"')
_XF = re.compile(rb"<(?:[\w.-]+:)?xf\b")
_COUNT = re.compile(rb'\scount="\d*"')
_STYLE_SHEET = re.compile(rb"<((?:[\w.-]+:)?)styleSheet\b[^>]*>")
_COL = re.compile(rb"<(?:[\w.-]+:)?col\b([^>]*?)/>")
_COL_SPAN = re.compile(rb'(\s)(min|max)="(\d+)"')
_CHUNK = 1 << 20  # bytes per compressed write of a member
_HIDDEN = re.compile(rb'\shidden="(?:1|true)"')
_ZERO_WIDTH = re.compile(rb'\swidth="0*(?:\.0*)?"')
_CUSTOM_WIDTH = re.compile(rb'\scustomWidth="[^"]*"')


def _close_tag(xml: bytes, pos: int, end: int, name: bytes) -> int:
    found = re.compile(rb"</(?:[\w.-]+:)?" + name + rb">").search(xml, pos, end)
    if found is None:
        raise WriteProblem(f"<{name.decode()}> of the styles is not closed")
    return found.start()


_QUOTE_XF = b'<%sxf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
_OUR_NUM_FMT = re.compile(
    rb'<(?:[\w.-]+:)?numFmt numFmtId="(\d+)" formatCode="' + re.escape(CHARGE_FORMAT.encode()) + rb'"/>'
)


_OUR_TIME_FMT = re.compile(
    rb'<(?:[\w.-]+:)?numFmt numFmtId="(\d+)" formatCode="' + re.escape(TIME_FORMAT.encode()) + rb'"/>'
)


def _charge_xf(prefix: bytes, fmt_id: int) -> bytes:
    return b'<%sxf numFmtId="%d" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>' % (
        prefix, fmt_id)  # fmt: skip


def _ours_already(styles: bytes, prefix: bytes, start: int, end: int) -> tuple[int, int] | None:
    """The cellXfs indices of the two formats an earlier write added, if both are there."""
    fmt = _OUR_NUM_FMT.search(styles)
    if fmt is None:
        return None
    charge = styles.find(_charge_xf(prefix, int(fmt.group(1))), start, end)
    quote = styles.find(_QUOTE_XF % prefix, start, end)
    if charge == -1 or quote == -1:
        return None
    return len(_XF.findall(styles, start, charge)), len(_XF.findall(styles, start, quote))


def add_styles(styles: bytes) -> tuple[bytes, int | None, int | None]:
    """Append the charge format and the quote-prefix format; their cellXfs indices
    (None, None when the styles part has no cell formats to add to)."""
    sheet = _STYLE_SHEET.search(styles)
    xfs = _CELL_XFS.search(styles)
    if sheet is None or xfs is None or xfs.group(3):
        return styles, None, None
    prefix = xfs.group(1)
    xfs_end = _close_tag(styles, xfs.end(), len(styles), b"cellXfs")
    reused = _ours_already(styles, prefix, xfs.end(), xfs_end)
    if reused is not None:  # written by an earlier run: `status --watch` must not grow the file
        return styles, *reused
    fmt_id = max([163, *(int(i) for i in _NUM_FMT_ID.findall(styles))]) + 1
    count = len(_XF.findall(styles, xfs.end(), xfs_end))
    new_xfs = _charge_xf(prefix, fmt_id) + _QUOTE_XF % prefix
    xfs_open = b"<%scellXfs%s count=\"%d\">" % (prefix, _COUNT.sub(b"", xfs.group(2)), count + 2)
    styles = styles[: xfs.start()] + xfs_open + styles[xfs.end() : xfs_end] + new_xfs + styles[xfs_end:]
    return _add_num_fmt(styles, prefix, fmt_id, CHARGE_FORMAT), count, count + 1


def add_time_style(styles: bytes) -> tuple[bytes, int | None]:
    """Append (once) a cell format showing a date-time as `2027-01-15 08:00:05`; its index."""
    sheet = _STYLE_SHEET.search(styles)
    xfs = _CELL_XFS.search(styles)
    if sheet is None or xfs is None or xfs.group(3):
        return styles, None
    prefix = xfs.group(1)
    xfs_end = _close_tag(styles, xfs.end(), len(styles), b"cellXfs")
    fmt = _OUR_TIME_FMT.search(styles)
    if fmt is not None:
        at = styles.find(_charge_xf(prefix, int(fmt.group(1))), xfs.end(), xfs_end)
        if at != -1:
            return styles, len(_XF.findall(styles, xfs.end(), at))
    fmt_id = max([163, *(int(i) for i in _NUM_FMT_ID.findall(styles))]) + 1
    count = len(_XF.findall(styles, xfs.end(), xfs_end))
    xfs_open = b"<%scellXfs%s count=\"%d\">" % (prefix, _COUNT.sub(b"", xfs.group(2)), count + 1)
    styles = styles[: xfs.start()] + xfs_open + styles[xfs.end() : xfs_end] + _charge_xf(prefix, fmt_id) + styles[xfs_end:]
    return _add_num_fmt(styles, prefix, fmt_id, TIME_FORMAT), count


def _add_num_fmt(styles: bytes, prefix: bytes, fmt_id: int, code: str) -> bytes:
    """`styles` with the number format `code` declared under `fmt_id`."""
    num_fmt = b'<%snumFmt numFmtId="%d" formatCode="%s"/>' % (prefix, fmt_id, code.encode())
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
    return styles


_COLS = re.compile(rb"<(?:[\w.-]+:)?cols\b[^>]*?(/?)>")
_COLS_CLOSE = re.compile(rb"</(?:[\w.-]+:)?cols>")


def size_columns(head: bytes, prefix: bytes, widths: Mapping[int, float]) -> bytes:
    """`head` (a worksheet's XML before `<sheetData>`) with a width for each (1-based) column
    of `widths` that has none yet: a width the user (or an earlier run) set is kept."""
    covered: set[int] = set()
    for tag in _COL.finditer(head):
        span = {name: int(value) for _space, name, value in _COL_SPAN.findall(tag.group(1))}
        if b"min" in span and b"max" in span:
            covered.update(range(span[b"min"], span[b"max"] + 1))
    new = {col: b'<%scol min="%d" max="%d" width="%.2f" customWidth="1"/>' % (prefix, col, col, width)
           for col, width in widths.items() if col not in covered}  # fmt: skip
    if not new:
        return head
    cols = _COLS.search(head)
    if cols is None:  # <cols> comes right before <sheetData>
        return head + b"<%scols>%s</%scols>" % (prefix, b"".join(new[c] for c in sorted(new)), prefix)
    end = cols.end() if cols.group(1) else _COLS_CLOSE.search(head, cols.end()).start()  # type: ignore[union-attr]
    tags = [(int(_COL_SPAN.search(t.group(0)).group(3)) if _COL_SPAN.search(t.group(0)) else 0, t.group(0))  # type: ignore[union-attr]
            for t in _COL.finditer(head, cols.end(), end)]  # fmt: skip
    tags += list(new.items())
    body = b"".join(tag for _, tag in sorted(tags, key=lambda item: item[0]))
    open_tag = cols.group(0)[:-2] + b">" if cols.group(1) else cols.group(0)
    tail = head[end:] if not cols.group(1) else b"</%scols>" % prefix + head[cols.end() :]
    return head[: cols.start()] + open_tag + body + tail


_XF_ELEMENT = re.compile(rb"<((?:[\w.-]+:)?)xf\b([^>]*?)(?:/>|>.*?</\1xf>)", re.S)
_QUOTE_ATTR = re.compile(rb'\squotePrefix="[^"]*"')


def quoted_style(styles: bytes, own: int) -> tuple[bytes, int]:
    """The cellXfs index of style `own` with Excel's quote prefix (so a text the user's
    styled cell receives stays text when edited): `own` itself when it has it, an equal
    format already there (from an earlier run), else one appended. Returns the styles."""
    xfs = _CELL_XFS.search(styles)
    if xfs is None or xfs.group(3):
        return styles, own
    xfs_end = _close_tag(styles, xfs.end(), len(styles), b"cellXfs")
    elements = list(_XF_ELEMENT.finditer(styles, xfs.end(), xfs_end))
    if own >= len(elements):
        return styles, own
    element = elements[own]
    if b'quotePrefix="1"' in element.group(2):
        return styles, own
    start = element.start() + len(b"<" + element.group(1) + b"xf")
    clone = styles[element.start() : start] + b' quotePrefix="1"' + _strip_quote(styles[start : element.end()])
    for index, other in enumerate(elements):
        if other.group(0) == clone:
            return styles, index
    count = len(elements) + 1
    xfs_open = b"<%scellXfs%s count=\"%d\">" % (xfs.group(1), _COUNT.sub(b"", xfs.group(2)), count)
    styles = styles[: xfs.start()] + xfs_open + styles[xfs.end() : xfs_end] + clone + styles[xfs_end:]
    return styles, count - 1


def _strip_quote(rest: bytes) -> bytes:
    """An xf's attributes and children without a quotePrefix attribute of its own tag."""
    tag_end = rest.find(b">")
    return _QUOTE_ATTR.sub(b"", rest[:tag_end]) + rest[tag_end:]


def show_columns(head: bytes, added: set[int]) -> bytes:
    """`head` (a worksheet's XML before `<sheetData>`) with the hidden `<col>` ranges that
    cover the `added` (1-based) columns split, so the results show.

    Users often hide every unused column (E:XFD); the added positions get their own
    ranges without `hidden` (and without a zero width), every other position keeps its
    range's attributes exactly as they were.
    """
    if not added:
        return head

    def split(match: re.Match[bytes]) -> bytes:
        tag = match.group(0)
        if not _HIDDEN.search(match.group(1)):
            return tag
        span = {name: int(value) for _space, name, value in _COL_SPAN.findall(match.group(1))}
        low, high = span.get(b"min"), span.get(b"max")
        if low is None or high is None:
            return tag
        runs = _runs(sorted(c for c in added if low <= c <= high))
        if not runs:
            return tag
        shown = _CUSTOM_WIDTH.sub(b"", tag) if _ZERO_WIDTH.search(tag) else tag
        shown = _ZERO_WIDTH.sub(b"", _HIDDEN.sub(b"", shown))
        pieces = []
        start = low  # the first position not written yet
        for first, last in runs:
            if first > start:
                pieces.append(_col_range(tag, start, first - 1))
            pieces.append(_col_range(shown, first, last))
            start = last + 1
        if start <= high:
            pieces.append(_col_range(tag, start, high))
        return b"".join(pieces)

    return _COL.sub(split, head)


def _runs(columns: list[int]) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive columns (sorted)."""
    runs: list[tuple[int, int]] = []
    for column in columns:
        if runs and runs[-1][1] == column - 1:
            runs[-1] = (runs[-1][0], column)
        else:
            runs.append((column, column))
    return runs


def _col_range(tag: bytes, low: int, high: int) -> bytes:
    def bound(match: re.Match[bytes]) -> bytes:
        space, name = match.group(1), match.group(2)
        return b'%s%s="%d"' % (space, name, low if name == b"min" else high)

    return _COL_SPAN.sub(bound, tag)


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


def copy_package(
    zf: zipfile.ZipFile,
    out: IO[bytes],
    edits: Mapping[str, Iterable[bytes | memoryview] | None],
    added: Mapping[str, bytes] | None = None,
) -> None:
    """Every member in its original order: edited ones from their pieces (None drops one),
    the others copied as they are; then the `added` members."""
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
                _write_member(dst, info, iter(lambda: src.read(_CHUNK), b""), info.compress_type)
        for name, data in (added or {}).items():
            _write_member(dst, zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), [data])


def _write_member(
    dst: zipfile.ZipFile, info: zipfile.ZipInfo, pieces: Iterable[bytes | memoryview], compress: int = zipfile.ZIP_DEFLATED
) -> None:
    clone = zipfile.ZipInfo(info.filename, info.date_time)
    clone.external_attr = info.external_attr
    known = compress in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
    clone.compress_type = compress if known else zipfile.ZIP_DEFLATED
    with dst.open(clone, "w", force_zip64=True) as sink:
        buffer: list[bytes] = []
        size = 0
        for piece in pieces:  # gathered into ~1 MB writes: each write compresses
            if len(piece) >= _CHUNK:  # a long stretch of the original: written as it is
                sink.write(b"".join(buffer))
                buffer, size = [], 0
                view = memoryview(piece)
                for at in range(0, len(view), _CHUNK):
                    sink.write(view[at : at + _CHUNK])
                continue
            buffer.append(piece)
            size += len(piece)
            if size >= _CHUNK:
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
