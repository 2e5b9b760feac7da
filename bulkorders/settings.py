"""Config file + environment + options -> `Settings`, and which panel to talk to.

Order of precedence for every setting: command-line option, then its environment
variable (click reads both), then the config file, then the default.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from bulkorders.errors import ConfigError

APP = "bulkorders"
SANDBOX = "sandbox"
SANDBOX_URL = "https://sandbox.invalid/api/v2"  # reached in-process, never over the network
KEY_ENV = "BULKORDERS_API_KEY"
DEFAULT_CATALOGUE_TTL = 3600.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP))


@dataclass(frozen=True)
class Panel:
    """The panel chosen for this run. `key` never appears in repr, logs or messages."""

    name: str  # profile name, "sandbox", or the URL itself
    url: str
    key: str = field(repr=False)
    is_sandbox: bool = False

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
    config_path: Path = field(default_factory=lambda: config_dir() / "config.toml")
    ledger_path: Path = field(default_factory=lambda: data_dir() / "ledger.sqlite")
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
    ledger: Path | None = None,
    json: bool = False,
    debug: bool = False,
) -> Settings:
    """Build the settings of one run from the options (env already folded in by click)."""
    config_path = config or config_dir() / "config.toml"
    data = _read_config(config_path, explicit=config is not None)
    profiles = data.get("panels", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{config_path}: [panels] must be a table of [panels.NAME] sections.")
    ledger_path = ledger or _path_or_none(data.get("ledger")) or data_dir() / "ledger.sqlite"
    return Settings(
        panel_spec=panel or data.get("panel"),
        config_path=config_path,
        ledger_path=ledger_path,
        json=json,
        debug=debug,
        catalogue_ttl=_number(data, "catalogue_ttl", DEFAULT_CATALOGUE_TTL, config_path),
        connect_timeout=_number(data, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, config_path),
        read_timeout=_number(data, "read_timeout", DEFAULT_READ_TIMEOUT, config_path),
        request_deadline=_optional_number(data, "request_deadline", config_path),
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
        return Panel(name=SANDBOX, url=SANDBOX_URL, key=os.environ.get(KEY_ENV) or "sandbox", is_sandbox=True)
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
                f'Create it with a [panels.{spec}] profile (url, key_env), or use a URL or sandbox.'
            )
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(
            f'Unknown panel "{spec}": no [panels.{spec}] in {config_path} (profiles there: {known}). '
            "Use a profile name, a URL, or sandbox."
        )
    url = profile.get("url")
    if url == SANDBOX:
        return Panel(name=spec, url=SANDBOX_URL, key="sandbox", is_sandbox=True)
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f'[panels.{spec}] in {config_path} needs url = "https://…/api/v2".')
    _check_url(url)
    return Panel(name=spec, url=url, key=_profile_key(spec, profile, config_path))


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
        f"No API key for panel {name}: set {KEY_ENV}, or key_env = \"VARIABLE\" "
        f"in [panels.{name}] of {config_path}."
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


def _number(data: dict[str, Any], name: str, default: float, path: Path) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{path}: {name} must be a positive number of seconds.")
    return float(value)


def _optional_number(data: dict[str, Any], name: str, path: Path) -> float | None:
    return _number(data, name, 0.0, path) if name in data else None


def _path_or_none(value: Any) -> Path | None:
    return Path(value).expanduser() if isinstance(value, str) and value else None
