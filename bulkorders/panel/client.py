"""The API v2 client: one method per call of SPEC, bulk forms in chunks of 100, safe retries.

Read-only calls (services, balance, status, refill_status) are retried on anything
transient. Calls that spend or change something (add, refill, cancel) are retried only
when the request surely never reached the panel (connection refused, 429); once it may
have arrived, a missing answer is reported as `lost=True` on the result, never re-sent:
the panel has no idempotency key, so a second `add` could place a second order.

`add` raises only when the order was surely not placed (AuthError, FundsError,
PanelUnreachable, a persistent firewall challenge); everything else comes back as an
`AddResult` — placed, refused (a refusal in any shape, 4xx and 502 included) or lost (a
timeout, a dropped connection, an HTML 5xx, a redirect).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from bulkorders.errors import AuthError, BadAnswer, ConfigError, FundsError, PanelError
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
from bulkorders.panel.replies import Reply, not_the_api_message
from bulkorders.panel.retry import RetryPolicy
from bulkorders.panel.wire import AnswerLost, Wire

__all__ = ["PanelClient", "RetryPolicy"]

CHUNK = 100  # the panels' limit for orders=/refills= lists
_T = TypeVar("_T")


class PanelClient(Wire):
    """Speaks API v2 to one panel. Thread-safe; use as a context manager or call `close()`."""

    # --- read-only calls ------------------------------------------------------------

    def services(self) -> list[Service]:
        """The panel's catalogue; entries bulkorders cannot read are left out, with a warning."""
        skipped: dict[str, str] = {}
        found = self._parsed(answers.parse_services, self._read_or_raise("services", {}), skipped)
        self.unreadable_services = {k: self._mask(v) for k, v in skipped.items()}
        if skipped:
            first = next(iter(self.unreadable_services.values()))
            self._say(
                f"warning: {len(skipped)} service(s) of the panel's catalogue cannot be read and "
                f"are left out (rows ordering them fail, saying so); the first: {first}"
            )
        return found

    def balance(self) -> Balance:
        """The account's balance and currency (the profile's `currency` when the panel names none)."""
        doc = self._read_or_raise("balance", {})
        return self._parsed(answers.parse_balance, doc, self.currency)

    def status(self, order_id: str) -> OrderStatus:
        """Status of one order; an error the panel gives for it (`Incorrect order ID`) is `.error`."""
        return self._parsed(answers.parse_status, order_id, self._read("status", {"order": order_id}))

    def statuses(self, order_ids: Sequence[str]) -> dict[str, OrderStatus]:
        """Status of many orders (`orders=` in chunks of 100), keyed by order id."""

        def one_chunk(chunk: list[str]) -> dict[str, OrderStatus]:
            doc = self._read("status", {"orders": ",".join(chunk)})
            return self._parsed(answers.parse_statuses, chunk, doc)

        return _merge(self._chunked(order_ids, one_chunk))

    def refill_status(self, refill_id: str) -> RefillStatus:
        """Status of one refill; an error the panel gives for it is `.error`."""
        doc = self._read("refill_status", {"refill": refill_id})
        return self._parsed(answers.parse_refill_status, refill_id, doc)

    def refill_statuses(self, refill_ids: Sequence[str]) -> dict[str, RefillStatus]:
        """Status of many refills (`refills=` in chunks of 100), keyed by refill id."""

        def one_chunk(chunk: list[str]) -> dict[str, RefillStatus]:
            doc = self._read("refill_status", {"refills": ",".join(chunk)})
            return self._parsed(answers.parse_refill_statuses, chunk, doc)

        return _merge(self._chunked(refill_ids, one_chunk))

    # --- calls that spend or change something ---------------------------------------

    def add(self, payload: Mapping[str, str]) -> AddResult:
        """Place one order: placed (`.order`), refused (`.error`) or `.lost` (may exist).

        An answer carrying an order id means the order exists, whatever else it says (the
        text becomes `.warning`). `.stop` asks the caller to send nothing more (a redirect,
        a page that says the URL is not the API)."""
        fields = {k: str(v) for k, v in payload.items() if k not in ("key", "action")}
        try:
            reply = self._exchange("add", fields, read_only=False)
        except AnswerLost as lost:
            return AddResult(lost=True, detail=lost.detail)
        if reply.is_redirect:
            stop = self._redirect_error("add", reply)  # uncertain, and nothing more is sent
            return AddResult(lost=True, detail=self._redirect_detail(reply), stop=stop)
        if not reply.is_json:
            detail = self._body_detail(reply)
            stop = ConfigError(not_the_api_message(self.url, "add", detail)) if reply.is_not_the_api else None
            return AddResult(lost=True, detail=detail, stop=stop)
        order = answers.add_order_id(reply.doc)
        error = answers.top_error(answers.unwrap(reply.doc))
        if order is not None:
            return AddResult(order=order, warning=None if error is None else self._mask(error))
        if error is None:  # neither an id nor a refusal: it cannot say whether the order exists
            shape = answers.AnswerShapeError("add", answers.no_order_id(reply.doc))
            return AddResult(lost=True, detail=self._shape_detail(reply, shape))
        error = self._check_account(error, reply.status)
        if reply.status >= 500 and answers.is_server_failure(error):
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

    def _read(self, action: str, fields: dict[str, str]) -> Any:
        """A read-only call: the answer (a refusal of the key or funds raises)."""
        reply = self._exchange(action, fields, read_only=True)
        if reply.is_redirect:
            raise self._redirect_error(action, reply)
        if not reply.is_json:
            detail = self._body_detail(reply)
            if reply.is_not_the_api:
                raise ConfigError(not_the_api_message(self.url, action, detail))
            raise BadAnswer(
                f"The panel answered {action} with {detail}. The panel may be "
                "down, or behind a protection page (Cloudflare) or a proxy; open "
                f"{self.url} in a browser to check, then rerun."
            )
        error = answers.top_error(answers.unwrap(reply.doc))
        if error is not None:
            self._check_account(error, reply.status)
        return reply.doc

    def _parsed(self, parse: Callable[..., _T], *args: Any) -> _T:
        """`parse(*args)`, with the key masked out of a shape error (a panel may echo it)."""
        try:
            return parse(*args)
        except answers.AnswerShapeError as exc:
            raise answers.AnswerShapeError(exc.action, self._mask(exc.what)) from None

    def _read_or_raise(self, action: str, fields: dict[str, str]) -> Any:
        doc = self._read(action, fields)
        error = answers.top_error(answers.unwrap(doc))
        if error is not None:
            raise PanelError(
                f"The panel refused the {action} request: {self._mask(error)}. Check that the panel URL "
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
        except AnswerLost as lost:
            return [result(order=i, lost=True, detail=lost.detail) for i in ids]
        if reply.is_redirect:
            raise self._redirect_error(action, reply)
        if not reply.is_json:
            return [result(order=i, lost=True, detail=self._body_detail(reply)) for i in ids]
        error = answers.top_error(answers.unwrap(reply.doc))
        if error is not None:
            error = self._check_account(error, reply.status)
            if reply.status >= 500 and answers.is_server_failure(error):
                detail = f"HTTP {reply.status} with the error: {error}"
                return [result(order=i, lost=True, detail=detail) for i in ids]
        try:
            return parse(ids, reply.doc)
        except answers.AnswerShapeError as exc:
            detail = self._shape_detail(reply, exc)
            return [result(order=i, lost=True, detail=detail) for i in ids]

    def _check_account(self, error: str, status: int = 200) -> str:
        """Raise for a refused key or too low a balance (any wording, 401/402/403); else the
        (masked) error text."""
        error = self._mask(error)
        if answers.is_funds_refusal(error, status):
            raise FundsError(
                f"The panel says the balance is too low ({error}). "
                "Top up the balance on the panel, then rerun.", said=error,
            )
        if answers.is_auth_refusal(error, status):
            raise AuthError(
                f"The panel refused the API key ({error}). "
                "Check BULKORDERS_API_KEY or the key of your panel profile.", said=error,
            )
        return error

    def _redirect_detail(self, reply: Reply) -> str:
        return f"HTTP {reply.status}: a redirect to {reply.location or 'another address'}"

    def _redirect_error(self, action: str, reply: Reply) -> ConfigError:
        return ConfigError(
            f"The panel at {self.url} answered {action} with a redirect (HTTP {reply.status}) "
            f"to {reply.location or 'another address'}. Set the panel URL to the address it "
            "redirects to, then rerun."
        )

    def _body_detail(self, reply: Reply) -> str:
        if not reply.text.strip():
            return f"HTTP {reply.status} and an empty body instead of JSON"
        kind = "a web page" if answers.looks_like_html(reply.text) else "text"
        excerpt = self._mask(answers.page_excerpt(reply.text))
        return f'HTTP {reply.status} and {kind} instead of JSON: "{excerpt}"'

    def _shape_detail(self, reply: Reply, exc: answers.AnswerShapeError) -> str:
        return f"HTTP {reply.status}, an answer that is not what API v2 promises: {self._mask(exc.what)}"

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


def _merge(parts: list[dict[str, _T]]) -> dict[str, _T]:
    merged: dict[str, _T] = {}
    for part in parts:
        merged.update(part)
    return merged


def _concat(parts: list[list[_T]]) -> list[_T]:
    return [item for part in parts for item in part]
