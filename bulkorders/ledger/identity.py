"""Row identity: which row of a campaign a sheet row is, whatever else changed in the sheet.

A row is its content (service, link, quantity, type-specific fields, normalised) plus
which occurrence of that same content it is in sheet order. Editing other rows, inserting
rows or sorting the sheet leaves the identity of an already placed row unchanged, while
two identical rows stay two rows. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

# Form fields that are not content (and the key must never reach the ledger anyway).
NOT_CONTENT = frozenset({"key", "action"})


def canonical_content(payload: Mapping[str, str]) -> str:
    """The normalised content of an `add` payload as text.

    Keys lower-cased and stripped, each line of a value stripped, blank lines and empty
    fields dropped (a blank optional column is the same as none), keys sorted.
    """
    items: dict[str, str] = {}
    for key, value in payload.items():
        name = str(key).strip().lower()
        if name in NOT_CONTENT or value is None:
            continue
        text = "\n".join(line.strip() for line in str(value).splitlines() if line.strip())
        if text:
            items[name] = text
    return json.dumps(sorted(items.items()), ensure_ascii=False, separators=(",", ":"))


def row_identity(payload: Mapping[str, str], occurrence: int) -> str:
    """The identity of the `occurrence`-th (1-based) row with this content in its sheet."""
    if occurrence < 1:
        raise ValueError(f"occurrence counts from 1, got {occurrence}")
    return _digest(canonical_content(payload), occurrence)


def assign_identities(
    payloads: Sequence[Mapping[str, str]], claimed: Mapping[int, str] | None = None
) -> list[str]:
    """Identities of a whole sheet's payloads, numbering repeated content in sheet order.

    `claimed` maps a payload's index to an identity it already has (a row carrying the
    order id of a known ledger row); the other rows are numbered around those, so a row
    inserted above a placed twin can never take the twin's identity.
    """
    claimed = claimed or {}
    taken = set(claimed.values())
    seen: dict[str, int] = {}
    identities = []
    for index, payload in enumerate(payloads):
        if index in claimed:
            identities.append(claimed[index])
            continue
        content = canonical_content(payload)
        while True:
            seen[content] = seen.get(content, 0) + 1
            identity = _digest(content, seen[content])
            if identity not in taken:
                break
        identities.append(identity)
    return identities


def _digest(content: str, occurrence: int) -> str:
    text = f"{content}#{occurrence}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
