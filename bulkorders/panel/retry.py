"""When to retry and how long to wait: which failures left nothing sent, backoff with jitter,
and the Retry-After header."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime

import httpx

from bulkorders.clock import Clock

# Raised before a single byte of the request left: safe to retry any call, even `add`.
NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
DEFAULT_RETRY_AFTER_LIMIT = 300.0  # seconds: the longest Retry-After a run waits for
# Waits longer than this are said on stderr (why, and for how long).
SAY_WAITS_OVER = 2.0
# A URL httpx cannot use at all: retrying will not help.
BAD_URL = (httpx.UnsupportedProtocol, httpx.InvalidURL)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a request is tried, and how long to wait in between.

    Wait n (n = 1, 2, …) is `base_delay × 2^(n-1)`, plus up to `jitter` × that at random
    (so that many threads do not come back at once), never more than `max_delay`. A
    Retry-After from the panel replaces the computed wait whatever its size, up to
    `retry_after_limit` (a longer one is not waited for: `too_long` says so).
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25
    retry_after_limit: float = DEFAULT_RETRY_AFTER_LIMIT

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.jitter < 0 or self.retry_after_limit < 0:
            raise ValueError("RetryPolicy delays and jitter must not be negative")

    def delay(
        self,
        failures: int,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait after the `failures`-th failed attempt."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_limit)
        wait = self.base_delay * 2 ** (failures - 1)
        wait += wait * self.jitter * rand()
        return min(wait, self.max_delay)


    def too_long(self, retry_after: float | None) -> bool:
        """The panel asks to wait longer than this run is willing to."""
        return retry_after is not None and retry_after > self.retry_after_limit


def parse_retry_after(value: str | None, now: Clock = time.time) -> float | None:
    """Retry-After as seconds (`"120"`) or an HTTP-date -> seconds from now; None if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        when = when.replace(tzinfo=timezone.utc)
    return max(when.timestamp() - now(), 0.0)


def describe_failure(exc: Exception, read_timeout: float) -> str:
    """A transport failure in words, with the httpx class name for --debug readers."""
    what = {
        httpx.ConnectTimeout: "connection timed out",
        httpx.ReadTimeout: f"no answer within {read_timeout:g} s",
        httpx.WriteTimeout: "the request could not be sent in time",
        httpx.PoolTimeout: "no free connection in time",
        httpx.RemoteProtocolError: "the connection was dropped",
    }.get(type(exc))
    return f"{what} ({type(exc).__name__})" if what else f"{type(exc).__name__}: {str(exc).strip()}"
