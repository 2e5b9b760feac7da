"""Shared fixtures: every user dir points at tmp_path, so tests never touch a real home."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bulkorders.cli.app import Environment

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
