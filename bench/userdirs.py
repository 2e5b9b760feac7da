"""Every bench runs bulkorders with user dirs of its own, so a developer's real ledger,
config and caches are never touched, and nothing of theirs changes what is measured."""

from __future__ import annotations

import os
from pathlib import Path

CHOSEN_BY_ENV = ("BULKORDERS_PANEL", "BULKORDERS_LEDGER", "BULKORDERS_CONFIG", "BULKORDERS_JSON")


def isolated_env(work: Path, **extra: str) -> dict[str, str]:
    """The environment for a bulkorders subprocess whose config, data and cache dirs are under
    `work`, with no panel, ledger, config or JSON mode chosen by the caller's environment."""
    env = {**os.environ, "XDG_DATA_HOME": str(work / "data"), "XDG_CACHE_HOME": str(work / "cache"),
           "XDG_CONFIG_HOME": str(work / "config")}  # fmt: skip
    for var in CHOSEN_BY_ENV:
        env.pop(var, None)
    env.update(extra)
    return env
