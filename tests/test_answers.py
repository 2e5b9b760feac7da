"""Real panels' answers: every shape of issue 10 read by the client (httpx.MockTransport).

Flows against the sandbox's dialects are in test_dialects.py; here each answer shape is
pinned down on its own: the money rule, ids, wrappers, refusals in every shape and status,
what an `add` answer proves, statuses by meaning, pacing, and a property test.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkorders.cli import cli
from bulkorders.errors import AuthError, ConfigError, FundsError, PanelUnreachable
from bulkorders.models import (
    AddResult,
    Balance,
    CancelResult,
    OrderStatus,
    RefillResult,
    RefillStatus,
    is_final,
    net_charge,
    status_meaning,
)
from bulkorders.panel import answers
from bulkorders.panel.answers import AnswerShapeError, NoCurrency
from bulkorders.panel.client import PanelClient
from bulkorders.panel.pacing import Pacer
from bulkorders.panel.retry import RetryPolicy
from bulkorders.panel.values import ValueProblem, read_count, read_money

URL = "https://panel.example/api/v2"
KEY = "k3y-SECRET-0123456789"
ADD = {"service": "1", "link": "https://x.test/1", "quantity": "100"}


class Panel:
    """Answers requests from a list; records the forms; `sleeps` and `said` are the client's."""

    def __init__(self, *replies: httpx.Response | Exception) -> None:
        self.replies = list(replies)
        self.forms: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.forms.append({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply


def client(*replies: httpx.Response | Exception, **kwargs: Any) -> tuple[PanelClient, Panel, list, list]:
    panel, sleeps, said = Panel(*replies), [], []
    kwargs.setdefault("retry", RetryPolicy(jitter=0))
    made = PanelClient(URL, KEY, transport=httpx.MockTransport(panel), sleep=sleeps.append,
                       notify=said.append, **kwargs)  # fmt: skip
    return made, panel, sleeps, said


def js(doc: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, text=json.dumps(doc, default=float), headers={"Content-Type": "application/json", **headers})


def page(text: str, status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, text=text, headers={"Content-Type": "text/html", **headers})


# --- the money rule (README, "Real panels") -------------------------------------------


@pytest.mark.parametrize(("text", "amount"), [
    ("2,500.00000", "2500.00000"), ("1,234.5", "1234.5"), ("1 234,50", "1234.50"),
    ("1\u00a0234,50", "1234.50"), ("1.234,5", "1234.5"), ("1,234,567", "1234567"),
    ("1.234.567,89", "1234567.89"), ("0,90", "0.90"), ("1234,5", "1234.5"), ("1234,567", "1234.567"),
    ("0,125", "0.125"), ("1 234,567", "1234.567"), ("0.718", "0.718"), ("1.234", "1.234"),
    (" 100.84292 ", "100.84292"), ("-5", "-5"), (".5", "0.5"), ("1'234.50", "1234.50"),
])  # fmt: skip
def test_money_text_is_read_exactly(text, amount):
    value = read_money(text, "balance")
    assert value == Decimal(amount) and str(value) == amount


@pytest.mark.parametrize("value", [None, "", "  ", "Unknown", "N/A", "-", "null"])
def test_money_not_given(value):
    assert read_money(value, "charge") is None


AMBIGUOUS = ("is ambiguous: the comma may group thousands or be the decimal point; ask the panel "
             "to send the amount with a decimal point")  # fmt: skip


@pytest.mark.parametrize(("text", "message"), [
    ("1,234", f'balance "1,234" {AMBIGUOUS}'),
    ("12,500", f'balance "12,500" {AMBIGUOUS}'),
    ("12,34.5", 'balance "12,34.5" is not a number (its thousands groups or decimal point are out of place)'),
    ("12 34,5", 'balance "12 34,5" is not a number'),
    ("1e5", 'balance "1e5" is not a number'),
    ("abc", 'balance "abc" is not a number'),
])  # fmt: skip
def test_money_that_cannot_be_read_surely_is_refused_naming_field_and_value(text, message):
    with pytest.raises(ValueProblem) as err:
        read_money(text, "balance")
    assert str(err.value) == message


@pytest.mark.parametrize(("text", "count"), [
    ("1,234", 1234), ("1.234", 1234), ("1 234", 1234), (1234, 1234), (Decimal("10.0"), 10),
    ("10.00", 10), ("Unknown", None), ("", None), (None, None), ("-5", -5),
])  # fmt: skip
def test_counts_are_whole_so_a_lone_separator_groups_thousands(text, count):
    assert read_count(text, "remains") == count


def test_a_count_with_a_fraction_is_refused():
    with pytest.raises(ValueProblem, match=r'^remains "10.5" is not a whole number$'):
        read_count("10.5", "remains")


# --- balance and services -------------------------------------------------------------


@pytest.mark.parametrize("doc", [
    {"balance": "2,500.00000", "currency": "USD"},
    {"Balance": "2,500.00000", "Currency": "USD"},
    {"status": "success", "data": {"balance": 2500.0, "currency": "USD"}},
    {"success": True, "balance": "2 500", "currency": " USD "},
])  # fmt: skip
def test_balance_in_every_dialect(doc):
    made, *_ = client(js(doc))
    balance = made.balance()
    assert (balance.amount, balance.currency) == (Decimal(2500), "USD")


def test_balance_without_currency_takes_the_profiles_or_says_to_set_it():
    made, *_ = client(js({"balance": "10.5"}), currency="EUR")
    assert made.balance() == Balance(Decimal("10.5"), "EUR")
    made, *_ = client(js({"balance": "10.5"}))
    with pytest.raises(NoCurrency) as err:
        made.balance()
    assert str(err.value) == (
        'The panel\'s balance answer names no currency ({"balance": "10.5"}). Set currency = "USD" '
        "(the panel's currency) in the panel's [panels.NAME] profile of the config file, then rerun."
    )
    assert err.value.exit_code == 3


def test_an_ambiguous_balance_is_refused_naming_it():
    made, *_ = client(js({"balance": "1,500", "currency": "USD"}))
    with pytest.raises(AnswerShapeError) as err:
        made.balance()
    assert err.value.what == f'balance "1,500" {AMBIGUOUS}'


def test_services_of_a_php_panel_and_one_unreadable_entry_left_out_with_a_warning():
    made, _, _, said = client(js([
        {"service": "1", "name": "Likes", "type": "default", "category": "IG", "rate": "1,234.50000",
         "min": "1,000", "max": "100,000", "refill": "1", "cancel": "0"},
        {"Service": 2, "Name": "Comments", "Type": "custom_comments", "Rate": 12, "Min": 5, "Max": 50,
         "Refill": "true", "Cancel": False},
        {"service": 3, "name": "Broken", "rate": "cheap", "min": 1, "max": 2},
        {"service": 4, "name": "Pkg", "type": "PACKAGE", "rate": "15", "min": 1, "max": 1, "refill": True},
    ]))  # fmt: skip
    one, two, four = made.services()
    assert (one.type, one.rate, one.min, one.max, one.refill, one.cancel) == (
        "Default", Decimal("1234.50000"), 1000, 100000, True, False)
    assert (two.service, two.type, two.rate, two.refill, two.cancel) == ("2", "Custom Comments", 12, True, False)
    assert (four.type, four.refill, four.cancel) == ("Package", True, False)
    assert said == [
        "warning: 1 service(s) of the panel's catalogue cannot be read and are left out (rows ordering "
        "them fail, saying so); the first: "
        'unreadable answer from the panel (at $.rate, "cheap" is not a decimal number (text may group thousands: '
        '2,500.00000 or 1 234,50)): {"service": 3, "name": "Broken", "rate": "cheap", "min": 1, "max": 2}'
    ]


def test_services_keyed_by_id_or_wrapped():
    entry = {"service": 9, "name": "A", "rate": "1", "min": 1, "max": 9}
    for doc in ({"9": entry}, {"status": "success", "data": [entry]}, {"services": [entry]}):
        made, *_ = client(js(doc))
        assert [s.service for s in made.services()] == ["9"]


# --- add: what the answer proves -------------------------------------------------------


@pytest.mark.parametrize(("doc", "order"), [
    ({"order": 23501}, "23501"), ({"order_id": "23501"}, "23501"), ({"orderId": 23501}, "23501"),
    ({"Order": "23501"}, "23501"), ({"data": {"order": 23501}}, "23501"),
    ({"status": "success", "order": "ORD01HGW2J5K9"}, "ORD01HGW2J5K9"),
    ({"status": "success", "data": {"order": {"id": "ORD01HG"}}}, "ORD01HG"), (23501, "23501"),
])  # fmt: skip
def test_the_new_orders_id_wherever_the_panel_puts_it(doc, order):
    made, *_ = client(js(doc))
    assert made.add(ADD) == AddResult(order=order)


REFUSALS = [
    ({"error": "Incorrect service ID"}, "Incorrect service ID"),
    ({"status": "error", "message": "Incorrect service ID"}, "Incorrect service ID"),
    ({"error": True, "message": "Quantity less than minimal 10"}, "Quantity less than minimal 10"),
    ({"Error": "Link duplicate"}, "Link duplicate"),
    ({"success": False, "msg": "Service disabled"}, "Service disabled"),
    ({"message": "The given data was invalid.", "errors": {"link": ["The link is required."]}},
     "The given data was invalid."),
    ({"error": {"code": 12, "message": "Incorrect link"}}, "Incorrect link"),
    ({"error": "neworder.error.link_duplicate"}, "neworder.error.link_duplicate"),
]  # fmt: skip


@pytest.mark.parametrize("status", [200, 400, 404, 422, 502])
@pytest.mark.parametrize(("doc", "text"), REFUSALS)
def test_a_refusal_in_any_shape_and_status_is_rejected_never_uncertain(doc, text, status):
    made, panel, sleeps, _ = client(js(doc, status))
    assert made.add(ADD) == AddResult(error=text)
    assert len(panel.forms) == 1 and sleeps == []


def test_502_refunded_is_a_refusal():
    made, *_ = client(js({"error": "Provider error", "refunded": True}, 502))
    assert made.add(ADD) == AddResult(error="Provider error")


def test_an_answer_with_an_order_id_is_placed_whatever_else_it_says():
    made, *_ = client(js({"order": 77, "error": "Order placed; link could not be checked"}, 500))
    assert made.add(ADD) == AddResult(order="77", warning="Order placed; link could not be checked")


@pytest.mark.parametrize(("reply", "detail"), [
    (js({"error": "Internal Server Error"}, 500), "HTTP 500 with the error: Internal Server Error"),
    (js({"message": "Server Error"}, 500), "HTTP 500, an answer that is not what API v2 promises: no order "
     'id (order, order_id, orderId or data.order) in {"message": "Server Error"}'),
    (page("<html><title>502 Bad Gateway</title></html>", 502), 'HTTP 502 and a web page instead of JSON: '
     '"502 Bad Gateway"'),
])  # fmt: skip
def test_only_answers_that_cannot_say_are_uncertain(reply, detail):
    made, *_ = client(reply)
    assert made.add(ADD) == AddResult(lost=True, detail=detail)


@pytest.mark.parametrize(("doc", "status"), [
    ({"error": "Not enough funds on balance"}, 200), ({"error": "Insufficient balance. Please add funds"}, 400),
    ({"error": "Not enough balance"}, 422), ({"status": "error", "message": "low balance"}, 200),
    ({"error": "neworder.error.not_enough_funds"}, 200), ({"error": "Payment required"}, 402),
    ({"error": True, "message": "Your balance is too low"}, 200),
])  # fmt: skip
def test_funds_refusals_in_every_wording_stop(doc, status):
    made, *_ = client(js(doc, status))
    with pytest.raises(FundsError) as err:
        made.add(ADD)
    assert err.value.said == answers.top_error(doc)
    assert err.value.exit_code == 3


@pytest.mark.parametrize(("doc", "status"), [
    ({"error": "Invalid API key"}, 200), ({"error": "Invalid or inactive API key"}, 200),
    ({"error": "Unauthorized"}, 401), ({"status": "error", "message": "API key is invalid"}, 200),
    ({"error": "Forbidden"}, 403), ({"error": "Wrong key"}, 400),
])  # fmt: skip
def test_key_refusals_in_every_wording_or_401_403_stop(doc, status):
    made, *_ = client(js(doc, status))
    with pytest.raises(AuthError):
        made.add(ADD)


def test_a_redirect_answered_to_add_is_uncertain_and_stops_the_run_naming_the_address():
    made, *_ = client(httpx.Response(302, headers={"Location": "https://new.example/api/v2"}))
    result = made.add(ADD)
    assert (result.lost, result.detail) == (True, "HTTP 302: a redirect to https://new.example/api/v2")
    assert isinstance(result.stop, ConfigError)
    assert "to https://new.example/api/v2. Set the panel URL to the address it redirects to" in str(result.stop)


# --- pages for the API URL itself ---------------------------------------------------------


@pytest.mark.parametrize(("url", "hint"), [
    (URL, "check the path: /api/v2 (not /api/v1, /api or the panel's home page)"),
    (URL + "/", "remove the trailing slash"),
])  # fmt: skip
def test_a_404_page_for_the_api_url_is_answered_at_once_with_the_hint(url, hint):
    panel = Panel(page("<html><title>404 Not Found</title><body>nginx</body></html>", 404))
    made = PanelClient(url, KEY, transport=httpx.MockTransport(panel), sleep=pytest.fail)
    with pytest.raises(ConfigError) as err:
        made.balance()
    assert str(err.value) == (
        f"The panel URL {url} is not an API v2 endpoint: it answered balance with HTTP 404 and a web "
        f'page instead of JSON: "404 Not Found: nginx". Set the panel URL to the address on the '
        f"panel's API page ({hint}), then rerun."
    )
    assert len(panel.forms) == 1


def test_the_shops_home_page_answered_to_add_is_uncertain_and_stops():
    made, *_ = client(page("<!doctype html><title>Best SMM Panel</title>", 200))
    result = made.add(ADD)
    assert result.lost and isinstance(result.stop, ConfigError)


def test_maintenance_with_a_long_retry_after_on_a_read_only_call_is_said_at_once():
    made, panel, sleeps, _ = client(page("<h1>Down for maintenance</h1>", 503, **{"Retry-After": "3600"}))
    with pytest.raises(PanelUnreachable) as err:
        made.statuses(["1"])
    assert str(err.value) == (
        f"The panel at {URL} is down for maintenance (HTTP 503; it asks to come back in 60 min). "
        "Rerun status later."
    )
    assert sleeps == [] and len(panel.forms) == 1


def test_a_rate_limit_refusal_in_a_200_answer_is_waited_for_like_a_429():
    made, panel, sleeps, said = client(js({"error": "Too many requests"}, 200, **{"Retry-After": "5"}),
                                       js({"order": 1}))  # fmt: skip
    assert made.add(ADD) == AddResult(order="1")
    assert sleeps == [5.0] and said == ["panel rate limit: waiting 5 s"]


# --- bulk answers in every shape ----------------------------------------------------------


ENTRY = {"charge": "1,234.50", "start_count": "1,000", "status": "In progress", "remains": "Unknown",
         "currency": "USD"}  # fmt: skip
READ = OrderStatus(order="7", status="In progress", charge=Decimal("1234.50"), currency="USD", start_count=1000)


def test_statuses_one_id_answered_in_the_single_form_and_in_a_wrapper():
    for doc in (ENTRY, {"status": "success", "data": {"7": ENTRY}}, {"7": {k.title(): v for k, v in ENTRY.items()}}):
        made, *_ = client(js(doc))
        assert made.statuses(["7"]) == {"7": READ}


def test_statuses_entries_fail_alone():
    made, *_ = client(js({
        "7": ENTRY, "8": "Incorrect order ID", "9": {"status": "error", "message": "Order not found"},
        "10": {"status": "Pending", "charge": "1,500", "currency": "USD"},
        "11": {"status": "Error", "charge": "0", "remains": "100"},
        "ORD01hg": {"status": "completed", "charge": 2},
    }))  # fmt: skip
    got = made.statuses(["7", "8", "9", "10", "11", "ORD01HG"])
    assert got["7"] == READ
    assert got["8"] == OrderStatus(order="8", error="Incorrect order ID")
    assert got["9"] == OrderStatus(order="9", error="Order not found")
    assert got["10"].error == (
        f'unreadable answer from the panel (charge "1,500" {AMBIGUOUS}): '
        '{"status": "Pending", "charge": "1,500", "currency": "USD"}'
    )
    assert got["11"] == OrderStatus(order="11", status="Error", charge=Decimal(0), remains=100)  # a status
    assert got["ORD01HG"].status == "completed"


def test_statuses_as_a_list_and_a_whole_refusal():
    made, *_ = client(js([{"order": 7, **ENTRY}]))
    assert made.statuses(["7"])["7"].charge == Decimal("1234.50")
    made, *_ = client(js({"error": "Incorrect request"}, 400))
    assert made.statuses(["1", "2"]) == {
        "1": OrderStatus(order="1", error="Incorrect request"), "2": OrderStatus(order="2", error="Incorrect request"),
    }  # fmt: skip


def test_refills_with_errors_on_the_items_bare_strings_and_the_single_form():
    made, *_ = client(js([{"order": 1, "refill": 11}, {"order": 2, "error": "Refill not available"},
                          {"order": "3", "refill": {"error": "Order not found"}}]))  # fmt: skip
    assert made.refills(["1", "2", "3"]) == [
        RefillResult(order="1", refill="11"), RefillResult(order="2", error="Refill not available"),
        RefillResult(order="3", error="Order not found"),
    ]  # fmt: skip
    made, *_ = client(js(["Refill not available", {"order": 2, "refill": "R2"}]))
    assert made.refills(["1", "2"]) == [RefillResult(order="1", error="Refill not available"),
                                        RefillResult(order="2", refill="R2")]  # fmt: skip
    made, *_ = client(js({"refill": "R9"}))
    assert made.refills(["9"]) == [RefillResult(order="9", refill="R9")]


def test_refill_statuses_keyed_by_refill_id():
    made, *_ = client(js({"R1": {"status": "Completed"}, "R2": "Rejected", "R3": {"error": "Refill not found"}}))
    assert made.refill_statuses(["R1", "R2", "R3", "R4"]) == {
        "R1": RefillStatus("R1", status="Completed"), "R2": RefillStatus("R2", status="Rejected"),
        "R3": RefillStatus("R3", error="Refill not found"),
        "R4": RefillStatus("R4", error=answers.NO_ANSWER_REFILL),
    }  # fmt: skip


def test_cancel_true_one_an_id_or_refusals():
    made, *_ = client(js([{"order": 1, "cancel": True}, {"order": 2, "cancel": 1}, {"order": 3, "cancel": "C3"},
                          {"order": 4, "error": "Cancel not allowed"}, {"order": 5, "cancel": False},
                          {"order": 6, "cancel": {"error": "Order is completed"}}]))  # fmt: skip
    assert made.cancel(["1", "2", "3", "4", "5", "6"]) == [
        CancelResult(order="1", cancel="1"), CancelResult(order="2", cancel="1"),
        CancelResult(order="3", cancel="C3"), CancelResult(order="4", error="Cancel not allowed"),
        CancelResult(order="5", error="the panel answered cancel: false, without a reason"),
        CancelResult(order="6", error="Order is completed"),
    ]  # fmt: skip


def test_an_unreadable_cancel_entry_is_lost_not_refused():
    made, *_ = client(js([{"order": 1, "cancel": [1, 2]}]))
    (result,) = made.cancel(["1"])
    assert result.lost and result.detail == 'unreadable answer from the panel (not a value): {"order": 1, "cancel": [1, 2]}'


# --- statuses by meaning, money after the fact ------------------------------------------


@pytest.mark.parametrize(("word", "meaning"), [
    ("Completed", "completed"), ("COMPLETED", "completed"), ("Partial", "partial"),
    ("Canceled", "canceled"), ("Cancelled", "canceled"), ("Refunded", "canceled"), ("canceled", "canceled"),
    ("Fail", "failed"), ("Failed", "failed"), ("Error", "failed"), ("Pending", "running"),
    ("Processing", "running"), ("In progress", "running"), ("in_progress", "running"),
    ("IN-PROGRESS", "running"), ("Active", "running"), ("Something new", None), (None, None),
])  # fmt: skip
def test_statuses_are_read_for_their_meaning(word, meaning):
    assert status_meaning(word) == meaning
    assert is_final(word) == (meaning in ("completed", "partial", "canceled", "failed"))


def test_canceled_and_refunded_cost_nothing_partial_what_the_panel_says():
    assert net_charge("Cancelled", Decimal("0.90")) == 0 and net_charge("refunded", Decimal(1)) == 0
    assert net_charge("Partial", Decimal("0.45")) == Decimal("0.45")
    assert net_charge("Completed", None) is None


# --- pacing ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_max_rate_spaces_requests_per_action():
    clock = Clock()
    pacer = Pacer({"add": (2, 1.0), "*": (10, 1.0)}, sleep=clock.sleep, monotonic=lambda: clock.now)
    waits = [pacer.wait_for_slot("add") for _ in range(4)]
    assert waits == [0.0, 0.5, 0.5, 0.5] and clock.now == 1.5
    assert pacer.wait_for_slot("status") == pytest.approx(0.1)  # only the 10/s of every request


def test_rate_limit_headers_give_a_budget_until_the_reset():
    clock = Clock()
    pacer = Pacer(sleep=clock.sleep, monotonic=lambda: clock.now, wall=lambda: 1_700_000_000.0)
    assert pacer.wait_for_slot("add") == 0.0  # no headers yet: no pacing
    pacer.observe({"x-ratelimit-remaining": "3", "x-ratelimit-reset": "1700000002"})
    pacer.done()
    assert [pacer.wait_for_slot("add") for _ in range(3)] == [0.0, 0.0, 0.0]  # the 3 left go at once
    assert pacer.wait_for_slot("add") == pytest.approx(2.05)  # then the next waits for the reset
    assert pacer.wait_for_slot("status") == 0.0  # the window has reset: no budget known
    for _ in range(5):
        pacer.done()
    # A 2nd request in flight may not be counted by the panel yet: 2 left, less 1 in flight.
    pacer.wait_for_slot("add")
    pacer.wait_for_slot("add")
    pacer.observe({"x-ratelimit-remaining": "2", "x-ratelimit-reset": "3"})  # seconds from now
    assert pacer.wait_for_slot("add") == 0.0
    assert pacer.wait_for_slot("add") == pytest.approx(3.05)
    assert pacer.wait_for_slot("add") == 0.0


def test_a_pause_holds_every_request_until_it_ends():
    clock = Clock()
    pacer = Pacer(sleep=clock.sleep, monotonic=lambda: clock.now)
    pacer.pause(60.0)
    assert pacer.wait_for_slot("add") == 60.0 and pacer.wait_for_slot("status") == 0.0


def test_the_client_paces_by_max_rate_and_says_long_waits():
    clock = Clock()
    panel, said = Panel(js({"order": 1})), []
    made = PanelClient(URL, KEY, transport=httpx.MockTransport(panel), sleep=clock.sleep, notify=said.append,
                       max_rate={"add": (1, 5.0)}, monotonic=lambda: clock.now)  # fmt: skip
    made.add(ADD)
    made.add(ADD)
    assert clock.now == 5.0 and said == ["pacing to the panel's rate limit: waiting 5 s"]


# --- property: any mix of shapes --------------------------------------------------------------

TEXTS = st.sampled_from(["Incorrect order ID", "Refill not found", "Link duplicate", "error", "", " "])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.sampled_from(["2,500.00000", "1,234", "1 234,50", "Unknown", "abc", "0", "1", "true", "ORD01HG", "12,34.5"]),
)  # fmt: skip
REFUSAL = st.one_of(
    st.builds(lambda t: {"error": t or "x"}, TEXTS), st.builds(lambda t: {"status": "error", "message": t or "x"}, TEXTS),
    st.builds(lambda t: {"error": True, "message": t or "x"}, TEXTS), TEXTS.filter(str.strip),
)  # fmt: skip
KEYS = st.sampled_from(["order", "Order", "refill", "status", "cancel", "charge", "remains", "start_count",
                        "currency", "error", "message", "data", "success", "1", "2", "R1"])  # fmt: skip
JSONISH = st.recursive(SCALARS | REFUSAL, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(KEYS, inner, max_size=5), max_leaves=12)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=JSONISH, ids=st.lists(st.sampled_from(["1", "2", "R1", "ORD01HG"]), min_size=1, max_size=3, unique=True))
def test_no_mix_of_shapes_raises_out_of_the_parsers(doc, ids):
    parsers = [
        lambda: answers.parse_statuses(ids, doc), lambda: answers.parse_refills(ids, doc),
        lambda: answers.parse_cancels(ids, doc), lambda: answers.parse_refill_statuses(ids, doc),
        lambda: answers.parse_services(doc, {}), lambda: answers.add_order_id(doc),
        lambda: answers.top_error(doc), lambda: answers.parse_balance(doc, "USD"),
    ]  # fmt: skip
    for parse in parsers:
        try:
            found = parse()
        except AnswerShapeError:
            continue  # the whole answer is not of its action's shape: said as such, never a crash
        if isinstance(found, dict) and parse is parsers[0]:
            assert list(found) == ids  # one answer per id asked, whatever came back


@settings(max_examples=200, deadline=None)
@given(refusal=REFUSAL, status=st.sampled_from([200, 400, 403, 404, 422, 500, 502]),
       extra=st.dictionaries(st.sampled_from(["refunded", "code", "success"]), SCALARS, max_size=2))
def test_a_refusal_is_never_uncertain(refusal, status, extra):
    doc = {**extra, **refusal} if isinstance(refusal, dict) else refusal
    text = answers.top_error(doc)
    made, *_ = client(js(doc, status))
    try:
        result = made.add(ADD)
    except (FundsError, AuthError):
        return  # the account's refusal: the run stops, nothing is uncertain
    if answers.add_order_id(doc) is not None:
        assert result.order is not None
    elif status >= 500 and answers.is_server_failure(text or ""):
        assert result.lost
    else:
        assert result == AddResult(error=text) and not result.lost


# --- the command line against a web server that is not the API ---------------------------


class _NotTheApi(http.server.BaseHTTPRequestHandler):
    """A shop's web server: every POST gets its 404 page."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        page_bytes = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page_bytes)))
        self.end_headers()
        self.wfile.write(page_bytes)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("command", [["balance"], ["services", "--refresh"]])
def test_a_404_page_for_the_api_url_exits_3_at_once_with_the_url_and_the_hint(command, isolated_user_dirs):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotTheApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api/v2/"
    try:
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["--panel", url, *command], env={"BULKORDERS_API_KEY": KEY})
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 3 and elapsed < 2.0
    action = command[0]
    assert result.stderr == (
        f"Error: The panel URL {url} is not an API v2 endpoint: it answered {action} with HTTP 404 and a "
        'web page instead of JSON: "404 Not Found: Not Found". Set the panel URL to the address on the '
        "panel's API page (remove the trailing slash), then rerun.\n"
    )


def test_unreadable_catalogue_entries_reach_the_catalogue_and_its_cache(tmp_path, monkeypatch):
    from bulkorders.catalog import load_catalogue
    from bulkorders.settings import Settings

    made, *_ = client(js([{"service": 1, "name": "A", "rate": "1", "min": 1, "max": 9},
                          {"service": 77, "name": "B", "rate": "1,500", "min": 1, "max": 9},
                          {"name": "no id", "rate": "x"}]))  # fmt: skip
    monkeypatch.setenv("BULKORDERS_API_KEY", KEY)
    settings_ = Settings(panel_spec=URL, cache_dir=tmp_path)
    catalogue = load_catalogue(settings_, made, clock=lambda: 1000.0)
    assert list(catalogue.services) == ["1"]
    assert set(catalogue.unreadable) == {"77", "#3"}
    assert catalogue.unreadable["77"] == (
        f'unreadable answer from the panel (rate "1,500" {AMBIGUOUS}): '
        '{"service": 77, "name": "B", "rate": "1,500", "min": 1, "max": 9}'
    )
    cached = load_catalogue(settings_, None, clock=lambda: 1001.0)  # fresh: read from the cache
    assert cached.unreadable == catalogue.unreadable


@settings(max_examples=150, deadline=None)
@given(refusal=REFUSAL, where=st.sampled_from(["item", "value", "keyed"]), kind=st.sampled_from(["refill", "cancel"]))
def test_a_refusal_in_a_refill_or_cancel_list_is_that_orders_refusal_never_lost(refusal, where, kind):
    if where == "item" and isinstance(refusal, dict):
        doc: Any = [{"order": "1", **refusal}, {"order": "2", kind: "5"}]
    elif where == "value" and isinstance(refusal, dict):
        doc = [{"order": "1", kind: refusal}, {"order": "2", kind: "5"}]
    else:
        doc = [refusal, {"order": "2", kind: "5"}]  # a bare text in place of the entry
    parse = answers.parse_refills if kind == "refill" else answers.parse_cancels
    first, second = parse(["1", "2"], doc)
    assert first.error == (" ".join(refusal.split()) if isinstance(refusal, str) else answers.top_error(refusal))
    assert not first.lost and not second.lost and second.error is None
