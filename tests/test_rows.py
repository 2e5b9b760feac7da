"""`--rows` parsing: Excel row numbers and ranges."""

from __future__ import annotations

import pytest

from bulkorders.errors import ExitCode, UsageError
from bulkorders.lifecycle.rowspec import RowSelection, parse_rows


def test_rows_and_ranges():
    selection = parse_rows("2-4,7")
    assert selection == RowSelection(((2, 4), (7, 7)))
    assert list(selection.rows()) == [2, 3, 4, 7]
    assert 3 in selection and 7 in selection
    assert 5 not in selection and 1 not in selection and 8 not in selection


def test_spaces_overlaps_and_adjacent_ranges_merge():
    selection = parse_rows(" 10 - 12 , 2-5, 4-8,9, 45 ,")
    assert selection.ranges == ((2, 12), (45, 45))
    assert str(selection) == "2-12,45"


def test_single_row():
    assert str(parse_rows("45")) == "45"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", '--rows is empty: give Excel row numbers such as "2-40,45".'),
        (" , ", '--rows is empty: give Excel row numbers such as "2-40,45".'),
        ("a-3", '--rows: "a-3" is not a row number or a range; use Excel row numbers such as "2-40,45".'),
        ("2-", '--rows: "2-" is not a row number or a range; use Excel row numbers such as "2-40,45".'),
        ("-3", '--rows: "-3" is not a row number or a range; use Excel row numbers such as "2-40,45".'),
        ("2.5", '--rows: "2.5" is not a row number or a range; use Excel row numbers such as "2-40,45".'),
        ("0", '--rows: "0": Excel rows are numbered from 1.'),
        ("9-3", '--rows: "9-3" runs backwards; write it as 3-9.'),
    ],
)
def test_bad_specs_name_the_item(spec, message):
    with pytest.raises(UsageError) as info:
        parse_rows(spec)
    assert str(info.value) == message
    assert info.value.exit_code == ExitCode.USAGE
