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
RESET_MARGIN = 0.05  # seconds after the panel's reset time, for clocks a little apart


class Pacer:
    """Spaces requests: `max_rate` gives each action (or `*`) n requests per s seconds, and
    the panel's X-RateLimit headers give a budget of requests until its window resets."""

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
        self._budget: int | None = None  # requests the panel's headers allow until `_reset_at`
        self._reset_at = 0.0
        self._paused_until = 0.0  # a 429's Retry-After holds every request, not only its own
        self._in_flight = 0
        self._sleep = sleep
        self._now = monotonic
        self._wall = wall
        self._lock = threading.Lock()

    def wait_for_slot(
        self, action: str, before: Callable[[float], None] | None = None, *, paused: bool = True
    ) -> float:
        """Sleep until this request may go (`before(seconds)` is told first); returns how long.
        `paused=False`: not held by a `pause` (a retry that waited for it already). Call
        `done()` when its answer is in (or it failed)."""
        with self._lock:
            now = self._now()
            at = max(now, self._paused_until) if paused else now
            for key in (action, "*"):
                at = max(at, self._next.get(key, now))
            if self._budget is not None:
                if now >= self._reset_at:
                    self._budget = None  # a new window: the next answer says what is left
                elif self._budget <= 0:
                    at = max(at, self._reset_at)  # every request until the reset waits for it
                else:
                    self._budget -= 1
            for key in (action, "*"):
                if self._spacing.get(key):
                    self._next[key] = at + self._spacing[key]
            self._in_flight += 1
        wait = at - now
        if wait > 0:
            if before is not None:
                before(wait)
            self._sleep(wait)
        return max(wait, 0.0)

    def pause(self, seconds: float) -> None:
        """The panel said to wait (a 429's Retry-After): no request goes before then."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._now() + seconds)

    def done(self) -> None:
        """A request's answer is in (or it failed)."""
        with self._lock:
            self._in_flight = max(self._in_flight - 1, 0)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds, or seconds
        from now): the requests left, less the others in flight (the panel may not have
        counted them yet), may go at once; then the next waits for the reset."""
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        if remaining is None or reset is None:
            return
        until = reset - self._wall() if reset > EPOCH_AFTER else reset
        until = min(max(until, 0.0), 3600.0) + RESET_MARGIN
        with self._lock:
            self._budget = int(remaining) - max(self._in_flight - 1, 0)
            self._reset_at = self._now() + until


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
