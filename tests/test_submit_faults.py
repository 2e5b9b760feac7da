"""Placement under faults: every outcome recorded, nothing ordered twice, bounded `sending`.

Direct calls of `placement.place_rows` with a scripted, instrumented client and the real
ledger; then the whole `submit` against the sandbox with lost answers, 5xx and 429.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal

import pytest
from conftest import planned_rows

from bulkorders.errors import AuthError, ConfigError, FundsError, Interrupted, PanelError, PanelUnreachable
from bulkorders.ledger.store import Ledger
from bulkorders.models import AddResult, format_money
from bulkorders.submit.placement import Sendable, place_rows, rejection_text

CLOCK = lambda: 1_780_000_000.0  # noqa: E731 - a fixed clock: times in the ledger are stable


class ScriptedClient:
    """`add` answers by link: "ok", "lost", "error:TEXT", or an exception to raise.

    It records every call, the most requests it ever had in flight at once, and the most
    ledger rows it ever saw in `sending` while a request was in flight. With `overlap=N`,
    the first N requests wait for each other before answering: they pass only when all N
    are in flight at once (a serial placer breaks the barrier and those rows end uncertain).
    """

    def __init__(self, ledger: Ledger, campaign, script: Mapping[str, object] | None = None,
                 delay: float = 0.002, overlap: int = 0) -> None:
        self.ledger, self.campaign = ledger, campaign
        # What the requests see of the ledger: another connection, so only what is committed.
        self.view = Ledger.open(ledger.path, backups=0)
        self.script = dict(script or {})
        self.delay = delay
        self._overlap = threading.Barrier(overlap, timeout=10) if overlap else None  # timeout: no hang
        self._to_meet = overlap
        self.calls: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.max_sending = 0
        self.sent_while_not_sending: list[str] = []
        self._lock = threading.Lock()
        self._next = 5000

    def add(self, payload: Mapping[str, str]) -> AddResult:
        link = payload["link"]
        states = {r.link: r.state for r in self.view.rows(self.campaign)}
        sending = sum(1 for s in states.values() if s == "sending")
        with self._lock:
            self.calls.append(link)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.max_sending = max(self.max_sending, sending)
            if states.get(link) != "sending":
                self.sent_while_not_sending.append(link)
            self._next += 1
            order = str(self._next)
            meet, self._to_meet = self._to_meet > 0, self._to_meet - 1
        try:
            if meet:
                self._overlap.wait()
            action = self.script.get(link, "ok")
            if isinstance(action, BaseException):
                raise action  # a refusal comes at once: the bounds below rely on it
            if isinstance(action, AddResult):
                return action
            time.sleep(self.delay)  # a little latency, so that requests overlap
            if action == "ok":
                return AddResult(order=order)
            if action == "lost":
                return AddResult(lost=True, detail="read timeout")
            return AddResult(error=str(action).removeprefix("error:"))
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.fixture
def clock():
    """The `ledger` fixture's clock (tests/conftest.py)."""
    return CLOCK


def make_rows(ledger: Ledger, count: int, name: str = "camp") -> tuple[object, list[Sendable]]:
    campaign = ledger.campaign(name, "sandbox")
    payloads = [{"service": "1001", "link": f"https://x.test/{i}", "quantity": "100"}
                for i in range(count)]  # fmt: skip
    rows = ledger.sync_rows(campaign, planned_rows(payloads))
    return campaign, [Sendable(r.id, r.excel_row, r.payload, r.estimate) for r in rows]


def states(ledger: Ledger, campaign) -> Counter:
    return Counter(row.state for row in ledger.rows(campaign))


def link(i: int) -> str:
    return f"https://x.test/{i}"


def test_every_row_placed_once_with_bounded_sending(ledger):
    campaign, rows = make_rows(ledger, 60)
    client = ScriptedClient(ledger, campaign, delay=0, overlap=2)  # two in flight at once, or no pass
    tally = place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=4, clock=CLOCK)
    assert (tally.placed, tally.rejected, tally.uncertain, tally.stop) == (60, 0, 0, None)
    assert tally.spent == Decimal("5.40")
    assert sorted(client.calls) == sorted(link(i) for i in range(60))
    assert client.sent_while_not_sending == []  # intent committed before every request
    assert 1 < client.max_in_flight <= 4
    assert client.max_sending <= 4
    placed = ledger.rows(campaign)
    assert {r.state for r in placed} == {"placed"}
    assert len({r.order_id for r in placed}) == 60
    assert {(r.charge, r.currency) for r in placed} == {(Decimal("0.09"), "USD")}


def test_rejected_and_lost_answers_are_recorded(ledger):
    campaign, rows = make_rows(ledger, 6)
    script = {link(1): "error:Incorrect service ID", link(3): "lost",
              link(4): "error:=HYPERLINK(\"http://evil\")"}  # fmt: skip
    client = ScriptedClient(ledger, campaign, script)
    tally = place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=3, clock=CLOCK)
    assert (tally.placed, tally.rejected, tally.uncertain, tally.stop) == (3, 2, 1, None)
    by_link = {r.link: r for r in ledger.rows(campaign)}
    assert by_link[link(1)].state == "rejected"
    assert by_link[link(1)].error == "Incorrect service ID"
    assert by_link[link(4)].error == '=HYPERLINK("http://evil")'
    assert by_link[link(3)].state == "uncertain"
    assert by_link[link(3)].error.startswith("answer lost (read timeout): the order may or may not")


@pytest.mark.parametrize("exc", [
    FundsError("Not enough funds on balance"),
    AuthError("Invalid API key"),
    PanelUnreachable("The panel could not be reached"),
    ConfigError("The panel answered add with a redirect"),
])  # fmt: skip
def test_a_refusal_stops_sending_and_leaves_the_rest_planned(ledger, exc):
    campaign, rows = make_rows(ledger, 40)
    # Answers take 20 ms and the refusal none, so it is recorded before any row sent after it
    # could be answered (with 2 ms, a busy machine let a fourth later row through).
    client = ScriptedClient(ledger, campaign, {link(10): exc}, delay=0.02)
    tally = place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=4, clock=CLOCK)
    assert tally.stop is exc
    counts = states(ledger, campaign)
    assert counts["sending"] == 0 and counts["uncertain"] == 0
    # Rows 0..9 were placed, row 10 refused, at most the 3 in flight with it finished.
    assert 10 <= counts["placed"] <= 13
    assert counts["placed"] + counts["planned"] == 40
    assert len(client.calls) == counts["placed"] + 1
    assert {r.state for r in ledger.rows(campaign) if r.link == link(10)} == {"planned"}


def test_not_enough_funds_as_an_error_text_also_stops(ledger):
    campaign, rows = make_rows(ledger, 20)
    client = ScriptedClient(ledger, campaign, {link(5): "error:neworder.error.not_enough_funds"})
    tally = place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=2, clock=CLOCK)
    assert isinstance(tally.stop, FundsError)
    assert tally.stop.message == "The panel says: neworder.error.not_enough_funds"
    counts = states(ledger, campaign)
    assert counts["placed"] + counts["planned"] == 20 and counts["rejected"] == 0


def test_many_lost_answers_in_a_row_stop_sending(ledger):
    campaign, rows = make_rows(ledger, 200)
    client = ScriptedClient(ledger, campaign, {link(i): "lost" for i in range(20, 200)})
    tally = place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=4, clock=CLOCK)
    assert isinstance(tally.stop, PanelError)
    assert tally.stop.message.startswith("The panel lost the answers of 5 orders in a row, so sending")
    counts = states(ledger, campaign)
    assert counts["placed"] == 20
    assert 5 <= counts["uncertain"] <= 5 + 3  # the ones in flight when it stopped
    assert counts["planned"] == 200 - counts["placed"] - counts["uncertain"]


def test_an_unexpected_failure_of_a_request_counts_as_lost(ledger):
    campaign, rows = make_rows(ledger, 3)
    client = ScriptedClient(ledger, campaign, {link(1): RuntimeError("boom")})
    tally = place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=1, clock=CLOCK)
    assert (tally.placed, tally.uncertain, tally.stop) == (2, 1, None)
    row = next(r for r in ledger.rows(campaign) if r.link == link(1))
    assert row.state == "uncertain" and "RuntimeError: boom" in row.error


class InterruptingReporter:
    """Raises KeyboardInterrupt (as Ctrl-C would) in the main thread after `after` answers."""

    def __init__(self, after: int) -> None:
        self.after, self.seen = after, 0

    def start(self, total: int, label: str) -> None:
        pass

    def advance(self, steps: int = 1, *, info: str = "") -> None:
        self.seen += steps
        if self.seen == self.after:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


def test_ctrl_c_finishes_in_flight_requests_and_records_them(ledger):
    campaign, rows = make_rows(ledger, 50)
    client = ScriptedClient(ledger, campaign, delay=0.005)
    tally = place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=4,
                       clock=CLOCK, reporter=InterruptingReporter(after=10))  # fmt: skip
    assert isinstance(tally.stop, Interrupted)
    counts = states(ledger, campaign)
    assert counts["sending"] == 0
    assert counts["placed"] == len(client.calls)  # everything sent was answered and recorded
    assert 10 <= counts["placed"] <= 14
    assert counts["planned"] == 50 - counts["placed"]
    # Resume: the rest is placed, nothing twice.
    rest = [r for r in rows if r.row_id in {x.id for x in ledger.rows(campaign) if x.state == "planned"}]
    place_rows(rest, client=client, ledger=ledger, currency="USD", concurrency=4, clock=CLOCK)
    assert states(ledger, campaign) == Counter(placed=50)
    assert sorted(client.calls) == sorted(link(i) for i in range(50))


def test_resent_row_the_panel_calls_a_duplicate_says_so(ledger):
    campaign, rows = make_rows(ledger, 2)
    client = ScriptedClient(ledger, campaign, {link(0): "lost"})
    place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=2, clock=CLOCK)
    client.script[link(0)] = ("error:You have active order with this link. Please wait until "
                              "order being completed.")  # fmt: skip
    now = {r.id: (r.state, r.run_id) for r in ledger.rows(campaign)}  # as a rerun plans it: uncertain
    resend = [Sendable(r.row_id, r.excel_row, r.payload, r.estimate, resend=True, seen=now[r.row_id])
              for r in rows if r.payload["link"] == link(0)]  # fmt: skip
    tally = place_rows(resend, client=client, ledger=ledger, currency="USD", clock=CLOCK)
    assert tally.rejected == 1
    row = next(r for r in ledger.rows(campaign) if r.link == link(0))
    assert row.state == "rejected"
    assert row.error == (
        "You have active order with this link. Please wait until order being completed. — this "
        "row's first answer was lost and it was sent again: it was most likely placed the first "
        "time (check the panel's order list for this link)."
    )


def test_rejection_text_mentions_duplicates_only_for_resent_rows():
    assert rejection_text("neworder.error.link_duplicate", resend=False) == "neworder.error.link_duplicate"
    assert "most likely placed the first time" in rejection_text("neworder.error.link_duplicate", resend=True)


@pytest.mark.parametrize("amount, text", [
    ("0.718", "0.718"), ("0.72", "0.72"), ("0.9000", "0.90"), ("12", "12.00"),
    ("1000.00", "1000.00"), ("0.0000015", "0.0000015"), ("1E+3", "1000.00"),
])  # fmt: skip
def test_amounts_are_shown_exact(amount, text):
    assert format_money(Decimal(amount)) == text


# --- the whole submit against `sandbox serve` with faults -------------------------------------


def test_lost_answers_5xx_and_429_together_never_order_twice(tmp_path):
    import csv

    from bulkorders.catalog import Catalogue
    from bulkorders.panel.client import PanelClient
    from bulkorders.panel.sandbox.panel import catalogue as sandbox_catalogue
    from bulkorders.panel.sandbox.server import Faults, SandboxServer
    from bulkorders.panel.sandbox.store import LiveSandbox
    from bulkorders.submit.pipeline import SubmitIO, SubmitOptions, submit_sheet

    links = [f"https://instagram.com/p/fault{i}" for i in range(120)]
    sheet = tmp_path / "faults.csv"
    with sheet.open("w", newline="") as fh:
        csv.writer(fh).writerows([["link", "service", "quantity"], *([l, "1001", "100"] for l in links)])
    faults = Faults(lose_answers=0.08, fail_5xx=0.08, fail_429=0.15, seed=7)
    state = tmp_path / "sandbox.jsonl"
    with SandboxServer(state, faults=faults) as server, \
            PanelClient(server.url, "fault-test-key", sleep=lambda s: None) as client, \
            Ledger.open(tmp_path / "ledger.sqlite") as ledger:  # fmt: skip
        io = SubmitIO(client=client, ledger=ledger, catalogue=Catalogue("x", 0, sandbox_catalogue()),
                      panel="faulty", confirm=lambda plan: True)  # fmt: skip
        outcome = submit_sheet(sheet, SubmitOptions(concurrency=8), io)
        for _ in range(10):  # a stop after many lost answers in a row: rerun, as a user would
            if outcome.stop is None:
                break
            outcome = submit_sheet(sheet, SubmitOptions(concurrency=8), io)
        assert outcome.stop is None
        rows = ledger.rows(ledger.find_campaign("faults", "faulty"))
    live = LiveSandbox(state)
    orders = list(live.state().orders.values())
    live.close()
    per_link = Counter(order.link for order in orders)
    assert max(per_link.values()) == 1  # nothing ordered twice
    counts = Counter(row.state for row in rows)
    assert set(counts) <= {"placed", "uncertain"} and len(rows) == 120
    assert counts["uncertain"] >= 3  # the faults did happen
    by_id = {str(order.id): order.link for order in orders}
    assert all(by_id[row.order_id] == row.link for row in rows if row.state == "placed")
    placed = {row.link for row in rows if row.state == "placed"}
    uncertain = {row.link for row in rows if row.state == "uncertain"}
    assert set(per_link) - placed <= uncertain  # created but unanswered: shown uncertain
    with (tmp_path / "faults.results.csv").open(newline="") as fh:
        out = {r["link"]: r for r in csv.DictReader(fh)}
    assert {link for link, r in out.items() if r["status"] == "uncertain"} == uncertain
    assert all(out[link]["error"].startswith("answer lost (") for link in uncertain)
    assert all(out[link]["order_id"] for link in placed)


# --- issue 10: what an answer proves, and why a run stops ---------------------------------


def test_an_answer_with_an_order_id_and_an_error_is_placed_with_the_text_kept(ledger):
    campaign, rows = make_rows(ledger, 3)
    warned = AddResult(order="901", warning="link could not be checked")
    client = ScriptedClient(ledger, campaign, {link(1): warned})
    tally = place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=1, clock=CLOCK)
    assert (tally.placed, tally.rejected, tally.uncertain, tally.stop) == (3, 0, 0, None)
    row = {r.link: r for r in ledger.rows(campaign)}[link(1)]
    assert (row.state, row.order_id, row.error) == (
        "placed", "901", "placed; the panel also said: link could not be checked")


def test_a_redirect_answered_to_add_leaves_that_row_uncertain_and_sends_nothing_more(ledger):
    campaign, rows = make_rows(ledger, 30)
    moved = ConfigError("The panel answered add with a redirect (HTTP 301) to https://new.example/api/v2.")
    lost = AddResult(lost=True, detail="HTTP 301: a redirect to https://new.example/api/v2", stop=moved)
    client = ScriptedClient(ledger, campaign, {link(5): lost}, delay=0.02)
    tally = place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=2, clock=CLOCK)
    assert tally.stop is moved
    counts = states(ledger, campaign)
    assert counts["uncertain"] == 1 and counts["sending"] == 0
    assert counts["placed"] <= 7 and counts["placed"] + counts["planned"] + 1 == 30
    row = {r.link: r for r in ledger.rows(campaign)}[link(5)]
    assert row.error.startswith("answer lost (HTTP 301: a redirect to https://new.example/api/v2)")


def test_a_funds_stop_keeps_the_panels_words_on_the_refused_row(ledger):
    campaign, rows = make_rows(ledger, 6)
    refusal = FundsError("The panel says the balance is too low (Insufficient balance).", said="Insufficient balance")
    client = ScriptedClient(ledger, campaign, {link(2): refusal})
    tally = place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=1, clock=CLOCK)
    assert tally.stop is refusal and client.calls == [link(0), link(1), link(2)]
    by_link = {r.link: r for r in ledger.rows(campaign)}
    assert (by_link[link(2)].state, by_link[link(2)].error) == ("planned", "Insufficient balance")
    assert by_link[link(3)].error is None


@pytest.mark.parametrize("text", ["Insufficient balance, please top up", "Not enough balance", "low balance"])
def test_funds_refusals_in_other_wordings_as_error_texts_also_stop(ledger, text):
    campaign, rows = make_rows(ledger, 10)
    client = ScriptedClient(ledger, campaign, {link(3): f"error:{text}"})
    tally = place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=1, clock=CLOCK)
    assert isinstance(tally.stop, FundsError) and client.calls == [link(i) for i in range(4)]
    assert states(ledger, campaign) == Counter({"placed": 3, "planned": 7})


def test_rows_another_run_claimed_first_are_left_to_it(ledger):
    """A team ledger shares a campaign's rows between runs: what another run claimed first
    is not sent again, and is counted as taken (here a second connection plays that run)."""
    campaign, rows = make_rows(ledger, 12)
    with Ledger.open(ledger.path) as other:
        assert other.mark_sending([rows[3].row_id, rows[7].row_id, rows[8].row_id], "2026-11-26T15:45:00Z") == [
            rows[3].row_id, rows[7].row_id, rows[8].row_id
        ]  # fmt: skip
        client = ScriptedClient(ledger, campaign)
        tally = place_rows(rows, client=client, ledger=ledger, currency="USD", concurrency=4, clock=CLOCK)
        assert sorted(tally.taken) == [rows[3].row_id, rows[7].row_id, rows[8].row_id]
        assert (tally.placed, tally.stop) == (9, None)
        assert sorted(client.calls) == sorted(link(i) for i in range(12) if i not in (3, 7, 8))
        assert client.sent_while_not_sending == []
        assert states(ledger, campaign) == {"placed": 9, "sending": 3}


def test_the_summary_names_the_rows_of_other_runs():
    from bulkorders.submit.outcome import Plan, RowOutcome, SubmitOutcome, summary_text

    plan = Plan("team", 6, Decimal("0.54"), None, 0, 0, 0, 0)
    rows = [RowOutcome(n, "placed") for n in range(2, 7)] + [RowOutcome(7, "sending")]
    outcome = SubmitOutcome("team", plan, rows, placed_now=2, taken=3, elsewhere=1, spent=Decimal("0.18"))
    assert summary_text(outcome) == (
        "Placed 2 orders for an estimated 0.18.\n"
        "3 rows were placed by another bulkorders run at the same time.\n"
        "1 row still being sent by another bulkorders run."
    )
    assert outcome.exit_code == 0  # the row in flight is the other run's to finish
    assert (outcome.to_dict()["placed_by_other_runs"], outcome.to_dict()["not_sent"]) == (3, 0)
