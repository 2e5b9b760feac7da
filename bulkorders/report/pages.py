"""The audit as a printed document: page setup of every sheet, and where the Summary's pages break.

Every sheet prints on A4, portrait or landscape by its width, scaled to one page wide (as
many pages down as it needs), with the report's title and period in the header and the
sheet's name and page numbers in the footer. Table sheets repeat their header row on
every page (print titles). The Summary's blocks and charts are kept whole: `PageFlow`
puts a page break before one that would not fit on what is left of the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

# A4 in points, and the margins (inches) the header and footer print in.
PAGE_WIDTH_PT, PAGE_HEIGHT_PT = 595.0, 842.0
MARGINS = PageMargins(left=0.5, right=0.5, top=0.8, bottom=0.8, header=0.3, footer=0.3)
ROW_PT = 15.0  # Excel's default row height (LibreOffice's is smaller, so pages only get roomier)
SAFETY = 0.95  # share of a page's height the page breaks plan to fill


def column_points(width: float) -> float:
    """A column of `width` characters, in points (Excel: 7 px a character plus 5 px padding)."""
    return (width * 7 + 5) * 0.75


def usable(landscape: bool) -> tuple[float, float]:
    """The printable width and height of a page, in points."""
    width, height = (PAGE_HEIGHT_PT, PAGE_WIDTH_PT) if landscape else (PAGE_WIDTH_PT, PAGE_HEIGHT_PT)
    return (
        width - 72 * (MARGINS.left + MARGINS.right),
        height - 72 * (MARGINS.top + MARGINS.bottom),
    )


def is_landscape(content_width_pt: float) -> bool:
    """Landscape when the sheet is wider than a portrait page."""
    return content_width_pt > usable(False)[0]


def set_up_pages(
    ws: Worksheet, content_width_pt: float, header: tuple[str, str], *, title_rows: str | None = None
) -> None:
    """A4, orientation by width, one page wide, header (title, period) and footer (sheet, page N of M).

    `title_rows` ("1:1") repeat on every page.
    """
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if is_landscape(content_width_pt) else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as needed
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_margins = MARGINS
    ws.print_options.gridLines = False
    if title_rows:
        ws.print_title_rows = title_rows
    title, period = (_escaped(text) for text in header)
    for part in (ws.oddHeader, ws.evenHeader, ws.firstHeader):
        part.left.text, part.right.text = title, period
    for part in (ws.oddFooter, ws.evenFooter, ws.firstFooter):
        part.left.text, part.right.text = _escaped(ws.title), "Page &P of &N"


def _escaped(text: str) -> str:
    """Header/footer text: "&" starts a code there, so a literal one is doubled."""
    return text.replace("&", "&&")


@dataclass
class PageFlow:
    """Where the Summary's page breaks go, so that no block or chart is split across pages.

    `scale` is the fit-to-width shrink; a page then holds 1/scale times more points.
    """

    page_height_pt: float
    scale: float = 1.0
    used: float = 0.0
    breaks: list[int] = field(default_factory=list)  # rows after which a page ends

    @property
    def room(self) -> float:
        return self.page_height_pt * SAFETY / self.scale

    def keep(self, first_row: int, height_pt: float) -> None:
        """A whole block starts at `first_row`: break before it unless it fits in what is left."""
        if self.used and self.used + height_pt > self.room:
            self.breaks.append(first_row - 1)
            self.used = 0.0
        self.used += height_pt
        while self.used > self.room:  # longer than a page: it runs on, and the next block starts below
            self.used -= self.room

    def apply(self, ws: Worksheet) -> None:
        for row in self.breaks:
            ws.row_breaks.append(Break(id=row))
