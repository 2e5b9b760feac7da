"""The API v2 client: one method per call of SPEC, bulk forms in chunks of 100, safe retries.

Read-only calls (services, balance, status, refill_status) are retried on anything
transient. Calls that spend or change something (add, refill, cancel) are retried only
when the request surely never reached the panel (connection refused, 429); once it may
have arrived, a missing answer is reported as `lost=True` on the result, never re-sent:
the panel has no idempotency key, so a second `add` could place a second order.

`add` raises only when the order was surely not placed (AuthError, FundsError,
PanelUnreachable, a redirect); everything else comes back as an `AddResult`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import httpx

from bulkorders import __version__
from bulkorders.errors import (
    AuthError,
    BadAnswer,
    ConfigError,
    FundsError,
    Interrupted,
    PanelError,
    PanelUnreachable,
)
from bulkorders.models import (
    AddResult,
    Balance,
    CancelResult,
    OrderStatus,
    RefillResult,
    RefillStatus,
    Service,
)
from bulkorders.panel import answers
from bulkorders.panel import transport as wire
from bulkorders.panel.answers import AnswerShapeError
from bulkorders.panel.masking import KeyMask
from bulkorders.panel.retry import (
    BAD_URL,
    NOTHING_SENT,
    RetryPolicy,
    describe_failure,
    parse_retry_after,
)

__all__ = ["PanelClient", "RetryPolicy"]

CHUNK = 100  # the panels' limit for orders=/refills= lists
MAX_CONNECTIONS = 64
_NOT_JSON: Any = object()
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Reply:
    """One HTTP answer, body decoded once."""

    status: int
    text: str
    doc: Any  # the decoded JSON, or _NOT_JSON
    retry_after: float | None
    location: str | None

    @property
    def is_json(self) -> bool:
        return self.doc is not _NOT_JSON

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400


class _AnswerLost(Exception):
    """A call that changes something may have reached the panel, and no answer came back."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class PanelClient:
    """Speaks API v2 to one panel. Thread-safe; use as a context manager or call `close()`."""

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
    ) -> None:
        self.url = url
        self._key = key
        self._masker = KeyMask(key)
        self._read_timeout = read_timeout
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._log = log
        self._max_parallel = max(1, max_parallel)
        self._lock = threading.Lock()
        self.requests_sent = 0  # requests that may have reached the panel (tests, benches)
        self._deadline = deadline or 2 * read_timeout
        self._guard = wire.Guard()
        self._http = wire.build_http(
            url,
            self._guard,
            transport=transport,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=32),
            headers={"User-Agent": f"bulkorders/{__version__}"},
        )

    def __repr__(self) -> str:
        return f"PanelClient(url={self.url!r})"

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def abort(self) -> None:
        """Give up every request in progress within a fraction of a second (Ctrl-C): an `add`
        that was sent comes back lost, anything else raises Interrupted. For any thread."""
        self._guard.abort()

    def __enter__(self) -> PanelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- read-only calls ------------------------------------------------------------

    def services(self) -> list[Service]:
        """The panel's catalogue."""
        return self._parsed(answers.parse_services, self._read_or_raise("services", {}))

    def balance(self) -> Balance:
        """The account's balance and currency."""
        return self._parsed(answers.parse_balance, self._read_or_raise("balance", {}))

    def status(self, order_id: str) -> OrderStatus:
        """Status of one order; an error the panel gives for it (`Incorrect order ID`) is `.error`."""
        doc, error = self._read("status", {"order": order_id})
        if error is not None:
            return OrderStatus(order=order_id, error=error)
        return self._parsed(answers.parse_status, order_id, doc)

    def statuses(self, order_ids: Sequence[str]) -> dict[str, OrderStatus]:
        """Status of many orders (`orders=` in chunks of 100), keyed by order id."""

        def one_chunk(chunk: list[str]) -> dict[str, OrderStatus]:
            doc = self._read_or_raise("status", {"orders": ",".join(chunk)})
            return self._parsed(answers.parse_statuses, chunk, doc)

        return _merge(self._chunked(order_ids, one_chunk))

    def refill_status(self, refill_id: str) -> RefillStatus:
        """Status of one refill; an error the panel gives for it is `.error`."""
        doc, error = self._read("refill_status", {"refill": refill_id})
        if error is not None:
            return RefillStatus(refill=refill_id, error=error)
        return self._parsed(answers.parse_refill_status, refill_id, doc)

    def refill_statuses(self, refill_ids: Sequence[str]) -> dict[str, RefillStatus]:
        """Status of many refills (`refills=` in chunks of 100), keyed by refill id."""

        def one_chunk(chunk: list[str]) -> dict[str, RefillStatus]:
            doc = self._read_or_raise("refill_status", {"refills": ",".join(chunk)})
            return self._parsed(answers.parse_refill_statuses, chunk, doc)

        return _merge(self._chunked(refill_ids, one_chunk))

    # --- calls that spend or change something ---------------------------------------

    def add(self, payload: Mapping[str, str]) -> AddResult:
        """Place one order: placed (`.order`), refused (`.error`) or `.lost` (may exist)."""
        fields = {k: str(v) for k, v in payload.items() if k not in ("key", "action")}
        try:
            reply = self._exchange("add", fields, read_only=False)
        except _AnswerLost as lost:
            return AddResult(lost=True, detail=lost.detail)
        self._check_redirect("add", reply)
        if not reply.is_json:
            return AddResult(lost=True, detail=self._body_detail(reply))
        error = answers.top_error(reply.doc)
        if error is None:
            try:
                return AddResult(order=answers.parse_add(reply.doc))
            except AnswerShapeError as exc:
                return AddResult(lost=True, detail=self._shape_detail(reply, exc))
        error = self._check_account(error)
        if reply.status >= 500:
            return AddResult(lost=True, detail=f"HTTP {reply.status} with the error: {error}")
        return AddResult(error=error)

    def refill(self, order_id: str) -> RefillResult:
        """Ask a refill of one order (`order=`)."""
        return self._change(
            "refill", {"order": order_id}, [order_id], RefillResult,
            lambda ids, doc: [answers.parse_refill(ids[0], doc)],
        )[0]  # fmt: skip

    def refills(self, order_ids: Sequence[str]) -> list[RefillResult]:
        """Ask refills of many orders (`orders=` in chunks of 100), one result per order."""
        return _concat(self._chunked(order_ids, lambda chunk: self._change(
            "refill", {"orders": ",".join(chunk)}, chunk, RefillResult, answers.parse_refills,
        )))  # fmt: skip

    def cancel(self, order_ids: Sequence[str]) -> list[CancelResult]:
        """Cancel orders (`orders=` in chunks of 100), one result per order."""
        return _concat(self._chunked(order_ids, lambda chunk: self._change(
            "cancel", {"orders": ",".join(chunk)}, chunk, CancelResult, answers.parse_cancels,
        )))  # fmt: skip

    # --- interpretation -------------------------------------------------------------

    def _read(self, action: str, fields: dict[str, str]) -> tuple[Any, str | None]:
        """A read-only call: (answer, None), or (None, the panel's error text)."""
        reply = self._exchange(action, fields, read_only=True)
        self._check_redirect(action, reply)
        if not reply.is_json:
            raise BadAnswer(
                f"The panel answered {action} with {self._body_detail(reply)}. The panel may be "
                "down, or behind a protection page (Cloudflare) or a proxy; open "
                f"{self.url} in a browser to check, then rerun."
            )
        error = answers.top_error(reply.doc)
        if error is not None:
            return None, self._check_account(error)
        return reply.doc, None

    def _parsed(self, parse: Callable[..., _T], *args: Any) -> _T:
        """`parse(*args)`, with the key masked out of a shape error (a panel may echo it)."""
        try:
            return parse(*args)
        except AnswerShapeError as exc:
            raise AnswerShapeError(exc.action, self._mask(exc.what)) from None

    def _read_or_raise(self, action: str, fields: dict[str, str]) -> Any:
        doc, error = self._read(action, fields)
        if error is not None:
            raise PanelError(
                f"The panel refused the {action} request: {error}. Check that the panel URL "
                f"({self.url}) is its API v2 endpoint and your account there is active, then rerun."
            )
        return doc

    def _change(
        self,
        action: str,
        fields: dict[str, str],
        ids: list[str],
        result: Callable[..., _T],
        parse: Callable[[list[str], Any], list[_T]],
    ) -> list[_T]:
        """A refill or cancel request: one result per id, `lost` when the answer was lost."""
        try:
            reply = self._exchange(action, fields, read_only=False)
        except _AnswerLost as lost:
            return [result(order=i, lost=True, detail=lost.detail) for i in ids]
        self._check_redirect(action, reply)
        if not reply.is_json:
            return [result(order=i, lost=True, detail=self._body_detail(reply)) for i in ids]
        error = answers.top_error(reply.doc)
        if error is not None:
            error = self._check_account(error)
            if reply.status >= 500:
                detail = f"HTTP {reply.status} with the error: {error}"
                return [result(order=i, lost=True, detail=detail) for i in ids]
            return [result(order=i, error=error) for i in ids]
        try:
            return parse(ids, reply.doc)
        except AnswerShapeError as exc:
            detail = self._shape_detail(reply, exc)
            return [result(order=i, lost=True, detail=detail) for i in ids]

    def _check_account(self, error: str) -> str:
        """Raise for a refused key or too low a balance; else the (masked) error text."""
        error = self._mask(error)
        if answers.is_auth_error(error):
            raise AuthError(
                f"The panel refused the API key ({error}). "
                "Check BULKORDERS_API_KEY or the key of your panel profile."
            )
        if answers.is_funds_error(error):
            raise FundsError(
                f"The panel says the balance is too low ({error}). "
                "Top up the balance on the panel, then rerun."
            )
        return error

    def _check_redirect(self, action: str, reply: _Reply) -> None:
        if reply.is_redirect:
            raise ConfigError(
                f"The panel at {self.url} answered {action} with a redirect (HTTP {reply.status}) "
                f"to {reply.location or 'another address'}. Set the panel URL to the address it "
                "redirects to, then rerun."
            )

    def _body_detail(self, reply: _Reply) -> str:
        if not reply.text.strip():
            return f"HTTP {reply.status} and an empty body instead of JSON"
        kind = "a web page" if answers.looks_like_html(reply.text) else "text"
        excerpt = self._mask(answers.page_excerpt(reply.text))
        return f'HTTP {reply.status} and {kind} instead of JSON: "{excerpt}"'

    def _shape_detail(self, reply: _Reply, exc: AnswerShapeError) -> str:
        return f"HTTP {reply.status}, an answer that is not what API v2 promises: {self._mask(exc.what)}"

    # --- transport and retries ------------------------------------------------------

    def _exchange(self, action: str, fields: dict[str, str], *, read_only: bool) -> _Reply:
        """Send with retries. Write calls raise _AnswerLost once the request may have arrived."""
        attempts = self._retry.attempts
        for attempt in range(1, attempts + 1):
            retry_after: float | None = None
            try:
                reply = self._post_once(action, fields)
            except BAD_URL as exc:
                raise ConfigError(
                    f"The panel URL {self.url} cannot be used ({self._reason(exc)}). "
                    "Set a URL such as https://panel.example/api/v2, then rerun."
                ) from exc
            except wire.AnswerTooLarge as exc:
                self._too_large(exc, read_only=read_only)
            except NOTHING_SENT as exc:
                self._check_aborted(action, read_only=True)
                reason = self._reason(exc)
            except httpx.TransportError as exc:
                self._check_aborted(action, read_only=read_only)
                reason = self._reason(exc)
                if not read_only:
                    raise _AnswerLost(f"{reason}; the request may have reached the panel") from exc
            else:
                if reply.status == 429:
                    reason, retry_after = "rate limited: HTTP 429", reply.retry_after
                elif read_only and attempt < attempts and _transient(reply):
                    reason, retry_after = f"HTTP {reply.status}", reply.retry_after
                else:
                    return reply
            if attempt == attempts:
                raise PanelUnreachable(
                    f"Cannot reach the panel at {self.url} after {attempts} attempts ({reason}). "
                    "Check your connection or the URL, then rerun."
                )
            wait = self._retry.delay(attempt, retry_after)
            self._emit(f"retry {action} in {wait:.2f} s ({reason})")
            self._sleep(wait)
        raise AssertionError("the retry loop always returns or raises")

    def _post_once(self, action: str, fields: dict[str, str]) -> _Reply:
        shown = " ".join(f"{k}={_shorten(v)}" for k, v in fields.items())
        self._emit(f"-> {action} key=*** {shown}".rstrip())
        started = time.monotonic()
        data = {"key": self._key, "action": action, **fields}
        try:
            response = wire.post(self._http, self._guard, self.url, data, action=action, deadline=self._deadline)
        except (httpx.TransportError, wire.AnswerTooLarge) as exc:
            if not isinstance(exc, NOTHING_SENT + BAD_URL):
                self._count()
            self._emit(f"<- {action} failed after {_ms(started)} ms: {self._reason(exc)}")
            raise
        self._count()
        text = self._mask(response.text)  # the one place panel text enters: masked here
        try:
            doc = answers.decode(text)
        except answers.NotJson:
            doc = _NOT_JSON
        self._emit(f"<- {action} HTTP {response.status} in {_ms(started)} ms, {len(text)} chars")
        return _Reply(
            status=response.status,
            text=text,
            doc=doc,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            location=self._mask(response.headers.get("Location") or "") or None,
        )

    def _reason(self, exc: Exception) -> str:
        if isinstance(exc, wire.AnswerTooLarge):
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

    def _too_large(self, exc: wire.AnswerTooLarge, *, read_only: bool) -> NoReturn:
        if not read_only:
            raise _AnswerLost(f"{exc}; the request reached the panel") from exc
        raise BadAnswer(
            f"The panel sent {exc}, more than bulkorders reads for it, so it was refused. "
            f"Check that {self.url} is the panel's API v2 endpoint, then rerun."
        ) from exc

    def _count(self) -> None:
        with self._lock:
            self.requests_sent += 1

    def _emit(self, line: str) -> None:
        if self._log is not None:
            self._log(self._mask(line))

    def _mask(self, text: str) -> str:
        """The key never leaves this object, in any encoding, even when a panel echoes it
        back (see `masking.KeyMask`)."""
        return self._masker(text)

    def _chunked(self, ids: Sequence[str], run: Callable[[list[str]], _T]) -> list[_T]:
        """Run `run` on chunks of <= 100 distinct ids, at most `max_parallel` at once, in order."""
        unique = list(dict.fromkeys(str(i).strip() for i in ids))
        if any(not i or "," in i for i in unique):
            raise ValueError(f"order/refill ids must be non-empty and without commas: {unique!r}")
        chunks = [unique[i : i + CHUNK] for i in range(0, len(unique), CHUNK)]
        if len(chunks) <= 1 or self._max_parallel == 1:
            return [run(chunk) for chunk in chunks]
        pool = ThreadPoolExecutor(max_workers=min(self._max_parallel, len(chunks)))
        try:
            futures = [pool.submit(run, chunk) for chunk in chunks]
            return [future.result() for future in futures]
        except KeyboardInterrupt:
            self.abort()  # the chunks in flight give up at once instead of being awaited
            raise
        finally:  # on an error or Ctrl-C, chunks not yet started are not sent at all
            pool.shutdown(wait=True, cancel_futures=True)


def _transient(reply: _Reply) -> bool:
    """Worth asking again (read-only calls): a server error or a page instead of JSON."""
    return reply.status >= 500 or (not reply.is_json and not reply.is_redirect)


def _merge(parts: list[dict[str, _T]]) -> dict[str, _T]:
    merged: dict[str, _T] = {}
    for part in parts:
        merged.update(part)
    return merged


def _concat(parts: list[list[_T]]) -> list[_T]:
    return [item for part in parts for item in part]


def _shorten(value: str, limit: int = 80) -> str:
    text = value.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
