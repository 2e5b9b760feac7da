"""Sending one API v2 request: the HTTP client, pacing, retries and what may be shown.

`Wire` is the part of `PanelClient` that knows HTTP: it posts the form (`transport`: a total
deadline per request, answer size caps, proxies, the abort switch of Ctrl-C), paces requests
(`pacing`), retries what is safe to retry (`retry`), recognises firewall challenges and
maintenance pages, and masks the key in every encoding (`masking`) in the answer text as it
is read and in everything it says. `PanelClient` adds the API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import NoReturn

import httpx

from bulkorders import __version__
from bulkorders.errors import BadAnswer, ConfigError, Interrupted, PanelError, PanelUnreachable
from bulkorders.panel import answers
from bulkorders.panel.masking import KeyMask
from bulkorders.panel.pacing import Pacer
from bulkorders.panel.replies import NOT_JSON, Reply, firewall_message
from bulkorders.panel.retry import (
    BAD_URL,
    NOTHING_SENT,
    SAY_WAITS_OVER,
    RetryPolicy,
    describe_failure,
    parse_retry_after,
)
from bulkorders.panel.transport import AnswerTooLarge, Guard, build_http, post

MAX_CONNECTIONS = 64


class AnswerLost(Exception):
    """A call that changes something may have reached the panel, and no answer came back."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Wire:
    """The HTTP side of one panel's client (see the module docstring)."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        deadline: float | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        log: Callable[[str], None] | None = None,
        max_parallel: int = 4,
        currency: str | None = None,
        send_quantity: bool = True,
        notify: Callable[[str], None] | None = None,
        max_rate: Mapping[str, tuple[int, float]] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._key = key
        self._masker = KeyMask(key)
        self._read_timeout = read_timeout
        self._deadline = deadline or 2 * read_timeout  # seconds for a whole request
        self._guard = Guard()
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._log = log
        self._notify = notify
        self._pacer = Pacer(max_rate, sleep=sleep, monotonic=monotonic)
        self._monotonic = monotonic
        self.unreadable_services: dict[str, str] = {}  # service id -> why, from the last catalogue
        self._said_until = -1e9  # when the last wait said on stderr ends
        self.currency = currency  # the profile's currency, for panels whose balance names none
        self.send_quantity = send_quantity  # send quantity on packages and lists (the profile)
        # Says how far a run is ("1,234 of 5,000 placed") in the message of a long wait.
        self.progress_note: Callable[[], str] | None = None
        self._max_parallel = max(1, max_parallel)
        self._lock = threading.Lock()
        self.requests_sent = 0  # requests that may have reached the panel (tests, benches)
        self._http = build_http(
            url,
            self._guard,
            transport=transport,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=32),
            headers={"User-Agent": f"bulkorders/{__version__}"},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def abort(self) -> None:
        """Give up every request in progress within a fraction of a second (Ctrl-C): an `add`
        that was sent comes back lost, anything else raises Interrupted. For any thread."""
        self._guard.abort()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- transport and retries ------------------------------------------------------

    def _exchange(self, action: str, fields: dict[str, str], *, read_only: bool) -> Reply:
        """Send with retries. Write calls raise _AnswerLost once the request may have arrived."""
        attempts = self._retry.attempts
        for attempt in range(1, attempts + 1):
            try:
                reply = self._post_once(action, fields, waited=attempt > 1)
            except BAD_URL as exc:
                raise ConfigError(
                    f"The panel URL {self.url} cannot be used ({self._reason(exc)}). "
                    "Set a URL such as https://panel.example/api/v2, then rerun."
                ) from exc
            except AnswerTooLarge as exc:
                self._too_large(exc, read_only=read_only)
            except NOTHING_SENT as exc:
                self._check_aborted(action, read_only=True)
                reason, retry_after, why = self._reason(exc), None, "panel unreachable"
            except httpx.TransportError as exc:
                self._check_aborted(action, read_only=read_only)
                reason = self._reason(exc)
                if not read_only:
                    raise AnswerLost(f"{reason}; the request may have reached the panel") from exc
                retry_after, why = None, "no answer from the panel"
            else:
                again = self._again(action, reply, read_only=read_only, last=attempt == attempts)
                if again is None:
                    return reply
                reason, why = again
                retry_after = reply.retry_after
            if attempt == attempts:
                if why == "firewall challenge":
                    raise PanelError(firewall_message(self.url, action))
                raise PanelUnreachable(
                    f"Cannot reach the panel at {self.url} after {attempts} attempts ({reason}). "
                    "Check your connection or the URL, then rerun."
                )
            self._wait(action, attempt, retry_after, reason, why)
        raise AssertionError("the retry loop always returns or raises")

    def _again(self, action: str, reply: Reply, *, read_only: bool, last: bool) -> tuple[str, str] | None:
        """(reason, why) when this reply is worth asking again, else None."""
        error = answers.top_error(answers.unwrap(reply.doc)) if reply.is_json else None
        if reply.status == 429 or (error is not None and answers.is_rate_limit(error)):
            return f"rate limited: HTTP {reply.status}", "panel rate limit"
        if reply.is_challenge:
            return f"HTTP {reply.status}: a firewall challenge page", "firewall challenge"
        if not read_only or last:
            return None
        if reply.is_maintenance and self._retry.too_long(reply.retry_after):
            raise PanelUnreachable(
                f"The panel at {self.url} is down for maintenance (HTTP {reply.status}; it asks to "
                f"come back in {_duration(reply.retry_after)}). Rerun {action} later."
            )
        if reply.status >= 500 or (not reply.is_json and not reply.is_redirect and not reply.is_not_the_api):
            return f"HTTP {reply.status}", "panel error" if not reply.is_maintenance else "panel maintenance"
        return None

    def _wait(self, action: str, attempt: int, retry_after: float | None, reason: str, why: str) -> None:
        if self._retry.too_long(retry_after):
            raise PanelUnreachable(
                f"The panel at {self.url} asks to wait {_duration(retry_after)} before {action} "
                f"({reason}), longer than this run waits ({_duration(self._retry.retry_after_limit)}; "
                "retry_after_limit in the config file). Rerun later, or raise the limit."
            )
        wait = self._retry.delay(attempt, retry_after)
        if why == "panel rate limit":
            self._pacer.pause(wait)  # the other threads wait too, rather than meet 429s of their own
        self._emit(f"retry {action} in {wait:.2f} s ({reason})")
        self._said_wait(why, wait)
        self._sleep(wait)

    def _said_wait(self, why: str, wait: float) -> None:
        """Every wait over 2 s is said on stderr: why, how long, and how far the run is —
        once, when several threads wait for the same moment."""
        if wait <= SAY_WAITS_OVER:
            return
        until = self._monotonic() + wait
        with self._lock:
            if abs(until - self._said_until) < 1.0:
                return
            self._said_until = until
        note = self.progress_note() if self.progress_note is not None else ""
        self._say(f"{why}: waiting {_duration(wait)}{', ' + note if note else ''}")

    def _post_once(self, action: str, fields: dict[str, str], *, waited: bool = False) -> Reply:
        shown = " ".join(f"{k}={_shorten(v)}" for k, v in fields.items())
        self._pacer.wait_for_slot(
            action, lambda wait: self._said_wait("pacing to the panel's rate limit", wait), paused=not waited
        )  # a retry has waited for the pause it asked for already
        self._emit(f"-> {action} key=*** {shown}".rstrip())
        started = time.monotonic()
        data = {"key": self._key, "action": action, **fields}
        try:
            response = post(self._http, self._guard, self.url, data, action=action, deadline=self._deadline)
        except (httpx.TransportError, AnswerTooLarge) as exc:
            self._pacer.done()
            if not isinstance(exc, NOTHING_SENT + BAD_URL):
                self._count()
            self._emit(f"<- {action} failed after {_ms(started)} ms: {self._reason(exc)}")
            raise
        except BaseException:
            self._pacer.done()
            raise
        self._count()
        self._pacer.observe(response.headers)
        self._pacer.done()
        text = self._mask(response.text)  # the one place panel text enters: masked here
        try:
            doc = answers.decode(text)
        except answers.NotJson:
            doc = NOT_JSON
        self._emit(f"<- {action} HTTP {response.status} in {_ms(started)} ms, {len(text)} chars")
        return Reply(
            status=response.status,
            text=text,
            doc=doc,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            location=self._mask(response.headers.get("Location") or "") or None,
            mitigated=response.headers.get("cf-mitigated"),
        )

    def _reason(self, exc: Exception) -> str:
        if isinstance(exc, AnswerTooLarge):
            return str(exc)
        if self._guard.aborted:
            return "interrupted (Ctrl-C) before the answer came back"
        if isinstance(exc, httpx.TimeoutException) and "deadline" in str(exc):
            return f"no complete answer within {self._deadline:g} s (the deadline of a request)"
        return self._mask(describe_failure(exc, self._read_timeout))

    def _check_aborted(self, action: str, *, read_only: bool) -> None:
        """After abort(): stop, unless an `add`/refill/cancel may have left (then it is lost)."""
        if self._guard.aborted and (read_only or not self._guard.wrote):
            raise Interrupted(f"Interrupted while asking the panel for {action}; nothing more was sent.")

    def _too_large(self, exc: AnswerTooLarge, *, read_only: bool) -> NoReturn:
        if not read_only:
            raise AnswerLost(f"{exc}; the request reached the panel") from exc
        raise BadAnswer(
            f"The panel sent {exc}, more than bulkorders reads for it, so it was refused. "
            f"Check that {self.url} is the panel's API v2 endpoint, then rerun."
        ) from exc

    def _count(self) -> None:
        with self._lock:
            self.requests_sent += 1

    def _say(self, line: str) -> None:
        """A message for the user (stderr): long waits, entries left out."""
        if self._notify is not None:
            self._notify(self._mask(line))
        else:
            self._emit(line)

    def _emit(self, line: str) -> None:
        if self._log is not None:
            self._log(self._mask(line))

    def _mask(self, text: str) -> str:
        """The key never leaves this object, in any encoding, even when a panel echoes it
        back (see `masking.KeyMask`)."""
        return self._masker(text)


def _duration(seconds: float | None) -> str:
    """60 -> "60 s", 330 -> "5 min 30 s"."""
    total = round(seconds or 0)
    if total < 120:
        return f"{total} s"
    minutes, rest = divmod(total, 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def _shorten(value: str, limit: int = 80) -> str:
    text = value.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
