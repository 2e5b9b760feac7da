"""The row JSON Schema (package data `schemas/row.schema.json`), checked fast.

Calling jsonschema on each of 100k rows takes seconds, so the schema is split by design:
- `properties` hold the rules on one value (type, minimum, maximum, pattern, minLength);
  they are compiled here into plain checks that run on every row;
- `allOf` holds only rules on which fields are present, decided by the values of a few
  discriminator properties (`type`, `type_of_traffic`, named in its `if`s); rows of the same
  shape (discriminator values + field names) pass or fail them alike, so jsonschema itself
  runs once per shape and the verdict is cached.
`RowSchema` refuses a schema that breaks this split, so the two stay equivalent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

VALUE_KEYWORDS = frozenset({"type", "minimum", "maximum", "pattern", "minLength", "description", "x-hint"})
PRESENCE_KEYWORDS = frozenset({"required", "propertyNames", "dependentRequired"})


@dataclass(frozen=True)
class FieldRule:
    """The value rules of one property, and the hint that completes its messages."""

    name: str
    kind: str  # "integer" or "string"
    minimum: int | None = None
    maximum: int | None = None
    pattern: re.Pattern[str] | None = None
    min_length: int | None = None
    hint: str = ""

    def problem(self, value: Any) -> str | None:
        """None when `value` keeps the rules, else a message to put after "row N, column: "."""
        note = f" ({self.hint})" if self.hint else ""
        if self.kind == "integer":
            if value.__class__ is not int:
                return f'"{value}" is not a whole number'
            if self.minimum is not None and value < self.minimum:
                return f"{value} is less than {self.minimum}{note}"
            if self.maximum is not None and value > self.maximum:
                return f"{value} is more than {self.maximum}{note}"
            return None
        if value.__class__ is not str:
            return f'"{value}" is not text'
        if self.min_length is not None and len(value) < self.min_length:
            return "is blank"
        if self.pattern is not None and self.pattern.search(value) is None:
            shown = value.replace("\n", "\\n")
            return f'"{shown}" {self.hint}' if self.hint else f'"{shown}" does not match {self.pattern.pattern}'
        return None


class RowSchema:
    """A compiled row schema: per-value checks, and a per-shape check cached by shape."""

    def __init__(self, schema: dict[str, Any]) -> None:
        jsonschema.Draft202012Validator.check_schema(schema)
        self.schema = schema
        self.fields = {name: _field_rule(name, sub) for name, sub in schema["properties"].items()}
        self.discriminators = tuple(sorted(set(_if_properties(schema.get("allOf", [])))))
        for branch in schema.get("allOf", []):
            _check_presence_only(branch)
        self._validator = jsonschema.Draft202012Validator(schema)
        self._verdicts: dict[tuple[Any, ...], list[str]] = {}

    def value_problem(self, name: str, value: Any) -> str | None:
        """The problem of one field value, or None (unknown fields are the shape check's job)."""
        rule = self.fields.get(name)
        return rule.problem(value) if rule else None

    def shape_problems(self, document: dict[str, Any]) -> list[str]:
        """Schema errors about which fields `document` holds; computed once per shape."""
        # Documents are built in one field order, so the tuple of names identifies the set.
        key = (*map(document.get, self.discriminators), *document)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = self.all_problems(document)
        return verdict

    def all_problems(self, document: dict[str, Any]) -> list[str]:
        """Every error full jsonschema validation finds (slow: for shapes and tests)."""
        return sorted(error.message for error in self._validator.iter_errors(document))


@cache
def row_schema() -> RowSchema:
    """The shipped row schema, compiled once per process."""
    text = resources.files("bulkorders").joinpath("schemas/row.schema.json").read_text(encoding="utf-8")
    return RowSchema(json.loads(text))


def _field_rule(name: str, sub: dict[str, Any]) -> FieldRule:
    unknown = set(sub) - VALUE_KEYWORDS
    if unknown or sub.get("type") not in ("integer", "string"):
        raise ValueError(
            f"row schema: property {name} uses {sorted(unknown) or sub.get('type')}, "
            "which the fast row checks do not implement"
        )
    pattern = re.compile(sub["pattern"]) if "pattern" in sub else None
    return FieldRule(
        name=name,
        kind=sub["type"],
        minimum=sub.get("minimum"),
        maximum=sub.get("maximum"),
        pattern=pattern,
        min_length=sub.get("minLength"),
        hint=sub.get("x-hint", ""),
    )


def _if_properties(branches: list[dict[str, Any]]) -> Iterator[str]:
    for branch in branches:
        yield from _condition_properties(branch.get("if", {}))


def _condition_properties(condition: dict[str, Any]) -> Iterator[str]:
    yield from condition.get("properties", {})
    if "not" in condition:
        yield from _condition_properties(condition["not"])


def _check_presence_only(branch: dict[str, Any]) -> None:
    for part in ("then", "else"):
        extra = set(branch.get(part, {})) - PRESENCE_KEYWORDS
        if extra:
            raise ValueError(
                f"row schema: allOf {part} uses {sorted(extra)}; only {sorted(PRESENCE_KEYWORDS)} "
                "may depend on the row's shape"
            )
