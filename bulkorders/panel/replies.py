"""One HTTP answer of a panel, and what kind of answer it is (no I/O).

What the client decides rests on this: a Cloudflare-style challenge page means the
request never reached the panel; an HTML page below 500 means the URL is not the API;
a 5xx page or a lost answer cannot say whether an order exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bulkorders.panel.decoding import looks_like_html

NOT_JSON: Any = object()
_CHALLENGE_TEXTS = (
    "just a moment", "attention required", "cf-chl", "checking your browser",
    "checking if the site connection is secure", "cf_chl_opt", "ddos-guard", "captcha",
)  # fmt: skip
_MAINTENANCE_TEXTS = ("maintenance", "be right back", "temporarily unavailable")


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, body decoded once."""

    status: int
    text: str
    doc: Any  # the decoded JSON, or NOT_JSON
    retry_after: float | None
    location: str | None
    mitigated: str | None = None  # the cf-mitigated header

    @property
    def is_json(self) -> bool:
        return self.doc is not NOT_JSON

    @property
    def is_redirect(self) -> bool:
        return 300 <= self.status < 400

    @property
    def is_challenge(self) -> bool:
        """A firewall's challenge page (Cloudflare and the like): the panel never saw the request."""
        if self.is_json or self.is_redirect:
            return False
        if (self.mitigated or "").strip().lower() == "challenge":
            return True
        if self.status not in (403, 429, 503):
            return False
        low = self.text[:20000].lower()
        return any(text in low for text in _CHALLENGE_TEXTS)

    @property
    def is_not_the_api(self) -> bool:
        """An HTML page below 500 (a 404, the panel's home page): the URL is not its API."""
        return not self.is_json and self.status < 500 and looks_like_html(self.text) and not (
            self.is_redirect or self.is_challenge or self.status == 429
        )

    @property
    def is_maintenance(self) -> bool:
        """A 503 page that says maintenance, or asks to come back later."""
        low = self.text[:20000].lower()
        return self.status == 503 and not self.is_json and (
            self.retry_after is not None or any(text in low for text in _MAINTENANCE_TEXTS)
        )


def firewall_message(url: str, action: str) -> str:
    """Why a run stops when a firewall challenge persists, and what to ask the panel."""
    return (
        f"The panel's firewall (a Cloudflare-style challenge page) blocks API calls to {url}: "
        f"{action} never reached the panel. Nothing was placed by the blocked requests. Ask the "
        "panel's support to let API calls to its /api/v2 address through the firewall (no "
        "browser challenge for API requests, or allow-list this machine's IP address), then rerun."
    )


def not_the_api_message(url: str, action: str, detail: str) -> str:
    """An HTML page for the API URL itself: the hint of what to check in the URL."""
    hint = (
        "remove the trailing slash" if url.endswith("/")
        else "check the path: /api/v2 (not /api/v1, /api or the panel's home page)"
    )  # fmt: skip
    return (
        f"The panel URL {url} is not an API v2 endpoint: it answered {action} with {detail}. "
        f"Set the panel URL to the address on the panel's API page ({hint}), then rerun."
    )
