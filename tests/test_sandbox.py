"""The sandbox panel: pure logic with an injected clock, its journal, the transport,
the HTTP server with its faults, and the `sandbox serve` / `sandbox reset` commands."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import bulkorders

from bulkorders.cli import cli
from bulkorders.errors import PanelError, UsageError
from bulkorders.models import TYPE_RULES
from bulkorders.panel.sandbox import panel as sb
from bulkorders.panel.sandbox.catalogue import SERVICES
from bulkorders.panel.sandbox.dialects import DIALECTS
from bulkorders.panel.sandbox.panel import SandboxPanel, SandboxState
from bulkorders.panel.sandbox.server import Faults, SandboxServer, spawn
from bulkorders.panel.sandbox.store import STATE_FILE, LiveSandbox, reset_state
from bulkorders.panel.sandbox.transport import SandboxTransport

T0 = 1_700_000_000.0
DONE = T0 + sb.DONE_SECONDS
STATUS_KEYS = {"charge", "start_count", "status", "remains", "currency"}


def call(panel: SandboxPanel, action: str, now: float = T0, **fields: str):
    status, body = panel.handle({"key": "test-key", "action": action, **fields}, now)
    assert status == 200
    return body


def add(panel: SandboxPanel, now: float = T0, **fields: str):
    return call(panel, "add", now, **fields)


def order_id(panel: SandboxPanel, service: str = "1001", link: str = "https://ig/a",
             quantity: str = "1000", now: float = T0, **fields: str) -> str:  # fmt: skip
    body = add(panel, now, service=service, link=link, quantity=quantity, **fields)
    assert set(body) == {"order"} and isinstance(body["order"], int), body
    return str(body["order"])


def balance(panel: SandboxPanel, now: float = T0) -> Decimal:
    body = call(panel, "balance", now)
    assert body["currency"] == "USD"
    return Decimal(body["balance"])


# --- services, balance, key, request ------------------------------------------------


def test_services_is_the_catalogue_as_the_panel_sends_it():
    panel = SandboxPanel()
    body = call(panel, "services")
    assert body == SERVICES and len(body) == 22
    assert set(TYPE_RULES) <= {s["type"] for s in body}
    assert {s["refill"] for s in body} == {True, False} and {s["cancel"] for s in body} == {True, False}
    body[0]["rate"] = "0"  # the answer is a copy
    assert call(panel, "services")[0]["rate"] == "0.90"


def test_balance_starts_at_1000_and_add_debits_the_exact_charge():
    panel = SandboxPanel()
    assert call(panel, "balance") == {"balance": "1000.00", "currency": "USD"}
    assert add(panel, service="1001", link="https://ig/a", quantity="1000") == {"order": 23501}
    assert add(panel, service="1004", link="https://ig/b", quantity="100") == {"order": 23502}
    # 0.90 × 1000 / 1000 + 0.015 × 100 / 1000
    assert call(panel, "balance") == {"balance": "999.0985", "currency": "USD"}


def test_any_non_empty_key_unless_a_key_is_expected():
    open_panel = SandboxPanel()
    assert open_panel.handle({"key": "", "action": "balance"}, T0) == (200, {"error": "Invalid API key"})
    assert open_panel.handle({"action": "balance"}, T0) == (200, {"error": "Invalid API key"})
    assert open_panel.handle({"key": "anything", "action": "balance"}, T0)[1]["balance"] == "1000.00"
    strict = SandboxPanel(key="secret")
    assert strict.handle({"key": "guess", "action": "balance"}, T0) == (200, {"error": "Invalid API key"})
    assert strict.handle({"key": "secret", "action": "balance"}, T0)[1]["balance"] == "1000.00"


def test_unknown_or_missing_action_is_incorrect_request():
    panel = SandboxPanel()
    assert call(panel, "nope") == {"error": "Incorrect request"}
    assert panel.handle({"key": "k"}, T0) == (200, {"error": "Incorrect request"})


def test_error_status_plays_a_clone_that_answers_errors_with_4xx():
    panel = SandboxPanel(error_status=422)
    assert panel.handle({"key": "k", "action": "add", "service": "1"}, T0) == (
        422, {"error": "Incorrect service ID"})  # fmt: skip
    assert panel.handle({"key": "k", "action": "balance"}, T0)[0] == 200


# --- add: validation and charges ------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"service": "9999", "link": "l", "quantity": "100"}, "Incorrect service ID"),
        ({"service": "abc", "link": "l", "quantity": "100"}, "Incorrect service ID"),
        ({"link": "l", "quantity": "100"}, "Incorrect service ID"),
        ({"service": "1001", "quantity": "100"}, "Incorrect request"),
        ({"service": "1001", "link": " ", "quantity": "100"}, "Incorrect request"),
        ({"service": "1001", "link": "l"}, "Incorrect request"),
        ({"service": "1001", "link": "l", "quantity": "abc"}, "Incorrect request"),
        ({"service": "1001", "link": "l", "quantity": "-5"}, "Incorrect request"),
        ({"service": "1001", "link": "l", "quantity": "1000.5"}, "Incorrect request"),
        ({"service": "1001", "link": "l", "quantity": "9"}, "Quantity less than minimal 10"),
        ({"service": "1001", "link": "l", "quantity": "100001"}, "Quantity more than maximum 100000"),
        ({"service": "1006", "link": "l", "quantity": "1000000"}, "Not enough funds on balance"),
        ({"service": "1001", "link": "l", "quantity": "100", "runs": "3"},
         "Drip-feed needs both runs and interval"),
        ({"service": "1001", "link": "l", "quantity": "100", "runs": "1", "interval": "5"},
         "Incorrect runs: drip-feed needs at least 2 runs"),
        ({"service": "1001", "link": "l", "quantity": "100", "runs": "2", "interval": "0"},
         "Incorrect interval: at least 1 minute between runs"),
        ({"service": "1007", "link": "l", "comments": "a\nb\n\n  \nc\nd"}, "Quantity less than minimal 5"),
        ({"service": "1007", "link": "l"}, "Incorrect request"),
        ({"service": "1010", "link": "l", "quantity": "100"}, "Incorrect request"),
        ({"service": "1011", "link": "l", "quantity": "100", "usernames": "a"}, "Incorrect request"),
        ({"service": "1017", "link": "l", "comments": "hi"}, "Incorrect request"),
        ({"service": "1018", "link": "l", "quantity": "100", "answer_number": "0"},
         "Incorrect answer number"),
        ({"service": "1020", "username": "u", "min": "300", "max": "200", "delay": "0"},
         "Incorrect min or max: whole numbers with min not above max"),
        ({"service": "1020", "username": "u", "min": "100", "max": "20000", "delay": "0"},
         "Quantity more than maximum 10000"),
        ({"service": "1020", "username": "u", "min": "100", "max": "200", "delay": "0",
          "expiry": "2025-01-31"}, "Incorrect expiry date: use d/m/Y"),
        ({"service": "1020", "username": "u", "min": "100", "max": "200"}, "Incorrect request"),
        ({"service": "1021", "link": "l", "quantity": "100", "country": "US", "device": "6",
          "type_of_traffic": "3"}, "Incorrect device: use 1 to 5"),
        ({"service": "1021", "link": "l", "quantity": "100", "country": "US", "device": "1",
          "type_of_traffic": "4"}, "Incorrect type of traffic: use 1 to 3"),
        ({"service": "1021", "link": "l", "quantity": "100", "country": "US", "device": "1",
          "type_of_traffic": "1"}, "Google keyword is required for this type of traffic"),
        ({"service": "1021", "link": "l", "quantity": "100", "country": "US", "device": "1",
          "type_of_traffic": "2"}, "Referring URL is required for this type of traffic"),
    ],
)  # fmt: skip
def test_add_refusals_use_the_panels_texts_and_spend_nothing(fields, error):
    panel = SandboxPanel()
    assert add(panel, **fields) == {"error": error}
    assert call(panel, "balance")["balance"] == "1000.00"
    assert panel.state.orders == {}


@pytest.mark.parametrize(
    ("fields", "charge", "quantity"),
    [
        ({"service": "1001", "link": "l", "quantity": "1000"}, "0.9", 1000),
        ({"service": "1001", "link": "l", "quantity": "100", "runs": "3", "interval": "10"}, "0.27", 300),
        ({"service": "1007", "link": "l", "comments": "a\n\nb\nc\n d \ne\n"}, "0.06", 5),
        ({"service": "1008", "link": "l", "comments": "a\nb"}, "25.00", 2),
        ({"service": "1009", "link": "l"}, "15.00", 1),
        ({"service": "1010", "link": "l", "quantity": "100", "usernames": "a\nb"}, "0.3", 100),
        ({"service": "1011", "link": "l", "quantity": "200", "usernames": "a", "hashtags": "#x"}, "0.7", 200),
        ({"service": "1012", "link": "l", "usernames": "\n".join(f"u{i}" for i in range(10))}, "0.08", 10),
        ({"service": "1013", "link": "l", "quantity": "100", "hashtag": "x"}, "0.25", 100),
        ({"service": "1014", "link": "l", "quantity": "100", "username": "x"}, "0.28", 100),
        ({"service": "1015", "link": "l", "quantity": "100", "media": "https://m"}, "0.29", 100),
        ({"service": "1016", "link": "l", "quantity": "20", "username": "x"}, "0.08", 20),
        ({"service": "1017", "link": "l", "username": "x", "comments": "a\nb"}, "0.03", 2),
        ({"service": "1018", "link": "l", "quantity": "100", "answer_number": "2"}, "0.11", 100),
        ({"service": "1019", "link": "l", "quantity": "100", "groups": "g1\ng2"}, "0.6", 100),
        ({"service": "1020", "username": "u", "min": "100", "max": "200", "delay": "0", "posts": "3",
          "expiry": "31/12/2030"}, "0.18", 600),
        ({"service": "1021", "link": "l", "quantity": "1000", "country": "US", "device": "5",
          "type_of_traffic": "1", "google_keyword": "shoes", "runs": "2", "interval": "60"}, "1.0", 2000),
        ({"service": "1022", "link": "l", "quantity": "20"}, "0.044", 20),
    ],
)  # fmt: skip
def test_add_accepts_every_type_and_charges_rate_times_quantity(fields, charge, quantity):
    panel = SandboxPanel()
    number = add(panel, **fields)["order"]
    order = panel.state.orders[number]
    assert order.charge == Decimal(charge)
    assert order.quantity == quantity
    assert balance(panel) == Decimal("1000.00") - Decimal(charge)
    assert call(panel, "status", order=str(number))["remains"] == str(quantity)


def test_one_active_order_per_link_for_default_services():
    panel = SandboxPanel()
    first = order_id(panel, link="https://ig/post")
    again = add(panel, T0 + 1, service="1001", link="https://ig/post", quantity="100")
    assert again == {"error": sb.ACTIVE_LINK}
    assert again["error"] == "You have active order with this link. Please wait until order being completed."
    order_id(panel, service="1002", link="https://ig/post", now=T0 + 1)  # another service: fine
    order_id(panel, service="1010", link="https://ig/m", quantity="100", usernames="a")
    order_id(panel, service="1010", link="https://ig/m", quantity="100", usernames="a")  # not Default
    assert order_id(panel, link="https://ig/post", now=DONE) != first  # completed: free again
    canceled = order_id(panel, link="https://ig/c")
    assert call(panel, "cancel", orders=canceled)[0]["cancel"] == 1
    order_id(panel, link="https://ig/c", now=T0 + 0.5)  # canceled is final: free again


# --- progress over time, Partial ----------------------------------------------------


def test_status_progresses_pending_in_progress_completed():
    panel = SandboxPanel()
    number = order_id(panel, quantity="1000")
    pending = call(panel, "status", T0 + 1, order=number)
    assert pending == {"charge": "0.90", "start_count": "0", "status": "Pending", "remains": "1000",
                       "currency": "USD"}  # fmt: skip
    halfway = call(panel, "status", T0 + sb.PENDING_SECONDS + sb.RUN_SECONDS / 2, order=number)
    assert set(halfway) == STATUS_KEYS and halfway["status"] == "In progress"
    assert halfway["remains"] == "500" and int(halfway["start_count"]) > 0
    done = call(panel, "status", DONE, order=number)
    assert done == {"charge": "0.90", "start_count": halfway["start_count"], "status": "Completed",
                    "remains": "0", "currency": "USD"}  # fmt: skip
    assert call(panel, "status", DONE + 3600, order=number) == done


def test_every_seventh_order_ends_partial_and_refunds_the_undelivered_part():
    panel = SandboxPanel()
    numbers = [order_id(panel, link=f"https://ig/{i}") for i in range(7)]
    partial = [n for n in numbers if int(n) % sb.PARTIAL_EVERY == 0]
    assert len(partial) == 1
    spent = Decimal("0.9") * 7
    assert balance(panel, DONE - 0.01) == Decimal("1000.00") - spent
    answer = call(panel, "status", DONE, order=partial[0])
    delivered = 1000 - int(answer["remains"])
    assert answer["status"] == "Partial" and 0 < delivered < 1000
    assert Decimal(answer["charge"]) == Decimal("0.90") * delivered / 1000
    refund = Decimal("0.9") - Decimal(answer["charge"])
    assert balance(panel, DONE) == Decimal("1000.00") - spent + refund
    assert balance(panel, DONE + 100) == Decimal("1000.00") - spent + refund  # credited once
    others = call(panel, "status", DONE, orders=",".join(n for n in numbers if n not in partial))
    assert {v["status"] for v in others.values()} == {"Completed"}


def test_packages_and_subscriptions_never_end_partial():
    panel = SandboxPanel()
    for i in range(7):
        order_id(panel, service="1009", link=f"l{i}", quantity="")
    statuses = call(panel, "status", DONE, orders=",".join(str(n) for n in panel.state.orders))
    assert {v["status"] for v in statuses.values()} == {"Completed"}


def test_bulk_status_is_keyed_by_the_ids_sent_with_per_item_errors():
    panel = SandboxPanel()
    number = order_id(panel)
    body = call(panel, "status", orders=f"{number}, 99999,abc")
    assert list(body) == [number, "99999", "abc"]
    assert set(body[number]) == STATUS_KEYS
    assert body["99999"] == body["abc"] == {"error": "Incorrect order ID"}
    assert call(panel, "status", order="424242") == {"error": "Incorrect order ID"}
    assert call(panel, "status", orders=" , ") == {"error": "Incorrect request"}
    too_many = ",".join(str(i) for i in range(101))
    assert call(panel, "status", orders=too_many) == {"error": "Too many ids: at most 100 per request"}


# --- refill -----------------------------------------------------------------------------


def test_refill_only_for_refill_services_on_completed_or_partial_orders():
    panel = SandboxPanel()
    refillable = order_id(panel, service="1001", link="a")
    no_refill = order_id(panel, service="1002", link="b")
    assert call(panel, "refill", order=refillable) == {"error": "Order is not eligible for refill"}
    assert call(panel, "refill", DONE, order=no_refill) == {"error": "Refill is disabled for this service"}
    assert call(panel, "refill", DONE, order="31337") == {"error": "Incorrect order ID"}
    assert call(panel, "refill", DONE, order=refillable) == {"refill": "1"}
    assert call(panel, "refill", DONE + 1, order=refillable) == {
        "error": "Refill is already in progress for this order"}  # fmt: skip
    assert call(panel, "refill_status", DONE + 1, refill="1") == {"status": "Pending"}
    in_progress = DONE + sb.REFILL_PENDING_SECONDS
    assert call(panel, "refill_status", in_progress, refill="1") == {"status": "In progress"}
    assert call(panel, "refill_status", DONE + sb.REFILL_DONE_SECONDS, refill="1") == {"status": "Completed"}
    assert call(panel, "refill", DONE + sb.REFILL_DONE_SECONDS, order=refillable) == {"refill": "2"}
    assert call(panel, "refill_status", refill="77") == {"error": "Refill not found"}


def test_refill_partial_orders_and_not_canceled_ones():
    panel = SandboxPanel()
    numbers = [order_id(panel, link=f"https://ig/{i}") for i in range(7)]
    partial = next(n for n in numbers if int(n) % sb.PARTIAL_EVERY == 0)
    assert call(panel, "status", DONE, order=partial)["status"] == "Partial"
    assert call(panel, "refill", DONE, order=partial) == {"refill": "1"}
    canceled = order_id(panel, link="x", now=DONE)
    call(panel, "cancel", DONE, orders=canceled)
    assert call(panel, "refill", DONE * 2, order=canceled) == {"error": "Order is not eligible for refill"}


def test_bulk_refill_and_refill_status_answer_per_item():
    panel = SandboxPanel()
    good = order_id(panel, service="1001", link="a")
    disabled = order_id(panel, service="1002", link="b")
    body = call(panel, "refill", DONE, orders=f"{good},{disabled},555,zz")
    assert body == [
        {"order": int(good), "refill": 1},
        {"order": int(disabled), "refill": {"error": "Refill is disabled for this service"}},
        {"order": 555, "refill": {"error": "Incorrect order ID"}},
        {"order": "zz", "refill": {"error": "Incorrect order ID"}},
    ]
    statuses = call(panel, "refill_status", DONE + sb.REFILL_PENDING_SECONDS, refills="1,9")
    assert statuses == [{"refill": 1, "status": "In progress"},
                        {"refill": 9, "status": {"error": "Refill not found"}}]  # fmt: skip
    assert call(panel, "refill", orders="") == {"error": "Incorrect request"}


# --- cancel -----------------------------------------------------------------------------


def test_cancel_only_pending_orders_of_cancel_services_with_a_full_refund():
    panel = SandboxPanel()
    pending = order_id(panel, service="1001", link="a")
    started = order_id(panel, service="1002", link="b", now=T0 - sb.PENDING_SECONDS)
    no_cancel = order_id(panel, service="1003", link="c")
    before = balance(panel)
    body = call(panel, "cancel", T0 + 1, orders=f"{pending},{started},{no_cancel},4040")
    assert body == [
        {"order": int(pending), "cancel": 1},
        {"order": int(started), "cancel": {"error": "Order cannot be canceled: its status is In progress"}},
        {"order": int(no_cancel), "cancel": {"error": "Cancel is disabled for this service"}},
        {"order": 4040, "cancel": {"error": "Incorrect order ID"}},
    ]
    assert balance(panel, T0 + 1) == before + Decimal("0.9")
    assert call(panel, "status", DONE, order=pending) == {
        "charge": "0.00", "start_count": "0", "status": "Canceled", "remains": "1000", "currency": "USD"}
    assert call(panel, "cancel", T0 + 2, orders=pending) == [
        {"order": int(pending), "cancel": {"error": "Order cannot be canceled: its status is Canceled"}}]
    assert call(panel, "cancel", orders="") == {"error": "Incorrect request"}


def test_a_canceled_partial_order_is_refunded_once():
    panel = SandboxPanel()
    numbers = [order_id(panel, link=f"https://ig/{i}") for i in range(7)]
    partial = next(n for n in numbers if int(n) % sb.PARTIAL_EVERY == 0)
    call(panel, "cancel", T0 + 1, orders=partial)
    assert balance(panel, DONE + 1) == Decimal("1000.00") - Decimal("0.9") * 6


# --- events and replay --------------------------------------------------------------------


def test_events_replayed_or_snapshotted_rebuild_the_same_state():
    events: list[dict] = []
    panel = SandboxPanel(record=events.append)
    for i in range(8):
        order_id(panel, link=f"https://ig/{i}")
    call(panel, "cancel", T0 + 1, orders="23502")
    call(panel, "refill", DONE, orders="23501,23503")
    assert [e["e"] for e in events].count("order") == 8
    json.loads(json.dumps(events))  # JSON-able
    for rebuilt_events in (events, list(panel.state.snapshot())):
        state = SandboxState()
        for event in rebuilt_events:
            state.apply(event)
        again = SandboxPanel(state)
        assert balance(again, DONE) == balance(panel, DONE)
        assert call(again, "status", DONE, orders="23501,23502,23507") == call(
            panel, "status", DONE, orders="23501,23502,23507")  # fmt: skip
        assert order_id(again, link="new", now=DONE) == "23509"
        assert call(again, "refill", DONE + 100, order="23504") == {"refill": "3"}


# --- the journal ------------------------------------------------------------------------


def client_for(path: Path, clock=lambda: T0, key: str | None = None) -> httpx.Client:
    transport = SandboxTransport(path, clock=clock, key=key)
    return httpx.Client(transport=transport, base_url="https://sandbox.invalid")


def post(client: httpx.Client, **fields: str):
    response = client.post("/api/v2", data={"key": "k", **fields})
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()


def test_state_persists_across_two_transports(tmp_path):
    path = tmp_path / "state" / STATE_FILE
    with client_for(path) as first:
        assert post(first, action="add", service="1001", link="a", quantity="1000") == (200, {"order": 23501})
    with client_for(path, clock=lambda: DONE) as second:
        assert post(second, action="balance") == (200, {"balance": "999.10", "currency": "USD"})
        assert post(second, action="status", order="23501")[1]["status"] == "Completed"
        assert post(second, action="add", service="1001", link="b", quantity="10") == (200, {"order": 23502})
    assert path.stat().st_mode & 0o777 == 0o600


def test_transport_checks_the_key_it_was_given(tmp_path):
    with client_for(tmp_path / STATE_FILE, key="secret") as client:
        assert post(client, action="balance") == (200, {"error": "Invalid API key"})


def test_two_live_sandboxes_on_one_file_share_ids_and_balance(tmp_path):
    path = tmp_path / STATE_FILE
    a, b = LiveSandbox(path), LiveSandbox(path)
    form = {"key": "k", "action": "add", "service": "1002", "quantity": "100"}
    assert a.handle({**form, "link": "1"}, T0) == (200, {"order": 23501})
    assert b.handle({**form, "link": "2"}, T0) == (200, {"order": 23502})
    assert a.handle({**form, "link": "3"}, T0) == (200, {"order": 23503})
    assert b.handle({"key": "k", "action": "balance"}, T0)[1]["balance"] == "999.925"
    a.close()
    b.close()


def test_a_torn_last_line_is_ignored_and_compacted_away(tmp_path):
    path = tmp_path / STATE_FILE
    live = LiveSandbox(path)
    live.handle({"key": "k", "action": "add", "service": "1001", "link": "a", "quantity": "100"}, T0)
    live.close()
    with path.open("ab") as fh:
        fh.write(b'{"e":"order","id":23502,"serv')  # the process died mid-write
    live = LiveSandbox(path)
    assert live.handle({"key": "k", "action": "add", "service": "1001", "link": "b",
                        "quantity": "100"}, T0) == (200, {"order": 23502})  # fmt: skip
    live.close()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["id"] for e in events if e["e"] == "order"] == [23501, 23502]
    assert {"e": "ids", "order": 23502, "refill": 1, "cancel": 1} in events  # compaction keeps numbering
    assert LiveSandbox(path).handle({"key": "k", "action": "balance"}, T0)[1]["balance"] == "999.82"


def test_a_torn_line_written_by_another_process_does_not_swallow_ours(tmp_path):
    path = tmp_path / STATE_FILE
    live = LiveSandbox(path)
    form = {"key": "k", "action": "add", "service": "1002", "quantity": "100"}
    live.handle({**form, "link": "a"}, T0)
    with path.open("ab") as fh:
        fh.write(b'{"e":"ord')
    assert live.handle({**form, "link": "b"}, T0) == (200, {"order": 23502})
    live.close()
    assert sorted(LiveSandbox(path).state().orders) == [23501, 23502]


def test_loading_folds_cancels_into_their_orders(tmp_path):
    path = tmp_path / STATE_FILE
    live = LiveSandbox(path)
    live.handle({"key": "k", "action": "add", "service": "1001", "link": "a", "quantity": "100"}, T0)
    live.handle({"key": "k", "action": "cancel", "orders": "23501"}, T0)
    live.close()
    assert [json.loads(line)["e"] for line in path.read_text().splitlines()] == ["order", "cancel"]
    live = LiveSandbox(path)
    assert live.handle({"key": "k", "action": "status", "order": "23501"}, T0)[1]["status"] == "Canceled"
    assert live.handle({"key": "k", "action": "balance"}, T0)[1]["balance"] == "1000.00"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["e"] for e in events] == ["order", "ids"] and events[0]["cancel"] == 1
    live.close()


def test_reset_clears_the_state_but_never_reuses_an_id(tmp_path):
    path = tmp_path / STATE_FILE
    live = LiveSandbox(path)
    add = {"key": "k", "action": "add", "service": "1001", "link": "a", "quantity": "100"}
    assert live.handle(add, T0)[1] == {"order": 23501}
    assert reset_state(path) == 23502
    assert reset_state(path) is None  # no orders since: nothing to reset
    assert live.handle({"key": "k", "action": "balance"}, T0)[1]["balance"] == "1000.00"
    assert live.handle({"key": "k", "action": "status", "order": "23501"}, T0)[1] == {"error": "Incorrect order ID"}
    assert live.handle(add, T0)[1] == {"order": 23502}  # a ledger that knows 23501 is never confused
    live.close()
    assert reset_state(tmp_path / "none.jsonl") is None


def test_many_threads_through_one_transport_never_collide(tmp_path):
    path = tmp_path / STATE_FILE
    client = client_for(path)

    def place(worker: int) -> None:
        for i in range(40):
            status, body = post(client, action="add", service="1002", link=f"{worker}-{i}", quantity="100")
            assert status == 200 and "order" in body

    threads = [threading.Thread(target=place, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    ids = [json.loads(line)["id"] for line in path.read_text().splitlines()]
    assert sorted(ids) == list(range(23501, 23501 + 640))
    assert LiveSandbox(path).state().balance == Decimal("1000.00") - Decimal("0.025") * 640


# --- the CLI ------------------------------------------------------------------------------


def test_sandbox_reset_command(isolated_user_dirs):
    from bulkorders.panel.connect import SANDBOX_STATE_FILE

    assert SANDBOX_STATE_FILE == STATE_FILE  # --panel sandbox and the commands share one file
    path = isolated_user_dirs / "data" / "bulkorders" / STATE_FILE
    LiveSandbox(path).handle({"key": "k", "action": "add", "service": "1009", "link": "a"}, T0)
    result = bulkorders("sandbox", "reset")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Reset the sandbox {path}: balance back to 1000.00 USD, no orders. New order ids start "
        "at 23502: like a real panel, the sandbox never reuses an id.\n"
    )
    result = bulkorders("sandbox", "reset")
    assert result.stdout == f"No sandbox orders in {path}: nothing to reset.\n"


def test_sandbox_reset_balance_sets_the_starting_balance_and_it_survives_compaction(isolated_user_dirs):
    path = isolated_user_dirs / "data" / "bulkorders" / STATE_FILE
    runner = CliRunner()
    result = runner.invoke(cli, ["sandbox", "reset", "--balance", "2500"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Reset the sandbox {path}: balance set to 2500.00 USD, no orders. New order ids start "
        "at 23501: like a real panel, the sandbox never reuses an id.\n"
    )
    live = LiveSandbox(path)
    pending = {"key": "k", "action": "add", "service": "1001", "link": "a", "quantity": "1000"}
    assert live.handle(pending, T0)[1] == {"order": 23501}
    assert live.handle({"key": "k", "action": "cancel", "orders": "23501"}, T0)[1] == [{"order": 23501, "cancel": 1}]
    assert live.handle({"key": "k", "action": "add", **{k: pending[k] for k in ("service", "quantity")},
                        "link": "b"}, T0)[1] == {"order": 23502}  # fmt: skip
    live.close()
    assert LiveSandbox(path).state().balance == Decimal("2499.10")  # replayed: cancel folded, start kept
    assert LiveSandbox(path).state().balance == Decimal("2499.10")  # and from the compacted journal
    result = runner.invoke(cli, ["sandbox", "reset", "--balance", "1"])
    assert result.exit_code == 0 and "balance set to 1.00 USD" in result.stdout
    assert LiveSandbox(path).state().balance == Decimal("1")
    result = runner.invoke(cli, ["sandbox", "reset"])
    assert "balance back to 1000.00 USD" in result.stdout  # the starting balance was changed: a reset
    assert LiveSandbox(path).state().balance == Decimal("1000.00")
    for bad in ("-5", "lots", "nan"):
        result = runner.invoke(cli, ["sandbox", "reset", "--balance", bad])
        assert result.exit_code == 2
        assert f"--balance {bad}: use an amount of 0 or more, e.g. 2500." in result.stderr


def test_serve_refuses_a_non_loopback_host_and_bad_shares(tmp_path):
    state = str(tmp_path / STATE_FILE)
    result = bulkorders("sandbox", "serve", "--host", "0.0.0.0", "--state", state)
    assert result.exit_code == 2
    assert "Refusing to serve the sandbox on 0.0.0.0: it listens on loopback only" in result.stderr
    result = bulkorders("sandbox", "serve", "--fail-5xx", "0.7", "--challenge", "0.5")
    assert result.exit_code == 2
    assert "The fault shares add up to more than 1: lower some of them." in result.stderr
    result = bulkorders("sandbox", "serve", "--fail-429", "2")
    assert result.exit_code == 2 and "--fail-429" in result.stderr


def test_serve_command_prints_its_url_answers_and_stops_on_sigterm(tmp_path):
    state = tmp_path / STATE_FILE
    proc = subprocess.Popen(
        [sys.executable, "-m", "bulkorders", "sandbox", "serve", "--port", "0", "--state", str(state)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stderr.readline()
        pattern = r"Sandbox panel listening on (http://127\.0\.0\.1:\d+/api/v2) \(Ctrl-C to stop\)\n"
        match = re.fullmatch(pattern, line)
        assert match, line
        answer = httpx.post(match[1], data={"key": "k", "action": "add", "service": "1009", "link": "x"})
        assert answer.json() == {"order": 23501}
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rest == (
        f"State: {state}\nDialect: clean, {DIALECTS['clean'].describe}\n"
        "Sandbox panel stopped after 1 request (0 hit by a fault, 0 refused by the rate limit with 429).\n"
    )
    assert json.loads(state.read_text())["id"] == 23501


# --- over real HTTP, with faults ------------------------------------------------------------


@pytest.fixture
def serve(tmp_path):
    servers: list[SandboxServer] = []

    def start(clock=None, **faults) -> SandboxServer:
        server = SandboxServer(tmp_path / STATE_FILE, faults=Faults(seed=7, **faults), clock=clock)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


ADD = {"key": "k", "action": "add", "service": "1002", "quantity": "100"}


def test_plain_http_serves_the_same_panel(serve):
    server = serve()
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/api/v2")
    with httpx.Client() as client:
        assert client.post(server.url, data={**ADD, "link": "a"}).json() == {"order": 23501}
        root = server.url.removesuffix("api/v2")
        assert client.post(root, data={"key": "k", "action": "balance"}).json()["balance"] == "999.975"
        assert client.get(server.url).status_code == 405
        wrong = client.post(root + "other", data={"key": "k"})
        assert wrong.status_code == 404 and "<title>404 Not Found</title>" in wrong.text


def test_fail_5xx_answers_a_proxy_error_without_placing_and_lets_the_retry_through(serve):
    server = serve(fail_5xx=1.0)
    with httpx.Client() as client:
        first = client.post(server.url, data={**ADD, "link": "a"})
        assert first.status_code in (502, 503)
        assert "Bad Gateway" in first.text or first.text == "Service Temporarily Unavailable"
        assert server.httpd.sandbox.state().orders == {}
        again = client.post(server.url, data={**ADD, "link": "a"})
        assert again.status_code == 200 and again.json() == {"order": 23501}


def test_fail_429_sometimes_says_retry_after(serve):
    server = serve(fail_429=1.0)
    with httpx.Client() as client:
        answers = [client.post(server.url, data={**ADD, "link": f"l{i}"}) for i in range(12)]
    assert {a.status_code for a in answers} == {429}
    retry_after = [a.headers.get("Retry-After") for a in answers]
    assert "1" in retry_after and None in retry_after
    assert server.httpd.sandbox.state().orders == {}


def test_challenge_share_answers_a_cloudflare_page_and_lets_the_retry_through(serve):
    server = serve(challenge=0.999)
    with httpx.Client() as client:
        answer = client.post(server.url, data={"key": "k", "action": "balance"})
        assert answer.status_code in (403, 503)
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.headers["server"] == "cloudflare"
        if "cf-mitigated" in answer.headers:
            assert answer.headers["cf-mitigated"] == "challenge"
            assert "<title>Just a moment...</title>" in answer.text
        else:
            assert answer.status_code == 403 and "<title>Attention Required! | Cloudflare</title>" in answer.text
        assert client.post(server.url, data={"key": "k", "action": "balance"}).status_code == 200
    assert server.counts.values == {"requests": 2, "faults": 1, "rate_limited": 0}


def test_challenge_1_is_a_firewall_that_blocks_every_call_and_both_pages_appear(serve):
    server = serve(challenge=1.0)
    with httpx.Client() as client:
        answers = [client.post(server.url, data={**ADD, "link": "a"}) for _ in range(30)]
    assert {a.status_code for a in answers} <= {403, 503}
    titles = {re.search(r"<title>(.*)</title>", a.text)[1] for a in answers}
    assert titles == {"Just a moment...", "Attention Required! | Cloudflare"}
    assert all(a.headers.get("cf-mitigated") == "challenge" for a in answers if "moment" in a.text)
    assert server.httpd.sandbox.state().orders == {}  # none reached the panel


def test_rate_limit_counts_per_key_in_aligned_fixed_windows_and_answers_429_past_it(serve):
    now = [T0]
    server = serve(rate="3/2", clock=lambda: now[0])
    with httpx.Client() as client:
        answers = [client.post(server.url, data={**ADD, "link": f"l{i}"}) for i in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"3"}
        assert {a.headers["X-RateLimit-Reset"] for a in answers} == {str(int(T0) + 2)}
        assert answers[3].headers["Retry-After"] == "2" and answers[3].json() == {"error": "Too Many Requests"}
        assert len(server.httpd.sandbox.state().orders) == 3  # the refused add never reached the panel
        assert client.post(server.url, data={"key": "other", "action": "balance"}).status_code == 200
        now[0] = T0 + 1.2
        late = client.post(server.url, data={**ADD, "link": "l9"})
        assert late.status_code == 429 and late.headers["Retry-After"] == "1"  # 0.8 s left, rounded up
        now[0] = T0 + 2
        assert client.post(server.url, data={**ADD, "link": "l9"}).headers["X-RateLimit-Remaining"] == "2"
        now[0] = T0 + 3.5  # windows are aligned on the epoch: this one ends at T0 + 4
        later = client.post(server.url, data={**ADD, "link": "l8"}).headers
        assert (later["X-RateLimit-Remaining"], later["X-RateLimit-Reset"]) == ("1", str(int(T0) + 4))
    assert server.counts.values == {"requests": 8, "faults": 0, "rate_limited": 2}


def test_rate_limit_without_headers_still_says_retry_after(serve):
    server = serve(rate="1/60", rate_headers=False, clock=lambda: T0 + 40)  # windows start on the minute
    with httpx.Client() as client:
        first, second = (client.post(server.url, data={"key": "k", "action": "balance"}) for _ in range(2))
    assert first.status_code == 200 and second.status_code == 429
    assert second.headers["Retry-After"] == "60"
    assert not [name for name in (*first.headers, *second.headers) if name.lower().startswith("x-ratelimit")]


@pytest.mark.parametrize("rate", ["0/1", "10", "a/b", "5/0", "5/-1", "5/inf"])
def test_a_rate_that_is_not_n_per_seconds_is_refused(rate):
    result = CliRunner().invoke(cli, ["sandbox", "serve", "--port", "0", "--rate", rate])
    assert result.exit_code == 2
    assert f"--rate {rate}: use N/SECONDS, e.g. 20/2 for 20 requests every 2 seconds." in result.stderr


def test_lose_answers_creates_the_order_then_closes_without_a_word(serve):
    server = serve(lose_answers=1.0)
    with httpx.Client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(server.url, data={**ADD, "link": "a"})
        assert list(server.httpd.sandbox.state().orders) == [23501]
        status = {"key": "k", "action": "status", "order": "23501"}
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(server.url, data=status)
        assert client.post(server.url, data=status).json()["status"] == "Pending"  # the retry gets through


def test_latency_delays_every_answer(serve):
    server = serve(latency=0.2)
    with httpx.Client() as client:
        answer = client.post(server.url, data={"key": "k", "action": "balance"})
    assert answer.elapsed.total_seconds() >= 0.2


def test_serve_options_rate_no_rate_headers_and_dialect_reach_the_server(tmp_path):
    proc, url = spawn("--rate", "2/60", "--no-rate-headers", "--dialect", "nextjs", "--state", str(tmp_path / "s.jsonl"))
    try:
        with httpx.Client() as client:
            answers = [client.post(url, data={"key": "k", "action": "balance"}) for _ in range(3)]
            other = client.post(url, data={"key": "other-key", "action": "status", "orders": "1"})
    finally:
        proc.terminate()
        rest = proc.stderr.read()  # not communicate(): it would skip what spawn() has buffered
        proc.wait(timeout=10)
    assert [a.status_code for a in answers] == [200, 200, 429] and "Retry-After" in answers[2].headers
    assert not any("X-RateLimit-Limit" in a.headers for a in answers)
    assert (other.status_code, other.json()) == (400, {"error": "Incorrect order ID"})  # nextjs: single form, 400
    assert f"Dialect: nextjs, {DIALECTS['nextjs'].describe}" in rest
    assert rest.endswith("stopped after 4 requests (0 hit by a fault, 1 refused by the rate limit with 429).\n")


def test_maintenance_answers_every_request_with_a_503_page_and_its_retry_after(serve):
    server = serve(maintenance=3600)
    with httpx.Client() as client:
        answers = [client.post(server.url, data={**ADD, "link": "a"}) for _ in range(2)]
    assert {(a.status_code, a.headers["Retry-After"]) for a in answers} == {(503, "3600")}
    assert all("scheduled maintenance" in a.text and a.headers["content-type"].startswith("text/html") for a in answers)
    assert server.httpd.sandbox.state().orders == {}


def test_faults_check_their_shares():
    with pytest.raises(UsageError, match="between 0 and 1"):
        Faults(challenge=-0.1).check()
    with pytest.raises(UsageError, match="--latency -1"):
        Faults(latency=-1).check()


# --- through the real client, when it is there ----------------------------------------------


def test_panel_client_speaks_to_the_sandbox_transport(tmp_path):
    client_module = pytest.importorskip("bulkorders.panel.client")
    now = [T0]
    transport = SandboxTransport(tmp_path / STATE_FILE, clock=lambda: now[0])
    url = "https://sandbox.invalid/api/v2"
    with client_module.PanelClient(url, "sandbox-test-key", transport=transport) as client:
        assert len(client.services()) == 22
        assert client.balance().amount == Decimal("1000.00")
        placed = client.add({"service": "1001", "link": "https://ig/a", "quantity": "1000"})
        assert placed.order == "23501"
        again = client.add({"service": "1001", "link": "https://ig/a", "quantity": "1000"})
        assert again.error == sb.ACTIVE_LINK
        now[0] = DONE
        status = client.status("23501")
        assert (status.status, status.charge, status.remains) == ("Completed", Decimal("0.9"), 0)
        assert client.statuses(["23501", "999"])["999"].error == "Incorrect order ID"
        refills = client.refills(["23501"])
        assert refills[0].refill == "1"
        assert client.refill_status("1").status == "Pending"
        assert client.cancel(["23501"])[0].error == "Order cannot be canceled: its status is Completed"


def test_panel_client_over_http_reports_a_lost_add_once(serve):
    client_module = pytest.importorskip("bulkorders.panel.client")
    server = serve(lose_answers=1.0)
    with client_module.PanelClient(server.url, "sandbox-test-key", sleep=lambda s: None) as client:
        result = client.add({"service": "1002", "link": "a", "quantity": "100"})
    assert result.lost and result.order is None
    assert list(server.httpd.sandbox.state().orders) == [23501]  # created once, not re-sent


def test_an_unusable_state_file_is_a_clear_panel_error(tmp_path):
    blocked = tmp_path / "is-a-directory"
    blocked.mkdir()
    with client_for(blocked) as client, pytest.raises(PanelError) as caught:
        post(client, action="balance")
    assert str(caught.value).startswith(f"The sandbox cannot use its state file {blocked}: ")
    assert str(caught.value).endswith("or run `bulkorders sandbox reset`.")
