"""Pacing requests before a panel says 429: the profile's `max_rate`, and the panel's own
`X-RateLimit-Remaining` / `X-RateLimit-Reset` headers where it sends them.

Thread-safe: each request takes the next free slot of its action (and of `*`, every
request); a thread whose slot is in the future sleeps until then (the sleep and the clock
are injected, so tests do not wait).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

EPOCH_AFTER = 1_000_000_000  # a Reset header above this is a time stamp, below it seconds from now


class Pacer:
    """Spaces requests: `max_rate` gives each action (or `*`) n requests per s seconds."""

    def __init__(
        self,
        max_rate: Mapping[str, tuple[int, float]] | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._spacing = {action: seconds / n for action, (n, seconds) in (max_rate or {}).items()}
        self._next: dict[str, float] = {}
        self._paused_until = 0.0  # the panel's headers said: nothing left until then
        self._header_spacing = 0.0
        self._sleep = sleep
        self._now = monotonic
        self._wall = wall
        self._lock = threading.Lock()

    def wait_for_slot(self, action: str, before: Callable[[float], None] | None = None) -> float:
        """Sleep until this request may go (`before(seconds)` is told first); returns how long."""
        with self._lock:
            now = self._now()
            at = max(now, self._paused_until)
            for key in (action, "*", "headers"):
                at = max(at, self._next.get(key, now))
            for key, spacing in ((action, self._spacing.get(action)), ("*", self._spacing.get("*")),
                                 ("headers", self._header_spacing or None)):  # fmt: skip
                if spacing:
                    self._next[key] = at + spacing
        wait = at - now
        if wait > 0:
            if before is not None:
                before(wait)
            self._sleep(wait)
        return max(wait, 0.0)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read `X-RateLimit-Remaining` and `X-RateLimit-Reset`: once fewer than half the
        window's requests (or 10) are left, space the next ones by (time to reset) / left;
        with none left, pause until the reset."""
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        if remaining is None or reset is None:
            return
        limit = _number(headers.get("x-ratelimit-limit"))
        if remaining > (limit / 2 if limit else 10):
            with self._lock:
                self._header_spacing = 0.0
            return
        until = reset - self._wall() if reset > EPOCH_AFTER else reset
        until = min(max(until, 0.0), 3600.0)
        with self._lock:
            if remaining <= 0:
                self._paused_until = max(self._paused_until, self._now() + until)
                self._header_spacing = 0.0
            else:
                self._header_spacing = until / remaining


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
