"""Time as the code sees it: a `Clock` (seconds since the epoch) injected wherever time matters.

Tests pass their own clock; the default is `time.time`. Pure: the standard library only.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now_iso(clock: Clock = time.time) -> str:
    """Now (by `clock`, seconds since the epoch) as UTC ISO 8601: "2026-11-26T15:45:00Z"."""
    return time.strftime(ISO_FORMAT, time.gmtime(clock()))
