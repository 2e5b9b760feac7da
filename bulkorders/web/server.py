"""uvicorn on a socket of ours: the URL with its token is known before the first request."""

from __future__ import annotations

import socket
import threading
import webbrowser
from collections.abc import Callable
from dataclasses import replace

import uvicorn

from bulkorders.errors import UsageError
from bulkorders.settings import Settings, is_loopback
from bulkorders.web.app import create_app
from bulkorders.web.config import WebConfig


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free one); a busy port is a usage error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"Cannot listen on {host}:{port} ({exc.strerror}): choose another --port.") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def make_server(config: WebConfig, sock: socket.socket) -> tuple[uvicorn.Server, str]:
    """The server of `config` on `sock`, and the URL to open (with the token, unless a password
    guards it)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    # Loopback: only its own names (a DNS-rebound name is refused); a remote bind is reached by
    # whatever name the network gives the machine, and the password guards it.
    hosts = ("127.0.0.1", "::1", "localhost") if is_loopback(host) else ("*",)
    config = replace(config, port=port, allowed_hosts=hosts)
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3, lifespan="on"))
    url = f"http://{shown}:{port}/" + ("" if config.password is not None else f"?token={config.token}")
    return server, url


def serve(settings: Settings, *, host: str, port: int, password: str | None, open_browser: bool,
          say: Callable[[str], None]) -> None:  # fmt: skip
    """Serve until Ctrl-C; running placements stop between two orders, everything saved."""
    sock = bind(host, port)
    config = WebConfig(settings=settings, password=password)
    server, url = make_server(config, sock)
    say(f"bulkorders ui on panel {settings.panel().identity}: open\n  {url}")
    say("Press Ctrl-C to stop (a campaign being placed stops between two orders, all saved).")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    server.run(sockets=[sock])
