"""Validation rules, one test each, on sheets built in memory; the row schema; the mistakes golden file."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from bulkorders.catalog import Catalogue, service_from_dict
from bulkorders.models import TYPE_RULES, RowIssue, Service, Severity
from bulkorders.panel.sandbox.catalogue import SERVICES
from bulkorders.sheets import read_sheet
from bulkorders.sheets.read import Sheet, SheetRow
from bulkorders.validation.rowschema import RowSchema, row_schema
from bulkorders.validation.rules import validate_sheet

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = Catalogue("sandbox", 0.0, {str(s["service"]): service_from_dict(s) for s in SERVICES})


def sheet(*rows: dict[str, object], headers: dict[str, str] | None = None, issues=()) -> Sheet:
    """A sheet whose header is row 1 and whose data rows are 2, 3, …; `headers` renames columns."""
    names: list[str] = []
    for row in rows:
        names += [name for name in row if name not in names]
    for name in ("link", "service", "quantity"):
        if name not in names:
            names.insert(0, name)
    shown = [(headers or {}).get(name, name) for name in names]
    data = [SheetRow(2 + i, {name: row.get(name) for name in names}) for i, row in enumerate(rows)]
    return Sheet(path=Path("o.xlsx"), sheet_name="Orders", header_row=1, headers=shown,
                 columns={name: i for i, name in enumerate(names)}, rows=data, issues=list(issues))  # fmt: skip


def problems(*rows: dict[str, object], **kwargs) -> list[str]:
    report = validate_sheet(sheet(*rows, **kwargs), CATALOGUE)
    return [str(i) if i.severity is Severity.ERROR else f"warning: {i}" for i in report.issues]


LINK = "https://www.instagram.com/p/abc/"


# --- service ----------------------------------------------------------------------------


def test_a_valid_row_becomes_an_order_with_its_estimate():
    report = validate_sheet(sheet({"link": LINK, "service": 1001, "quantity": 1000}), CATALOGUE)
    assert report.issues == [] and report.invalid_rows == [] and report.ok
    (order,) = report.rows
    assert (order.row, order.service, order.link, order.quantity, order.fields) == (2, "1001", LINK, 1000, {})
    assert order.estimate == Decimal("0.9")
    assert order.payload() == {"service": "1001", "link": LINK, "quantity": "1000"}


@pytest.mark.parametrize("service", [1001, 1001.0, "1001", " 1001 "])
def test_service_id_as_number_or_text(service):
    assert validate_sheet(sheet({"link": LINK, "service": service, "quantity": 10}), CATALOGUE).rows[0].service == "1001"


def test_unknown_and_missing_service():
    assert problems({"link": LINK, "service": 9999, "quantity": 10}, {"link": LINK, "quantity": 10}) == [
        'row 2, service: "9999" is not a service of this panel (see `bulkorders services`)',
        "row 3, service: missing; give the id of a service (see `bulkorders services`)",
    ]


def test_a_service_of_a_type_bulkorders_does_not_know_is_a_warning():
    odd = Service("77", "Odd", "Brand New Type", "X", Decimal("2"), 1, 100, False, False)
    report = validate_sheet(sheet({"link": LINK, "service": 77, "quantity": 50}), Catalogue("p", 0, {"77": odd}))
    assert [str(i) for i in report.issues] == [
        'row 2, service: service 77 has the type "Brand New Type", unknown to bulkorders; only link and '
        "quantity will be sent"
    ]
    assert report.warned_rows == [2] and report.rows[0].estimate == Decimal("0.1")


# --- quantity ---------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [1000, "1000", "1,000", 1000.0, "1000.0", " 1 000 "])
def test_whole_numbers_in_every_spelling(quantity):
    assert validate_sheet(sheet({"link": LINK, "service": 1001, "quantity": quantity}), CATALOGUE).rows[0].quantity == 1000


@pytest.mark.parametrize(("quantity", "message"), [
    (1000.5, '"1000.5" is not a whole number'),
    ("1000.5", '"1000.5" is not a whole number'),
    (-5, '"-5" is negative; give a whole number of 0 or more'),
    ("abc", '"abc" is not a whole number'),
    (dt.date(2025, 3, 1), '"2025-03-01" is a date, not a whole number'),
    (dt.datetime(2025, 3, 1, 12, 30), '"2025-03-01 12:30:00" is a date, not a whole number'),
    (True, '"TRUE" is not a whole number'),
    ("10.000", '"10.000" is not a whole number (write thousands without dots, e.g. 10000)'),
])  # fmt: skip
def test_quantity_errors_name_row_and_column(quantity, message):
    assert problems({"link": LINK, "service": 1001, "quantity": quantity}, headers={"quantity": "Qty"}) == [
        f"row 2, Qty: {message}"
    ]


def test_quantity_within_min_and_max():
    assert problems({"link": LINK, "service": 1001, "quantity": 9}, {"link": LINK + "2", "service": 1002, "quantity": 50001}) == [
        "row 2, quantity: 9 is below the minimum 10 of service 1001",
        "row 3, quantity: 50001 is above the maximum 50000 of service 1002",
    ]


def test_missing_quantity_and_no_quantity_column():
    assert problems({"link": LINK, "service": 1001, "quantity": None}) == [
        "row 2, quantity: missing; service 1001 needs a quantity"
    ]
    no_column = sheet({"link": LINK, "service": 1001})
    del no_column.columns["quantity"]
    assert [str(i) for i in validate_sheet(no_column, CATALOGUE).issues] == [
        "row 2, quantity: missing; service 1001 needs a quantity (the sheet has no quantity column)"
    ]


def test_counted_types_take_the_number_of_lines():
    report = validate_sheet(sheet({"link": LINK, "service": 1007, "comments": "a\r\nb\n\nc\nd\ne  \n"}), CATALOGUE)
    (order,) = report.rows
    assert order.quantity is None and order.fields == {"comments": "a\nb\nc\nd\ne"}
    assert order.estimate == Decimal("0.06")  # 5 lines x 12.00 / 1000
    assert order.payload() == {"service": "1007", "link": LINK, "comments": "a\nb\nc\nd\ne"}


def test_counted_lines_within_min_and_max_and_a_differing_quantity_is_a_row_error():
    assert problems({"link": LINK, "service": 1007, "comments": "a\nb", "quantity": 2},
                    {"link": LINK + "x", "service": 1007, "comments": "a\nb\nc\nd\ne", "quantity": 9},
                    {"link": LINK + "y", "service": 1007, "comments": "a\nb\nc\nd\ne", "quantity": 5}) == [
        "row 2, comments: 2 lines is below the minimum 5 of service 1007",
        'row 3, quantity: "9" does not match the 5 line(s) of comments: the panel orders one per '
        "line; fix the quantity or leave it blank",
    ]  # fmt: skip


def test_package_takes_no_quantity():
    report = validate_sheet(sheet({"link": LINK, "service": 1009}, {"link": LINK + "2", "service": 1009, "quantity": 1},
                                  {"link": LINK + "3", "service": 1009, "quantity": 3}), CATALOGUE)  # fmt: skip
    assert [o.quantity for o in report.rows] == [None, None, None]
    assert report.total == Decimal("45.00")
    assert [str(i) for i in report.issues] == [
        'row 4, quantity: "3" is ignored: service 1009 (Package) is one package per order'
    ]


# --- fields by type ---------------------------------------------------------------------


def test_fields_the_type_needs_must_be_there():
    assert problems({"link": LINK, "service": 1011, "quantity": 100, "usernames": "a\nb"}) == [
        "row 2, hashtags: missing; service 1011 (Mentions with Hashtags) needs hashtags (one per line)"
    ]


def test_fields_the_type_cannot_take_are_flagged():
    assert problems({"link": LINK, "service": 1001, "quantity": 100, "comments": "hi", "username": "bob"}) == [
        "row 2, comments: service 1001 (Default) does not take comments; clear the cell or pick another service",
        "row 2, username: service 1001 (Default) does not take username; clear the cell or pick another service",
    ]


def test_type_fields_are_sent_as_text():
    report = validate_sheet(sheet(
        {"link": LINK, "service": 1010, "quantity": 100, "usernames": "ann\nbob"},
        {"link": LINK, "service": 1018, "quantity": 100, "answer_number": 2.0},
        {"link": LINK, "service": 1016, "quantity": 100, "username": 12345},
    ), CATALOGUE)  # fmt: skip
    assert [o.fields for o in report.rows] == [{"usernames": "ann\nbob"}, {"answer_number": "2"}, {"username": "12345"}]


def test_poll_answer_number_starts_at_1():
    assert problems({"link": LINK, "service": 1018, "quantity": 100, "answer_number": 0}) == [
        "row 2, answer_number: 0 is less than 1 (poll answers are numbered from 1)"
    ]


# --- drip-feed --------------------------------------------------------------------------


def test_drip_feed_total_is_quantity_times_runs():
    (order,) = validate_sheet(sheet({"link": LINK, "service": 1002, "quantity": 500, "runs": 4, "interval": 60}), CATALOGUE).rows
    assert (order.runs, order.fields) == (4, {"runs": "4", "interval": "60"})
    assert order.estimate == Decimal("0.5")  # 0.25 x 500 / 1000 x 4
    assert order.payload() == {"service": "1002", "link": LINK, "quantity": "500", "runs": "4", "interval": "60"}


def test_drip_feed_needs_both_runs_and_interval():
    assert problems({"link": LINK, "service": 1002, "quantity": 500, "runs": 3},
                    {"link": LINK + "2", "service": 1002, "quantity": 500, "interval": 3}) == [
        "row 2, interval: missing; drip-feed needs both runs and interval (minutes between runs)",
        "row 3, runs: missing; drip-feed needs both runs and interval",
    ]  # fmt: skip


def test_drip_feed_runs_at_least_2_and_interval_at_least_1():
    assert problems({"link": LINK, "service": 1002, "quantity": 500, "runs": 1, "interval": 0}) == [
        "row 2, runs: 1 is less than 2 (drip-feed needs at least 2 runs)",
        "row 2, interval: 0 is less than 1 (drip-feed needs at least 1 minute between runs)",
    ]


def test_drip_feed_is_refused_for_types_without_it():
    assert problems({"link": LINK, "service": 1010, "quantity": 100, "usernames": "a", "runs": 2, "interval": 5}) == [
        "row 2, runs: service 1010 (Mentions) does not take runs; clear the cell or pick another service",
        "row 2, interval: service 1010 (Mentions) does not take interval; clear the cell or pick another service",
    ]


# --- subscriptions ----------------------------------------------------------------------

SUB = {"service": 1020, "username": "northwind", "min": 100, "max": 200, "delay": 0}


def test_subscriptions_need_no_link():
    report = validate_sheet(sheet({**SUB, "posts": 10, "expiry": dt.date(2026, 12, 31)}), CATALOGUE)
    (order,) = report.rows
    assert report.issues == []
    assert order.payload() == {"service": "1020", "username": "northwind", "min": "100", "max": "200",
                               "delay": "0", "posts": "10", "expiry": "31/12/2026"}  # fmt: skip
    assert order.estimate == Decimal("0.6")  # 0.30 x 200 / 1000 x 10 posts


def test_subscription_fields_are_required_and_a_link_is_not_sent():
    assert problems({"service": 1020, "link": LINK, "username": "northwind"}) == [
        "row 2, min: missing; service 1020 (Subscriptions) needs min",
        "row 2, max: missing; service 1020 (Subscriptions) needs max",
        "row 2, delay: missing; service 1020 (Subscriptions) needs delay",
        'warning: row 2, link: service 1020 (Subscriptions) takes no link; it will not be sent',
    ]


def test_subscription_min_max_and_expiry():
    assert problems({**SUB, "min": 300}, {**SUB, "username": "b", "max": 20000}, {**SUB, "username": "c", "expiry": "31/02/2026"},
                    {**SUB, "username": "d", "expiry": "next week"}) == [
        "row 2, min: 300 is above max 200",
        "row 3, max: 20000 is above the maximum 10000 of service 1020",
        'row 4, expiry: "31/02/2026" is not a real date (day/month/year)',
        'row 5, expiry: "next week" is not a date; write it as day/month/year, e.g. 31/12/2025',
    ]  # fmt: skip


@pytest.mark.parametrize("expiry", ["1/2/2026", "01/02/2026", "2026-02-01", dt.datetime(2026, 2, 1)])
def test_expiry_spellings(expiry):
    assert validate_sheet(sheet({**SUB, "expiry": expiry}), CATALOGUE).rows[0].fields["expiry"] == "01/02/2026"


# --- web traffic ------------------------------------------------------------------------

WEB = {"link": "https://shop.example/", "service": 1021, "quantity": 1000, "country": "US"}


def test_web_traffic_codes_and_what_they_require():
    rows = [{"device": 6, "type_of_traffic": 3}, {"device": 1, "type_of_traffic": 1}, {"device": 1, "type_of_traffic": 2},
            {"device": 2, "type_of_traffic": 4}, {"device": 1}]  # fmt: skip
    assert problems(*({**WEB, "link": f"https://shop.example/{i}", **row} for i, row in enumerate(rows))) == [
        "row 2, device: 6 is more than 5 (device codes: 1 desktop, 2 Android, 3 iOS, 4 mixed mobile, 5 mixed all)",
        "row 3, google_keyword: missing; type_of_traffic 1 needs google_keyword",
        "row 4, referring_url: missing; type_of_traffic 2 needs referring_url",
        "row 5, type_of_traffic: 4 is more than 3 (type_of_traffic codes: 1 Google keyword, 2 custom referrer, 3 blank referrer)",
        "row 6, type_of_traffic: missing; service 1021 (Web Traffic) needs type_of_traffic",
    ]  # fmt: skip


def test_web_traffic_keyword_only_with_its_code():
    report = validate_sheet(sheet({**WEB, "device": 5, "type_of_traffic": 1, "google_keyword": "cold brew"},
                                  {**WEB, "link": "https://b.example/", "device": 5, "type_of_traffic": 3,
                                   "google_keyword": "x", "referring_url": "https://r.example"}), CATALOGUE)  # fmt: skip
    assert report.rows[0].fields == {"country": "US", "device": "5", "type_of_traffic": "1", "google_keyword": "cold brew"}
    assert report.rows[1].fields == {"country": "US", "device": "5", "type_of_traffic": "3"}
    assert [str(i) for i in report.issues] == [
        "row 3, google_keyword: is used only with type_of_traffic 1; it will not be sent",
        "row 3, referring_url: is used only with type_of_traffic 2; it will not be sent",
    ]


# --- links and duplicates ---------------------------------------------------------------


def test_link_rules():
    assert problems({"link": None, "service": 1001, "quantity": 10}, {"link": "https://a.example/x y", "service": 1001, "quantity": 10},
                    {"link": "instagram.com/p/x", "service": 1001, "quantity": 10}, headers={"link": "URL"}) == [
        "row 2, URL: missing; service 1001 needs a link",
        'row 3, URL: "https://a.example/x y" has spaces inside; a link has none',
        'warning: row 4, URL: "instagram.com/p/x" is not an http(s):// link; the panel may refuse it',
    ]  # fmt: skip


def test_same_link_and_service_twice_is_a_warning_naming_both_rows():
    report = validate_sheet(sheet({"link": LINK, "service": 1001, "quantity": 10}, {"link": LINK, "service": 1002, "quantity": 10},
                                  {"link": LINK.upper(), "service": 1001, "quantity": 20}), CATALOGUE)  # fmt: skip
    assert [str(i) for i in report.issues] == [
        "row 4, link: same link and service 1001 as row 2; panels refuse a second order on one link while the first is active"
    ]
    assert report.warned_rows == [4] and len(report.rows) == 3


def test_same_subscription_username_twice():
    assert problems(SUB, SUB) == [
        "warning: row 3, username: same username and service 1020 as row 2; panels refuse a second order on one "
        "link while the first is active"
    ]


# --- the report -------------------------------------------------------------------------


def test_every_problem_is_collected_and_costs_are_exact():
    report = validate_sheet(sheet(
        {"link": LINK, "service": 1001, "quantity": 1000},
        {"link": None, "service": 1001, "quantity": "abc"},
        {"link": LINK + "b", "service": 1004, "quantity": 12345},
        {"link": LINK + "c", "service": 1001, "quantity": 333},
    ), CATALOGUE)  # fmt: skip
    assert [str(i) for i in report.issues] == [
        "row 3, link: missing; service 1001 needs a link",
        'row 3, quantity: "abc" is not a whole number',
    ]
    assert report.invalid_rows == [3] and report.warned_rows == [] and report.row_count == 4
    assert report.by_service == {"1001": Decimal("1.1997"), "1004": Decimal("0.185175")}
    assert report.total == Decimal("1.384875")
    assert isinstance(report.total, Decimal)


def test_rows_with_an_order_id_are_not_checked_again():
    placed = sheet({"link": LINK, "service": 1001, "quantity": 10, "order_id": "23501"},
                   {"link": LINK + "2", "service": 1001, "quantity": 10, "order_id": None})  # fmt: skip
    report = validate_sheet(placed, CATALOGUE)
    assert report.placed_rows == [2] and [o.row for o in report.rows] == [3]


def test_reading_issues_make_their_rows_invalid():
    issue = RowIssue(2, "quantity", "the formula has no computed value")
    report = validate_sheet(sheet({"link": LINK, "service": 1001, "quantity": None}, issues=[issue]), CATALOGUE)
    assert report.issues[0] == issue and report.invalid_rows == [2] and report.rows == []


# --- the row schema ---------------------------------------------------------------------


def test_the_shipped_schema_is_valid_and_agrees_with_the_type_rules():
    schema = row_schema().schema
    jsonschema.Draft202012Validator.check_schema(schema)
    branches = {b["if"]["properties"]["type"]["const"]: b["then"] for b in schema["allOf"]
                if "const" in b["if"].get("properties", {}).get("type", {}) and "type_of_traffic" not in b["if"]["properties"]}  # fmt: skip
    assert set(branches) == set(TYPE_RULES)
    for name, rule in TYPE_RULES.items():
        required = set(rule.fields) | {name for name, needed in (("link", rule.needs_link),
                                                                ("quantity", rule.quantity == "required")) if needed}
        assert set(branches[name]["required"]) == required, name
        assert set(branches[name]["propertyNames"]["enum"]) == {"type", "service"} | required | set(rule.optional), name
    assert row_schema().discriminators == ("type", "type_of_traffic")


def test_fast_checks_agree_with_full_jsonschema_validation():
    """Per-value checks + one jsonschema run per shape give the verdict of jsonschema on every row."""
    schema = row_schema()
    rng = random.Random(7)
    values = {"link": ["https://a", "a b"], "quantity": [0, 1, 50], "runs": [1, 2], "interval": [0, 5],
              "comments": ["", "x\ny"], "username": ["bob", "b o"], "device": [0, 3, 6], "type_of_traffic": [1, 2, 3],
              "google_keyword": ["kw"], "referring_url": ["https://r"], "country": ["US"], "min": [0, 5], "max": [10],
              "delay": [0], "expiry": ["31/12/2025", "2025-12-31"], "posts": [0, 3], "usernames": ["a"]}  # fmt: skip
    types = [*TYPE_RULES, "Unknown Type"]
    for _ in range(3000):
        doc: dict[str, object] = {"type": rng.choice(types), "service": "1"}
        for name in rng.sample(sorted(values), rng.randint(0, 6)):
            doc[name] = rng.choice(values[name])
        fast_ok = not any(schema.value_problem(n, v) for n, v in doc.items()) and not schema.shape_problems(doc)
        assert fast_ok == (not schema.all_problems(doc)), doc


def test_a_schema_whose_presence_rules_check_values_is_refused():
    broken = copy.deepcopy(row_schema().schema)
    broken["allOf"].append({"if": {"properties": {"type": {"const": "Poll"}}},
                            "then": {"properties": {"answer_number": {"maximum": 9}}}})  # fmt: skip
    with pytest.raises(ValueError, match="allOf then uses \\['properties'\\]"):
        RowSchema(broken)
    broken = copy.deepcopy(row_schema().schema)
    broken["properties"]["link"]["format"] = "uri"
    with pytest.raises(ValueError, match="property link uses \\['format'\\]"):
        RowSchema(broken)


def test_a_row_the_rules_let_through_but_the_schema_refuses_is_invalid():
    schema = copy.deepcopy(row_schema().schema)
    schema["allOf"].append({"if": {"properties": {"type": {"const": "Default"}}}, "then": {"required": ["media"]}})
    report = validate_sheet(sheet({"link": LINK, "service": 1001, "quantity": 10}), CATALOGUE, schema=RowSchema(schema))
    assert [str(i) for i in report.issues] == ["row 2: does not fit the row schema: 'media' is a required property"]
    assert report.invalid_rows == [2]


# --- samples ----------------------------------------------------------------------------


def test_the_weekly_campaign_samples_are_valid_against_the_sandbox():
    for name in ("weekly-campaign.xlsx", "weekly-campaign.csv"):
        report = validate_sheet(read_sheet(ROOT / "samples" / name), CATALOGUE)
        assert report.issues == [] and len(report.rows) == 16, name
        assert report.total == Decimal("38.147")
        types = {CATALOGUE.get(o.service).type for o in report.rows}
        assert {"Default", "Custom Comments", "Package", "Subscriptions", "Web Traffic"} <= types
        assert any(o.runs for o in report.rows)


def test_the_mistakes_sample_matches_its_golden_file():
    report = validate_sheet(read_sheet(ROOT / "samples" / "weekly-campaign-mistakes.xlsx"), CATALOGUE)
    lines = [str(i) if i.severity is Severity.ERROR else f"warning: {i}" for i in report.issues]
    golden = (ROOT / "tests" / "golden" / "mistakes.txt").read_text(encoding="utf-8").splitlines()
    assert lines == golden
    assert (report.row_count, len(report.rows), len(report.invalid_rows), len(report.warned_rows)) == (24, 5, 19, 3)


def test_json_view_of_an_issue():
    report = validate_sheet(sheet({"link": LINK, "service": 1001, "quantity": "abc"}), CATALOGUE)
    assert json.loads(json.dumps(report.issues[0].to_dict())) == {
        "row": 2, "column": "quantity", "severity": "error", "message": '"abc" is not a whole number',
    }  # fmt: skip


def test_a_sheet_without_link_column_says_so_for_services_that_need_one():
    no_link = sheet({"username": "bob", "service": 1001, "quantity": 10})
    del no_link.columns["link"]
    assert [str(i) for i in validate_sheet(no_link, CATALOGUE).issues] == [
        "row 2, link: missing; service 1001 needs a link (the sheet has no link column)",
        "row 2, username: service 1001 (Default) does not take username; clear the cell or pick another service",
    ]


def test_a_row_of_a_service_whose_catalogue_entry_cannot_be_read_says_what_the_panel_sent():
    raw = 'unreadable answer from the panel (rate "1,500" is ambiguous…): {"service": 77, "rate": "1,500"}'
    catalogue = Catalogue("x", 0.0, dict(CATALOGUE.services), unreadable={"77": raw})
    report = validate_sheet(sheet({"link": LINK, "service": 77, "quantity": 100},
                                  {"link": LINK, "service": 1001, "quantity": 100}), catalogue)  # fmt: skip
    assert [str(i) for i in report.issues] == [f"row 2, service: service 77: the panel's catalogue entry cannot be read: {raw}"]
    assert [row.row for row in report.rows] == [3]  # the other rows are not held back
