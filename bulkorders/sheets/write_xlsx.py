"""Write-back into an .xlsx/.xlsm by editing the worksheet's XML in place.

Every part of the package but two is copied byte for byte: charts, pictures, pivot
tables, tables, macros, slicers and whatever a future Excel adds all survive, which a
load-and-save library (openpyxl) cannot promise. The order sheet's part gets its new
cells spliced into the existing rows (inline strings, so the shared-string table is not
touched, and a formula-like text stays text), and hidden column ranges over the added
columns are split so the results show; the styles part gets two cell formats appended
once (the charge's number format and a quote-prefix for formula-like text), given to
cells that have no style of their own: a cell the user styled keeps its style. Header
cells reuse the style index of the last header cell, so they look exactly like it. Only
the rows that change are parsed, which keeps a 100,000-row sheet to a few seconds and
tens of megabytes.
"""

from __future__ import annotations

import itertools
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bulkorders.models import OUTPUT_COLUMNS
from bulkorders.sheets.headers import TIME_COLUMNS
from bulkorders.sheets.parts import SheetPart, sheet_parts, styles_part
from bulkorders.sheets.write_package import (
    add_styles,
    add_time_style,
    column_index,
    column_letter,
    copy_package,
    drop_calc_chain,
    quoted_style,
    show_columns,
    size_columns,
)  # fmt: skip
from bulkorders.sheets.write_values import (
    FORMULA_STARTS,
    CellOut,
    ColumnPlan,
    WriteProblem,
    cell_out,
    excel_time,
    plan_columns,
)  # fmt: skip

MIN_WIDTH, MAX_WIDTH = 10, 60  # an added column's width, in characters
_WIDTH_SAMPLE = 2000  # rows looked at for it
_STYLED = frozenset({"charge", *TIME_COLUMNS})
MAX_SHEET_PART = 1024 * 1024 * 1024  # a worksheet XML bigger than this is not an order sheet

_SHEET_DATA = re.compile(rb"<((?:[\w.-]+:)?)sheetData\b[^>]*?(/?)>")
_ROW = re.compile(rb"<(?:[\w.-]+:)?row\b([^>]*?)(/?)>")
_CELL_WITHOUT_REF = re.compile(rb'<(?:[\w.-]+:)?c(?=[\s/>])(?![^>]*\sr=")')
_CONTENT_CELL_COLUMN = re.compile(rb'<(?:[\w.-]+:)?c\s[^>]*?\br="([A-Za-z]{1,3})\d+"[^>]*(?<!/)>')
_WHOLE_CELL = re.compile(rb"<(?:[\w.-]+:)?c\b([^>]*?)(?:/>|>.*?</(?:[\w.-]+:)?c>)", re.S)
_ROW_CLOSE = re.compile(rb"</(?:[\w.-]+:)?row>")
_R_ROW = re.compile(rb'\sr="(\d+)"')
_R_CELL = re.compile(rb'\sr="([A-Za-z]{1,3})(\d+)"')
_S_ATTR = re.compile(rb'\ss="(\d+)"')
_SPANS = re.compile(rb'\sspans="[^"]*"')
_FORMULA = re.compile(rb"<(?:[\w.-]+:)?f\b([^>]*)>")
_MERGE = re.compile(rb'<(?:[\w.-]+:)?mergeCell\b[^>]*\bref="([^"]+)"')
_DIMENSION = re.compile(rb'(<(?:[\w.-]+:)?dimension\b[^>]*\bref=")([^"]*)(")')
_CELL_START = re.compile(rb"<(?:[\w.-]+:)?c(?=[\s/>])([^>]*)>")
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPE_LIKE = re.compile("_(x[0-9A-Fa-f]{4}_)")


@dataclass
class _Context:
    """What the splice of one sheet needs, and what it found out on the way."""

    plan: ColumnPlan
    updates: Mapping[int, Mapping[str, Any]]
    header_row: int
    header_style: int | None = None
    cells: Mapping[int, Mapping[int, Any]] = field(default_factory=dict)  # row -> 0-based column -> value
    charge_style: int | None = None
    quote_style: int | None = None
    time_style: int | None = None
    styles: bytes | None = None  # the styles part as edited, when it is
    quoted: dict[int, int] = field(default_factory=dict)  # a user's style -> it with a quote prefix
    warnings: list[str] = field(default_factory=list)
    replaced_formula: bool = False
    cells_have_refs: bool = True

    def quoted_style(self, own: int) -> int:
        """The user's style `own` with the quote prefix, for a formula-like text."""
        if self.styles is None:
            return own
        if own not in self.quoted:
            self.styles, self.quoted[own] = quoted_style(self.styles, own)
        return self.quoted[own]

    def targets(self, row: int) -> dict[int, tuple[CellOut | None, int | None]]:
        """1-based column -> (value or None to clear, style index) for one row.

        The style is for a cell that has none of its own: an existing cell keeps its own
        (but for the header cells added, which always look like the header).
        """
        if row == self.header_row:
            cells = self.plan.added
            return {self.plan.positions[n] + 1: (CellOut(self.plan.titles[n]), self.header_style) for n in cells}
        found: dict[int, tuple[CellOut | None, int | None]] = {}
        for index, raw in self.cells.get(row, {}).items():
            value = cell_out("", raw)
            found[index + 1] = (value, self.quote_style if value is not None and value.formula_like else None)
        for name, raw in self.updates.get(row, {}).items():
            moment = excel_time(raw) if name in TIME_COLUMNS and self.time_style is not None else None
            value = moment or cell_out(name, raw)
            style = None
            if moment is not None:
                style = self.time_style
            elif value is not None and value.formula_like:
                style = self.quote_style
            elif value is not None and value.is_number and name == "charge":
                style = self.charge_style
            found[self.plan.positions[name] + 1] = (value, style)
        return found


def write_xlsx(
    source: Path,
    out: IO[bytes],
    *,
    sheet_name: str | None,
    header_row: int,
    headers: list[str],
    known: dict[str, int],
    updates: Mapping[int, Mapping[str, Any]],
    cells: Mapping[int, Mapping[int, Any]] | None = None,
) -> tuple[ColumnPlan, list[str]]:
    """Write `source` with the updates applied to `out`; returns (where the columns went, warnings).

    `cells` are other cells to write (row -> 0-based column -> value: a row added to a results file).
    """
    try:
        with zipfile.ZipFile(source) as zf:
            part = _find_sheet(zf, sheet_name)
            info = zf.getinfo(part.part)
            if info.file_size > MAX_SHEET_PART:
                raise WriteProblem(f"sheet {part.name} is {info.file_size} bytes, too big to edit")
            xml = zf.read(info)
            width, header_style, refs = _survey(xml, header_row)
            plan = plan_columns(headers, known, width, OUTPUT_COLUMNS)
            context = _Context(plan, updates, header_row, header_style, cells=cells or {}, cells_have_refs=refs)
            edits: dict[str, Iterable[bytes | memoryview] | None] = {}
            if _needs_styles(updates) or _formula_like(cells or {}):
                styles = styles_part(zf)
                if styles is None:
                    context.warnings.append(
                        "the workbook has no styles part: charges are shown in the General format"
                    )
                else:
                    context.styles, context.charge_style, context.quote_style = add_styles(zf.read(styles))
                    if _writes_times(updates):
                        context.styles, context.time_style = add_time_style(context.styles)
            edits[part.part] = list(_splice(xml, context))  # pieces: slices of xml, not a joined copy
            if context.styles is not None:  # the splice may have added quoted user styles
                edits[styles] = [context.styles]
            if context.replaced_formula:
                edits.update(drop_calc_chain(zf))
            copy_package(zf, out, edits)
            return plan, context.warnings
    except (zipfile.BadZipFile, KeyError, ValueError, SyntaxError, EOFError) as exc:
        raise WriteProblem(f"{source.name} is not a workbook that can be edited ({exc})") from exc


def _writes_times(updates: Mapping[int, Mapping[str, Any]]) -> bool:
    return any(columns.get(name) is not None for columns in updates.values() for name in TIME_COLUMNS)


def _needs_styles(updates: Mapping[int, Mapping[str, Any]]) -> bool:
    """Will a charge or a time number or a formula-like text be written? (Cheap: no conversion.)"""
    for columns in updates.values():
        for name, value in columns.items():
            if name in _STYLED and value is not None:
                return True
            if isinstance(value, str) and value.startswith(FORMULA_STARTS):
                return True
    return False


def _formula_like(cells: Mapping[int, Mapping[int, Any]]) -> bool:
    """Will a copied cell be a text that looks like a formula (it needs the quote style)?"""
    return any(isinstance(v, str) and v.startswith(FORMULA_STARTS) for row in cells.values() for v in row.values())


def _find_sheet(zf: zipfile.ZipFile, sheet_name: str | None) -> SheetPart:
    sheets = sheet_parts(zf)
    for sheet in sheets:
        if not sheet.is_worksheet or sheet.part not in zf.NameToInfo:
            continue
        if sheet_name is None or sheet.name == sheet_name:
            return sheet
    wanted = f"sheet {sheet_name!r}" if sheet_name else "a worksheet"
    raise WriteProblem(f"the workbook has no {wanted}")


# --- reading what is there -------------------------------------------------------------


def _rows(xml: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int, bytes, bool]]:
    """(row number, row start, row end, open tag end, attrs, self-closing) of each row."""
    number = 0
    pos = start
    while (match := _ROW.search(xml, pos, end)) is not None:
        found = _R_ROW.search(match.group(1))
        number = int(found.group(1)) if found else number + 1
        if match.group(2):
            row_end = match.end()
        else:
            close = _ROW_CLOSE.search(xml, match.end(), end)
            if close is None:
                raise WriteProblem(f"row {number} of the sheet is not closed")
            row_end = close.end()
        yield number, match.start(), row_end, match.end(), match.group(1), bool(match.group(2))
        pos = row_end


def _cells(xml: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, bytes, bool]]:
    """(1-based column, cell start, cell end, attrs, has content) of each cell of a row."""
    column = 0
    for match in _WHOLE_CELL.finditer(xml, start, end):
        found = _R_CELL.search(match.group(1))
        column = column_index(found.group(1).decode()) if found else column + 1
        yield column, match.start(), match.end(), match.group(1), not match.group(0).endswith(b"/>")


def _sheet_data(xml: bytes) -> tuple[re.Match[bytes], int]:
    """The sheetData start tag and where its content ends."""
    data = _SHEET_DATA.search(xml)
    if data is None:
        raise WriteProblem("the sheet has no cell data")
    if data.group(2):
        return data, data.end()
    close = re.compile(rb"</(?:[\w.-]+:)?sheetData>").search(xml, data.end())
    if close is None:
        raise WriteProblem("the sheet's cell data is not closed")
    return data, close.start()


def _survey(xml: bytes, header_row: int) -> tuple[int, int | None, bool]:
    """Columns in use (cells with content, merged ranges), the last header cell's style,
    and whether every cell says where it is (its `r`)."""
    data, data_end = _sheet_data(xml)
    width = 0
    header_style = None
    refs = _CELL_WITHOUT_REF.search(xml, data.end(), data_end) is None
    if not refs:  # rare writers: count cell by cell
        for number, _start, row_end, open_end, _attrs, _closed in _rows(xml, data.end(), data_end):
            for column, _c0, _c1, _a, content in _cells(xml, open_end, row_end):
                width = max(width, column if content else 0)
    else:
        letters = set(_CONTENT_CELL_COLUMN.findall(xml, data.end(), data_end))
        width = max((column_index(c.decode()) for c in letters), default=0)
    for number, _start, row_end, open_end, _attrs, _closed in _rows(xml, data.end(), data_end):
        if number == header_row:
            for _column, _c0, _c1, attrs, content in _cells(xml, open_end, row_end):
                style = _S_ATTR.search(attrs)
                if content:
                    header_style = int(style.group(1)) if style else None
            break
        if number > header_row:
            break
    for ref in _MERGE.findall(xml, data_end):
        width = max(width, column_index(re.sub(r"[^A-Za-z]", "", ref.decode().split(":")[-1])))
    return width, header_style, refs


# --- writing -------------------------------------------------------------------------------


def _splice(xml: bytes, context: _Context) -> Iterator[bytes | memoryview]:
    """The sheet XML with the targets spliced in, as pieces (no copy of the whole)."""
    data, data_end = _sheet_data(xml)
    prefix = data.group(1)
    rows = set(context.updates) | set(context.cells)
    if context.plan.added:
        rows.add(context.header_row)
    pending = sorted(rows)
    head = _grow_dimension(xml[: data.start()], pending, context)
    head = show_columns(head, {context.plan.positions[name] + 1 for name in context.plan.added})
    head = size_columns(head, prefix, _widths(context))
    open_tag = xml[data.start() : data.end()]
    if data.group(2):  # <sheetData/>: open it
        open_tag = b"<" + prefix + b"sheetData>"
    yield head + open_tag
    view = memoryview(xml)

    def cut(start: int, end: int) -> bytes | memoryview:
        """A long unchanged stretch as a view (no copy of the sheet); a short one as bytes
        (a view object is bigger than the few bytes between two edited rows)."""
        return view[start:end] if end - start >= 1 << 16 else xml[start:end]

    copied = data.end()
    index = 0
    for number, start, end, open_end, attrs, closed in _rows(xml, data.end(), data_end):
        if index < len(pending) and pending[index] <= number:
            yield cut(copied, start)
            copied = start
        while index < len(pending) and pending[index] < number:
            yield _new_row(prefix, pending[index], context)
            index += 1
        if index < len(pending) and pending[index] == number:
            yield _edit_row(xml, prefix, number, (start, end, open_end), attrs, closed, context)
            copied = end
            index += 1
    yield cut(copied, data_end)
    for row in pending[index:]:
        yield _new_row(prefix, row, context)
    if data.group(2):
        yield b"</" + prefix + b"sheetData>"
    yield cut(data_end, len(xml))


def _widths(context: _Context) -> dict[int, float]:
    """1-based column -> width (in characters) of each added column: its header or its
    longest value (in the first rows written), within MIN_WIDTH..MAX_WIDTH."""
    sample = list(itertools.islice(context.updates.values(), _WIDTH_SAMPLE))
    widths = {}
    for name in context.plan.added:
        longest = len(context.plan.titles[name])
        if name in TIME_COLUMNS:
            longest = max(longest, len("2027-01-15 08:00:05"))
        else:
            for columns in sample:
                value = cell_out(name, columns.get(name))
                longest = max(longest, len(value.text) if value is not None else 0)
        widths[context.plan.positions[name] + 1] = float(min(MAX_WIDTH, max(MIN_WIDTH, longest + 2)))
    return widths


def _new_row(prefix: bytes, number: int, context: _Context) -> bytes:
    cells = context.targets(number)
    body = b"".join(_cell_xml(prefix, number, col, cells[col]) for col in sorted(cells))
    return b'<%srow r="%d">%s</%srow>' % (prefix, number, body, prefix)


def _edit_row(
    xml: bytes, prefix: bytes, number: int, span: tuple[int, int, int], attrs: bytes,
    closed: bool, context: _Context,
) -> bytes:  # fmt: skip
    start, end, open_end = span
    todo = context.targets(number)
    out = [b"<" + prefix + b"row" + _SPANS.sub(b"", attrs) + b">"]  # the span hint goes stale
    body_end = open_end if closed else xml.rindex(b"</", open_end, end)
    if context.cells_have_refs and todo and _last_column(xml, open_end, body_end) < min(todo):
        # the usual case, new cells right of the row's last one: no need to look at each cell
        out.append(xml[open_end:body_end])
        out += [_cell_xml(prefix, number, col, todo[col]) for col in sorted(todo)]
        out.append(b"</" + prefix + b"row>")
        return b"".join(out)
    columns = sorted(todo)
    wanted = 0  # index into columns of the next target
    copied = open_end
    for column, c_start, c_end, c_attrs, _content in _cells(xml, open_end, body_end):
        if wanted == len(columns):
            break
        if columns[wanted] > column:
            continue
        out.append(xml[copied:c_start])
        copied = c_start
        while wanted < len(columns) and columns[wanted] < column:  # missing cells go before this one
            out.append(_cell_xml(prefix, number, columns[wanted], todo[columns[wanted]]))
            wanted += 1
        if wanted < len(columns) and columns[wanted] == column:
            original = xml[c_start:c_end]
            out.append(_replace_cell(original, c_attrs, prefix, number, column, todo[column], context))
            copied = c_end
            wanted += 1
    out.append(xml[copied:body_end])
    out += [_cell_xml(prefix, number, col, todo[col]) for col in columns[wanted:]]
    out.append(b"</" + prefix + b"row>")
    return b"".join(out)


def _replace_cell(
    original: bytes, attrs: bytes, prefix: bytes, row: int, column: int,
    target: tuple[CellOut | None, int | None], context: _Context,
) -> bytes:  # fmt: skip
    if _is_formula_master(original):
        context.warnings.append(
            f"row {row}, column {column_letter(column)}: the cell holds a formula "
            "shared with other cells, left as it is"
        )
        return original
    context.replaced_formula |= _FORMULA.search(original) is not None
    found = _S_ATTR.search(attrs)
    own = int(found.group(1)) if found else None
    value, style = target
    if row == context.header_row:  # new header cells look like the header, whatever was there
        style = own if style is None else style
    elif own or style is None:  # the user's fill, font, number format win; s="0" is the default
        style = own
        if own and value is not None and value.formula_like:
            style = context.quoted_style(own)  # their look, and the text stays text
    return _cell_xml(prefix, row, column, (value, style))


def _last_column(xml: bytes, start: int, end: int) -> int:
    """Column of a row's last cell (every cell of the sheet has its `r`); 0 when it has none.

    Read from the last cell's start tag: a cell's text may hold `r="A2"` too.
    """
    at = end
    while (at := xml.rfind(b"<", start, at)) != -1:
        tag = _CELL_START.match(xml, at)
        if tag is not None:
            found = _R_CELL.search(tag.group(1))
            return column_index(found.group(1).decode()) if found else 1 << 20
    return 0


def _is_formula_master(cell: bytes) -> bool:
    found = _FORMULA.search(cell)
    return found is not None and b"ref=" in found.group(1)


def _cell_xml(prefix: bytes, row: int, column: int, target: tuple[CellOut | None, int | None]) -> bytes:
    value, style = target
    ref = f"{column_letter(column)}{row}".encode()
    s_attr = b' s="%d"' % style if style is not None else b""
    c = prefix + b"c"
    if value is None:
        return b'<%s r="%s"%s/>' % (c, ref, s_attr) if s_attr else b""
    if value.is_number:
        return b'<%s r="%s"%s><%sv>%s</%sv></%s>' % (c, ref, s_attr, prefix, value.text.encode(), prefix, c)
    text = value.text
    if not text.isprintable():
        text = _XML_ILLEGAL.sub("", text)
    if "_x" in text:  # Excel would read `_x0041_` as "A"
        text = _ESCAPE_LIKE.sub(r"_x005F_\1", text)
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()
    space = b' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else b""
    return b'<%s r="%s"%s t="inlineStr"><%sis><%st%s>%s</%st></%sis></%s>' % (
        c, ref, s_attr, prefix, prefix, space, escaped, prefix, prefix, c)  # fmt: skip


def _grow_dimension(head: bytes, rows: list[int], context: _Context) -> bytes:
    """Widen the sheet's `<dimension ref=…>` to take in the new cells."""
    found = _DIMENSION.search(head)
    if found is None or not rows:
        return head
    first, _, last = found.group(2).decode().partition(":")
    try:
        top, left = _split_ref(first)
        bottom, right = _split_ref(last or first)
    except ValueError:
        return head
    bottom = max(bottom, rows[-1])
    right = max(right, max((p + 1 for p in context.plan.positions.values()), default=0))
    ref = f"{column_letter(left)}{top}:{column_letter(right)}{bottom}".encode()
    return head[: found.start(2)] + ref + head[found.end(2) :]


def _split_ref(ref: str) -> tuple[int, int]:
    match = re.fullmatch(r"\$?([A-Za-z]{1,3})\$?(\d+)", ref)
    if match is None:
        raise ValueError(ref)
    return int(match.group(2)), column_index(match.group(1))
