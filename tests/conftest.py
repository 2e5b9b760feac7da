"""Shared fixtures: every user dir points at tmp_path, so tests never touch a real home."""

from __future__ import annotations

import pytest

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


@pytest.fixture
def no_backoff_waits(monkeypatch):
    """Unreachable panels are retried with backoff; tests that meet one need not wait for it."""
    import functools

    import bulkorders.panel.connect

    client = bulkorders.panel.connect.PanelClient
    monkeypatch.setattr(bulkorders.panel.connect, "PanelClient", functools.partial(client, sleep=lambda s: None))


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
