"""The API key, in any encoding a panel echoes it in, reaches no output and no file.

A loopback panel answers each order with an error page quoting the key raw, URL-encoded
(quote, quote_plus), HTML-entity encoded (decimal, hex, named) or JSON-escaped; `submit`
then runs against it. Nothing on stdout or stderr, in the ledger's files or in the
results sheet may hold any of those forms; the error texts are kept, with `***` instead.
"""

from __future__ import annotations

import csv
import html
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus

import pytest
from click.testing import CliRunner

from bulkorders.cli import cli
from bulkorders.panel.masking import KeyMask

KEY = "sk-Live+7d1f/2e9c=0b&Q 42"


def encodings(key: str) -> dict[str, str]:
    """Every form of the key a panel was seen to echo (and a mixture of them)."""
    return {
        "raw": key,
        "quote": quote(key),
        "quote-nothing-safe": quote(key, safe=""),
        "quote_plus": quote_plus(key),
        "html.escape": html.escape(key),
        "decimal entities": "".join(f"&#{ord(c)};" for c in key),
        "hex entities": "".join(f"&#x{ord(c):X};" for c in key),
        "json \\u": "".join(f"\\u{ord(c):04x}" for c in key),
        "mixed": "".join(f"&#{ord(c)};" if i % 2 else quote(c, safe="") for i, c in enumerate(key)),
    }


ECHOES = list(encodings(KEY).values())
CATALOGUE = [{"service": 1, "name": "Followers", "type": "Default", "category": "IG",
              "rate": "1.00", "min": 10, "max": 10000, "refill": 0, "cancel": 0}]  # fmt: skip


class _Echo(http.server.BaseHTTPRequestHandler):
    """A panel that answers the n-th add with an error quoting the key in the n-th form,
    alternately as JSON (400) and as an HTML page (502)."""

    server: _Server

    def do_POST(self) -> None:  # noqa: N802
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
        if form["action"] == "services":
            return self._send(200, json.dumps(CATALOGUE), "application/json")
        if form["action"] == "balance":
            return self._send(200, '{"balance": "1000", "currency": "USD"}', "application/json")
        with self.server.lock:
            n = self.server.adds
            self.server.adds += 1
        echo = ECHOES[n % len(ECHOES)]
        if n % 2:
            self._send(502, f"<html><title>Bad gateway</title><body>request key={echo} failed</body></html>", "text/html")
        else:
            self._send(400, json.dumps({"error": f"Incorrect request (key={echo})"}), "application/json")

    def _send(self, status: int, body: str, kind: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.adds = 0
        self.lock = threading.Lock()


@pytest.fixture
def echo_panel() -> Iterator[str]:
    server = _Server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v2"
    server.shutdown()
    server.server_close()


def leaks(text: str) -> list[str]:
    low = text.lower()
    return [name for name, form in encodings(KEY).items() if form.lower() in low]


@pytest.mark.parametrize("form", ECHOES)
def test_every_encoding_of_the_key_is_masked(form):
    assert KeyMask(KEY)(f"a {form} b") == "a *** b"


def test_a_short_key_is_not_masked_in_ordinary_words():
    assert KeyMask("sandbox")("the sandbox panel") == "the sandbox panel"


def test_a_key_echoed_in_any_encoding_reaches_no_output_ledger_or_sheet(echo_panel, tmp_path):
    sheet, ledger = tmp_path / "echo.csv", tmp_path / "ledger.sqlite"
    with sheet.open("w", newline="") as fh:
        csv.writer(fh).writerows([["link", "service", "quantity"]]
                                 + [[f"https://instagram.com/p/e{i}", "1", "100"] for i in range(len(ECHOES))])  # fmt: skip
    result = CliRunner().invoke(
        cli, ["--panel", echo_panel, "--ledger", str(ledger), "--debug", "submit", str(sheet), "--yes",
              "--concurrency", "1"],
        env={"BULKORDERS_API_KEY": KEY},
    )  # fmt: skip
    assert result.exit_code in (1, 3), result.output
    assert leaks(result.stdout) == [] and leaks(result.stderr) == []
    for path in tmp_path.glob("ledger.sqlite*"):
        assert leaks(path.read_bytes().decode("latin-1")) == [], path.name
    results = (tmp_path / "echo.results.csv").read_text(encoding="utf-8-sig")
    assert leaks(results) == []
    with (tmp_path / "echo.results.csv").open(newline="", encoding="utf-8-sig") as fh:
        errors = [row["error"] for row in csv.DictReader(fh) if row["error"]]
    assert errors and all("***" in error for error in errors), errors
    assert "Incorrect request (key=***)" in results


def test_the_leak_check_finds_every_form() -> None:
    """The leak check itself finds every form (a check that finds nothing proves nothing)."""
    for name, form in encodings(KEY).items():
        assert leaks(f"x{form}y") and name in leaks(f"x{form}y")
