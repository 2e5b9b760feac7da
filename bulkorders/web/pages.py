"""What every page handler shares: rendering with the session's CSRF token, checked forms."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response


def csrf(request: Request) -> str:
    """This session's CSRF token (set by the guard); "" outside a session (error pages)."""
    return request.scope.get("state", {}).get("csrf", "")


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """A page: `context` plus what the layout needs (the CSRF token, the panel's name)."""
    state = request.app.state
    try:
        panel = state.world.panel()
    except Exception:  # the layout must render even when the panel is misconfigured
        panel = "?"
    return state.templates.TemplateResponse(
        request, template, {"csrf": csrf(request), "panel": panel, **context}, status_code=status
    )


async def checked_form(request: Request) -> FormData:
    """The POSTed form, refused (403) unless it carries this session's CSRF token."""
    form = await request.form(max_files=1, max_fields=10_000)
    given, expected = form.get("csrf"), csrf(request)
    if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
        raise HTTPException(403, "Refused: the form is stale or came from another site (no valid CSRF token). "
                                 "Reload the page and try again.")  # fmt: skip
    return form


def int_param(value: Any, default: int) -> int:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else default
