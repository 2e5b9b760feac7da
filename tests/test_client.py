"""The API v2 client against scripted panels (httpx.MockTransport) and one loopback server."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from bulkorders import __version__
from bulkorders.errors import (
    AuthError,
    BadAnswer,
    BulkOrdersError,
    ConfigError,
    FundsError,
    PanelError,
    PanelUnreachable,
)
from bulkorders.models import (
    AddResult,
    Balance,
    CancelResult,
    OrderStatus,
    RefillResult,
    RefillStatus,
    Service,
)
from bulkorders.panel import answers
from bulkorders.panel.client import PanelClient
from bulkorders.panel.retry import RetryPolicy, parse_retry_after
from bulkorders.panel.sandbox.catalogue import SERVICES

KEY = "k3y-SECRET-0123456789"
URL = "https://panel.example/api/v2"
CLOUDFLARE = (
    "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title>"
    "<style>body{color:#000}</style><script>window._cf_chl_opt={cvId: '3'};</script></head>"
    "<body><div class=\"main\"><h1>Checking if the site connection is secure</h1>"
    "<p>Enable JavaScript and cookies to continue</p></div></body></html>"
)
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0 (Ubuntu)</center>\r\n"
    "</body>\r\n</html>\r\n"
)
Reply = httpx.Response | Exception | Callable[[dict[str, str]], httpx.Response]


class FakeHTTPPanel:
    """A panel over HTTP, as an httpx.MockTransport handler: answers from a script (one entry
    per request) or a function. (Not test_submit's FakePanelClient, which stands in for the client.)"""

    def __init__(self, *script: Reply, handler: Callable[[dict[str, str]], Reply] | None = None):
        self.script = list(script)
        self.handler = handler
        self.forms: list[dict[str, str]] = []
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode(), keep_blank_values=True).items()}
        with self.lock:
            self.forms.append(form)
            self.requests.append(request)
            reply = self.handler(form) if self.handler else self.script.pop(0)
        if callable(reply) and not isinstance(reply, httpx.Response):
            reply = reply(form)
        if isinstance(reply, Exception):
            raise reply
        return reply

    @property
    def actions(self) -> list[str]:
        return [f["action"] for f in self.forms]


def ok(doc: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=doc, headers=headers)


def raw(text: str, status: int = 200, content_type: str = "text/html") -> httpx.Response:
    return httpx.Response(status, text=text, headers={"Content-Type": content_type})


class Harness:
    def __init__(self, panel: FakeHTTPPanel, **kwargs: Any):
        self.panel = panel
        self.sleeps: list[float] = []
        self.log: list[str] = []
        kwargs.setdefault("retry", RetryPolicy(jitter=0))
        self.client = PanelClient(
            URL, KEY, transport=httpx.MockTransport(panel), sleep=self.sleeps.append,
            log=self.log.append, **kwargs,
        )  # fmt: skip


def harness(*script: Reply, **kwargs: Any) -> Harness:
    handler = kwargs.pop("handler", None)
    return Harness(FakeHTTPPanel(*script, handler=handler), **kwargs)


# --- request format -------------------------------------------------------------------


def test_request_is_a_form_post_with_user_agent_key_and_action():
    h = harness(ok({"order": 23501}))
    h.client.add({"service": "1007", "link": "https://insta/p/1", "comments": "nice\ngreat"})
    request = h.panel.requests[0]
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.headers["User-Agent"] == f"bulkorders/{__version__}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert h.panel.forms == [{
        "key": KEY, "action": "add", "service": "1007", "link": "https://insta/p/1",
        "comments": "nice\ngreat",
    }]  # fmt: skip
    assert b"comments=nice%0Agreat" in request.content


def test_payload_cannot_override_key_or_action():
    h = harness(ok({"order": 1}))
    h.client.add({"service": "1", "link": "l", "quantity": "10", "action": "balance", "key": "x"})
    assert h.panel.forms[0]["action"] == "add"
    assert h.panel.forms[0]["key"] == KEY


def test_timeouts_reach_the_transport():
    h = harness(ok({"balance": "1", "currency": "USD"}), connect_timeout=3.0, read_timeout=42.0)
    h.client.balance()
    timeout = h.panel.requests[0].extensions["timeout"]
    assert timeout["connect"] == 3.0
    assert timeout["read"] == 42.0


# --- answer shapes of every call ------------------------------------------------------


def test_services_with_numbers_as_strings():
    h = harness(ok(SERVICES))
    services = h.client.services()
    assert len(services) == len(SERVICES)
    assert services[0] == Service(
        service="1001", name="Instagram Followers [Real, 30-day refill]", type="Default",
        category="Instagram Followers", rate=Decimal("0.90"), min=10, max=100000,
        refill=True, cancel=True,
    )  # fmt: skip
    assert services[3].rate == Decimal("0.015")
    assert h.panel.forms[0] == {"key": KEY, "action": "services"}


def test_services_with_numbers_as_numbers_and_every_flag_spelling():
    body = (
        '[{"service": 1, "name": "A", "type": "Default", "category": "C", "rate": 0.1,'
        ' "min": 10, "max": 1000.0, "refill": 1, "cancel": "0"},'
        ' {"service": "2", "name": "B", "type": "Package", "category": "C", "rate": 15,'
        ' "min": "1", "max": "1", "refill": "true", "cancel": "1"},'
        ' {"service": 3, "name": "D", "rate": "1.5", "min": 1, "max": 9,'
        ' "refill": "false", "cancel": 0},'
        ' {"service": 4, "name": "E", "type": "Poll", "category": null, "rate": "2",'
        ' "min": 1, "max": 9, "refill": false, "cancel": true}]'
    )
    h = harness(raw(body, content_type="application/json"))
    a, b, c, d = h.client.services()
    assert (a.service, a.rate, a.min, a.max, a.refill, a.cancel) == ("1", Decimal("0.1"), 10, 1000, True, False)
    assert str(a.rate) == "0.1"  # exact: never went through float
    assert (b.service, b.rate, b.refill, b.cancel) == ("2", Decimal("15"), True, True)
    assert (c.type, c.category, c.refill, c.cancel) == ("Default", "", False, False)
    assert (d.category, d.refill, d.cancel) == ("", False, True)


@pytest.mark.parametrize("body", ['{"balance": "100.84292", "currency": "USD"}',
                                  '{"balance": 100.84292, "currency": "USD"}'])
def test_balance(body):
    h = harness(raw(body, content_type="application/json"))
    assert h.client.balance() == Balance(amount=Decimal("100.84292"), currency="USD")


def test_json_is_read_whatever_the_content_type_says():
    h = harness(raw('\ufeff{"order": 1}\n', 200, "text/html; charset=UTF-8"))
    assert h.client.add({"service": "1", "link": "l", "quantity": "10"}) == AddResult(order="1")


def test_an_error_in_one_chunk_stops_chunks_not_yet_sent():
    def handler(form: dict[str, str]) -> httpx.Response:
        return ok({"error": "Invalid API key"})

    h = harness(handler=handler, max_parallel=1)
    with pytest.raises(AuthError):
        h.client.statuses([str(i) for i in range(300)])
    assert h.client.requests_sent == 1


@pytest.mark.parametrize("order", [23501, "23501", " 23501 "])
def test_add_returns_the_order_id_as_text(order):
    h = harness(ok({"order": order}))
    assert h.client.add({"service": "1", "link": "l", "quantity": "100"}) == AddResult(order="23501")


@pytest.mark.parametrize("entry", [
    {"charge": "0.27819", "start_count": "3572", "status": "Partial", "remains": "157", "currency": "USD"},
    {"charge": 0.27819, "start_count": 3572, "status": "Partial", "remains": 157, "currency": "USD"},
])  # fmt: skip
def test_status_single(entry):
    h = harness(ok(entry))
    assert h.client.status("42") == OrderStatus(
        order="42", status="Partial", charge=Decimal("0.27819"), currency="USD",
        start_count=3572, remains=157,
    )  # fmt: skip
    assert h.panel.forms[0] == {"key": KEY, "action": "status", "order": "42"}


def test_status_single_with_blank_fields_and_negative_remains():
    h = harness(ok({"charge": None, "start_count": "", "status": "Pending", "remains": "-5"}))
    assert h.client.status("1") == OrderStatus(order="1", status="Pending", remains=-5)


def test_status_single_error_is_the_orders_error():
    h = harness(ok({"error": "Incorrect order ID"}))
    assert h.client.status("9") == OrderStatus(order="9", error="Incorrect order ID")


def test_statuses_bulk_with_per_item_errors_and_missing_ids():
    h = harness(ok({
        "1": {"charge": "0.27819", "start_count": "3572", "status": "Partial", "remains": "157", "currency": "USD"},
        "10": {"error": "Incorrect order ID"},
        "100": {"charge": 1.5, "start_count": 0, "status": "In progress", "remains": 10, "currency": "USD"},
    }))  # fmt: skip
    result = h.client.statuses(["1", "10", 100, "7"])
    assert h.panel.forms[0]["orders"] == "1,10,100,7"
    assert result == {
        "1": OrderStatus(order="1", status="Partial", charge=Decimal("0.27819"), currency="USD",
                         start_count=3572, remains=157),
        "10": OrderStatus(order="10", error="Incorrect order ID"),
        "100": OrderStatus(order="100", status="In progress", charge=Decimal("1.5"),
                           currency="USD", start_count=0, remains=10),
        "7": OrderStatus(order="7", error="no answer for this order from the panel"),
    }  # fmt: skip


def test_statuses_uses_the_multi_form_for_one_id_and_accepts_an_empty_list():
    h = harness(ok([]))
    assert h.client.statuses(["5"]) == {"5": OrderStatus(order="5", error=answers.NO_ANSWER)}
    assert h.panel.forms[0] == {"key": KEY, "action": "status", "orders": "5"}


def test_no_ids_no_requests():
    h = harness()
    assert h.client.statuses([]) == {}
    assert h.client.refills([]) == []
    assert h.client.cancel([]) == []
    assert h.client.refill_statuses([]) == {}
    assert h.client.requests_sent == 0


@pytest.mark.parametrize("refill", ["1", 1])
def test_refill_single(refill):
    h = harness(ok({"refill": refill}))
    assert h.client.refill("23501") == RefillResult(order="23501", refill="1")
    assert h.panel.forms[0] == {"key": KEY, "action": "refill", "order": "23501"}


def test_refill_single_refused():
    h = harness(ok({"error": "Refill is disabled for this service"}, status=422))
    assert h.client.refill("5") == RefillResult(order="5", error="Refill is disabled for this service")


def test_refills_bulk_with_per_item_errors():
    h = harness(ok([
        {"order": 1, "refill": 1},
        {"order": "2", "refill": "2"},
        {"order": 3, "refill": {"error": "Incorrect order ID"}},
    ]))  # fmt: skip
    assert h.client.refills(["1", "2", "3", "4"]) == [
        RefillResult(order="1", refill="1"),
        RefillResult(order="2", refill="2"),
        RefillResult(order="3", error="Incorrect order ID"),
        RefillResult(order="4", error="no answer for this order from the panel"),
    ]
    assert h.panel.forms[0] == {"key": KEY, "action": "refill", "orders": "1,2,3,4"}


def test_refills_bulk_top_level_error_applies_to_every_order():
    h = harness(ok({"error": "Incorrect request"}))
    assert h.client.refills(["1", "2"]) == [
        RefillResult(order="1", error="Incorrect request"),
        RefillResult(order="2", error="Incorrect request"),
    ]


@pytest.mark.parametrize("status", ["Completed", {"error": "Refill not found"}])
def test_refill_status_single(status):
    h = harness(ok({"status": status}))
    result = h.client.refill_status("77")
    if isinstance(status, str):
        assert result == RefillStatus(refill="77", status="Completed")
    else:
        assert result == RefillStatus(refill="77", error="Refill not found")
    assert h.panel.forms[0] == {"key": KEY, "action": "refill_status", "refill": "77"}


def test_refill_statuses_bulk_with_per_item_errors():
    h = harness(ok([
        {"refill": 1, "status": "Completed"},
        {"refill": "2", "status": "Rejected"},
        {"refill": 3, "status": {"error": "Refill not found"}},
    ]))  # fmt: skip
    assert h.client.refill_statuses(["1", "2", "3", "4"]) == {
        "1": RefillStatus(refill="1", status="Completed"),
        "2": RefillStatus(refill="2", status="Rejected"),
        "3": RefillStatus(refill="3", error="Refill not found"),
        "4": RefillStatus(refill="4", error="no answer for this refill from the panel"),
    }
    assert h.panel.forms[0] == {"key": KEY, "action": "refill_status", "refills": "1,2,3,4"}


def test_cancel_with_per_item_errors_uses_orders_even_for_one():
    h = harness(ok([{"order": 9, "cancel": {"error": "Incorrect order ID"}}, {"order": "2", "cancel": 1}]))
    assert h.client.cancel(["2", "9"]) == [
        CancelResult(order="2", cancel="1"),
        CancelResult(order="9", error="Incorrect order ID"),
    ]
    h = harness(ok([{"order": 2, "cancel": 5}]))
    assert h.client.cancel(["2"]) == [CancelResult(order="2", cancel="5")]
    assert h.panel.forms[0] == {"key": KEY, "action": "cancel", "orders": "2"}


# --- bulk splitting -------------------------------------------------------------------


def _status_handler(form: dict[str, str]) -> httpx.Response:
    ids = form["orders"].split(",")
    return ok({i: {"status": "Completed", "charge": "0.5", "remains": "0", "start_count": "1",
                   "currency": "USD"} for i in ids})  # fmt: skip


def test_250_ids_cost_exactly_3_requests_and_results_merge():
    h = harness(handler=_status_handler)
    ids = [str(1000 + i) for i in range(250)]
    result = h.client.statuses(ids)
    assert h.client.requests_sent == 3
    sizes = sorted(len(f["orders"].split(",")) for f in h.panel.forms)
    assert sizes == [50, 100, 100]
    assert list(result) == ids
    assert all(r.status == "Completed" and r.charge == Decimal("0.5") for r in result.values())


def test_250_refills_cancels_and_refill_statuses_in_3_requests_each_in_order():
    def handler(form: dict[str, str]) -> httpx.Response:
        if form["action"] == "refill_status":
            return ok([{"refill": i, "status": "Pending"} for i in form["refills"].split(",")])
        field = form["action"]
        return ok([{"order": i, field: int(i) + 1} for i in form["orders"].split(",")])

    h = harness(handler=handler)
    ids = [str(i) for i in range(1, 251)]
    refills = h.client.refills(ids)
    assert [r.order for r in refills] == ids
    assert all(r.refill == str(int(r.order) + 1) for r in refills)
    cancels = h.client.cancel(ids)
    assert [c.order for c in cancels] == ids
    assert list(h.client.refill_statuses(ids)) == ids
    assert h.client.requests_sent == 9


def test_duplicate_ids_are_asked_once():
    h = harness(handler=_status_handler)
    assert list(h.client.statuses(["1", "2", "1", 2])) == ["1", "2"]
    assert h.panel.forms[0]["orders"] == "1,2"


def test_chunks_run_concurrently_at_most_max_parallel():
    in_flight, peak = [0], [0]
    lock = threading.Lock()
    both_in = threading.Barrier(2, timeout=10)

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        both_in.wait()  # returns only when two chunks are in flight together
        with lock:
            in_flight[0] -= 1
        return _status_handler({k: v[0] for k, v in parse_qs(request.content.decode()).items()})

    client = PanelClient(URL, KEY, transport=httpx.MockTransport(handler), max_parallel=2)
    result = client.statuses([str(i) for i in range(400)])
    assert len(result) == 400
    assert client.requests_sent == 4
    assert peak[0] == 2


def test_add_is_thread_safe_and_counts_every_request():
    counter = iter(range(10_000, 20_000))
    h = harness(handler=lambda form: ok({"order": next(counter)}))
    results: list[AddResult] = []
    lock = threading.Lock()

    def place(n: int) -> None:
        for i in range(n):
            r = h.client.add({"service": "1", "link": f"l{i}", "quantity": "10"})
            with lock:
                results.append(r)

    threads = [threading.Thread(target=place, args=(25,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert h.client.requests_sent == 200
    assert len({r.order for r in results}) == 200


# --- errors ---------------------------------------------------------------------------


def test_top_level_error_on_a_read_only_call_is_a_panel_error():
    h = harness(ok({"error": "Incorrect request"}))
    with pytest.raises(PanelError) as err:
        h.client.balance()
    assert str(err.value) == (
        f"The panel refused the balance request: Incorrect request. Check that the panel URL "
        f"({URL}) is its API v2 endpoint and your account there is active, then rerun."
    )
    assert type(err.value) is PanelError


@pytest.mark.parametrize("status", [200, 400, 422])
def test_add_refused_by_the_panel_with_200_or_4xx(status):
    h = harness(ok({"error": "Quantity less than minimal 10"}, status=status))
    assert h.client.add({"service": "1", "link": "l", "quantity": "5"}) == AddResult(
        error="Quantity less than minimal 10"
    )


@pytest.mark.parametrize(("text", "status"), [
    ("Invalid API key", 200), ("Incorrect API key", 401), ("error: INVALID api KEY given", 422),
])  # fmt: skip
def test_auth_errors(text, status):
    for call in ("services", "add", "refills", "status"):
        h = harness(ok({"error": text}, status=status))
        with pytest.raises(AuthError) as err:
            if call == "add":
                h.client.add({"service": "1", "link": "l", "quantity": "10"})
            elif call == "refills":
                h.client.refills(["1"])
            elif call == "status":
                h.client.status("1")
            else:
                h.client.services()
        assert str(err.value) == (
            f"The panel refused the API key ({text}). "
            "Check BULKORDERS_API_KEY or the key of your panel profile."
        )
        assert len(h.panel.forms) == 1


@pytest.mark.parametrize("text", ["Not enough funds on balance", "neworder.error.not_enough_funds"])
def test_funds_errors(text):
    h = harness(ok({"error": text}))
    with pytest.raises(FundsError) as err:
        h.client.add({"service": "1", "link": "l", "quantity": "10"})
    assert str(err.value) == (
        f"The panel says the balance is too low ({text}). Top up the balance on the panel, then rerun."
    )


FIREWALL = (
    f"The panel's firewall (a Cloudflare-style challenge page) blocks API calls to {URL}: "
    "{action} never reached the panel. Nothing was placed by the blocked requests. Ask the "
    "panel's support to let API calls to its /api/v2 address through the firewall (no "
    "browser challenge for API requests, or allow-list this machine's IP address), then rerun."
)


@pytest.mark.parametrize("call", ["services", "add", "cancel"])
def test_a_persistent_firewall_challenge_stops_with_what_to_ask_the_panel(call):
    h = harness(*[raw(CLOUDFLARE, 503)] * 5)
    with pytest.raises(PanelError) as err:
        if call == "add":
            h.client.add({"service": "1", "link": "l", "quantity": "10"})
        elif call == "cancel":
            h.client.cancel(["1"])
        else:
            h.client.services()
    assert type(err.value) is PanelError and err.value.exit_code == 3
    assert str(err.value) == FIREWALL.format(action=call)
    assert len(h.panel.forms) == 5  # retried like a 429: the panel never saw them
    assert h.sleeps == [0.5, 1.0, 2.0, 4.0]


@pytest.mark.parametrize("reply", [
    raw(CLOUDFLARE, 403),
    raw("<html><head><title>Attention Required! | Cloudflare</title></head></html>", 403),
    httpx.Response(503, text="<html>whatever</html>", headers={"cf-mitigated": "challenge"}),
])  # fmt: skip
def test_a_challenge_page_is_unsent_and_retried_even_for_add(reply):
    h = harness(reply, ok({"order": 77}))
    assert h.client.add({"service": "1", "link": "l", "quantity": "10"}) == AddResult(order="77")
    assert h.panel.actions == ["add", "add"]
    assert h.sleeps == [0.5]


def test_proxy_502_page():
    h = harness(*[raw(NGINX_502, 502)] * 5)
    with pytest.raises(BadAnswer) as err:
        h.client.balance()
    assert 'HTTP 502 and a web page instead of JSON: "502 Bad Gateway: nginx/1.18.0 (Ubuntu)"' in str(err.value)


def test_long_pages_are_cut_short():
    page = "<html><body>" + "<p>word</p>" * 500 + "</body></html>"
    excerpt = answers.page_excerpt(page)
    assert len(excerpt) == 120 and excerpt.endswith("…")


def test_bad_json_is_a_bad_answer():
    h = harness(*[raw('{"balance": "1", ', 200, "application/json")] * 5)
    with pytest.raises(BadAnswer) as err:
        h.client.balance()
    assert 'HTTP 200 and text instead of JSON: "{"balance": "1","' in str(err.value)


def test_empty_body_is_a_bad_answer():
    h = harness(*[raw("", 200)] * 5)
    with pytest.raises(BadAnswer, match="HTTP 200 and an empty body instead of JSON"):
        h.client.balance()


@pytest.mark.parametrize(("call", "doc", "what"), [
    ("services", 5, "5 is not a list"),
    ("balance", {"balance": "abc", "currency": "USD"},
     'at $.balance, "abc" is not a decimal number (text may group thousands: 2,500.00000 or 1 234,50)'),
    ("balance", {"balance": "1,234", "currency": "USD"},
     'balance "1,234" is ambiguous: the comma may group thousands or be the decimal point; ask the '
     "panel to send the amount with a decimal point"),
    ("balance", {"currency": "USD"}, 'no "balance" in {"currency": "USD"}'),
    ("status", 5, "5 is not an object"),
    ("refill_status", 5, "5 is not a list"),
])  # fmt: skip
def test_schema_violations_name_the_action_and_what_was_wrong(call, doc, what):
    h = harness(ok(doc))
    with pytest.raises(BadAnswer) as err:
        if call == "status":
            h.client.statuses(["1"])
        elif call == "refill_status":
            h.client.refill_statuses(["1"])
        else:
            getattr(h.client, call)()
    assert str(err.value) == (
        f"The panel's answer to {call} is not what API v2 promises: {what}. Check that the panel "
        "URL is its API v2 endpoint (usually ending in /api/v2); --debug shows the requests."
    )
    assert len(h.panel.forms) == 1  # a wrong shape is not retried


def test_redirect_is_a_config_error_not_followed():
    h = harness(httpx.Response(301, headers={"Location": "https://www.panel.example/api/v2"}))
    with pytest.raises(ConfigError) as err:
        h.client.balance()
    assert str(err.value) == (
        f"The panel at {URL} answered balance with a redirect (HTTP 301) to "
        "https://www.panel.example/api/v2. Set the panel URL to the address it redirects to, then rerun."
    )
    assert len(h.panel.forms) == 1


# --- retries --------------------------------------------------------------------------


def test_429_with_retry_after_seconds_then_success():
    h = harness(ok({"error": "Too many requests"}, 429, **{"Retry-After": "3"}), ok({"order": 7}))
    assert h.client.add({"service": "1", "link": "l", "quantity": "10"}) == AddResult(order="7")
    assert h.sleeps == [3.0]
    assert h.client.requests_sent == 2


def test_429_with_retry_after_longer_than_the_limit_stops_at_once_saying_so():
    far = "Wed, 21 Oct 2099 07:28:00 GMT"
    h = harness(httpx.Response(429, headers={"Retry-After": far}),
                ok({"balance": "1", "currency": "USD"}), retry=RetryPolicy(retry_after_limit=100, jitter=0))
    with pytest.raises(PanelUnreachable) as err:
        h.client.balance()
    assert str(err.value).startswith(f"The panel at {URL} asks to wait ")
    assert str(err.value).endswith(
        " before balance (rate limited: HTTP 429), longer than this run waits (100 s; "
        "retry_after_limit in the config file). Rerun later, or raise the limit."
    )
    assert h.sleeps == [] and len(h.panel.forms) == 1


def test_429_with_a_long_retry_after_is_waited_for_and_said_on_stderr():
    said: list[str] = []
    h = harness(httpx.Response(429, headers={"Retry-After": "60"}), ok({"order": 3}), notify=said.append)
    h.client.progress_note = lambda: "1,234 of 5,000 placed"
    assert h.client.add({"service": "1", "link": "l", "quantity": "10"}) == AddResult(order="3")
    assert h.sleeps == [60.0]
    assert said == ["panel rate limit: waiting 60 s, 1,234 of 5,000 placed"]


def test_short_waits_are_not_said():
    said: list[str] = []
    h = harness(httpx.Response(429, headers={"Retry-After": "2"}), ok({"order": 3}), notify=said.append)
    h.client.add({"service": "1", "link": "l", "quantity": "10"})
    assert h.sleeps == [2.0] and said == []


def test_429_without_retry_after_backs_off_then_gives_up():
    h = harness(*[httpx.Response(429)] * 3, retry=RetryPolicy(attempts=3, base_delay=2.0, jitter=0))
    with pytest.raises(PanelUnreachable) as err:
        h.client.add({"service": "1", "link": "l", "quantity": "10"})
    assert str(err.value) == (
        f"Cannot reach the panel at {URL} after 3 attempts (rate limited: HTTP 429). "
        "Check your connection or the URL, then rerun."
    )
    assert h.sleeps == [2.0, 4.0]


def test_connect_error_is_retried_for_add_and_not_counted_as_sent():
    h = harness(httpx.ConnectError("[Errno 111] Connection refused"), ok({"order": 8}))
    assert h.client.add({"service": "1", "link": "l", "quantity": "10"}) == AddResult(order="8")
    assert h.client.requests_sent == 1
    assert h.sleeps == [0.5]


def test_connect_failures_exhausted_are_unreachable():
    h = harness(httpx.ConnectTimeout("timed out"), httpx.PoolTimeout("pool"),
                httpx.ConnectError("[Errno 111] Connection refused"),
                retry=RetryPolicy(attempts=3, jitter=0))  # fmt: skip
    with pytest.raises(PanelUnreachable) as err:
        h.client.cancel(["1"])
    assert str(err.value) == (
        f"Cannot reach the panel at {URL} after 3 attempts "
        "(ConnectError: [Errno 111] Connection refused). Check your connection or the URL, then rerun."
    )
    assert h.client.requests_sent == 0


def test_5xx_and_timeouts_are_retried_for_read_only_calls():
    entry = {"status": "Completed", "charge": "1", "remains": "0", "start_count": "5", "currency": "USD"}
    h = harness(raw(NGINX_502, 502), httpx.ReadTimeout("read"),
                httpx.RemoteProtocolError("Server disconnected without sending a response."),
                ok({"error": "boom"}, 500), ok({"7": entry}))  # fmt: skip
    assert h.client.statuses(["7"])["7"].status == "Completed"
    assert h.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert h.client.requests_sent == 5


def test_retry_after_is_honoured_on_5xx_for_read_only_calls():
    h = harness(httpx.Response(503, headers={"Retry-After": "7"}), ok({"balance": "2", "currency": "EUR"}))
    assert h.client.balance() == Balance(Decimal("2"), "EUR")
    assert h.sleeps == [7.0]


def test_read_timeouts_exhausted_on_a_read_only_call():
    h = harness(*[httpx.ReadTimeout("read")] * 2, retry=RetryPolicy(attempts=2, jitter=0), read_timeout=20)
    with pytest.raises(PanelUnreachable) as err:
        h.client.refill_status("1")
    assert str(err.value) == (
        f"Cannot reach the panel at {URL} after 2 attempts (no answer within 20 s (ReadTimeout)). "
        "Check your connection or the URL, then rerun."
    )


@pytest.mark.parametrize(("reply", "detail"), [
    (httpx.ReadTimeout("read"), "no answer within 60 s (ReadTimeout); the request may have reached the panel"),
    (httpx.WriteTimeout("write"), "the request could not be sent in time (WriteTimeout); the request may "
                                  "have reached the panel"),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."),
     "the connection was dropped (RemoteProtocolError); the request may have reached the panel"),
    (httpx.ReadError("[Errno 104] Connection reset by peer"),
     "ReadError: [Errno 104] Connection reset by peer; the request may have reached the panel"),
    (raw(NGINX_502, 502), 'HTTP 502 and a web page instead of JSON: "502 Bad Gateway: nginx/1.18.0 (Ubuntu)"'),
    (ok({"error": "Internal error"}, 500), "HTTP 500 with the error: Internal error"),
    (raw('{"order": ', 200, "application/json"), 'HTTP 200 and text instead of JSON: "{"order":"'),
    (ok({"status": "ok"}), "HTTP 200, an answer that is not what API v2 promises: no order id (order, "
                           'order_id, orderId or data.order) in {"status": "ok"}'),
    (ok({"order": None}), "HTTP 200, an answer that is not what API v2 promises: no order id (order, "
                          'order_id, orderId or data.order) in {"order": null}'),
])  # fmt: skip
def test_an_add_whose_answer_is_lost_is_sent_once_and_comes_back_lost(reply, detail):
    h = harness(reply, ok({"order": 99}))
    result = h.client.add({"service": "1", "link": "l", "quantity": "10"})
    assert result == AddResult(lost=True, detail=detail)
    assert h.panel.actions == ["add"]
    assert h.client.requests_sent == 1
    assert h.sleeps == []


def test_a_5xx_that_still_carries_the_order_id_is_placed():
    h = harness(ok({"order": 5}, 500))
    assert h.client.add({"service": "1", "link": "l", "quantity": "10"}) == AddResult(order="5")


def test_refill_and_cancel_answers_lost_mark_every_order_of_the_chunk():
    h = harness(httpx.ReadTimeout("read"), raw(NGINX_502, 502), ok([{"order": 1}]))
    lost = "no answer within 60 s (ReadTimeout); the request may have reached the panel"
    assert h.client.refills(["1", "2"]) == [
        RefillResult(order="1", lost=True, detail=lost), RefillResult(order="2", lost=True, detail=lost),
    ]  # fmt: skip
    page = 'HTTP 502 and a web page instead of JSON: "502 Bad Gateway: nginx/1.18.0 (Ubuntu)"'
    assert h.client.cancel(["3"]) == [CancelResult(order="3", lost=True, detail=page)]
    shape = 'unreadable answer from the panel (no "cancel"): {"order": 1}'
    assert h.client.cancel(["1"]) == [CancelResult(order="1", lost=True, detail=shape)]
    assert h.client.requests_sent == 3
    assert h.sleeps == []


def test_lost_chunk_does_not_affect_the_other_chunks():
    def handler(form: dict[str, str]) -> Reply:
        ids = form["orders"].split(",")
        if ids[0] == "100":
            return httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return ok([{"order": i, "refill": i} for i in ids])

    h = harness(handler=handler)
    results = h.client.refills([str(i) for i in range(250)])
    assert h.client.requests_sent == 3
    assert [r.lost for r in results] == [False] * 100 + [True] * 100 + [False] * 50


def test_backoff_doubles_up_to_max_delay_and_jitter_adds_at_most_its_share():
    policy = RetryPolicy(attempts=6, base_delay=1.0, max_delay=5.0, jitter=0)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    jittery = RetryPolicy(base_delay=1.0, jitter=0.5)
    assert jittery.delay(1, rand=lambda: 0.0) == 1.0
    assert jittery.delay(2, rand=lambda: 1.0) == 3.0
    # Retry-After is honoured whatever its size, up to retry_after_limit (default 5 min)
    assert jittery.delay(3, retry_after=100.0) == 100.0
    assert jittery.too_long(300.0) is False and jittery.too_long(301.0) is True
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


def test_default_policy_waits_stay_within_jitter_bounds():
    h = harness(httpx.ConnectError("x"), httpx.ConnectError("x"), ok({"order": 1}), retry=None)
    h.client.add({"service": "1", "link": "l", "quantity": "10"})
    assert 0.5 <= h.sleeps[0] <= 0.625 and 1.0 <= h.sleeps[1] <= 1.25


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    now = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", now=lambda: now) == 30.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now=lambda: now) == 0.0


# --- the key never shows --------------------------------------------------------------


def test_the_key_is_in_no_message_log_line_or_repr():
    scripts: list[tuple[str, list[Reply]]] = [
        ("services", [ok({"error": f"Invalid API key {KEY}"})]),
        ("balance", [ok({"error": f"Incorrect request for {KEY}"})]),
        ("balance", [raw(f"<html><body>blocked {KEY}</body></html>", 403)] * 5),
        ("add", [raw(f"<p>{KEY}</p>", 502)]),
        ("add", [ok({"error": f"Not enough funds ({KEY})"})]),
        ("add", [ok({"error": f"Incorrect service ID {KEY}"})]),
        ("add", [httpx.ReadError(f"reset {KEY}")]),
        ("cancel", [httpx.ConnectError(f"refused {KEY}")] * 5),
        ("balance", [ok({"balance": KEY, "currency": "USD"})]),
    ]
    seen: list[str] = []
    for call, script in scripts:
        h = harness(*script)
        try:
            if call == "add":
                seen.append(repr(h.client.add({"service": "1", "link": "l", "quantity": "10"})))
            elif call == "cancel":
                seen.append(repr(h.client.cancel(["1"])))
            else:
                seen.append(repr(getattr(h.client, call)()))
        except BulkOrdersError as exc:
            seen.append(str(exc))
            seen.append(repr(exc))
        seen.extend(h.log)
        seen.append(repr(h.client))
        assert h.panel.forms[0]["key"] == KEY  # it was sent, just never shown
    assert seen and not [s for s in seen if KEY in s]
    assert any("***" in s for s in seen)


def test_debug_log_has_action_fields_status_and_time():
    h = harness(ok({"order": 1}))
    h.client.add({"service": "1001", "link": "https://x/y", "quantity": "100"})
    assert h.log[0] == "-> add key=*** service=1001 link=https://x/y quantity=100"
    assert h.log[1].startswith("<- add HTTP 200 in ") and h.log[1].endswith(" chars")
    h = harness(httpx.ConnectError("refused"), ok({"order": 1}))
    h.client.add({"service": "1", "link": "l", "quantity": "1"})
    assert h.log[1].startswith("<- add failed after ") and "ConnectError: refused" in h.log[1]
    assert h.log[2] == "retry add in 0.50 s (ConnectError: refused)"


# --- through a real loopback HTTP server ----------------------------------------------


class _Panel(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str]]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        form = {k: v[0] for k, v in parse_qs(body).items()}
        self.seen.append((self.headers["User-Agent"], form))
        if form["action"] == "add":  # the order is "created", then the connection drops
            self.close_connection = True
            self.connection.shutdown(2)
            return
        payload = json.dumps({"balance": "1000.00", "currency": "USD"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


def test_over_a_real_loopback_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Panel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/v2"
        sleeps: list[float] = []
        with PanelClient(url, KEY, sleep=sleeps.append, read_timeout=5) as client:
            assert client.balance() == Balance(Decimal("1000.00"), "USD")
            result = client.add({"service": "1001", "link": "https://x", "quantity": "10"})
        assert result.lost and "may have reached the panel" in result.detail
        assert [form["action"] for _, form in _Panel.seen] == ["balance", "add"]
        assert {agent for agent, _ in _Panel.seen} == {f"bulkorders/{__version__}"}
        assert _Panel.seen[1][1] == {"key": KEY, "action": "add", "service": "1001",
                                     "link": "https://x", "quantity": "10"}  # fmt: skip
        assert sleeps == []
    finally:
        server.shutdown()
        server.server_close()
