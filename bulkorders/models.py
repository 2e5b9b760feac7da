"""Plain data shared by every layer: services, panel answers, sheet rows, row problems.

No I/O here. Money is `Decimal`; ids are strings (the panel sends ints or strings, and
"00123" must not become 123); counts are ints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol

# --- statuses -------------------------------------------------------------------------

# Panels word an order's status in many ways; what it means is one of these. The sheet and
# the ledger keep the panel's own word; decisions (final? refillable? what it cost?) use
# its meaning.
COMPLETED, PARTIAL, CANCELED, FAILED, RUNNING = "completed", "partial", "canceled", "failed", "running"
_MEANINGS = {
    COMPLETED: ("completed", "complete", "done", "finished", "success"),
    PARTIAL: ("partial", "partially completed", "partially done"),
    CANCELED: ("canceled", "cancelled", "refunded", "refund", "canceled refunded", "cancelled refunded"),
    FAILED: ("fail", "failed", "error", "failure"),
    RUNNING: ("pending", "processing", "in progress", "inprogress", "active", "queued", "started",
              "running", "awaiting", "in queue"),
}  # fmt: skip
_MEANING = {word: meaning for meaning, words in _MEANINGS.items() for word in words}
FINAL_MEANINGS = frozenset({COMPLETED, PARTIAL, CANCELED, FAILED})
FINAL_STATUSES = frozenset({"Completed", "Partial", "Canceled", "Cancelled", "Refunded", "Fail", "Failed", "Error"})
REFILLABLE_STATUSES = frozenset({"Completed", "Partial"})
FINAL_REFILL_STATUSES = frozenset({"Completed", "Rejected", "Canceled", "Cancelled", "Error"})


def status_meaning(status: str | None) -> str | None:
    """What a panel's status word means: completed, partial, canceled (Canceled, Cancelled,
    Refunded), failed (Fail, Failed, Error), running (Pending, Processing, In progress,
    Active…), in any case and with `_` or `-` for spaces; None for a word not known."""
    if status is None:
        return None
    word = " ".join(status.replace("_", " ").replace("-", " ").replace("/", " ").lower().split())
    return _MEANING.get(word)


def is_final(status: str | None) -> bool:
    """True when the panel will not change this order any more."""
    return status_meaning(status) in FINAL_MEANINGS


def is_refillable_status(status: str | None) -> bool:
    """Completed or Partial, however the panel words it."""
    return status_meaning(status) in (COMPLETED, PARTIAL)


def costs_nothing(status: str | None) -> bool:
    """A canceled or refunded order: the balance paid nothing for it, whatever charge the
    panel still shows."""
    return status_meaning(status) == CANCELED


def net_charge(status: str | None, charge: Decimal | None) -> Decimal | None:
    """What an order really cost: nothing when canceled/refunded; else the panel's charge
    (for Partial, the panel's figure after its refund)."""
    return Decimal(0) if costs_nothing(status) else charge


def cancel_words(error: str | None, lost: bool) -> str:
    """The `cancel_result` cell: what the panel answered, in words (`requested`,
    `refused: …`, `uncertain`), never a bare 1."""
    if lost:
        return "uncertain"
    if error is not None:
        return f"refused: {error}"
    return "requested"


# --- the service types of SPEC --------------------------------------------------------


@dataclass(frozen=True)
class TypeRule:
    """What an `add` of one service type takes.

    `fields` are the type-specific fields the type needs (beyond link/quantity),
    `optional` the ones it may take, `quantity` is "required", "none" (one package)
    or "counted" (quantity = number of lines of `counted_field`).
    """

    fields: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    quantity: str = "required"
    counted_field: str | None = None
    needs_link: bool = True
    drip_feed: bool = False


TYPE_RULES: dict[str, TypeRule] = {
    "Default": TypeRule(optional=("runs", "interval"), drip_feed=True),
    "Package": TypeRule(quantity="none"),
    "Custom Comments": TypeRule(fields=("comments",), quantity="counted", counted_field="comments"),
    "Custom Comments Package": TypeRule(fields=("comments",), quantity="counted", counted_field="comments"),
    "Mentions": TypeRule(fields=("usernames",)),
    "Mentions with Hashtags": TypeRule(fields=("usernames", "hashtags")),
    "Mentions Custom List": TypeRule(fields=("usernames",), quantity="counted", counted_field="usernames"),
    "Mentions Hashtag": TypeRule(fields=("hashtag",)),
    "Mentions User Followers": TypeRule(fields=("username",)),
    "Mentions Media Likers": TypeRule(fields=("media",)),
    "Comment Likes": TypeRule(fields=("username",)),
    "Comment Replies": TypeRule(fields=("username", "comments"), quantity="counted", counted_field="comments"),
    "Poll": TypeRule(fields=("answer_number",)),
    "Invites from Groups": TypeRule(fields=("groups",)),
    "Subscriptions": TypeRule(
        fields=("username", "min", "max", "delay"),
        optional=("posts", "old_posts", "expiry"),
        quantity="none",
        needs_link=False,
    ),
    "Web Traffic": TypeRule(
        fields=("country", "device", "type_of_traffic"),
        optional=("runs", "interval", "google_keyword", "referring_url"),
        drip_feed=True,
    ),
}
UNKNOWN_TYPE_RULE = TypeRule()

# Every type-specific field a sheet column may hold (SPEC's type table), in a stable order.
TYPE_FIELDS: tuple[str, ...] = (
    "comments", "usernames", "hashtags", "hashtag", "username", "media", "answer_number",
    "groups", "min", "max", "posts", "old_posts", "delay", "expiry", "country", "device",
    "type_of_traffic", "google_keyword", "referring_url", "runs", "interval",
)  # fmt: skip


PACKAGE_TYPES = frozenset({"Package", "Custom Comments Package"})


def type_rule(service_type: str) -> TypeRule:
    """The rule for a service type; unknown types take link + quantity."""
    return TYPE_RULES.get(service_type, UNKNOWN_TYPE_RULE)


def count_lines(text: str) -> int:
    """Lines of a multi-line cell that hold something (blank lines do not count)."""
    return sum(1 for line in text.splitlines() if line.strip())


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 row`, `2 rows` (`plural` for a noun that does not just take an s)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def format_money(amount: Decimal) -> str:
    """An exact amount as panels write money: at least cents, every further digit kept,
    never rounded and never in exponent form (0.718, 12.50, 1000.00)."""
    exact = amount.normalize()
    if exact.as_tuple().exponent > -2:  # type: ignore[operator]
        exact = exact.quantize(Decimal("0.01"))
    return format(exact, "f")


# --- the catalogue --------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """One entry of the panel's catalogue. `rate` is the price per 1000."""

    service: str
    name: str
    type: str
    category: str
    rate: Decimal
    min: int
    max: int
    refill: bool
    cancel: bool

    def cost(self, quantity: int, runs: int | None = None) -> Decimal:
        """rate × quantity ÷ 1000 (× runs for drip-feed), exact."""
        total = self.rate * quantity / 1000
        return total * runs if runs else total

    def order_cost(self, quantity: int | None, fields: dict[str, str] | None = None) -> Decimal:
        """What one order of this service costs, by its type.

        The panel and the estimate share this rule: a package (Package, Custom Comments
        Package) costs its rate; counted types are billed per line of their text field;
        a subscription is estimated at `max` per post × `posts` (1 when unlimited);
        everything else is rate × quantity ÷ 1000, × runs for drip-feed.
        """
        fields = fields or {}
        if self.type in PACKAGE_TYPES:
            return self.rate
        rule = type_rule(self.type)
        if rule.counted_field:
            return self.cost(count_lines(fields.get(rule.counted_field, "")))
        if self.type == "Subscriptions":
            posts = int(fields.get("posts") or 1)
            return self.cost(int(fields.get("max") or 0)) * posts
        runs = int(fields["runs"]) if fields.get("runs") else None
        return self.cost(quantity or 0, runs)

    def to_panel_dict(self) -> dict[str, Any]:
        """The panel's own field names and JSON-friendly values (for `--json services`)."""
        return {
            "service": self.service,
            "name": self.name,
            "type": self.type,
            "category": self.category,
            "rate": str(self.rate),
            "min": self.min,
            "max": self.max,
            "refill": self.refill,
            "cancel": self.cancel,
        }


class ServiceLookup(Protocol):
    """What validation and the lifecycle commands need of a catalogue (`catalog.Catalogue` is one)."""

    def get(self, service_id: str) -> Service | None: ...


@dataclass(frozen=True)
class Balance:
    amount: Decimal
    currency: str


# --- answers of the panel -------------------------------------------------------------
# For the calls that spend or change something (add, refill, cancel) an answer that never
# arrived is its own outcome (`lost=True`): the order may or may not exist.


@dataclass(frozen=True)
class AddResult:
    """Outcome of one `add`: placed (`order`), refused by the panel (`error`) or `lost`."""

    order: str | None = None
    error: str | None = None
    lost: bool = False
    detail: str = ""  # for a lost answer: what happened (timeout, connection dropped, 502…)
    warning: str | None = None  # placed, and the panel said this too (`{"order": 1, "error": …}`)
    stop: Exception | None = field(default=None, compare=False)  # send nothing more (a redirect…)


@dataclass(frozen=True)
class OrderStatus:
    order: str
    status: str | None = None
    charge: Decimal | None = None
    currency: str | None = None
    start_count: int | None = None
    remains: int | None = None
    error: str | None = None  # per-item error of a bulk answer, e.g. "Incorrect order ID"


@dataclass(frozen=True)
class RefillResult:
    order: str
    refill: str | None = None
    error: str | None = None
    lost: bool = False
    detail: str = ""  # for a lost answer: what happened


@dataclass(frozen=True)
class RefillStatus:
    refill: str
    status: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class CancelResult:
    order: str
    cancel: str | None = None
    error: str | None = None
    lost: bool = False
    detail: str = ""  # for a lost answer: what happened


# --- sheet rows and their problems ----------------------------------------------------


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class RowIssue:
    """One problem of one row: the Excel row number the user sees, the column, what is wrong."""

    row: int
    column: str | None
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"row {self.row}, {self.column}" if self.column else f"row {self.row}"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "severity": self.severity.value,
            "message": self.message,
        }


@dataclass
class OrderRow:
    """A validated row, ready to become one `add` request.

    `fields` holds the type-specific fields (and runs/interval) as the strings sent to
    the panel; `quantity` is None for types that take none.
    """

    row: int  # Excel row number
    service: str
    link: str | None
    quantity: int | None
    fields: dict[str, str] = field(default_factory=dict)
    runs: int | None = None
    estimate: Decimal = Decimal(0)

    def payload(self) -> dict[str, str]:
        """The form fields of the `add` request (without key and action)."""
        data: dict[str, str] = {"service": self.service}
        if self.link is not None:
            data["link"] = self.link
        if self.quantity is not None:
            data["quantity"] = str(self.quantity)
        data.update(self.fields)
        return data


# The columns write-back adds, in SPEC's order.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "order_id", "charge", "currency", "start_count", "status", "remains", "refill_id",
    "refill_status", "cancel_result", "error", "submitted_at", "checked_at",
)  # fmt: skip
