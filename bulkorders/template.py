"""The ready-to-fill workbook of `bulkorders template`: an Orders sheet (headers with notes, a
service dropdown fed by the Services sheet, widths, frozen header) and a Services sheet.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from bulkorders.errors import UsageError
from bulkorders.models import Service, type_rule
from bulkorders.sheets import put_cell, put_row

ORDERS_SHEET = "Orders"
SERVICES_SHEET = "Services"
LAST_ROW = 5001  # validations cover this many order rows
BLANK_SERVICE_ROWS = 1000  # dropdown range of a template made without a catalogue

# (header, note, width): the note shows when the header cell is hovered in Excel.
ORDER_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("link", "The page, post or profile to promote (https://…). Required, except for Subscriptions.", 42),
    ("service", "The service id: pick it from the list (the Services sheet). Required.", 10),
    ("quantity", "How many, a whole number within the service's min and max. Leave blank for packages, "
                 "custom comments and other types counted by their lines.", 10),
    ("runs", "Drip-feed: how many deliveries (2 or more). Give runs and interval together, or neither. "
             "Total = quantity x runs.", 7),
    ("interval", "Drip-feed: minutes between deliveries (1 or more).", 9),
    ("comments", "Custom Comments, Comment Replies: one comment per line (Alt+Enter starts a new line). "
                 "The number of lines is the quantity.", 36),
    ("usernames", "Mentions: the usernames, one per line.", 22),
    ("hashtags", "Mentions with Hashtags: the hashtags, one per line.", 18),
    ("hashtag", "Mentions Hashtag: one hashtag.", 14),
    ("username", "Mentions User Followers, Comment Likes, Comment Replies, Subscriptions: one username.", 16),
    ("media", "Mentions Media Likers: the media link.", 20),
    ("answer_number", "Poll: the number of the answer to vote for (1, 2, …).", 9),
    ("groups", "Invites from Groups: the groups, one per line.", 20),
    ("min", "Subscriptions: least quantity per new post.", 7),
    ("max", "Subscriptions: most quantity per new post.", 7),
    ("posts", "Subscriptions: how many new posts (blank: no limit).", 7),
    ("old_posts", "Subscriptions: how many existing posts to include.", 9),
    ("delay", "Subscriptions: minutes to wait after a new post (0 for none).", 7),
    ("expiry", "Subscriptions: end date, day/month/year (e.g. 31/12/2025). Optional.", 11),
    ("country", "Web Traffic: country code, e.g. US.", 9),
    ("device", "Web Traffic: 1 desktop, 2 Android, 3 iOS, 4 mixed mobile, 5 mixed all.", 8),
    ("type_of_traffic", "Web Traffic: 1 Google keyword, 2 custom referrer, 3 blank referrer.", 10),
    ("google_keyword", "Web Traffic with type_of_traffic 1: the search keyword.", 18),
    ("referring_url", "Web Traffic with type_of_traffic 2: the referring page (https://…).", 24),
    ("notes", "Your own notes. Columns bulkorders does not know are kept as they are.", 24),
)  # fmt: skip

SERVICE_COLUMNS: tuple[tuple[str, int], ...] = (
    ("service", 10), ("name", 48), ("type", 24), ("category", 22), ("rate", 9), ("min", 9),
    ("max", 11), ("refill", 7), ("cancel", 7), ("fields", 36),
)  # fmt: skip

# (column, lowest, highest or None): the whole-number columns get a warning when a cell is not one.
WHOLE_NUMBER_COLUMNS: tuple[tuple[str, int, int | None], ...] = (
    ("quantity", 1, None), ("runs", 2, None), ("interval", 1, None),
    ("answer_number", 1, None), ("device", 1, 5), ("type_of_traffic", 1, 3),
)  # fmt: skip

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="305496")


def write_template(path: Path, services: Iterable[Service] | None, *, panel: str | None = None) -> int:
    """Write the template to `path`: a workbook (.xlsx), or a CSV of the order columns' header
    (.csv, UTF-8 with a byte-order mark so Excel reads it right); returns how many services
    it lists (none in a CSV)."""
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise UsageError(f"The template is an Excel workbook or a CSV file: give --out a name ending in .xlsx "
                         f"or .csv (not {path.name}).")  # fmt: skip
    try:
        if suffix == ".csv":
            path.write_text(",".join(name for name, _, _ in ORDER_COLUMNS) + "\r\n", encoding="utf-8-sig")
            return 0
        workbook, count = build_template(services, panel=panel)
        workbook.save(path)
    except OSError as exc:
        raise UsageError(f"Cannot write {path}: {exc.strerror}. Close it in Excel or choose another --out.") from None
    return count


def build_template(services: Iterable[Service] | None, *, panel: str | None = None) -> tuple[Workbook, int]:
    """The template workbook in memory, and how many services its Services sheet lists."""
    workbook = Workbook()
    orders = workbook.active
    orders.title = ORDERS_SHEET
    catalogue = sorted(services or (), key=_id_order)
    _orders_sheet(orders, len(catalogue) or BLANK_SERVICE_ROWS)
    _services_sheet(workbook.create_sheet(SERVICES_SHEET), catalogue, panel)
    return workbook, len(catalogue)


def _header(sheet: Worksheet, names: Iterable[str], widths: Iterable[int]) -> None:
    for column, (name, width) in enumerate(zip(names, widths), start=1):
        cell = put_cell(sheet, 1, column, name)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        cell.alignment = Alignment(vertical="center")
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = "A2"


def _orders_sheet(sheet: Worksheet, service_rows: int) -> None:
    _header(sheet, (c[0] for c in ORDER_COLUMNS), (c[2] for c in ORDER_COLUMNS))
    for column, (_, note, _) in enumerate(ORDER_COLUMNS, start=1):
        comment = Comment(note, "bulkorders")
        comment.width, comment.height = 260, 90
        sheet.cell(row=1, column=column).comment = comment
    letter = {name: get_column_letter(i) for i, (name, _, _) in enumerate(ORDER_COLUMNS, start=1)}
    dropdown = DataValidation(
        type="list",
        formula1=f"{SERVICES_SHEET}!$A$2:$A${service_rows + 1}",
        allow_blank=True,
        errorStyle="warning",
        errorTitle="Unknown service",
        error="This id is not in the cached catalogue. `bulkorders validate` will check it.",
        promptTitle="service",
        prompt="Pick a service id (see the Services sheet).",
    )
    _apply(sheet, dropdown, letter["service"])
    for name, low, high in WHOLE_NUMBER_COLUMNS:
        rule = DataValidation(
            type="whole",
            operator="between" if high else "greaterThanOrEqual",
            formula1=str(low),
            formula2=str(high) if high else None,
            allow_blank=True,
            errorStyle="warning",
            error=f"{name}: a whole number" + (f" from {low} to {high}." if high else f" of {low} or more."),
        )
        _apply(sheet, rule, letter[name])


def _apply(sheet: Worksheet, validation: DataValidation, letter: str) -> None:
    sheet.add_data_validation(validation)
    validation.add(f"{letter}2:{letter}{LAST_ROW}")


def _services_sheet(sheet: Worksheet, services: list[Service], panel: str | None) -> None:
    _header(sheet, (c[0] for c in SERVICE_COLUMNS), (c[1] for c in SERVICE_COLUMNS))
    for row, service in enumerate(services, start=2):
        rule = type_rule(service.type)
        needs = ["link"] * rule.needs_link + ["quantity"] * (rule.quantity == "required") + list(rule.fields)
        values = (
            _id_cell(service.service), service.name, service.type, service.category, service.rate,
            service.min, service.max, "yes" if service.refill else "no", "yes" if service.cancel else "no",
            ", ".join(needs),
        )  # fmt: skip
        put_row(sheet, row, values)
        sheet.cell(row=row, column=5).number_format = "0.00####"
    last = get_column_letter(len(SERVICE_COLUMNS))
    sheet.auto_filter.ref = f"A1:{last}{max(len(services), 1) + 1}"
    note_column = len(SERVICE_COLUMNS) + 2
    note = (
        f"Catalogue of panel {panel}. Rates per 1000."
        if services
        else "No catalogue: run `bulkorders template` to fill this sheet from your panel."
    )
    put_cell(sheet, 1, note_column, note).font = Font(italic=True)


def _id_cell(service_id: str) -> int | str:
    # A number typed in Orders!B only matches a list entry that is a number too.
    numeric = service_id.isascii() and service_id.isdigit() and not service_id.startswith("0")
    return int(service_id) if numeric else service_id


def _id_order(service: Service) -> tuple[int, int | str]:
    sid = service.service
    return (0, int(sid)) if sid.isascii() and sid.isdigit() else (1, sid)
