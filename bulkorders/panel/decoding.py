"""Decoding panels' answers and checking them against their JSON Schemas (bulkorders/schemas/).

No I/O but reading the schemas. The JSON is decoded with `parse_float=Decimal`, never
through float. The schemas document the shapes real panels send and catch garbage; the
parsers in `answers` check a whole answer's outer shape with `check` and each entry of a
multi answer on its own with `check_entry`, so one unreadable entry fails its order only.
"""

from __future__ import annotations

import functools
import html
import json
import re
from decimal import Decimal
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from bulkorders.errors import BadAnswer

SCHEMA_BASE = "https://bulkorders.invalid/schemas/"


class NotJson(ValueError):
    """The body is not a JSON document."""


class AnswerShapeError(BadAnswer):
    """A JSON answer that breaks its action's schema; `what` says where and how."""

    def __init__(self, action: str, what: str) -> None:
        super().__init__(
            f"The panel's answer to {action} is not what API v2 promises: {what}. "
            "Check that the panel URL is its API v2 endpoint (usually ending in /api/v2); "
            "--debug shows the requests."
        )
        self.action = action
        self.what = what


# --- decoding and checking ------------------------------------------------------------


def decode(text: str) -> Any:
    """JSON text -> Python, with every non-integer number as an exact `Decimal`."""
    text = text.lstrip("\ufeff").strip()
    if not text:
        raise NotJson("empty body")
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise NotJson(str(exc)) from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def schema_name(action: str, multi: bool = False) -> str:
    """The schema file (without .json) of an action's answer, e.g. `status-multi`."""
    return f"{action}-multi" if multi else action


def check(action: str, doc: Any, *, multi: bool = False) -> None:
    """Raise AnswerShapeError naming the action and what was wrong when `doc` breaks its schema."""
    validator = _validator(schema_name(action, multi))
    errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise AnswerShapeError(action, _describe(errors[0]))


@functools.cache
def _registry() -> Registry:
    folder = resources.files("bulkorders") / "schemas"
    registry: Registry = Registry()
    for entry in folder.iterdir():
        if entry.name.endswith(".json"):
            contents = json.loads(entry.read_text(encoding="utf-8"))
            registry = registry.with_resource(SCHEMA_BASE + entry.name, Resource.from_contents(contents))
    return registry


def _is_integer(checker: Any, instance: Any) -> bool:
    # parse_float=Decimal turns 10.0 into Decimal("10.0"): still a whole number.
    if isinstance(instance, Decimal):
        return instance.is_finite() and instance == instance.to_integral_value()
    return jsonschema.Draft202012Validator.TYPE_CHECKER.is_type(instance, "integer")


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


@functools.cache
def _validator(name: str) -> Any:
    """The validator of a schema file (`status`) or of a part of one (`services#/$defs/entry`)."""
    file, _, pointer = name.partition("#")
    url = SCHEMA_BASE + file + ".json"
    schema = {"$ref": f"{url}#{pointer}"} if pointer else _registry().contents(url)
    return _Validator(schema, registry=_registry())


def _describe(error: ValidationError) -> str:
    where = error.json_path
    value = short(error.instance)
    if error.validator in ("anyOf", "oneOf") and "description" in error.schema:
        what = f"{value} is not {error.schema['description']}"
    elif error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        what = "no " + ", ".join(f'"{name}"' for name in missing) + f" in {value}"
    elif error.validator == "type":
        expected = error.validator_value
        what = f"{value} is not {_TYPE_WORDS.get(str(expected), f'of type {expected}')}"
    else:
        what = error.message if len(error.message) < 160 else error.message[:157] + "…"
    return what if where == "$" else f"at {where}, {what}"


_TYPE_WORDS = {
    "array": "a list", "object": "an object", "string": "a text", "integer": "a whole number",
    "number": "a number", "['object', 'array']": "an object", "['array', 'object']": "a list",
}  # fmt: skip


def short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_entry(name: str, entry: Any) -> str | None:
    """What is wrong with one entry of a multi answer (`name` is its schema), or None."""
    errors = sorted(_validator(name).iter_errors(entry), key=lambda e: [str(p) for p in e.absolute_path])
    return _describe(errors[0]) if errors else None


# --- pages that are not JSON ----------------------------------------------------------

_HIDDEN = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<!--.*?-->|<[^>]*>", re.DOTALL)


def page_excerpt(text: str, limit: int = 120) -> str:
    """A short, tag-free excerpt of an HTML (or any text) body: its title, then its text."""
    title = _TITLE.search(text)
    head = " ".join(html.unescape(title.group(1)).split()) if title else ""
    rest = " ".join(html.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", text))).split())
    if head and rest.startswith(head):  # a <title> outside <head>
        rest = rest[len(head) :].strip()
    words = f"{head}: {rest}" if head and rest else head or rest
    if not words:
        return "(empty body)"
    return words if len(words) <= limit else words[: limit - 1].rstrip() + "…"


def looks_like_html(text: str) -> bool:
    head = text.lstrip("\ufeff \t\r\n")[:200].lower()
    return head.startswith("<") or "<html" in head or "<!doctype" in head
