"""How bytes reach the panel: a total deadline per request, Ctrl-C that does not wait for
answers that never come, size caps on answers, and proxies that never see the key.

A real loopback server plays the hostile panel: it trickles its answers one byte at a
time (a slow loris), sends answers of tens of megabytes, or plays a proxy that records
whether it was used.
"""

from __future__ import annotations

import csv
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from bulkorders.errors import BadAnswer, Interrupted, PanelUnreachable
from bulkorders.ledger.store import Ledger
from bulkorders.panel import PanelClient
from bulkorders.panel.client import RetryPolicy
from bulkorders.panel.transport import MB, answer_limit, panel_proxy

KEY = "transport-test-key-0123456789"
CATALOGUE = [{"service": 1, "name": "Followers", "type": "Default", "category": "IG",
              "rate": "1.00", "min": 10, "max": 10000, "refill": 0, "cancel": 0}]  # fmt: skip


class _Panel(http.server.BaseHTTPRequestHandler):
    """services and balance answered at once; `add` as the server's `mode` says."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        action = form.get("action", "")
        self.server.received.append(action)
        if action == "services":
            self._answer(json.dumps(CATALOGUE).encode())
        elif action == "balance":
            self._answer(b'{"balance": "1000.00", "currency": "USD"}')
        elif self.server.mode == "huge":
            self._huge()
        else:
            self._trickle()

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self) -> None:
        """One byte every 0.1 s, for ever (until the client hangs up or the server stops):
        the headers too when the server's `trickle_headers` says so."""
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        if not self.server.trickle_headers:
            self.wfile.write(head)
            self.wfile.flush()
            head = b""
        payload = iter(head + b'{"order": 1' + b" " * 10**6)
        try:
            while not self.server.stopping.wait(0.1):
                self.wfile.write(bytes([next(payload)]))
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _huge(self) -> None:
        """A JSON answer of `huge_mb` megabytes, with no Content-Length to give it away."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        block = b" " * 65536
        try:
            self.wfile.write(b'{"order": 1,"pad":"')
            for _ in range(self.server.huge_mb * 16):
                self.wfile.write(block)
            self.wfile.write(b'"}')
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Panel)
        self.mode = mode
        self.trickle_headers = False
        self.huge_mb = 30
        self.received: list[str] = []
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v2"


@pytest.fixture
def panel() -> Iterator[_Server]:
    server = _Server("trickle")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def client(url: str, **kwargs: Any) -> PanelClient:
    kwargs.setdefault("retry", RetryPolicy(attempts=1))
    return PanelClient(url, KEY, read_timeout=5.0, sleep=lambda s: None, **kwargs)


def wait_for(condition: Any, within: float = 10.0) -> None:
    """Wait for another thread or process to get somewhere (there is no clock to inject)."""
    end = time.monotonic() + within
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.01)


# --- a total deadline per request -----------------------------------------------------


@pytest.mark.parametrize("trickle_headers", [False, True])
def test_an_add_trickled_at_ten_bytes_a_second_ends_at_the_deadline_as_lost(panel, trickle_headers):
    panel.trickle_headers = trickle_headers
    with client(panel.url, deadline=1.0) as c:
        started = time.monotonic()
        result = c.add({"service": "1", "link": "https://x.test/p", "quantity": "100"})
        took = time.monotonic() - started
    assert 1.0 <= took < 1.8
    assert result.lost and result.order is None
    assert "no complete answer within 1 s (the deadline of a request)" in result.detail
    assert "may have reached the panel" in result.detail


def test_a_read_only_call_trickled_is_unreachable_after_its_deadline(panel):
    panel.mode = "trickle"
    with client(panel.url, deadline=0.6) as c:
        started = time.monotonic()
        with pytest.raises(PanelUnreachable, match=r"no complete answer within 0\.6 s"):
            c.status("5")
    assert time.monotonic() - started < 1.4


def test_the_default_deadline_is_twice_the_read_timeout():
    assert PanelClient("https://p.test/api/v2", KEY, read_timeout=7)._deadline == 14


def test_abort_gives_up_an_add_in_flight_within_a_fraction_of_a_second(panel):
    with client(panel.url, deadline=60) as c:
        results: list[Any] = []
        worker = threading.Thread(target=lambda: results.append(c.add({"service": "1", "link": "x"})))
        worker.start()
        wait_for(lambda: "add" in panel.received)
        started = time.monotonic()
        c.abort()
        worker.join(timeout=5)
        assert time.monotonic() - started < 0.6
        (result,) = results
        assert result.lost
        assert "interrupted (Ctrl-C) before the answer came back" in result.detail
        with pytest.raises(Interrupted):  # nothing more leaves once aborted
            c.balance()


def _write_sheet(path: Path, rows: int) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["link", "service", "quantity"])
        writer.writerows([f"https://instagram.com/p/slow{i}", "1", "100"] for i in range(rows))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT")
def test_ctrl_c_ends_a_submit_stuck_on_a_slow_loris_within_2_s_rows_in_flight_uncertain(panel, tmp_path):
    sheet, ledger_path = tmp_path / "slow.csv", tmp_path / "ledger.sqlite"
    _write_sheet(sheet, 6)
    env = {**os.environ, "BULKORDERS_API_KEY": KEY}
    command = [sys.executable, "-m", "bulkorders", "--panel", panel.url, "--ledger", str(ledger_path),
               "submit", str(sheet), "--yes", "--concurrency", "3"]  # fmt: skip
    victim = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: panel.received.count("add") == 3, within=30)
        pressed = time.monotonic()
        victim.send_signal(signal.SIGINT)
        _, stderr = victim.communicate(timeout=10)
        assert time.monotonic() - pressed < 2.0, stderr
    finally:
        victim.kill()
    assert victim.returncode == 130, stderr
    assert "Interrupted" in stderr and "Traceback" not in stderr
    assert panel.received.count("add") == 3  # nothing sent after Ctrl-C
    with Ledger.open(ledger_path) as ledger:
        rows = ledger.rows(ledger.find_campaign("slow"))
        states = sorted(r.state for r in rows)
    assert states == ["planned"] * 3 + ["uncertain"] * 3
    with (tmp_path / "slow.results.csv").open(newline="") as fh:
        statuses = [row["status"] for row in csv.DictReader(fh)]
    assert statuses.count("uncertain") == 3


# --- size caps ------------------------------------------------------------------------


def test_answer_limits_per_action():
    assert answer_limit("services", {}) == 20 * MB
    assert answer_limit("add", {"service": "1", "link": "x"}) == 1 * MB
    assert answer_limit("status", {"orders": ",".join(map(str, range(100)))}) == MB + 100 * 16 * 1024


def test_an_add_answered_with_30_mb_is_lost_naming_the_limit_not_read_in_full(panel):
    panel.mode = "huge"
    with client(panel.url) as c:
        result = c.add({"service": "1", "link": "https://x.test/p", "quantity": "100"})
    assert result.lost
    assert result.detail == "an answer to add larger than 1 MB; the request reached the panel"


def test_a_catalogue_over_20_mb_is_a_bad_answer_naming_it():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(b"[" + b" " * (21 * MB) + b"]"))

    with PanelClient("https://p.test/api/v2", KEY, transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(BadAnswer) as caught:
            c.services()
    assert str(caught.value).startswith(
        "The panel sent an answer to services larger than 20 MB, more than bulkorders reads for it"
    )


def test_a_declared_content_length_over_the_cap_is_refused_before_reading():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(50 * MB)}, content=b"{}")

    with PanelClient("https://p.test/api/v2", KEY, transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(BadAnswer, match="an answer to balance larger than 1 MB"):
            c.balance()


# --- proxies --------------------------------------------------------------------------


class _Proxy:
    """A loopback "proxy" that records the first line of every request it is asked."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.seen: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.seen.append(conn.recv(65536))
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def proxy(monkeypatch) -> Iterator[_Proxy]:
    server = _Proxy()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    yield server
    server.close()


def test_a_loopback_http_panel_is_never_reached_through_a_proxy(panel, proxy):
    with client(panel.url) as c:
        assert str(c.balance().amount) == "1000.00"
    assert panel.received == ["balance"]
    assert proxy.seen == []


@pytest.mark.parametrize("url", ["http://localhost:9/api/v2", "https://127.0.0.1/api/v2",
                                 "http://panel.example/api/v2", "https://[::1]:8443/x"])  # fmt: skip
def test_no_proxy_for_loopback_or_http(proxy, url):
    assert panel_proxy(url) is None


def test_an_https_panel_behind_a_proxy_is_only_ever_a_connect_tunnel(proxy):
    with client("https://panel.example/api/v2") as c:
        with pytest.raises(PanelUnreachable):
            c.balance()
    assert len(proxy.seen) == 1
    first_line = proxy.seen[0].split(b"\r\n")[0]
    assert first_line == b"CONNECT panel.example:443 HTTP/1.1"
    assert KEY.encode() not in proxy.seen[0]


def test_no_proxy_honoured_for_https(proxy, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "panel.example")
    assert panel_proxy("https://panel.example/api/v2") is None
    assert panel_proxy("https://other.example/api/v2") == proxy.url
