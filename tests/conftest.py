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
