"""`bulkorders ui`: every route through Starlette's TestClient, on the in-process sandbox.

Who gets in (token, session, CSRF, Host, password), the upload limits, the check page (the
sheet with each bad cell marked), confirmation, progress events, downloads read back with
openpyxl, the campaign pages and status / refill / cancel, services, balance, the audit.
The orders the sandbox really created are counted, so "never twice" is checked on the panel.
"""

from __future__ import annotations

import json
import re
import threading
import warnings
from html import unescape
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the ui extra is not installed: pip install '.[ui]'")

import openpyxl  # noqa: E402
from conftest import FakeClock, bulkorders, no_wait, run  # noqa: E402

with warnings.catch_warnings():  # newer Starlette would rather have httpx2; httpx is what we have
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient  # noqa: E402

from bulkorders.ledger import Ledger  # noqa: E402
from bulkorders.models import format_money  # noqa: E402
from bulkorders.panel.connect import SANDBOX_STATE_FILE  # noqa: E402
from bulkorders.panel.sandbox.panel import catalogue as sandbox_catalogue  # noqa: E402
from bulkorders.panel.sandbox.store import LiveSandbox  # noqa: E402
from bulkorders.settings import data_dir, load_settings  # noqa: E402
from bulkorders.submit import SubmitOptions  # noqa: E402
from bulkorders.web import WebConfig, create_app  # noqa: E402
from bulkorders.web.jobs import Job, Result  # noqa: E402
from bulkorders.web.new_campaign import _submit  # noqa: E402
from bulkorders.web.views import row_selection  # noqa: E402
from bulkorders.web.world import World  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
GOOD = SAMPLES / "weekly-campaign.xlsx"
MISTAKES = SAMPLES / "weekly-campaign-mistakes.xlsx"
START = 1_800_000_000.0


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def config(tmp_path, fake_clock) -> WebConfig:
    settings = load_settings(panel="sandbox", ledger=tmp_path / "ledger.sqlite")
    return WebConfig(settings=settings, allowed_hosts=("testserver",), clock=fake_clock, sleep=no_wait)


def open_client(config: WebConfig) -> TestClient:
    """A browser that opened the token link (its session cookie set)."""
    client = TestClient(create_app(config))
    client.__enter__()
    opened = client.get(f"/?token={config.token}", follow_redirects=False)
    assert opened.status_code == 303
    return client


@pytest.fixture
def client(config):
    browser = open_client(config)
    yield browser
    browser.__exit__(None, None, None)


def csrf_of(client: TestClient) -> str:
    page = client.get("/new")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def hidden(page_text: str, name: str) -> str:
    return unescape(re.search(rf'name="{name}" value="([^"]*)"', page_text).group(1))


def upload(client: TestClient, path: Path, campaign: str = "", **extra):
    with path.open("rb") as fh:
        return client.post("/new", data={"csrf": csrf_of(client), "campaign": campaign, **extra},
                           files={"sheet": (path.name, fh.read())}, follow_redirects=False)  # fmt: skip


def events(client: TestClient, job_url: str) -> list[dict]:
    """Every server-sent event of a job, until it is finished."""
    found = []
    with client.stream("GET", f"{job_url}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                found.append(json.loads(line[6:]))
    assert found and found[-1]["finished"]
    return found


def place(client: TestClient, path: Path, campaign: str = "") -> tuple[str, list[dict]]:
    """Upload, confirm the plan the check page shows, follow the job to its end."""
    check = client.get(upload(client, path, campaign).headers["location"])
    started = client.post(check.url.path + "/place", data={
        "csrf": csrf_of(client), "to_place": hidden(check.text, "to_place"), "total": hidden(check.text, "total"),
    }, follow_redirects=False)  # fmt: skip
    assert started.status_code == 303 and started.headers["location"].startswith("/jobs/")
    return started.headers["location"], events(client, started.headers["location"])


def sandbox_orders() -> list:
    live = LiveSandbox(data_dir() / SANDBOX_STATE_FILE)
    try:
        return list(live.state().orders.values())
    finally:
        live.close()


def ledger_rows(config: WebConfig, name: str) -> list:
    with Ledger.open(config.settings.ledger.path) as ledger:
        return ledger.rows(ledger.find_campaign(name))


def workbook_column(content: bytes, name: str) -> dict[int, object]:
    """Excel row -> the value of column `name` of the first sheet (below the header row)."""
    sheet = openpyxl.load_workbook(BytesIO(content)).worksheets[0]
    top = next(row for row in range(1, 20) if name in [cell.value for cell in sheet[row]])
    at = [cell.value for cell in sheet[top]].index(name) + 1
    return {row: sheet.cell(row, at).value for row in range(top + 1, sheet.max_row + 1)}


class Grid(HTMLParser):
    """The check page's sheet grid: row number -> [(cell text, class, title)]."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: dict[int, list[tuple[str, str, str]]] = {}
        self._in_grid = self._in_body = False
        self._row: list[tuple[str, str, str]] | None = None
        self._cell: list | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "sheet-grid":
            self._in_grid = True
        elif self._in_grid and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self._row = []
        elif self._row is not None and tag == "td":
            self._cell = ["", attrs.get("class") or "", attrs.get("title") or ""]

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append((self._cell[0].strip(), self._cell[1], self._cell[2]))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            number = int(self._row[0][0].split()[0])
            self.rows[number] = self._row
            self._row = None
        elif tag == "table":
            self._in_grid = self._in_body = False


# --- who gets in ------------------------------------------------------------------------


def test_every_request_without_the_token_or_session_is_refused(config):
    with TestClient(create_app(config)) as stranger:
        for path in ("/", "/campaigns/1", "/new", "/services", "/balance", "/report", "/static/app.css",
                     "/jobs/x/events", f"/?token={config.token}x"):  # fmt: skip
            answer = stranger.get(path, follow_redirects=False)
            assert answer.status_code == 403, path
            assert "open the link with the token" in answer.text
        assert stranger.post("/new", data={"campaign": "x"}).status_code == 403
    assert not (data_dir() / "uploads").exists()


def test_the_token_link_opens_a_session_and_redirects_without_the_token(config):
    with TestClient(create_app(config)) as browser:
        opened = browser.get(f"/services?search=likes&token={config.token}", follow_redirects=False)
        assert opened.status_code == 303
        assert opened.headers["location"] == "/services?search=likes"
        cookie = opened.headers["set-cookie"]
        assert cookie.startswith("bulkorders_session_8765=") and "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower()
        assert browser.get("/").status_code == 200
        assert browser.get("/static/app.js").status_code == 200
        browser.cookies.clear()
        browser.cookies.set("bulkorders_session_8765", "made-up")
        assert browser.get("/").status_code == 403


def test_another_host_header_is_refused(client):
    answer = client.get("/", headers={"host": "evil.example"})
    assert answer.status_code == 400
    assert "does not answer for the host 'evil.example'" in answer.text


def test_state_changing_requests_need_the_csrf_token(client, config):
    posts = {"/new": {"campaign": "x"}, "/new/x/place": {"to_place": "1", "total": "1"},
             "/campaigns/1/confirm": {"action": "status"}, "/campaigns/1/run": {"action": "status"}}  # fmt: skip
    for path, data in posts.items():
        for token in (None, "forged"):
            form = data if token is None else {**data, "csrf": token}
            answer = client.post(path, data=form)
            assert answer.status_code == 403, path
            assert "no valid CSRF token" in answer.text
    from_elsewhere = client.post("/new", data={"csrf": csrf_of(client)}, headers={"origin": "https://evil.example"})
    assert from_elsewhere.status_code == 403
    assert "came from another site" in from_elsewhere.text
    assert not (config.settings.data_dir / "uploads").exists()
    assert client.app.state.jobs.running() == [] and sandbox_orders() == []


def test_with_a_password_the_login_page_opens_the_session_not_the_token(config):
    guarded = WebConfig(settings=config.settings, password="s3cret pass", allowed_hosts=("testserver",))
    with TestClient(create_app(guarded)) as browser:
        assert browser.get(f"/?token={guarded.token}", follow_redirects=False).status_code == 403
        assert 'type="password"' in browser.get("/login").text
        wrong = browser.post("/login", data={"password": "guess"}, follow_redirects=False)
        assert wrong.status_code == 403 and "Wrong password." in wrong.text
        right = browser.post("/login", data={"password": "s3cret pass"}, follow_redirects=False)
        assert right.status_code == 303 and right.headers["location"] == "/"
        assert browser.get("/").status_code == 200


def test_wrong_passwords_make_the_login_page_wait_and_a_right_one_opens_after_the_wait(config, fake_clock):
    guarded = WebConfig(settings=config.settings, password="s3cret pass", allowed_hosts=("testserver",),
                        clock=fake_clock)  # fmt: skip
    with TestClient(create_app(guarded)) as browser:
        for _ in range(5):
            assert browser.post("/login", data={"password": "guess"}).status_code == 403
        refused = browser.post("/login", data={"password": "s3cret pass"}, follow_redirects=False)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
        assert "Too many wrong passwords from your address: try again in 30 s." in refused.text
        assert browser.get("/").status_code == 403  # no session was opened by the refused try
        fake_clock.now += 29
        assert browser.post("/login", data={"password": "s3cret pass"}).status_code == 429
        fake_clock.now += 1
        assert browser.post("/login", data={"password": "guess"}).status_code == 403  # the sixth: 60 s now
        assert browser.post("/login", data={"password": "s3cret pass"}).headers["retry-after"] == "60"
        fake_clock.now += 60
        right = browser.post("/login", data={"password": "s3cret pass"}, follow_redirects=False)
        assert right.status_code == 303 and browser.get("/").status_code == 200
        browser.cookies.clear()
        assert browser.post("/login", data={"password": "guess"}).status_code == 403  # failures forgotten


def test_the_api_key_never_reaches_the_browser(client, config, monkeypatch):
    key = "key-Zq9/+&x"
    monkeypatch.setenv("BULKORDERS_API_KEY", key)
    job, _ = place(client, GOOD)
    seen = [client.get(job), client.get("/"), client.get("/campaigns/1"), client.get("/services"),
            client.get("/balance"), client.get("/report"), client.get("/campaigns/1/results"),
            client.get("/report/download"), client.get(upload(client, GOOD).headers["location"])]  # fmt: skip
    assert all(answer.status_code == 200 for answer in seen)
    encoded = (key, "key-Zq9%2F%2B%26x", "key-Zq9/+&amp;x", "key-Zq9/+&#38;x")
    for answer in seen:
        assert not any(form.encode() in answer.content for form in encoded)


# --- uploads ----------------------------------------------------------------------------


def test_uploads_are_size_limited(client, config):
    small = WebConfig(settings=config.settings, allowed_hosts=("testserver",), max_upload=1000)
    browser = open_client(small)
    try:
        answer = upload(browser, GOOD)
        assert answer.status_code == 413
        assert "over the" in answer.text and "limit of an upload" in answer.text
        chunked = browser.post("/new", content=iter([b"x" * 70_000] * 2),
                               headers={"content-type": "multipart/form-data; boundary=b"})  # fmt: skip
        assert chunked.status_code == 413
    finally:
        browser.__exit__(None, None, None)
    assert not (config.settings.data_dir / "uploads").exists()


def test_an_upload_must_be_a_sheet(client, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    answer = upload(client, notes)
    assert answer.status_code == 400
    assert "notes.txt is not a sheet bulkorders reads: upload an .xlsx, .xlsm or .csv file." in unescape(answer.text)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty.csv is empty." in upload(client, empty).text
    assert client.post("/new", data={"csrf": csrf_of(client)}).status_code == 400


def test_an_upload_is_kept_under_the_user_data_dir_by_campaign(client, config):
    answer = upload(client, GOOD, campaign="spring week 1")
    assert answer.status_code == 303 and answer.headers["location"] == "/new/spring-week-1"
    kept = config.settings.data_dir / "uploads" / "spring-week-1" / "weekly-campaign.xlsx"
    assert kept.read_bytes() == GOOD.read_bytes()


def test_no_page_shows_where_the_server_keeps_uploads(client, config):
    folder = str(config.settings.data_dir / "uploads")
    check = client.get(upload(client, GOOD).headers["location"])
    assert check.status_code == 200
    assert "weekly-campaign.xlsx, sheet &#34;Orders&#34; (header on row 3): 16 rows: 16 valid" in check.text
    job, seen = place(client, GOOD)
    pages = [check.text, client.get(job).text, json.dumps(seen), client.get("/campaigns/1").text]
    assert [page for page in pages if folder in page] == []


def test_a_campaign_being_placed_is_not_uploaded_over(client, config):
    release = threading.Event()
    held = Job("submit", "Placing campaign weekly-campaign", "/new/weekly-campaign")
    client.app.state.jobs.start(held, lambda job: Result(ok=release.wait(60)))
    try:
        answer = upload(client, GOOD)
        assert answer.status_code == 409
        assert "Campaign weekly-campaign is being placed right now: wait for it to finish." in answer.text
        assert upload(client, GOOD, campaign="another").status_code == 303
    finally:
        release.set()
        held.thread.join(60)
    assert not (config.settings.data_dir / "uploads" / "weekly-campaign").exists()


# --- the check page -------------------------------------------------------------------


def test_the_check_page_marks_each_bad_cell_with_its_message(client):
    check = client.get(upload(client, MISTAKES).headers["location"])
    assert check.status_code == 200
    grid = Grid(check.text)
    headers = re.findall(r"<th>([^<]*)</th>", check.text.split('id="sheet-grid"')[1].split("</thead>")[0])
    quantity = headers.index("quantity") + 1  # cell 0 is the row number
    text, classes, title = grid.rows[3][quantity]
    assert (text, classes, title) == ("abc", "bad error", '"abc" is not a whole number')
    assert grid.rows[2][quantity] == ("1000", "", "")  # a good row: nothing marked
    link = headers.index("link") + 1
    assert grid.rows[12][link][1:] == ("bad warning", '"instagram.com/p/m12/" is not an http(s):// link; '
                                                      "the panel may refuse it")  # fmt: skip
    assert 'quantity: "abc" is not a whole number' in unescape(check.text)
    page = unescape(check.text)
    assert "24 rows: 5 valid, 19 invalid, 3 with warnings" in page
    assert "Campaign weekly-campaign-mistakes: 5 orders to place, estimated 17.375 USD." in page
    assert "Balance 1000.00 USD (about 982.625 USD after)." in page
    assert "Skipped: 19 invalid." in page
    assert sandbox_orders() == []  # a check places nothing


def test_a_csv_sheet_is_checked_too(client):
    check = client.get(upload(client, SAMPLES / "weekly-campaign.csv").headers["location"])
    page = unescape(check.text)
    assert "16 rows: 16 valid, 0 invalid, 0 with warnings" in page
    assert "Campaign weekly-campaign: 16 orders to place, estimated 38.147 USD." in page


def test_confirming_places_the_plan_with_progress_events_and_results_to_download(client, config):
    job, seen = place(client, GOOD)
    last = seen[-1]
    assert (last["label"], last["done"], last["total"]) == ("Placing orders", 16, 16)
    assert last["info"].startswith("placed 16 · failed 0 · uncertain 0 · ")
    assert last["info"].endswith(" · spent 38.147 USD")
    assert last["result"]["ok"] and last["result"]["error"] is None
    assert "Placed 16 orders for an estimated 38.147 USD." in last["result"]["summary"]
    notes = [note for event in seen for note in event["notes"]]
    assert "Campaign weekly-campaign: 16 orders to place, estimated 38.147 USD." in notes[0]
    links = dict(last["result"]["links"])
    results = client.get(links["Download the results sheet"])
    assert results.status_code == 200
    assert results.headers["content-disposition"].endswith('filename="weekly-campaign.results.xlsx"')
    ids = workbook_column(results.content, "order_id")
    placed = {row.excel_row: row.order_id for row in ledger_rows(config, "weekly-campaign")}
    assert len(placed) == 16 and {str(v) for v in ids.values() if v} == set(placed.values())
    assert len(sandbox_orders()) == 16
    finished = client.get(job)
    assert "Done." in finished.text and 'data-finished="yes"' in finished.text


def test_uploading_the_sheet_again_continues_the_campaign_and_places_nothing_twice(client):
    place(client, GOOD)
    again = client.get(upload(client, GOOD).headers["location"])
    page = unescape(again.text)
    assert "Campaign weekly-campaign: 0 orders to place, estimated 0.00." in page
    assert "Skipped: 16 already placed." in page
    assert 'id="place"' not in again.text and "Nothing to place" in page
    assert len(re.findall(r'<span class="badge placed" title="already placed">#\d+</span>', again.text)) == 16
    assert len(sandbox_orders()) == 16


def test_another_sheet_of_the_same_name_is_refused_unless_its_campaign_is_named(client, config, tmp_path):
    place(client, GOOD)
    other = tmp_path / "clientB" / GOOD.name  # another client's sheet, the same file name
    other.parent.mkdir()
    book = openpyxl.load_workbook(GOOD)
    book["Orders"]["A4"] = "https://instagram.com/p/clientB-first"
    book.save(other)
    refused = client.get(upload(client, other).headers["location"])
    kept = config.settings.data_dir / "uploads" / "weekly-campaign"
    assert unescape(re.search(r'<p class="error" id="refusal">(.*?)</p>', refused.text, re.S).group(1)) == (
        "Nothing sent: campaign weekly-campaign was placed from another sheet of this name, uploaded before. "
        "Upload this sheet again with a new campaign name for a new campaign, or with the campaign name "
        "weekly-campaign to continue that one."
    )
    assert (kept / "weekly-campaign-2.xlsx").exists()
    assert 'id="place"' not in refused.text
    named = client.get(upload(client, other, campaign="weekly-campaign").headers["location"])
    assert "Campaign weekly-campaign: 1 order to place" in unescape(named.text)
    assert "Skipped: 15 already placed." in unescape(named.text)
    assert len(sandbox_orders()) == 16


def test_a_plan_that_changed_since_it_was_confirmed_places_nothing(client, config):
    check = client.get(upload(client, GOOD).headers["location"])
    started = client.post(check.url.path + "/place", data={"csrf": csrf_of(client), "to_place": "3", "total": "1.00"},
                          follow_redirects=False)  # fmt: skip
    result = events(client, started.headers["location"])[-1]["result"]
    assert not result["ok"]
    assert result["error"].startswith("Nothing placed: the plan changed since you confirmed it (now 16 order(s), "
                                      "estimated 38.147).")  # fmt: skip
    assert sandbox_orders() == []


def test_a_stopped_placement_saves_what_was_answered_and_a_rerun_places_the_rest(client, config):
    upload(client, GOOD)
    world = World(config)
    path = config.settings.data_dir / "uploads" / "weekly-campaign" / "weekly-campaign.xlsx"
    stopped = Job("submit", "t", "/new/weekly-campaign")
    stopped.stop_requested.set()  # Ctrl-C of the server, as the first order is answered
    result = _submit(stopped, world, path, SubmitOptions(campaign="weekly-campaign"), ("16", "38.147"))
    assert result.error.startswith("Interrupted: stopped sending; every answered row is saved in the ledger.")
    states = [row.state for row in ledger_rows(config, "weekly-campaign")]
    placed = states.count("placed")
    assert 1 <= placed <= 8 and states.count("planned") == 16 - placed  # at most the rows in flight
    rest = Job("submit", "t", "/new/weekly-campaign")
    total = hidden(client.get("/new/weekly-campaign").text, "total")
    assert _submit(rest, world, path, SubmitOptions(campaign="weekly-campaign"), (str(16 - placed), total)).ok
    assert len(sandbox_orders()) == 16
    assert {row.state for row in ledger_rows(config, "weekly-campaign")} == {"placed"}


def test_stopping_the_server_asks_running_jobs_to_stop_and_waits_for_them(config):
    browser = open_client(config)
    job = Job("submit", "t", "/new/x")
    browser.app.state.jobs.start(job, lambda job: Result(ok=job.stop_requested.wait(60)))
    browser.__exit__(None, None, None)  # the app's lifespan ends: what Ctrl-C of the server runs
    assert job.result is not None and job.result.ok  # it was asked, and waited for
    assert not job.thread.is_alive()


def test_the_stop_button_stops_a_placing_job_and_only_a_placing_job(client):
    placing = Job("submit", "Placing campaign x", "/new/x", stoppable=True)
    client.app.state.jobs.start(placing, lambda job: Result(ok=job.stop_requested.wait(60), summary="stopped"))
    page = client.get(f"/jobs/{placing.id}").text
    assert 'action="/jobs/%s/stop"' % placing.id in page and ">Stop placing</button>" in page
    assert client.post(f"/jobs/{placing.id}/stop", data={}).status_code == 403  # no CSRF token
    assert placing.result is None
    stopped = client.post(f"/jobs/{placing.id}/stop", data={"csrf": csrf_of(client)}, follow_redirects=False)
    assert stopped.status_code == 303 and stopped.headers["location"] == f"/jobs/{placing.id}"
    placing.thread.join(10)
    assert placing.result.ok and placing.result.summary == "stopped"
    assert "Stop placing" not in client.get(f"/jobs/{placing.id}").text  # finished: no button
    other = Job("status", "Refreshing statuses", "/campaigns/1")
    release = threading.Event()
    client.app.state.jobs.start(other, lambda job: Result(ok=release.wait(60)))
    assert "Stop placing" not in client.get(f"/jobs/{other.id}").text
    refused = client.post(f"/jobs/{other.id}/stop", data={"csrf": csrf_of(client)})
    assert refused.status_code == 409 and "cannot be stopped halfway" in refused.text
    assert not other.stop_requested.is_set()
    release.set()
    other.thread.join(10)


def test_a_finished_job_page_still_shows_how_it_ended_after_a_restart(client, config):
    job, seen = place(client, GOOD)
    before = client.get(job).text
    assert "Placed 16 orders for an estimated 38.147 USD." in before
    kept = config.settings.data_dir / "web-jobs" / f"{job.rsplit('/', 1)[1]}.json"
    assert kept.stat().st_mode & 0o777 == 0o600
    restarted = open_client(config)  # a new server: its jobs in memory are none
    try:
        after = restarted.get(job)
        assert after.status_code == 200
        assert "Placed 16 orders for an estimated 38.147 USD." in after.text and "Done." in after.text
        assert 'href="/campaigns/1/results"' in after.text and "Stop placing" not in after.text
        assert events(restarted, job)[-1]["result"]["summary"] == seen[-1]["result"]["summary"]
        unknown = restarted.get("/jobs/AAAAAAAAAAAA")
        assert unknown.status_code == 404 and "There is no such job on this server: check the address" in unknown.text
        assert restarted.get("/jobs/..%2F..%2Fledger").status_code == 404
    finally:
        restarted.__exit__(None, None, None)


# --- campaigns --------------------------------------------------------------------------


def test_the_campaigns_page_lists_rows_by_state_spend_and_last_check(client, config):
    assert "No campaign in the ledger" in client.get("/").text
    assert not config.settings.ledger.path.exists()  # looking creates no ledger
    place(client, GOOD)
    page = unescape(client.get("/").text)
    assert '<a href="/campaigns/1">weekly-campaign</a>' in page
    assert '<span class="badge placed">placed 16</span>' in page
    assert "<td>38.147 USD</td>" in page
    assert "<td>never</td>" in page
    results = config.settings.data_dir / "uploads" / "weekly-campaign" / "weekly-campaign.results.xlsx"
    assert run("--ledger", str(config.settings.ledger.path), "status", str(results)).exit_code == 0
    assert re.search(r"<td>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ</td>", client.get("/").text)


def test_a_campaign_page_is_paged_and_filtered_by_state(client, config):
    small = WebConfig(settings=config.settings, allowed_hosts=("testserver",), page_size=5, clock=config.clock)
    place(client, MISTAKES)
    browser = open_client(small)
    try:
        everything = browser.get("/campaigns/1").text
        assert "5 row(s) · page 1 of 1" in everything
        rejected = browser.get("/campaigns/1?state=rejected").text
        assert rejected.count('<span class="badge rejected">rejected</span>') == 1
        assert "1 row(s) rejected · page 1 of 1" in rejected
        placed = browser.get("/campaigns/1?state=placed&page=9").text
        assert "4 row(s) placed · page 1 of 1" in placed
        ids = {row.order_id for row in ledger_rows(config, "weekly-campaign-mistakes") if row.order_id}
        assert set(re.findall(r'<td class="order-id">(\d+)</td>', placed)) == ids
        assert re.findall(r'<td class="num">([\d.]+) USD</td>', placed) == [
            format_money(row.charge) for row in ledger_rows(config, "weekly-campaign-mistakes") if row.order_id]
    finally:
        browser.__exit__(None, None, None)
    assert "There is no campaign 7 in the ledger." in client.get("/campaigns/7").text
    assert client.get("/campaigns/7").status_code == 404


def test_refreshing_statuses_of_checked_rows_goes_through_a_confirmation(client, config, fake_clock):
    place(client, GOOD)
    fake_clock.now += 60  # every sandbox order is final a minute later
    confirm = client.post("/campaigns/1/confirm", data={"csrf": csrf_of(client), "action": "status", "row": ["5", "4"]})
    assert confirm.status_code == 200  # the sample's header is on row 3: its orders are on rows 4-19
    assert "Rows: 4-5." in confirm.text and hidden(confirm.text, "rows") == "4-5"
    with Ledger.open(config.settings.ledger.path) as ledger:
        assert {o.status for o in ledger.order_records()} == {None}  # nothing asked before the confirmation
    started = client.post("/campaigns/1/run", data={"csrf": csrf_of(client), "action": "status", "rows": "4-5"},
                          follow_redirects=False)  # fmt: skip
    result = events(client, started.headers["location"])[-1]["result"]
    assert result["ok"] and "2 checked, 2 ok" in result["summary"]
    with Ledger.open(config.settings.ledger.path) as ledger:
        statuses = {o.excel_row: o.status for o in ledger.order_records()}
    assert {row for row, status in statuses.items() if status} == {4, 5}
    sheet = client.get("/campaigns/1/results").content
    assert {row: value for row, value in workbook_column(sheet, "status").items() if value} == {
        4: statuses[4], 5: statuses[5]}  # fmt: skip


def test_cancel_shows_the_pipelines_plan_and_cancels_only_that(client, config):
    place(client, GOOD)
    confirm = client.post("/campaigns/1/confirm", data={"csrf": csrf_of(client), "action": "cancel", "row": ["4"]})
    plan = unescape(re.search(r'<pre id="plan">(.*?)</pre>', confirm.text, re.S).group(1))
    order = next(row.order_id for row in ledger_rows(config, "weekly-campaign") if row.excel_row == 4)
    assert plan == f"1 order will be cancelled:\n  row 4: order {order} (Pending)"
    assert hidden(confirm.text, "orders") == order
    stale = client.post("/campaigns/1/run", data={"csrf": csrf_of(client), "action": "cancel", "rows": "4",
                                                  "orders": "999"}, follow_redirects=False)  # fmt: skip
    assert "the orders to cancel changed since you confirmed" in events(client, stale.headers["location"])[-1][
        "result"]["error"]  # fmt: skip
    done = client.post("/campaigns/1/run", data={"csrf": csrf_of(client), "action": "cancel", "rows": "4",
                                                 "orders": order}, follow_redirects=False)  # fmt: skip
    assert events(client, done.headers["location"])[-1]["result"]["ok"]
    canceled = [o for o in sandbox_orders() if o.canceled is not None]
    assert [str(o.id) for o in canceled] == [order]


def test_refill_runs_the_refill_pipeline_on_the_checked_rows(client, fake_clock):
    place(client, GOOD)
    fake_clock.now += 60
    started = client.post("/campaigns/1/run", data={"csrf": csrf_of(client), "action": "refill", "rows": "4"},
                          follow_redirects=False)  # fmt: skip
    result = events(client, started.headers["location"])[-1]["result"]
    assert "1 row, 1 order" in result["summary"]


def test_checked_rows_become_the_rows_option_of_the_pipelines():
    assert row_selection(["7", "2", "3", "4", "9", "10", "x", "3"]) == "2-4,7,9-10"
    assert row_selection([]) is None


def test_bad_rows_are_refused_with_the_rows_parsers_message(client):
    place(client, GOOD)
    answer = client.post("/campaigns/1/run", data={"csrf": csrf_of(client), "action": "status", "rows": "4-x"})
    result = events(client, answer.url.path)[-1]["result"]
    assert not result["ok"] and "4-x" in result["error"]


def test_an_unknown_action_is_refused(client):
    place(client, GOOD)
    answer = client.post("/campaigns/1/confirm", data={"csrf": csrf_of(client), "action": "delete"})
    assert answer.status_code == 400 and "Unknown action" in answer.text


# --- services, balance, the audit ---------------------------------------------------------


def test_services_are_searched_and_filtered_by_category(client):
    every = client.get("/services").text
    assert "22 of 22 services" in every
    likes = client.get("/services?search=likes").text
    names = re.findall(r"<tr><td class=\"num\">\d+</td><td>([^<]*)</td>", likes)
    assert names and all("likes" in name.lower() for name in names)
    tiktok = client.get("/services?category=TikTok").text
    assert re.findall(r"<tr><td class=\"num\">(\d+)</td>", tiktok) == ["1005"]
    rate = sandbox_catalogue()["1005"].rate
    assert f'<td class="num">{rate}</td>' in tiktok


def test_balance_is_the_panels(client):
    assert '<p class="big" id="balance">1000.00 USD</p>' in client.get("/balance").text
    place(client, GOOD)
    assert '<p class="big" id="balance">961.853 USD</p>' in client.get("/balance").text


def test_the_audit_report_downloads_with_its_filters(client):
    assert "Nothing to report" in client.get("/report/download").text
    place(client, GOOD)
    place(client, MISTAKES)
    assert '<option>weekly-campaign</option>' in client.get("/report").text
    answer = client.get("/report/download?campaign=weekly-campaign-mistakes")
    assert answer.status_code == 200
    book = openpyxl.load_workbook(BytesIO(answer.content))
    assert book.sheetnames[:2] == ["Summary", "Orders"]
    orders = book["Orders"]
    header = [c.value for c in orders[1]]
    campaigns = {orders.cell(r, header.index("campaign") + 1).value for r in range(2, orders.max_row + 1)}
    assert campaigns == {"weekly-campaign-mistakes"}
    bad = client.get("/report/download?since=2026-02-01&until=2026-01-01")
    assert bad.status_code == 400 and "is after until" in bad.text


def test_a_bug_is_said_plainly_on_the_page(config, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("bulkorders.web.panel_pages.filter_services", broken)
    with TestClient(create_app(config), raise_server_exceptions=False) as browser:
        browser.get(f"/?token={config.token}")
        answer = browser.get("/services")
    assert answer.status_code == 500
    assert "Unexpected error: RuntimeError: boom. This is a bug in bulkorders" in answer.text


# --- the command ------------------------------------------------------------------------


def test_ui_without_the_extra_says_which_pip_command_to_run(monkeypatch):
    monkeypatch.setattr("bulkorders.web.extra.find_spec", lambda name: None if name == "uvicorn" else object())
    result = bulkorders("--panel", "sandbox", "ui", "--no-browser")
    assert result.exit_code == 2
    assert "`bulkorders ui` needs the ui extra (uvicorn missing). Install it with:" in result.stderr
    assert 'pip install "bulkorders[ui]"' in result.stderr


def test_ui_refuses_another_host_without_a_password(monkeypatch):
    result = bulkorders("--panel", "sandbox", "ui", "--host", "0.0.0.0")
    assert result.exit_code == 2
    assert "Refusing --host 0.0.0.0: other machines could reach the app. Give --password-env VAR" in result.stderr
    unset = bulkorders("--panel", "sandbox", "ui", "--host", "0.0.0.0", "--password-env", "NO_SUCH_VAR")
    assert unset.exit_code == 2
    assert "the environment variable NO_SUCH_VAR is not set or empty." in unset.stderr


def test_ui_serves_with_the_options_given(monkeypatch):
    calls = []
    monkeypatch.setattr("bulkorders.web.server.serve", lambda settings, **kw: calls.append((settings.panel_spec, kw)))
    monkeypatch.setenv("UI_PASSWORD", "pw")
    result = bulkorders("--panel", "sandbox", "ui", "--port", "9001", "--no-browser", "--host", "0.0.0.0",
                        "--password-env", "UI_PASSWORD")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [(panel, {k: v for k, v in kw.items() if k != "say"}) for panel, kw in calls] == [
        ("sandbox", {"host": "0.0.0.0", "port": 9001, "password": "pw", "open_browser": False})]  # fmt: skip


def test_ui_needs_a_panel():
    result = bulkorders("ui", "--no-browser")
    assert result.exit_code == 3
    assert "No panel configured." in result.stderr


@pytest.mark.postgres
def test_a_team_ledger_is_shown_with_its_password_masked(pg_url, fake_clock):
    from pgserver import PASSWORD

    settings = load_settings(panel="sandbox", ledger=pg_url)
    config = WebConfig(settings=settings, allowed_hosts=("testserver",), clock=fake_clock, sleep=no_wait)
    browser = open_client(config)
    try:
        masked = pg_url.replace(PASSWORD, "***")
        empty = browser.get("/")
        assert f"No campaign in the ledger ({masked}) yet." in empty.text
        place(browser, GOOD)
        pages = [empty, browser.get("/"), browser.get("/campaigns/1"), browser.get("/report")]
        answer = browser.get("/report/download")
        assert answer.status_code == 200
        cells = [str(c) for ws in openpyxl.load_workbook(BytesIO(answer.content)).worksheets
                 for row in ws.iter_rows(values_only=True) for c in row if c is not None]  # fmt: skip
        assert masked in cells
        assert all(PASSWORD not in page.text for page in pages) and all(PASSWORD not in c for c in cells)
    finally:
        browser.__exit__(None, None, None)


def test_an_unreachable_team_ledger_is_said_on_the_page_without_its_password(fake_clock):
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install bulkorders[team]")
    secret = "s3cr3t-pw"
    settings = load_settings(panel="sandbox", ledger=f"postgresql://bob@127.0.0.1:1/camp?password={secret}")
    config = WebConfig(settings=settings, allowed_hosts=("testserver",), clock=fake_clock, sleep=no_wait)
    browser = open_client(config)
    try:
        page = browser.get("/")
        assert page.status_code == 502
        assert "Cannot reach the team ledger postgresql://bob@127.0.0.1:1/camp?password=*** (" in unescape(page.text)
        assert secret not in page.text
    finally:
        browser.__exit__(None, None, None)
