"""The API key, in any encoding a panel echoes it in, reaches no output and no file.

A loopback panel answers each order with an error page quoting the key raw, URL-encoded
(quote, quote_plus), HTML-entity encoded (decimal, hex, named) or JSON-escaped; `submit`
then runs against it. Nothing on stdout or stderr, in the ledger's files or in the
results sheet may hold any of those forms; the error texts are kept, with `***` instead.
"""

from __future__ import annotations

import csv
import html
import json
from urllib.parse import quote, quote_plus

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


def echoing(form: dict[str, str], adds: list[int]) -> tuple[int, str, str]:
    """A panel that answers the n-th add with an error quoting the key in the n-th form,
    alternately as JSON (400) and as an HTML page (502)."""
    if form["action"] == "services":
        return 200, json.dumps(CATALOGUE), "application/json"
    if form["action"] == "balance":
        return 200, '{"balance": "1000", "currency": "USD"}', "application/json"
    adds.append(1)  # list.append is atomic: the count is right across server threads
    n = len(adds) - 1
    echo = ECHOES[n % len(ECHOES)]
    if n % 2:
        return 502, f"<html><title>Bad gateway</title><body>request key={echo} failed</body></html>", "text/html"
    return 400, json.dumps({"error": f"Incorrect request (key={echo})"}), "application/json"


@pytest.fixture
def echo_panel(loopback_panel) -> str:
    adds: list[int] = []
    return loopback_panel(lambda form: echoing(form, adds))


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
