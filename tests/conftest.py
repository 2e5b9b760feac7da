"""Shared fixtures and helpers: every user dir points at tmp_path, so tests never touch a real
home; the CLI run in-process (`bulkorders`, `run`, `submit`) in a test `environment()`; an
injected clock (`FakeClock`); a `ledger` and its `planned_rows`; a `sandbox_client`; a
`loopback_panel` served on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bulkorders.cli import cli
from bulkorders.cli.app import Environment
from bulkorders.clock import Clock
from bulkorders.ledger.store import Ledger, PlannedRow, assign_identities
from bulkorders.panel.client import PanelClient
from bulkorders.panel.sandbox.transport import SandboxTransport
from bulkorders.settings import SANDBOX_URL

ENV_VARS = (
    "BULKORDERS_PANEL", "BULKORDERS_CONFIG", "BULKORDERS_LEDGER", "BULKORDERS_JSON",
    "BULKORDERS_DEBUG", "BULKORDERS_API_KEY",
)  # fmt: skip


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path, monkeypatch):
    """Config, data (ledger, sandbox state) and cache dirs all under tmp_path."""
    home = tmp_path / "home"
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
                     ("XDG_CACHE_HOME", "cache"), ("HOME", "")):
        path = home / sub
        path.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(path))
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return home


def no_wait(seconds: float) -> None:
    """A retry's wait in CLI tests: none (tests/test_client.py checks the waits the client asks for)."""


def environment(*, terminal: bool = False, sleep: Callable[[float], None] = no_wait) -> Environment:
    """The machine as a CLI test sees it (pass it as `obj`): no terminal to prompt on unless
    `terminal`, and unreachable panels retried without waiting."""
    return Environment(stdin_is_terminal=lambda: terminal, sleep=sleep)


def bulkorders(*args: str, input: str | None = None, env: Mapping[str, str] | None = None,
               obj: Environment | None = None) -> Result:
    """`bulkorders ARGS` in-process, in `obj` (default: `environment()`). An exception the CLI
    does not turn into a message fails the test, with its traceback."""
    return CliRunner().invoke(cli, list(args), input=input, env=env, obj=obj or environment(),
                              catch_exceptions=False)  # fmt: skip


def run(*args: str, **options) -> Result:
    """`bulkorders --panel sandbox ARGS` (the options as for `bulkorders`)."""
    return bulkorders("--panel", "sandbox", *args, **options)


def submit(*args: str, panel: str = "sandbox", **options) -> Result:
    """`bulkorders --panel PANEL submit ARGS`."""
    return bulkorders("--panel", panel, "submit", *args, **options)


class FakeClock:
    """Injected time: whatever reads it (sandbox, ledger, pipelines) sees `now`; sleep advances it."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    """The time the `ledger` fixture reads: the real one, unless a test module overrides this."""
    return time.time


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """A PostgreSQL server of this test session (tests/pgserver.py), skipped without binaries."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install bulkorders[team]")
    from pgserver import INSTALL_HINT, PgServer, find_bin

    bin_dir = find_bin()
    if bin_dir is None:
        pytest.skip(INSTALL_HINT)
    server = PgServer(bin_dir).start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL (password included) of a fresh, empty database on the session's server."""
    return pg_server.new_database()


# A module's own `engine` fixture with these params runs its ledger tests on both engines.
BOTH_ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def engine() -> str:
    """The engine of the `ledger` fixture: SQLite, unless a test module overrides this
    fixture with `params=BOTH_ENGINES`."""
    return "sqlite"


@pytest.fixture
def ledger_location(engine, tmp_path, request) -> Path | str:
    """Where the `ledger` fixture is: tmp_path/ledger.sqlite, or a fresh PostgreSQL database."""
    if engine == "postgresql":
        return request.getfixturevalue("pg_url")
    return tmp_path / "ledger.sqlite"


@pytest.fixture
def ledger(ledger_location, clock) -> Iterator[Ledger]:
    """A new ledger (`ledger_location`) on `clock`, closed after the test."""
    with Ledger.open(ledger_location, clock=clock) as opened:
        yield opened


def planned_rows(payloads: list[dict[str, str]], first_row: int = 2,
                 estimate: Decimal = Decimal("0.09")) -> list[PlannedRow]:
    """The sheet's payloads as the submitter hands them over: identities in sheet order."""
    return [
        PlannedRow(ident, first_row + n, p["service"], p.get("link"), p, estimate)
        for n, (ident, p) in enumerate(zip(assign_identities(payloads), payloads))
    ]


def sandbox_client(state: Path, *, clock: Clock | None = None, key: str = "sandbox-test-key",
                   accepts: str | None = None) -> PanelClient:
    """A PanelClient on the in-process sandbox kept in `state` (`accepts`: the only key it takes)."""
    return PanelClient(SANDBOX_URL, key, transport=SandboxTransport(state, clock=clock, key=accepts))


@pytest.fixture
def loopback_panel():
    """`loopback_panel(respond)` serves a panel on 127.0.0.1 and returns its API URL.

    `respond(form)` gets each request's form fields and returns (HTTP status, body text,
    content type). Servers are shut down at the end of the test."""
    import http.server
    import threading
    from urllib.parse import parse_qs

    servers = []

    def start(respond):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                status, body, kind = respond({k: v[0] for k, v in parse_qs(raw).items()})
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/api/v2"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
