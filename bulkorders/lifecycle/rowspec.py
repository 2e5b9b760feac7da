"""`--rows 2-40,45`: which Excel rows a command may touch. Pure: no I/O.

Row numbers are the ones Excel shows (the header row included in the count), so a user
can copy them from the sheet. Items are separated by commas; each is a row `N` or an
inclusive range `N-M`; spaces are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bulkorders.errors import UsageError

_ITEM = re.compile(r"^(\d+)(?:-(\d+))?$")


@dataclass(frozen=True)
class RowSelection:
    """A set of Excel row numbers, kept as sorted, merged inclusive ranges."""

    ranges: tuple[tuple[int, int], ...]

    def __contains__(self, row: object) -> bool:
        return isinstance(row, int) and any(lo <= row <= hi for lo, hi in self.ranges)

    def rows(self) -> Iterable[int]:
        """Every row number of the selection, in order."""
        for lo, hi in self.ranges:
            yield from range(lo, hi + 1)

    def __str__(self) -> str:
        return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.ranges)


def parse_rows(spec: str) -> RowSelection:
    """Parse `2-40,45` into a `RowSelection`; raises UsageError naming the bad item."""
    items = [item.replace(" ", "") for item in spec.split(",")]
    if not any(items):
        raise UsageError('--rows is empty: give Excel row numbers such as "2-40,45".')
    ranges: list[tuple[int, int]] = []
    for item in items:
        if not item:
            continue  # "2,,5" or a trailing comma: harmless
        match = _ITEM.match(item)
        if not match:
            raise UsageError(
                f'--rows: "{item}" is not a row number or a range; use Excel row numbers such as "2-40,45".'
            )
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) else lo
        if lo < 1:
            raise UsageError(f'--rows: "{item}": Excel rows are numbered from 1.')
        if hi < lo:
            raise UsageError(f'--rows: "{item}" runs backwards; write it as {hi}-{lo}.')
        ranges.append((lo, hi))
    return RowSelection(_merge(ranges))


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)
