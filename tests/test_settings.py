"""Choosing the panel: options, environment, config file, and the refusals."""

from __future__ import annotations

import json

import pytest
from conftest import bulkorders as run

SECRET = "sk-live-7d1f2e9c0b"


def test_version_and_help():
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("bulkorders, version ")
    result = run("--help")
    assert result.exit_code == 0
    for option in ("--panel", "--config", "--ledger", "--json", "--debug"):
        assert option in result.stdout


def test_no_panel_configured_says_the_three_ways():
    result = run("balance")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: No panel configured. Set one of:\n")
    assert "--panel NAME|URL|sandbox on the command line" in result.stderr
    assert "the BULKORDERS_PANEL environment variable" in result.stderr
    assert 'panel = "NAME" with a [panels.NAME] profile in ' in result.stderr
    assert "Traceback" not in result.stderr


def test_plain_http_refused_except_loopback():
    result = run("--panel", "http://panel.example/api/v2", "balance", env={"BULKORDERS_API_KEY": SECRET})
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: Refusing http://panel.example/api/v2: plain http:// would send your API key "
        "unencrypted. Use the panel's https:// URL (http:// is allowed only for 127.0.0.1/localhost).\n"
    )


def test_url_panel_without_key_names_the_variable():
    result = run("--panel", "https://panel.example/api/v2", "balance")
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: No API key for https://panel.example/api/v2: set the BULKORDERS_API_KEY "
        "environment variable.\n"
    )


def test_profile_key_env_missing(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[panels.main]\nurl = "https://panel.example/api/v2"\nkey_env = "MAIN_KEY"\n')
    result = run("--config", str(config), "--panel", "main", "balance")
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: No API key for panel main: set the MAIN_KEY environment variable (named by "
        f"key_env in {config}), or BULKORDERS_API_KEY.\n"
    )


def test_unknown_profile_lists_known_ones(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[panels.main]\nurl = "https://a.example/api/v2"\nkey = "x"\n')
    result = run("--config", str(config), "--panel", "other", "balance")
    assert result.exit_code == 3
    assert 'Unknown panel "other": no [panels.other] in' in result.stderr
    assert "(profiles there: main)" in result.stderr


def test_panel_from_environment_and_config_default(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('panel = "sandbox"\n')
    result = run("--config", str(config), "--json", "balance")
    assert result.exit_code == 0, result.output
    assert '"currency": "USD"' in result.stdout
    result = run("--json", "balance", env={"BULKORDERS_PANEL": "sandbox"})
    assert result.exit_code == 0, result.output


def test_bad_config_file_is_one_clear_message(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("panels = [\n")
    result = run("--config", str(config), "balance")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: Config file {config} is not valid TOML:")
    assert "Traceback" not in result.stderr


def test_explicit_missing_config_file(tmp_path):
    result = run("--config", str(tmp_path / "nope.toml"), "balance")
    assert result.exit_code == 3
    assert result.stderr == f"Error: Config file {tmp_path / 'nope.toml'} does not exist.\n"


def test_key_never_in_output_even_on_failure(tmp_path):
    # a loopback URL where nothing listens: the client fails, and must not echo the key
    result = run("--debug", "--panel", "http://127.0.0.1:9/api/v2", "balance",
                 env={"BULKORDERS_API_KEY": SECRET})
    assert result.exit_code == 3
    assert SECRET not in result.output
    assert SECRET not in result.stderr


def test_profile_name_without_a_config_file_says_there_is_none(tmp_path, isolated_user_dirs):
    result = run("--panel", "main", "balance")
    assert result.exit_code == 3
    path = isolated_user_dirs / "config" / "bulkorders" / "config.toml"
    assert result.stderr == (
        f'Error: Unknown panel "main": there is no config file at {path} to define it. Create it '
        "with a [panels.main] profile (url, key_env), or use a URL or sandbox.\n"
    )


def test_one_panel_under_several_names_is_one_identity(tmp_path):
    from bulkorders.settings import load_settings, normalise_url

    assert normalise_url("https://Panel.Example:443/api/v2/") == "https://panel.example/api/v2"
    assert normalise_url("http://localhost:8000/api/v2") == "http://127.0.0.1:8000/api/v2"
    assert normalise_url("https://panel.example:8443/api/v2") == "https://panel.example:8443/api/v2"
    config = tmp_path / "config.toml"
    config.write_text('[panels.prod]\nurl = "https://PANEL.example/api/v2/"\nkey = "k"\n')
    by_profile = load_settings(panel="prod", config=config)
    by_url = load_settings(panel="https://panel.example/api/v2", config=config)
    assert by_profile.panel().identity == by_url.panel_identity() == "https://panel.example/api/v2"
    assert by_profile.panel_identity() == "https://panel.example/api/v2"
    assert load_settings(panel="nope", config=config).panel_identity() == "nope"


def test_a_profile_and_the_url_of_one_panel_share_campaigns(tmp_path):
    """Placed through a profile, then through the panel's own name: nothing placed twice."""
    import csv

    config = tmp_path / "config.toml"
    config.write_text('[panels.test]\nurl = "sandbox"\n')
    sheet = tmp_path / "week.csv"
    with sheet.open("w", newline="") as fh:
        csv.writer(fh).writerows([["link", "service", "quantity"], ["https://x.test/a", "1002", "100"]])
    first = run("--config", str(config), "--panel", "test", "submit", "--yes", str(sheet))
    assert first.exit_code == 0, first.output
    again = run("--config", str(config), "--panel", "sandbox", "submit", "--yes", str(sheet))
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("Placed no new order.")


def test_profile_options_of_a_real_panel(tmp_path):
    from bulkorders.settings import PanelOptions, load_settings

    config = tmp_path / "config.toml"
    config.write_text(
        '[panels.shop]\nurl = "https://shop.example/api/v2"\nkey = "k"\ncurrency = "eur"\n'
        'send_quantity = false\nmax_rate = { add = "60/min", status = "20/2s" }\nretry_after_limit = 90\n'
        '[panels.plain]\nurl = "https://plain.example/api/v2"\nkey = "k"\nmax_rate = "5/2"\n'
    )
    shop = load_settings(panel="shop", config=config).panel()
    assert shop.options == PanelOptions(currency="EUR", send_quantity=False, retry_after_limit=90.0,
                                        max_rate={"add": (60, 60.0), "status": (20, 2.0)})  # fmt: skip
    plain = load_settings(panel="plain", config=config).panel()
    assert plain.options == PanelOptions(max_rate={"*": (5, 2.0)})


@pytest.mark.parametrize(("line", "message"), [
    ('send_quantity = "no"', "send_quantity must be true or false."),
    ("currency = 5", 'currency must be a currency code such as "USD".'),
    ('max_rate = "fast"', "max_rate must look like \"60/min\", \"20/2s\" or {add = \"60/min\", status = "
                          "\"120/min\"} (got 'fast')."),
    ('retry_after_limit = "long"', "retry_after_limit must be a number of seconds (300 is 5 minutes)."),
])  # fmt: skip
def test_bad_profile_options_say_the_fix(tmp_path, line, message):
    config = tmp_path / "config.toml"
    config.write_text(f'[panels.shop]\nurl = "https://shop.example/api/v2"\nkey = "k"\n{line}\n')
    result = run("--config", str(config), "--panel", "shop", "balance")
    assert result.exit_code == 3
    assert result.stderr == f"Error: [panels.shop] in {config}: {message}\n"


def test_the_in_process_sandbox_speaks_the_dialect_of_its_profile(tmp_path, isolated_user_dirs):
    config = tmp_path / "config.toml"
    config.write_text('[panels.sandbox]\ndialect = "php"\n')
    result = run("--config", str(config), "--panel", "sandbox", "--json", "balance")
    assert result.exit_code == 0, result.output
    # the php dialect writes "1,000.00000" (the clean sandbox "1000.00"): read exactly, shown as money
    assert json.loads(result.stdout) == {"balance": "1000.00", "currency": "USD"}
    shown = run("--config", str(config), "--panel", "sandbox", "balance")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout == "1000.00 USD\n"  # not the panel's raw 1000.00000


def test_timeouts_inside_a_profile_are_honoured(tmp_path):
    """`[panels.NAME]` may set its own read_timeout/connect_timeout (the README shows them
    there); they win over the top-level ones. A loopback panel that never answers shows it."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections are accepted by the kernel, and never answered
    port = silent.getsockname()[1]
    config = tmp_path / "config.toml"
    config.write_text(
        "read_timeout = 60\n"
        f'[panels.slow]\nurl = "http://127.0.0.1:{port}/api/v2"\nkey = "{SECRET}"\n'
        "read_timeout = 0.2\nconnect_timeout = 0.5\n"
    )
    try:
        result = run("--config", str(config), "--panel", "slow", "balance")
    finally:
        silent.close()
    assert result.exit_code == 3
    assert "no answer within 0.2 s (ReadTimeout)" in result.stderr
    assert SECRET not in result.output


def test_a_profile_timeout_must_be_a_positive_number(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[panels.main]\nurl = "sandbox"\nread_timeout = "soon"\n')
    result = run("--config", str(config), "--panel", "main", "balance")
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: {config}: read_timeout in [panels.main] must be a positive number of seconds.\n"
    )


def test_request_deadline_from_the_config_file_reaches_the_client(tmp_path):
    from bulkorders.panel import open_client
    from bulkorders.settings import load_settings

    config = tmp_path / "config.toml"
    config.write_text("read_timeout = 30\n")
    with open_client(load_settings(panel="sandbox", config=config)) as default:
        assert default._deadline == 60  # twice the read timeout
    config.write_text("read_timeout = 30\nrequest_deadline = 5\n")
    with open_client(load_settings(panel="sandbox", config=config)) as configured:
        assert configured._deadline == 5
    config.write_text("request_deadline = 5\n[panels.sandbox]\nrequest_deadline = 7\n")
    with open_client(load_settings(panel="sandbox", config=config)) as in_profile:
        assert in_profile._deadline == 7  # a profile's own value wins, as for the timeouts
    config.write_text("request_deadline = 0\n")
    result = run("--config", str(config), "--panel", "sandbox", "balance")
    assert result.exit_code == 3
    assert result.stderr == f"Error: {config}: request_deadline must be a positive number of seconds.\n"
