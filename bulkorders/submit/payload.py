"""What one `add` sends, beyond the row's own payload (pure).

Some panels refuse an `add` without `quantity`, even for the types SPEC gives none
(packages, comment and username lists); others ignore it. So it is sent anyway unless the
panel's profile says `send_quantity = false`.
"""

from __future__ import annotations

from collections.abc import Mapping

from bulkorders.models import Service, count_lines, type_rule


def sent_payload(payload: Mapping[str, str], service: Service | None, send_quantity: bool) -> Mapping[str, str]:
    """What an `add` sends: the row's payload, plus `quantity` for the types that take none
    (1 for a package, the number of lines for a list) — panels that require it on every add
    accept it then, and panels that ignore it do. The ledger's payload (the row's identity)
    stays as it was, so rows placed before are never taken for new ones."""
    if not send_quantity or service is None or "quantity" in payload:
        return payload
    rule = type_rule(service.type)
    if rule.quantity == "required" or service.type == "Subscriptions":
        return payload
    counted = payload.get(rule.counted_field, "") if rule.counted_field else None
    quantity = count_lines(counted) if counted is not None else 1
    return {**payload, "quantity": str(quantity)} if quantity else payload
