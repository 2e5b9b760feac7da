"""What one web app serves and how it is guarded: the settings, the secrets, the limits."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bulkorders.clock import Clock
from bulkorders.settings import Settings

MAX_UPLOAD = 20 * 1024 * 1024  # bytes of one uploaded sheet
PAGE_SIZE = 100  # rows of a campaign page


@dataclass(frozen=True)
class WebConfig:
    """The app's world: `token` opens a session (the URL printed at start); with `password`
    set, the login form does instead (a remote bind). `allowed_hosts` are the Host headers
    answered (DNS rebinding). The API key stays in `settings`, on the server."""

    settings: Settings
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    password: str | None = field(default=None, repr=False)
    allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost")
    port: int = 8765
    max_upload: int = MAX_UPLOAD
    page_size: int = PAGE_SIZE
    clock: Clock = time.time
    sleep: Callable[[float], None] = time.sleep

    @property
    def cookie(self) -> str:
        """Cookies are shared by every port of a host: one name per port, so two apps never mix."""
        return f"bulkorders_session_{self.port}"
