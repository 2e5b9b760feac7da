"""The sandbox's per-key rate limit (`sandbox serve --rate N/SECONDS`): pure, time passed in.

Fixed windows per API key, as counter-per-window limiters (Redis INCR, most panel scripts)
count: time is cut into windows of SECONDS aligned on the epoch (so `X-RateLimit-Reset`, a
whole epoch second, is exact for whole SECONDS); N requests of a key are answered in a
window, the next ones get 429 with `Retry-After` (whole seconds until the window ends). A
refused request does not count.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from bulkorders.errors import UsageError


@dataclass(frozen=True)
class Limit:
    """N requests per SECONDS."""

    requests: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> Limit:
        """"20/2" -> 20 requests per 2 seconds; UsageError naming the form otherwise."""
        count, _, seconds = text.partition("/")
        try:
            limit = cls(int(count), float(seconds))
        except ValueError:
            limit = None
        if limit is None or limit.requests < 1 or not (0 < limit.seconds < math.inf):
            raise UsageError(f"--rate {text}: use N/SECONDS, e.g. 20/2 for 20 requests every 2 seconds.")
        return limit


@dataclass(frozen=True)
class Verdict:
    """Whether one request is answered, and what the rate-limit headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset_at: float  # epoch seconds when the window ends
    retry_after: int  # whole seconds to wait (0 when allowed)

    def headers(self) -> dict[str, str]:
        """X-RateLimit-Limit/Remaining/Reset (Reset in whole epoch seconds)."""
        return {
            "X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }  # fmt: skip


class RateLimiter:
    """Counts requests per key in fixed windows; thread-safe."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (its window's start, requests)
        self._lock = threading.Lock()
        self.refused = 0  # 429s answered, for benches and tests

    def take(self, key: str, now: float) -> Verdict:
        """Count one request of `key` at `now` when the window has room."""
        with self._lock:
            start = math.floor(now / self.limit.seconds) * self.limit.seconds
            opened, used = self._windows.get(key, (start, 0))
            if opened != start:
                used = 0
            end = start + self.limit.seconds
            if used >= self.limit.requests:
                self.refused += 1
                return Verdict(False, self.limit.requests, 0, end, max(1, math.ceil(end - now)))
            self._windows[key] = (start, used + 1)
            return Verdict(True, self.limit.requests, self.limit.requests - used - 1, end, 0)
