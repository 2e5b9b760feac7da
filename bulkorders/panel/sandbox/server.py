"""The sandbox panel over real HTTP on loopback, in a dialect, with the faults real panels show.

Faults are drawn per request with a seeded RNG: 5xx proxy pages, 429 (sometimes with
Retry-After), Cloudflare challenge pages, and answers lost after the panel did the work
(the connection is closed without a byte of answer). A request whose exact body was just
hit by a fault is served normally when it comes again, so a retrying client always gets
through (but `--challenge 1`: a firewall that blocks every API call). A rate limit
(`--rate N/SECONDS`) is not drawn: it answers 429 to every request of a key past N in a
window of SECONDS.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bulkorders.clock import Clock
from bulkorders.errors import BulkOrdersError, UsageError
from bulkorders.panel.sandbox.pages import (
    CLOUDFLARE_BLOCKED,
    CLOUDFLARE_HEADERS,
    CLOUDFLARE_PAGE,
    PAGE_404,
    PAGE_502,
    PAGE_MAINTENANCE,
    TEXT_429,
    TEXT_503,
)
from bulkorders.panel.sandbox.ratelimit import Limit, RateLimiter
from bulkorders.panel.sandbox.store import LiveSandbox

LISTENING = "Sandbox panel listening on {url} (Ctrl-C to stop)"
_LISTENING = re.compile(re.escape(LISTENING).replace(r"\{url\}", r"(http://\S+/api/v2)"))


def spawn(*options: str, env: dict[str, str] | None = None, wait: float = 30.0) -> tuple[subprocess.Popen[str], str]:
    """`bulkorders sandbox serve --port 0 OPTIONS` in a child process, and its API URL once
    it listens (for tests and benches: the one reader of the line `serve` announces)."""
    command = [sys.executable, "-m", "bulkorders", "sandbox", "serve", "--port", "0", *options]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = _LISTENING.search(line)
        if found:
            return proc, found.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"sandbox serve did not start (exit {proc.poll()})")
from bulkorders.panel.sandbox.transport import parse_form
from bulkorders.settings import is_loopback

API_PATHS = frozenset({"/", "/api/v2", "/api/v2/"})
_REMEMBERED_FAULTS = 10_000  # request bodies remembered as "just faulted"

@dataclass(frozen=True)
class Faults:
    """What `sandbox serve` does wrong on purpose: shares are 0..1 of all requests."""

    latency: float = 0.0
    fail_5xx: float = 0.0
    fail_429: float = 0.0
    challenge: float = 0.0
    lose_answers: float = 0.0
    seed: int | None = None
    rate: str | None = None  # "N/SECONDS": the per-key limit
    maintenance: int | None = None  # every request: 503 maintenance page, Retry-After this many s
    rate_headers: bool = True  # X-RateLimit-* headers on every answer under a limit

    def check(self) -> None:
        """Refuse shares outside 0..1, a total over 1, a negative latency, a bad --rate."""
        shares = {"--fail-5xx": self.fail_5xx, "--fail-429": self.fail_429,
                  "--challenge": self.challenge, "--lose-answers": self.lose_answers}  # fmt: skip
        for option, share in shares.items():
            if not 0 <= share <= 1:
                raise UsageError(f"{option} {share}: a share is between 0 and 1 (0.1 = 10% of requests).")
        if sum(shares.values()) > 1:
            raise UsageError("The fault shares add up to more than 1: lower some of them.")
        if self.latency < 0:
            raise UsageError(f"--latency {self.latency}: use 0 or more seconds.")
        if self.rate is not None:
            Limit.parse(self.rate)
        if self.maintenance is not None and self.maintenance < 0:
            raise UsageError(f"--maintenance {self.maintenance}: use 0 or more seconds of Retry-After.")


@dataclass(frozen=True)
class Fault:
    kind: str  # "5xx", "429", "challenge" or "lose"
    status: int = 0
    retry_after: bool = False
    blocked: bool = False  # a challenge that is a firewall block ("Attention Required")


class FaultPlan:
    """Draws the fault (if any) for each request; thread-safe and reproducible by seed."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._recent: OrderedDict[bytes, None] = OrderedDict()

    def draw(self, body: bytes) -> Fault | None:
        """The fault for a request with this body, never twice in a row for the same body."""
        f = self.faults
        fingerprint = hashlib.blake2b(body, digest_size=16).digest()
        with self._lock:
            if f.challenge >= 1:  # a firewall in front of every API call: retries too
                return self._challenge()
            if fingerprint in self._recent:
                del self._recent[fingerprint]
                return None  # the retry of a request we just failed goes through
            u = self._rng.random()
            if u < f.fail_5xx:
                fault = Fault("5xx", self._rng.choice((502, 503)))
            elif u < f.fail_5xx + f.fail_429:
                fault = Fault("429", 429, retry_after=self._rng.random() < 0.5)
            elif u < f.fail_5xx + f.fail_429 + f.challenge:
                fault = self._challenge()
            elif u < f.fail_5xx + f.fail_429 + f.challenge + f.lose_answers:
                fault = Fault("lose")
            else:
                return None
            self._recent[fingerprint] = None
            while len(self._recent) > _REMEMBERED_FAULTS:
                self._recent.popitem(last=False)
            return fault

    def _challenge(self) -> Fault:
        status = self._rng.choice((403, 403, 503))
        return Fault("challenge", status, blocked=status == 403 and self._rng.random() < 0.5)


class Counts:
    """What the server answered, for `serve`'s closing line and the benches (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = {"requests": 0, "faults": 0, "rate_limited": 0}

    def add(self, name: str) -> None:
        with self._lock:
            self.values[name] += 1

    def summary(self) -> str:
        """One line: requests, faults and 429s of the rate limit."""
        v = self.values
        noun = "request" if v["requests"] == 1 else "requests"
        return (f"{v['requests']:,} {noun} ({v['faults']:,} hit by a fault, "
                f"{v['rate_limited']:,} refused by the rate limit with 429)")  # fmt: skip


def file_clock(path: Path) -> Clock:
    """A clock that reads the panel's time (epoch seconds) from `path` on every call, so a
    test can move a served sandbox's time on (`sandbox serve --clock-file`)."""

    def now() -> float:
        try:
            return float(path.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return time.time()

    return now


class SandboxServer:
    """The sandbox panel behind a threading HTTP server on a loopback address.

    `port=0` picks a free port (see `url`). `start()` serves from a background thread
    (tests), `serve_until_stopped()` from this one until Ctrl-C or SIGTERM. `dialect`
    names the family of real panels it answers like (see `DIALECTS`).
    """

    def __init__(
        self,
        state_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults = Faults(),
        key: str | None = None,
        clock: Clock | None = None,
        dialect: str | None = None,
    ) -> None:
        if not is_loopback(host):
            raise UsageError(
                f"Refusing to serve the sandbox on {host}: it listens on loopback only "
                "(127.0.0.1, ::1 or localhost)."
            )
        faults.check()
        server_class = _Server6 if ":" in host else _Server
        try:
            self.httpd = server_class((host.strip("[]"), port), _Handler)
        except OSError as exc:
            raise UsageError(
                f"Cannot listen on {host}:{port}: {exc.strerror or exc}. "
                "Pick another --port, or --port 0 for a free one."
            ) from None
        self.httpd.sandbox = LiveSandbox(state_path, key=key, dialect=dialect)
        self.httpd.plan = FaultPlan(faults)
        self.httpd.limiter = RateLimiter(Limit.parse(faults.rate)) if faults.rate else None
        self.httpd.rate_headers = faults.rate_headers
        self.httpd.counts = Counts()
        self.httpd.latency = faults.latency
        self.httpd.clock = clock or time.time
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The API endpoint, with the port actually bound."""
        host, port = self.httpd.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/api/v2"

    @property
    def counts(self) -> Counts:
        """What the server answered so far."""
        return self.httpd.counts

    def start(self) -> None:
        """Serve from a daemon thread until `stop()`."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-serve", daemon=True
        )
        self._thread.start()

    def serve_until_stopped(self) -> None:
        """Serve from this thread until Ctrl-C or SIGTERM, then close cleanly."""
        with _sigterm_as_interrupt():
            try:
                self.httpd.serve_forever()
            except KeyboardInterrupt:
                pass
            finally:
                self.close()

    def stop(self) -> None:
        """Stop a server started with `start()` and close it."""
        self.httpd.shutdown()
        if self._thread is not None:
            self._thread.join()
        self.close()

    def close(self) -> None:
        """Release the port and the state file."""
        self.httpd.server_close()
        self.httpd.sandbox.close()

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    sandbox: LiveSandbox
    plan: FaultPlan
    limiter: RateLimiter | None
    rate_headers: bool
    counts: Counts
    latency: float
    clock: Clock

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (socket.getfqdn), a slow DNS
        # call on some machines; loopback needs none of it.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: hundreds of requests a second
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms stall
    server: _Server
    server_header = ""

    def version_string(self) -> str:
        return self.server_header or super().version_string()

    def do_POST(self) -> None:
        self.server_header = ""  # this request's Server header ("cloudflare" for its pages)
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.counts.add("requests")
        if parts.path not in API_PATHS:  # a wrong API URL: the web server's own page
            self._send(404, "text/html", PAGE_404.encode())
            return
        if self.server.latency:
            time.sleep(self.server.latency)
        if self.server.plan.faults.maintenance is not None:
            self.server.counts.add("faults")
            self._send(503, "text/html; charset=UTF-8", PAGE_MAINTENANCE.encode(),
                       **{"Retry-After": str(self.server.plan.faults.maintenance)})  # fmt: skip
            return
        fault = self.server.plan.draw(body)
        if fault is not None and fault.kind != "lose":
            self.server.counts.add("faults")
            self._send_fault(fault)
            return
        form = dict(parse_qsl(parts.query, keep_blank_values=True))
        form.update(parse_form(body))
        now = self.server.clock()
        headers: dict[str, str] = {}
        if self.server.limiter is not None:
            verdict = self.server.limiter.take((form.get("key") or "").strip(), now)
            headers = verdict.headers() if self.server.rate_headers else {}
            if not verdict.allowed:
                self.server.counts.add("rate_limited")
                self._send(429, "application/json", json.dumps({"error": TEXT_429}).encode(),
                           **headers, **{"Retry-After": str(verdict.retry_after)})  # fmt: skip
                return
        try:
            reply = self.server.sandbox.answer(form, now)
        except BulkOrdersError as exc:
            self._send(500, "text/plain", str(exc).encode())
            return
        if fault is not None:  # the work is done; the answer never leaves
            self.server.counts.add("faults")
            self.close_connection = True
            return
        self._send(reply.status, reply.content_type, reply.content(), **headers)

    def do_GET(self) -> None:
        self._send(405, "application/json", b'{"error": "Incorrect request"}', Allow="POST")

    def _send_fault(self, fault: Fault) -> None:
        if fault.kind == "5xx":
            if fault.status == 502:
                self._send(502, "text/html", PAGE_502.encode())
            else:
                self._send(503, "text/plain", TEXT_503.encode())
        elif fault.kind == "429":
            extra = {"Retry-After": "1"} if fault.retry_after else {}
            self._send(429, "text/plain", TEXT_429.encode(), **extra)
        elif fault.blocked:  # Cloudflare's firewall: blocked outright
            self.server_header = "cloudflare"
            self._send(403, "text/html; charset=UTF-8", CLOUDFLARE_BLOCKED.encode(), **CLOUDFLARE_HEADERS)
        else:  # a managed challenge (403), or "I'm under attack" mode (503)
            self.server_header = "cloudflare"
            self._send(fault.status, "text/html; charset=UTF-8", CLOUDFLARE_PAGE.encode(),
                       **CLOUDFLARE_HEADERS, **{"cf-mitigated": "challenge"})  # fmt: skip

    def _send(self, status: int, content_type: str, data: bytes, **headers: Any) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the terminal at hundreds a second


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
