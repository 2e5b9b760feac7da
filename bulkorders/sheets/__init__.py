"""The user's file in and out: reading order sheets (.xlsx, .xlsm, .csv) and writing results back.

Public: reading (`read_sheet`, `Sheet`), cell values (`cells`: pure), write-back, and the one
formula-safe writer of every other workbook or CSV bulkorders writes (`safe`). Private:
the readers and writers of each format and the OOXML plumbing.
"""

from bulkorders.surface import public_surface

EXPORTS = {
    "Sheet": "read",
    "SheetRow": "read",
    "read_sheet": "read",
    "sheet_names": "read",
    "BadCell": "cells",
    "amount": "cells",
    "cell_text": "cells",
    "day_month_year": "cells",
    "display": "cells",
    "id_problem": "cells",
    "id_text": "cells",
    "lines": "cells",
    "shown": "cells",
    "text": "cells",
    "whole_number": "cells",
    "backup_copy": "write",
    "check_writable": "write",
    "default_output_path": "write",
    "write_back": "write",
    "put_side_sheet": "side_sheet",
    "FORMULA_STARTS": "write_values",
    "clean_text": "safe",
    "csv_row": "safe",
    "literal_format": "safe",
    "put": "safe",
    "put_cell": "safe",
    "put_row": "safe",
}
__all__, __getattr__, __dir__ = public_surface(__name__, EXPORTS)
