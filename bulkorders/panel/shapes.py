"""The shapes real panels wrap their answers in, and the many ways they say no. Pure.

- field names in any case (`Charge`, `Currency`): `fold` lower-cases an object's keys;
- `{"status": "success", "data": …}` / `{"success": true, …}` wrappers: `unwrap`;
- refusals: `{"error": "…"}`, `{"error": true, "message": "…"}`, `{"status": "error",
  "message": "…"}`, `{"success": false, "message": "…"}`, `{"errors": …}`, and a bare
  string where an entry was expected: `refusal` gives the text;
- which refusals are about the account (funds, the key) rather than one order.
"""

from __future__ import annotations

import json
import re
from typing import Any

_MESSAGE_KEYS = ("message", "msg", "error_message", "description", "detail", "reason")
_ERROR_WORDS = frozenset({"error", "failed", "failure", "fail"})
_OK_WORDS = frozenset({"success", "ok", "true", "1"})
# The fields of an order's status: an object carrying one is a status, never a refusal
# (an order's own status may be `Error` or `Fail`).
_STATUS_FIELDS = frozenset({"charge", "remains", "start_count", "currency"})
_FUNDS = re.compile(
    r"not[\s_]+enough[\s_]+(funds|balance|money)|insufficient[\s_]+(funds|balance)|"
    r"low[\s_]+balance|balance[\s_]+is[\s_]+(too[\s_]+)?low|no[\s_]+funds|not_enough_funds|"
    r"insufficient_funds|top[\s_]+up",
    re.IGNORECASE,
)
_AUTH = re.compile(
    r"(invalid|incorrect|wrong|bad|inactive|unknown|disabled|expired|missing)\b[\w\s]{0,20}"
    r"\b(api[\s_-]*)?key\b|api[\s_-]*key[\w\s]{0,20}\b(invalid|incorrect|wrong|inactive|not[\s_]+(valid|found)"
    r"|disabled|expired|required|missing)|\bunauthori[sz]ed\b|\bunauthenticated\b|invalid[\s_]+token|"
    r"api[\s_-]*key[\s_-]*(invalid|incorrect|wrong)|neworder\.error\.(api_key|key)",
    re.IGNORECASE,
)
# What a server's error handler says when it failed before it could say anything useful.
_SERVER_FAILURE = re.compile(
    r"^\s*(internal[\s_]+(server[\s_]+)?error|server[\s_]+error|bad[\s_]+gateway|gateway[\s_]+timeout|"
    r"service[\s_]+unavailable|(an[\s_]+)?(unexpected|unknown)[\s_]+error([\s_]+occurred)?|"
    r"something[\s_]+went[\s_]+wrong|timeout|timed[\s_]+out)\W*$",
    re.IGNORECASE,
)
_RATE_LIMIT = re.compile(r"too[\s_]+many[\s_]+requests|rate[\s_]+limit", re.IGNORECASE)


def fold(value: Any) -> Any:
    """An object with its keys in lower case (the first of two spellings wins); else as is."""
    if not isinstance(value, dict):
        return value
    folded: dict[str, Any] = {}
    for key, item in value.items():
        folded.setdefault(str(key).strip().lower(), item)
    return folded


def unwrap(doc: Any) -> Any:
    """`{"status": "success", "data": X}` -> X; `{"status": "success", "order": 1}` ->
    `{"order": 1}`. Anything else as is (keys folded when it is an object)."""
    for _ in range(3):  # wrappers inside wrappers, but never forever
        if not isinstance(doc, dict):
            return doc
        low = fold(doc)
        if refusal(low) is not None:
            return low
        status = low.get("status")
        marked = (isinstance(status, str) and status.strip().lower() in _OK_WORDS) or low.get("success") is True
        if "data" in low and (marked or set(low) <= {"data", "message", "code", "meta"}):
            doc = low["data"]
            continue
        if marked:
            return {k: v for k, v in low.items() if k not in ("status", "success", "message", "code")}
        return low
    return doc


def refusal(value: Any) -> str | None:
    """The text of a refusal in any of the shapes of the module docstring; None when the
    value is not one. A bare string counts (where an entry was expected)."""
    if isinstance(value, str):
        return _one_line(value)
    if not isinstance(value, dict):
        return None
    low = fold(value)
    error = low.get("error")
    if error is not None and error is not False and error != "" and error != 0:
        return _error_value(error, low)
    if "errors" in low and low["errors"]:
        return _message(low) or _error_value(low["errors"], low)
    status = low.get("status")
    word = status.strip().lower() if isinstance(status, str) else None
    if word in _ERROR_WORDS and not _STATUS_FIELDS & set(low):
        # {"status": "error", "message": …}; {"status": "error"} alone too. An order's own
        # status may be "Fail" or "Error", but then the answer carries its other fields.
        said = _message(low)
        if said is not None:
            return said
        if set(low) & set(_MESSAGE_KEYS) or (word == "error" and set(low) <= {"status", "code"}):
            return f"the panel answered status: {status.strip()}, without a reason"
    if low.get("success") is False or (isinstance(status, bool) and status is False):
        return _message(low) or "the panel answered with success: false and no text"
    return None


def _error_value(error: Any, low: dict[str, Any]) -> str:
    if error is True or isinstance(error, int | float):
        return _message(low) or (f"error {error}" if error is not True else "the panel answered with an error and no text")
    if isinstance(error, str):
        return _one_line(error)
    if isinstance(error, dict):
        inner = fold(error)
        return _message(inner) or refusal(inner) or _short(error)
    if isinstance(error, list):
        texts = [refusal(item) or _short(item) for item in error]
        return "; ".join(texts) or _message(low) or "(empty error)"
    return _short(error)


def _message(low: dict[str, Any]) -> str | None:
    for key in _MESSAGE_KEYS:
        value = low.get(key)
        if isinstance(value, str) and value.strip():
            return _one_line(value)
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "(empty error)"


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_funds_refusal(text: str, status: int = 200) -> bool:
    """HTTP 402, or a text saying the balance is too low in any wording seen on panels."""
    return status == 402 or bool(_FUNDS.search(text))


def is_auth_refusal(text: str, status: int = 200) -> bool:
    """HTTP 401/403 with a JSON refusal, or a text saying the API key is refused."""
    return status in (401, 403) or bool(_AUTH.search(text))


def is_server_failure(text: str) -> bool:
    """A server's generic "Internal Server Error": it says nothing about the order."""
    return bool(_SERVER_FAILURE.match(text))


def is_rate_limit(text: str) -> bool:
    """`Too many requests` / `rate limit` in a refusal: ask again later, like a 429."""
    return bool(_RATE_LIMIT.search(text))
