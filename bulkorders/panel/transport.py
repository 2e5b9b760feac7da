"""How bytes reach the panel and come back: the httpx client, proxies, deadlines and size caps.

- **A total deadline per request.** httpx's read timeout is per socket read, so a panel
  that trickles one byte a second keeps a request alive for as long as it likes. Every
  socket operation here is cut to what is left of the request's deadline (`Guard`).
- **An abort switch.** Ctrl-C must not wait for answers that never come: `Guard.abort()`
  makes every socket wait of every thread give up within `TICK` seconds.
- **Size caps.** An answer is read in a streamed loop and refused once it passes the cap
  of its action (`AnswerTooLarge`), so a 100 MB answer never sits in memory.
- **Proxies.** The key travels in the request body: a proxy may only ever see a CONNECT
  tunnel to an https:// panel, never a loopback or http:// request.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from bulkorders.errors import ConfigError
from bulkorders.settings import is_loopback

TICK = 0.25  # seconds: how often a waiting socket looks at the abort switch
MB = 1024 * 1024
CATALOGUE_LIMIT = 20 * MB  # the services answer: a catalogue of thousands of services
ANSWER_LIMIT = 1 * MB  # any single-order answer (add, status, refill, balance…)
PER_ID_LIMIT = 16 * 1024  # added per id of a bulk answer (status of 100 ids: 2.6 MB)


class AnswerTooLarge(Exception):
    """An answer passed its size cap; reading stopped there."""

    def __init__(self, action: str, limit: int) -> None:
        super().__init__(f"an answer to {action} larger than {_size(limit)}")
        self.action = action
        self.limit = limit


class Aborted(httpcore.ReadError):
    """The run is being interrupted: socket waits give up (raised inside httpcore, so httpx
    maps it to one of its transport errors)."""


def answer_limit(action: str, fields: Mapping[str, str]) -> int:
    """The largest answer accepted for `action` with these form fields: a bulk form
    (`orders=`/`refills=`) may answer more for each id it asks."""
    if action == "services":
        return CATALOGUE_LIMIT
    ids = sum(len(fields[name].split(",")) for name in ("orders", "refills") if fields.get(name))
    return ANSWER_LIMIT + PER_ID_LIMIT * ids


class Guard:
    """The deadline of the request each thread is making, and one abort switch for all."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._aborted = threading.Event()

    @property
    def aborted(self) -> bool:
        return self._aborted.is_set()

    def abort(self) -> None:
        """Make every request in progress (and every later one) give up within TICK seconds."""
        self._aborted.set()

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Within this block, this thread's socket operations end `seconds` from now."""
        self._local.until = time.monotonic() + seconds
        self._local.wrote = False
        try:
            yield
        finally:
            self._local.until = None

    @property
    def wrote(self) -> bool:
        """Whether a byte of this thread's current (or last) request was written."""
        return bool(getattr(self._local, "wrote", False))

    def writing(self) -> None:
        self._local.wrote = True

    def expired(self) -> bool:
        left = self.left()
        return left is not None and left <= 0

    def left(self) -> float | None:
        until = getattr(self._local, "until", None)
        return None if until is None else until - time.monotonic()

    def cut(self, timeout: float | None) -> float | None:
        """`timeout`, shortened to what is left of the deadline."""
        left = self.left()
        return timeout if left is None else max(min(timeout or left, left), 0.001)

    def step(self, timeout: float | None, started: float, error: type[Exception]) -> float:
        """How long the next socket wait may take; raises when there is no time left."""
        if self.aborted:
            raise Aborted("interrupted")
        steps = [TICK]
        left = self.left()
        if left is not None:
            steps.append(left)
        if timeout is not None:
            steps.append(started + timeout - time.monotonic())
        step = min(steps)
        if step <= 0:
            raise error("deadline passed" if left is not None and left <= 0 else "timed out")
        return step


class _GuardedStream(httpcore.NetworkStream):
    """A socket stream whose waits are cut into ticks that watch the guard."""

    def __init__(self, inner: httpcore.NetworkStream, guard: Guard) -> None:
        self._inner = inner
        self._guard = guard

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        started = time.monotonic()
        while True:
            step = self._guard.step(timeout, started, httpcore.ReadTimeout)
            try:
                return self._inner.read(max_bytes, step)
            except httpcore.ReadTimeout:
                continue  # nothing arrived in this tick: look at the guard, wait again

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._guard.step(None, time.monotonic(), httpcore.WriteTimeout)
        self._guard.writing()
        self._inner.write(buffer, self._guard.cut(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        stream = self._inner.start_tls(ssl_context, server_hostname, self._guard.cut(timeout))
        return _GuardedStream(stream, self._guard)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.SyncBackend):
    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, *args: Any, **kw: Any) -> Any:
        self._guard.step(None, time.monotonic(), httpcore.ConnectTimeout)
        stream = super().connect_tcp(host, port, self._guard.cut(timeout), *args, **kw)
        return _GuardedStream(stream, self._guard)


def build_http(
    url: str,
    guard: Guard,
    *,
    transport: httpx.BaseTransport | None,
    timeout: httpx.Timeout,
    limits: httpx.Limits,
    headers: dict[str, str],
) -> httpx.Client:
    """The httpx client for the panel at `url`. An injected `transport` (the sandbox, tests)
    is used as it is; otherwise the real network, through a proxy only as `panel_proxy` says."""
    if transport is None:
        real = httpx.HTTPTransport(proxy=panel_proxy(url), limits=limits)
        # httpx offers no way to hand httpcore a network backend; its pool keeps it here.
        real._pool._network_backend = _GuardedBackend(guard)  # type: ignore[attr-defined]
        transport = real
    return httpx.Client(
        transport=transport,
        trust_env=False,  # proxies were decided above, once, for this one URL
        timeout=timeout,
        headers=headers,
        follow_redirects=False,  # a redirected POST would come back as a GET without the form
    )


def panel_proxy(url: str) -> str | None:
    """The proxy to reach `url` through: None for loopback, http:// and NO_PROXY hosts;
    for https:// the environment's proxy (httpx then only asks it for a CONNECT tunnel)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or is_loopback(host) or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    proxy = proxies.get("https") or proxies.get("all")
    if not proxy:
        return None
    if proxy.startswith("socks"):
        try:
            import socksio  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"A SOCKS proxy is set in the environment ({_proxy_name(proxy)}) but SOCKS "
                "support is not installed: pip install 'httpx[socks]', or unset ALL_PROXY."
            ) from None
    return proxy if "://" in proxy else f"http://{proxy}"


@dataclass(frozen=True)
class Received:
    """One HTTP answer, its body read in full (within its cap) and decoded to text."""

    status: int
    text: str
    headers: httpx.Headers


def post(http: httpx.Client, guard: Guard, url: str, data: dict[str, str], *, action: str,
         deadline: float) -> Received:  # fmt: skip
    """POST the form and read the answer, all of it within `deadline` seconds and within
    the size cap of `action` (raises AnswerTooLarge, or httpx's errors)."""
    limit = answer_limit(action, data)
    with guard.deadline(deadline), http.stream("POST", url, data=data) as response:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise AnswerTooLarge(action, limit)
        body = read_capped(response.iter_bytes(), action, limit)
        text = body.decode(response.encoding or "utf-8", errors="replace")
    return Received(status=response.status_code, text=text, headers=response.headers)


def read_capped(chunks: Iterable[bytes], action: str, limit: int) -> bytes:
    """The whole body from `chunks`, refusing it as soon as it passes `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise AnswerTooLarge(action, limit)
        parts.append(chunk)
    return b"".join(parts)


def _size(limit: int) -> str:
    return f"{limit / MB:g} MB" if limit >= MB else f"{limit // 1024} KB"


def _proxy_name(proxy: str) -> str:
    parts = urlsplit(proxy)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}" if parts.hostname else "a SOCKS URL"
