"""What kind of file an input is, judged by its bytes, and whether it is safe to open.

Every file bulkorders cannot read gets one `SheetError` naming it and saying what to do:
old `.xls`, `.xlsb`, `.ods`, password-protected workbooks, empty files, zip files that are no
workbook, and workbooks built to exhaust memory (zip bombs, XML entity declarations).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from bulkorders.errors import SheetError

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
CSV_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})
WORKBOOK_SUFFIXES = frozenset({".xlsx", ".xlsm"})

# Limits against zip bombs; a 100k-row order sheet is ~25 MB of XML, far below them.
# The environment variable raises (or lowers) the total a workbook may unpack to.
UNPACKED_ENV = "BULKORDERS_MAX_UNPACKED_MB"
DEFAULT_MAX_UNPACKED_MB = 200
MAX_RATIO = 1000
RATIO_FLOOR_BYTES = 50 << 20
# An XML prolog longer than this is not something Excel writes.
MAX_PROLOG_BYTES = 1 << 20
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_OLE_SCAN_BYTES = 64 << 20
_XML_SNIFF_BYTES = 512

SAVE_AS_XLSX = "Open it in Excel (or LibreOffice) and save it as .xlsx (Excel Workbook) or CSV UTF-8, then rerun."


def sniff(path: Path) -> str:
    """"xlsx" (also .xlsm) or "csv"; raises SheetError for anything that cannot be read."""
    try:
        if path.is_dir():
            raise SheetError(f"{path} is a folder, not a sheet. Give the path of an .xlsx, .xlsm or .csv file.")
        with path.open("rb") as fh:
            head = fh.read(8)
    except FileNotFoundError:
        raise SheetError(f"{path}: no such file. Check the path and rerun.") from None
    except OSError as exc:
        raise SheetError(f"Cannot open {path}: {exc.strerror}. Check the file and its permissions.") from None
    suffix = path.suffix.lower()
    if not head:
        raise SheetError(f"{path} is empty (0 bytes). Put the orders in it, or check that this is the right file.")
    if head.startswith(OLE_MAGIC):
        _refuse_ole(path)
    if head.startswith(ZIP_MAGIC):
        if suffix in CSV_SUFFIXES:
            raise SheetError(f"{path} is an Excel workbook with a {suffix} name. Rename it to .xlsx and rerun.")
        _check_zip(path)
        return "xlsx"
    if suffix in WORKBOOK_SUFFIXES:
        raise SheetError(
            f"{path} is not an Excel workbook (an .xlsx file is a zip archive; this one is not). "
            "If it is really a CSV file, rename it to .csv; otherwise save it again from Excel as .xlsx."
        )
    if suffix in {".xls", ".xlsb", ".ods"}:
        raise SheetError(f"{path} is not a workbook bulkorders can read. {SAVE_AS_XLSX}")
    if suffix in CSV_SUFFIXES or b"\x00" not in head:
        return "csv"
    raise SheetError(f"{path} is not a sheet bulkorders can read: use an .xlsx, .xlsm or .csv file.")


def _refuse_ole(path: Path) -> None:
    """An OLE compound file is either an encrypted OOXML workbook or an old binary .xls."""
    with path.open("rb") as fh:
        data = fh.read(_OLE_SCAN_BYTES)
    if _ENCRYPTED_STREAM in data:
        raise SheetError(
            f"{path} is password-protected. Open it in Excel, remove the password "
            "(File > Info > Protect Workbook > Encrypt with Password, clear the box), save it, and rerun."
        )
    raise SheetError(f"{path} is an old Excel 97-2003 workbook (.xls). {SAVE_AS_XLSX}")


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = {info.filename.lower() for info in infos}
            _refuse_other_formats(path, names)
            _refuse_bombs(path, infos)
            for info in infos:
                if info.file_size and _is_xml(path, archive, info):
                    _refuse_doctype(path, archive, info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as exc:
        raise SheetError(f"{path} is damaged and cannot be opened as a workbook ({exc}). {SAVE_AS_XLSX}") from None


def _refuse_other_formats(path: Path, names: set[str]) -> None:
    if any(name.endswith("workbook.bin") for name in names):
        raise SheetError(f"{path} is an Excel binary workbook (.xlsb). {SAVE_AS_XLSX}")
    if "content.xml" in names and "mimetype" in names:
        raise SheetError(f"{path} is an OpenDocument spreadsheet (.ods). {SAVE_AS_XLSX}")
    if not any(name.endswith("workbook.xml") for name in names):
        raise SheetError(
            f"{path} is a zip file but not an Excel workbook (no workbook inside). "
            "Use an .xlsx, .xlsm or .csv file."
        )


def limit_from_env(name: str, default: int) -> int:
    """A positive whole number from the environment variable `name`, else `default`."""
    value = os.environ.get(name, "").strip().replace("_", "")
    if not value:
        return default
    if not value.isdigit() or int(value) == 0:
        raise SheetError(f"{name} must be a positive whole number (it is {value!r}).")
    return int(value)


def _refuse_bombs(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse, before anything is unpacked, a package whose parts unpack to more than an
    order sheet can need, or one part that unpacks from nearly nothing (the zip headers
    say how big each part is)."""
    limit_mb = limit_from_env(UNPACKED_ENV, DEFAULT_MAX_UNPACKED_MB)
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > MAX_RATIO and info.file_size > RATIO_FLOOR_BYTES:
            raise SheetError(
                f"{path} unpacks to {info.file_size:,} bytes from {info.compress_size:,} "
                f"({info.filename}); refusing it as unsafe to open. If it is a real order sheet, "
                "split it into smaller files."
            )
    total = sum(info.file_size for info in infos)
    if total > limit_mb << 20:
        biggest = max(infos, key=lambda info: info.file_size)
        raise SheetError(
            f"{path} unpacks to {total / (1 << 20):,.0f} MB ({biggest.filename}: "
            f"{biggest.file_size / (1 << 20):,.0f} MB), more than the {limit_mb:,} MB an order sheet can "
            f"need; refusing it as unsafe to open. If it is a real order sheet, split it into smaller "
            f"files, or raise the limit with {UNPACKED_ENV}."
        )


def _is_xml(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Whether a part is XML, by its bytes, not its name: a worksheet may be `sheet1.dat`.
    XML in UTF-16 (which Excel never writes, and which the DOCTYPE check would not see)
    is refused."""
    if info.filename.lower().endswith((".xml", ".rels", ".vml")):
        return True
    with archive.open(info) as member:
        head = member.read(_XML_SNIFF_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:2] in (b"<\x00", b"\x00<"):
        raise SheetError(
            f"{path} has a part in UTF-16 ({info.filename}), which Excel never writes; refusing it as "
            "possibly malicious. Save the sheet again from Excel and rerun."
        )
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _refuse_doctype(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Excel never writes DTDs; a part declaring entities is refused (billion-laughs and kin)."""
    with archive.open(info) as member:
        prolog = b""
        while len(prolog) < MAX_PROLOG_BYTES:
            chunk = member.read(4096)
            if not chunk:
                break
            prolog += chunk
            root = _root_element_start(prolog)
            if root is not None:
                prolog = prolog[:root]
                break
        if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog or len(prolog) >= MAX_PROLOG_BYTES:
            raise SheetError(
                f"{path} contains XML declarations (DOCTYPE/ENTITY in {info.filename}) that Excel never "
                "writes; refusing it as possibly malicious. Save the sheet again from Excel and rerun."
            )


def _root_element_start(data: bytes) -> int | None:
    """Offset of the first start tag that is not `<?…`, `<!…` or inside a comment, if seen yet."""
    start = 0
    while True:
        at = data.find(b"<", start)
        if at < 0 or at + 1 >= len(data):
            return None
        if data.startswith(b"<!--", at):
            end = data.find(b"-->", at + 4)
            if end < 0:
                return None
            start = end + 3
            continue
        if data[at + 1 : at + 2] not in (b"?", b"!"):
            return at
        start = at + 1
