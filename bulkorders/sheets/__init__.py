"""Sheets in: reading order sheets from .xlsx, .xlsm and .csv files."""

from bulkorders.sheets.read import Sheet, SheetRow, read_sheet, sheet_names

__all__ = ["Sheet", "SheetRow", "read_sheet", "sheet_names"]
