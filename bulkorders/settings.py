"""Config file + environment + options -> `Settings`, and which panel to talk to.

Order of precedence for every setting: command-line option, then its environment
variable (click reads both), then the config file, then the default.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from bulkorders.errors import ConfigError
from bulkorders.ledger import LedgerLocation, is_url, mask_url

APP = "bulkorders"
SANDBOX = "sandbox"
SANDBOX_URL = "https://sandbox.invalid/api/v2"  # reached in-process, never over the network
KEY_ENV = "BULKORDERS_API_KEY"
DEFAULT_CATALOGUE_TTL = 3600.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_RETRY_AFTER_LIMIT = 300.0
_RATE = re.compile(r"^\s*([0-9]+)\s*/\s*([0-9]*\.?[0-9]*)\s*(s|sec|second|seconds|m|min|minute|minutes|h|hour)?\s*$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60,
                 "minutes": 60, "h": 3600, "hour": 3600}  # fmt: skip


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP))


@dataclass(frozen=True)
class PanelOptions:
    """How one panel's dialect differs, from its profile (README, "Real panels")."""

    currency: str | None = None  # for panels whose balance answer names none
    send_quantity: bool = True  # send quantity on packages and lists too
    retry_after_limit: float = DEFAULT_RETRY_AFTER_LIMIT  # the longest Retry-After waited for
    max_rate: dict[str, tuple[int, float]] = field(default_factory=dict)  # action|"*" -> (n, seconds)
    dialect: str | None = None  # the in-process sandbox's dialect


@dataclass(frozen=True)
class Panel:
    """The panel chosen for this run. `key` never appears in repr, logs or messages."""

    name: str  # profile name, "sandbox", or the URL itself
    url: str
    key: str = field(repr=False)
    is_sandbox: bool = False
    options: PanelOptions = field(default_factory=PanelOptions)

    @property
    def identity(self) -> str:
        """Who the panel is, for the ledger and caches: the same panel reached as a profile,
        as its URL or as `http://localhost…` is one panel, so nothing is placed twice."""
        return SANDBOX if self.is_sandbox else normalise_url(self.url)


def normalise_url(url: str) -> str:
    """https://Panel.Example:443/api/v2/ -> https://panel.example/api/v2 (localhost -> 127.0.0.1)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if host == "localhost":
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"https": 443, "http": 80}.get(scheme)
    netloc = host if port in (None, default) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{path}{query}"


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where things are and how to behave."""

    panel_spec: str | None = None
    panel_by_default: bool = False  # the panel is the config file's default `panel = …`, not --panel
    config_path: Path = field(default_factory=lambda: config_dir() / "config.toml")
    ledger: LedgerLocation = field(default_factory=lambda: default_ledger())  # a file or a URL
    data_dir: Path = field(default_factory=data_dir)
    cache_dir: Path = field(default_factory=cache_dir)
    json: bool = False
    debug: bool = False
    catalogue_ttl: float = DEFAULT_CATALOGUE_TTL
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    request_deadline: float | None = None  # seconds for a whole request; None: 2 × read_timeout
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def panel(self) -> Panel:
        """Resolve `--panel` / BULKORDERS_PANEL / the config file into a usable panel."""
        return resolve_panel(self.panel_spec, self.profiles, self.config_path)

    def panel_identity(self) -> str | None:
        """The identity of the chosen panel (see `Panel.identity`) without needing its key;
        None when no panel is chosen. For readers of the ledger, such as the report."""
        spec = self.panel_spec
        if not spec:
            return None
        if spec == SANDBOX:
            return SANDBOX
        if "://" in spec:
            return normalise_url(spec)
        profile = self.profiles.get(spec)
        url = profile.get("url") if isinstance(profile, dict) else None
        if url == SANDBOX:
            return SANDBOX
        if not isinstance(url, str) or "://" not in url:
            return spec  # not a usable profile: matches nothing in the ledger, said as given
        return normalise_url(url)


def load_settings(
    *,
    panel: str | None = None,
    config: Path | None = None,
    ledger: str | Path | None = None,
    json: bool = False,
    debug: bool = False,
) -> Settings:
    """Build the settings of one run from the options (env already folded in by click)."""
    config_path = config or config_dir() / "config.toml"
    data = _read_config(config_path, explicit=config is not None)
    profiles = data.get("panels", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{config_path}: [panels] must be a table of [panels.NAME] sections.")
    ledger_location = _ledger_location(ledger, data.get("ledger", None), config_path)
    panel_spec = panel or data.get("panel")
    chosen = profiles.get(panel_spec) if isinstance(panel_spec, str) else None

    def seconds(name: str, default: Any) -> Any:
        """A profile's own value wins over the top-level one, which wins over the default
        (a float, or None for a setting that is off unless set)."""
        value = _number(data, name, default, config_path) if name in data else default
        if isinstance(chosen, dict) and name in chosen:
            return _number(chosen, name, value, config_path, f" in [panels.{panel_spec}]")
        return value

    return Settings(
        panel_spec=panel_spec,
        panel_by_default=not panel and bool(panel_spec),
        config_path=config_path,
        ledger=ledger_location,
        json=json,
        debug=debug,
        catalogue_ttl=seconds("catalogue_ttl", DEFAULT_CATALOGUE_TTL),
        connect_timeout=seconds("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        read_timeout=seconds("read_timeout", DEFAULT_READ_TIMEOUT),
        request_deadline=seconds("request_deadline", None),
        profiles=profiles,
    )


def resolve_panel(spec: str | None, profiles: dict[str, Any], config_path: Path) -> Panel:
    """A profile name, a URL or "sandbox" -> `Panel`, refusing what is unsafe or incomplete."""
    if not spec:
        raise ConfigError(
            "No panel configured. Set one of:\n"
            "  --panel NAME|URL|sandbox on the command line,\n"
            "  the BULKORDERS_PANEL environment variable,\n"
            f'  panel = "NAME" with a [panels.NAME] profile in {config_path}.\n'
            "Try --panel sandbox to use the built-in test panel."
        )
    if spec == SANDBOX:
        own = profiles.get(SANDBOX)
        options = panel_options(SANDBOX, own, config_path) if isinstance(own, dict) else PanelOptions()
        key = os.environ.get(KEY_ENV) or "sandbox"
        return Panel(name=SANDBOX, url=SANDBOX_URL, key=key, is_sandbox=True, options=options)
    if "://" in spec:
        _check_url(spec)
        key = os.environ.get(KEY_ENV)
        if not key:
            raise ConfigError(f"No API key for {spec}: set the {KEY_ENV} environment variable.")
        return Panel(name=spec, url=spec, key=key)
    profile = profiles.get(spec)
    if not isinstance(profile, dict):
        if not config_path.exists():
            raise ConfigError(
                f'Unknown panel "{spec}": there is no config file at {config_path} to define it. '
                f"Create it with a [panels.{spec}] profile (url, key_env), or use a URL or sandbox."
            )
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(
            f'Unknown panel "{spec}": no [panels.{spec}] in {config_path} (profiles there: {known}). '
            "Use a profile name, a URL, or sandbox."
        )
    url = profile.get("url")
    options = panel_options(spec, profile, config_path)
    if url == SANDBOX:
        return Panel(name=spec, url=SANDBOX_URL, key="sandbox", is_sandbox=True, options=options)
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f'[panels.{spec}] in {config_path} needs url = "https://…/api/v2".')
    _check_url(url)
    return Panel(name=spec, url=url, key=_profile_key(spec, profile, config_path), options=options)


def panel_options(name: str, profile: dict[str, Any], config_path: Path) -> PanelOptions:
    """The dialect options of a [panels.NAME] profile, each checked with a message that says the fix."""
    where = f"[panels.{name}] in {config_path}"
    currency = profile.get("currency")
    if currency is not None and (not isinstance(currency, str) or not currency.strip()):
        raise ConfigError(f'{where}: currency must be a currency code such as "USD".')
    send_quantity = profile.get("send_quantity", True)
    if not isinstance(send_quantity, bool):
        raise ConfigError(f"{where}: send_quantity must be true or false.")
    limit = profile.get("retry_after_limit", DEFAULT_RETRY_AFTER_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0:
        raise ConfigError(f"{where}: retry_after_limit must be a number of seconds (300 is 5 minutes).")
    dialect = profile.get("dialect")
    if dialect is not None and not isinstance(dialect, str):
        raise ConfigError(f'{where}: dialect must be the name of a sandbox dialect, e.g. "php".')
    return PanelOptions(
        currency=currency.strip().upper() if isinstance(currency, str) else None,
        send_quantity=send_quantity,
        retry_after_limit=float(limit),
        max_rate=_max_rate(profile.get("max_rate"), where),
        dialect=dialect,
    )


def _max_rate(value: Any, where: str) -> dict[str, tuple[int, float]]:
    """`"60/min"` (every request) or `{add = "60/min", status = "120/min"}` -> action -> (n, seconds)."""
    if value is None:
        return {}
    rates = value if isinstance(value, dict) else {"*": value}
    found: dict[str, tuple[int, float]] = {}
    for action, text in rates.items():
        match = _RATE.match(text) if isinstance(text, str) else None
        seconds = float(match.group(2) or 1) * _UNIT_SECONDS[match.group(3) or "s"] if match else 0
        if match is None or int(match.group(1)) < 1 or seconds <= 0:
            raise ConfigError(
                f'{where}: max_rate must look like "60/min", "20/2s" or {{add = "60/min", status = '
                f'"120/min"}} (got {text!r}).'
            )
        found[str(action)] = (int(match.group(1)), seconds)
    return found


def _profile_key(name: str, profile: dict[str, Any], config_path: Path) -> str:
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV]
    key_env = profile.get("key_env")
    if key_env:
        key = os.environ.get(str(key_env))
        if not key:
            raise ConfigError(
                f"No API key for panel {name}: set the {key_env} environment variable "
                f"(named by key_env in {config_path}), or {KEY_ENV}."
            )
        return key
    key = profile.get("key")
    if isinstance(key, str) and key:
        return key
    raise ConfigError(
        f'No API key for panel {name}: set {KEY_ENV}, or key_env = "VARIABLE" in [panels.{name}] of {config_path}.'
    )


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return
    if parts.scheme == "http":
        raise ConfigError(
            f"Refusing {url}: plain http:// would send your API key unencrypted. "
            "Use the panel's https:// URL (http:// is allowed only for 127.0.0.1/localhost)."
        )
    raise ConfigError(f"Refusing {url}: a panel URL must start with https://.")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_config(path: Path, *, explicit: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"Config file {path} does not exist.") from None
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}. Fix it and rerun.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror}.") from None


def _number(data: dict[str, Any], name: str, default: float, path: Path, where: str = "") -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{path}: {name}{where} must be a positive number of seconds.")
    return float(value)


def default_ledger() -> LedgerLocation:
    """The ledger file of a user who chose none: <user data dir>/bulkorders/ledger.sqlite."""
    return LedgerLocation.parse(data_dir() / "ledger.sqlite")


def _ledger_location(given: str | Path | None, configured: Any, config_path: Path) -> LedgerLocation:
    """--ledger / BULKORDERS_LEDGER, else `ledger = "…"` of the config file, else the default."""
    if given is not None and str(given).strip():
        return checked_location(str(given), "--ledger (BULKORDERS_LEDGER)")
    if configured is None:
        return default_ledger()
    if not isinstance(configured, str) or not configured.strip():
        raise ConfigError(
            f'{config_path}: ledger must be a file path or a postgresql:// URL, e.g. ledger = "~/ledger.sqlite".'
        )
    return checked_location(configured, f"ledger in {config_path}")


_LIBPQ_KEYWORDS = re.compile(r"(?:^|\s)(?:host|hostaddr|port|dbname|user|password|passfile|service|sslmode)\s*=")


def checked_location(text: str, where: str) -> LedgerLocation:
    """A path, or a PostgreSQL URL; another URL (mysql://…) is refused, its password masked."""
    if _LIBPQ_KEYWORDS.search(text) and not is_url(text):  # `host=db password=…`: not a file name
        raise ConfigError(
            f"{where}: a libpq keyword string (host=… dbname=…) is not taken as a ledger, and never as a file "
            "name (it may hold a password). Give a postgresql://user@host:5432/database URL instead."
        )
    if "://" in text and not is_url(text):
        raise ConfigError(
            f"{where}: {mask_url(text)} is not a ledger bulkorders can use. Give a file path (SQLite) "
            "or a postgresql://user@host:5432/database URL (a team ledger)."
        )
    return LedgerLocation.parse(text)
