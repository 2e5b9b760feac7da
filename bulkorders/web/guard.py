"""Who may use the app: a session opened by the start-up token (or the password), CSRF on
every state-changing request, known Host headers only, bodies within the upload limit.

An ASGI middleware in front of everything, the static files included: a request without
the token or the session's cookie is refused (403). The token link opens a session and
redirects to the same page without the token, so it does not linger in the address bar.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bulkorders.web.config import WebConfig
from bulkorders.web.throttle import LoginThrottle

FORM_SLACK = 64 * 1024  # multipart framing and the other fields around an upload
LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>bulkorders: log in</title></head>
<body style="font-family:sans-serif;max-width:30em;margin:4em auto"><h1>bulkorders</h1>{message}
<form method="post" action="/login"><label>Password <input type="password" name="password" autofocus></label>
<button type="submit">Log in</button></form></body></html>"""


class Guard:
    """The middleware. A request it lets through has `state.session` and `state.csrf`, the token
    every form of that session carries."""

    def __init__(self, app: ASGIApp, config: WebConfig) -> None:
        self.app = app
        self.config = config
        self._secret = secrets.token_bytes(32)
        self._sessions: set[str] = set()
        self._throttle = LoginThrottle(config.clock)

    def csrf(self, session: str) -> str:
        return hmac.new(self._secret, session.encode(), hashlib.sha256).hexdigest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        refusal = self._refusal(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        session = self._session(request)
        if session is None:
            response = await self._unauthenticated(request)
            await response(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["session"], state["csrf"] = session, self.csrf(session)
        await self.app(scope, self._limited(receive), send)

    def _refusal(self, request: Request) -> Response | None:
        host = (request.url.hostname or "").strip("[]")
        if host not in self.config.allowed_hosts and "*" not in self.config.allowed_hosts:
            return _refused(f"This server does not answer for the host {host!r}.", 400)
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
                return _refused("Refused: the request came from another site.")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self._max_body()):
            return _too_large(self.config.max_upload)
        return None

    def _session(self, request: Request) -> str | None:
        session = request.cookies.get(self.config.cookie)
        return session if session in self._sessions else None

    async def _unauthenticated(self, request: Request) -> Response:
        if self.config.password is not None:
            if request.url.path == "/login":
                return await self._login(request)
            return _refused('Log in first: <a href="/login">log in</a>.')
        token = request.query_params.get("token")
        if token and hmac.compare_digest(token.encode(), self.config.token.encode()):
            query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            return self._open_session(request.url.path + (f"?{query}" if query else ""))
        return _refused(
            "Refused: open the link with the token that <code>bulkorders ui</code> printed "
            "when it started (…/?token=…)."
        )

    async def _login(self, request: Request) -> Response:
        if request.method != "POST":
            return HTMLResponse(LOGIN_PAGE.format(message=""))
        address = request.client.host if request.client else ""
        wait = self._throttle.wait(address)
        if wait:
            return _too_many(wait)
        fields = parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
        given = (fields.get("password") or [""])[0]
        assert self.config.password is not None
        if given and hmac.compare_digest(given.encode(), self.config.password.encode()):
            self._throttle.succeeded(address)
            return self._open_session("/")
        self._throttle.failed(address)
        return HTMLResponse(LOGIN_PAGE.format(message="<p><strong>Wrong password.</strong></p>"), 403)

    def _open_session(self, target: str) -> Response:
        session = secrets.token_urlsafe(32)
        self._sessions.add(session)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(self.config.cookie, session, httponly=True, samesite="strict", path="/")
        return response

    def _max_body(self) -> int:
        return self.config.max_upload + FORM_SLACK

    def _limited(self, receive: Receive) -> Receive:
        """A body sent without Content-Length (chunked) is counted as it arrives."""
        seen = 0
        limit = self._max_body()

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        return counted


class BodyTooLarge(Exception):
    """A request body over the upload limit, found while it streamed in."""


def _refused(message: str, status: int = 403) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>Refused</title><p>{message}</p>", status)


def _too_many(wait: int) -> HTMLResponse:
    message = f"Too many wrong passwords from your address: try again in {wait} s."
    return HTMLResponse(LOGIN_PAGE.format(message=f"<p><strong>{message}</strong></p>"), 429, {"Retry-After": str(wait)})


def _too_large(limit: int) -> HTMLResponse:
    size = f"{limit / (1024 * 1024):g} MB"
    return HTMLResponse(
        f"<!doctype html><title>Too large</title><p>{html.escape(f'The file is over the {size} limit of an upload. Split the sheet into smaller campaigns and upload each.')}</p>",  # noqa: E501
        413,
    )
