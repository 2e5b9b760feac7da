"""Slowing down password guessing on the login page (`ui --host … --password-env …`).

Each client address may get the password wrong `FREE_TRIES` times; after that it waits
before its next try, `FIRST_WAIT` seconds doubled at each further wrong password up to
`LONGEST_WAIT`. A right password forgets the address's failures; failures older than
`FORGET_AFTER` seconds are forgotten too. Kept in memory: a restart forgets them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bulkorders.clock import Clock

FREE_TRIES = 5
FIRST_WAIT = 30.0
LONGEST_WAIT = 15 * 60.0
FORGET_AFTER = 60 * 60.0
MAX_ADDRESSES = 10_000  # bounded memory whatever the number of guessing addresses


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Who must wait before trying a password again, and for how long."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._failures: dict[str, _Failures] = {}

    def wait(self, address: str) -> int:
        """Whole seconds `address` must still wait before its next try (0: it may try now)."""
        seen = self._seen(address)
        if seen is None or seen.count < FREE_TRIES:
            return 0
        wait = min(FIRST_WAIT * 2 ** (seen.count - FREE_TRIES), LONGEST_WAIT)
        return max(0, math.ceil(seen.last + wait - self._clock()))

    def failed(self, address: str) -> None:
        """`address` gave a wrong password."""
        seen = self._seen(address)
        if seen is None:
            if len(self._failures) >= MAX_ADDRESSES:
                self._failures.pop(next(iter(self._failures)))  # the oldest entry
            seen = self._failures[address] = _Failures(0, 0.0)
        seen.count += 1
        seen.last = self._clock()

    def succeeded(self, address: str) -> None:
        """`address` gave the right password: its failures are forgotten."""
        self._failures.pop(address, None)

    def _seen(self, address: str) -> _Failures | None:
        seen = self._failures.get(address)
        if seen is not None and self._clock() - seen.last > FORGET_AFTER:
            del self._failures[address]
            return None
        return seen
