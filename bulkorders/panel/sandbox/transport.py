"""The sandbox panel in-process: an httpx transport that answers from `LiveSandbox`.

`--panel sandbox` hands this transport to the ordinary `PanelClient`, so the client
speaks real HTTP semantics (form body, status, JSON) with no socket at all.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl

import httpx

from bulkorders.clock import Clock
from bulkorders.panel.sandbox.store import LiveSandbox


class SandboxTransport(httpx.BaseTransport):
    """Answers every request with the sandbox panel whose state lives in `state_path`.

    `clock` gives the panel's `now` (epoch seconds; default `time.time`); `key`, when
    set, is the only API key accepted; `dialect` names the family of real panels it
    answers like (see `DIALECTS`; default clean). Safe to share between threads.
    """

    def __init__(
        self,
        state_path: Path,
        *,
        clock: Clock | None = None,
        key: str | None = None,
        dialect: str | None = None,
    ) -> None:
        self.sandbox = LiveSandbox(state_path, key=key, dialect=dialect)
        self.clock = clock or time.time

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Parse the form (body and query string), ask the panel, answer in its dialect."""
        reply = self.sandbox.answer(request_form(request), self.clock())
        return httpx.Response(
            reply.status, content=reply.content(), headers={"Content-Type": reply.content_type}, request=request
        )

    def close(self) -> None:
        """Close the state file (httpx calls this when the client closes)."""
        self.sandbox.close()


def request_form(request: httpx.Request) -> dict[str, str]:
    """The form fields of a request: query string first, then the url-encoded body."""
    form = {key: value for key, value in request.url.params.multi_items()}
    form.update(parse_form(request.read()))
    return form


def parse_form(body: bytes) -> Mapping[str, str]:
    """An `application/x-www-form-urlencoded` body as a dict (the last value of a field wins)."""
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

