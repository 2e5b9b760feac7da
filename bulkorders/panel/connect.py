"""Settings -> a ready `PanelClient`: the real panel over HTTPS, or the sandbox in-process.

One code path for both: the only difference is the httpx transport handed to the client.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import click

from bulkorders.clock import Clock
from bulkorders.panel.client import PanelClient
from bulkorders.panel.retry import RetryPolicy
from bulkorders.panel.sandbox import STATE_FILE as SANDBOX_STATE_FILE
from bulkorders.settings import Settings


def open_client(
    settings: Settings, *, clock: Clock | None = None, sleep: Callable[[float], None] = time.sleep
) -> PanelClient:
    """The client for the configured panel (raises ConfigError when none is usable).

    `sleep` is how the client waits between retries (tests pass one that does not wait).
    """
    panel = settings.panel()
    transport = None
    if panel.is_sandbox:
        from bulkorders.panel.sandbox import SandboxTransport

        transport = SandboxTransport(
            settings.data_dir / SANDBOX_STATE_FILE, clock=clock, dialect=panel.options.dialect
        )
    options = panel.options
    return PanelClient(
        panel.url,
        panel.key,
        transport=transport,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        deadline=settings.request_deadline,
        sleep=sleep,
        retry=RetryPolicy(retry_after_limit=options.retry_after_limit),
        log=_debug_log if settings.debug else None,
        currency=options.currency,
        send_quantity=options.send_quantity,
        max_rate=options.max_rate,
        notify=_say,
    )


def _say(line: str) -> None:
    click.echo(line, err=True)


def _debug_log(line: str) -> None:
    click.echo(f"debug: {line}", err=True)
