"""The panel's service catalogue, cached per panel with a time-to-live.

The cache is a JSON file under the user cache dir, one per panel (named by a hash of the
panel's name or URL, never the key). A stale cache is still used, with a warning, when the
panel cannot be reached: yesterday's catalogue is better than no validation at all.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulkorders.clock import Clock
from bulkorders.errors import AuthError, ConfigError, PanelError
from bulkorders.models import Service
from bulkorders.private_files import write_private_text
from bulkorders.settings import Settings

if TYPE_CHECKING:
    from bulkorders.panel import PanelClient


@dataclass(frozen=True)
class Catalogue:
    """The services of one panel, keyed by service id, and when they were fetched."""

    panel: str
    fetched_at: float
    services: dict[str, Service]
    # Entries of the panel's catalogue that could not be read: service id -> why, raw text.
    unreadable: dict[str, str] = field(default_factory=dict)

    def get(self, service_id: str) -> Service | None:
        return self.services.get(str(service_id).strip())

    def __len__(self) -> int:
        return len(self.services)

    def fetched_text(self) -> str:
        return datetime.fromtimestamp(self.fetched_at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def load_catalogue(
    settings: Settings,
    client: PanelClient | None,
    *,
    refresh: bool = False,
    offline: bool = False,
    warn: Callable[[str], None] = lambda message: None,
    clock: Clock = time.time,
) -> Catalogue:
    """The catalogue of the configured panel: from the cache while fresh, else from the panel."""
    panel = settings.panel().identity
    path = cache_path(settings.cache_dir, panel)
    cached = _read_cache(path, panel)
    if offline:
        if cached is None:
            raise ConfigError(
                f"No cached catalogue for panel {panel}: run `bulkorders services` once while "
                "online, then --offline works."
            )
        return cached
    fresh = cached is not None and clock() - cached.fetched_at < settings.catalogue_ttl
    if fresh and not refresh:
        return cached  # type: ignore[return-value]
    if client is None:
        raise ConfigError(f"The catalogue of panel {panel} must be fetched, but no panel client is open.")
    try:
        services = client.services()
    except AuthError:
        raise
    except PanelError as exc:
        if cached is None:
            raise
        warn(
            f"using the cached catalogue of {cached.fetched_text()}, because the panel could not "
            f"be reached: {exc.message}"
        )
        return cached
    unreadable = dict(getattr(client, "unreadable_services", {}) or {})
    catalogue = Catalogue(panel=panel, fetched_at=clock(), services=_by_id(services), unreadable=unreadable)
    _write_cache(path, catalogue)
    return catalogue


def read_cached(cache_dir: Path, panel: str) -> Catalogue | None:
    """The cached catalogue of a panel, whatever its age; None when there is none.

    For readers that must not need a panel or key (the audit report)."""
    return _read_cache(cache_path(cache_dir, panel), panel)


def cache_path(cache_dir: Path, panel: str) -> Path:
    digest = hashlib.sha256(panel.encode("utf-8")).hexdigest()[:16]
    return cache_dir / f"catalogue-{digest}.json"


def service_from_dict(data: dict[str, Any]) -> Service:
    """A Service from the normalised dict of `Service.to_panel_dict` (the cache's form)."""
    return Service(
        service=str(data["service"]),
        name=str(data["name"]),
        type=str(data["type"]),
        category=str(data["category"]),
        rate=Decimal(str(data["rate"])),
        min=int(data["min"]),
        max=int(data["max"]),
        refill=bool(data["refill"]),
        cancel=bool(data["cancel"]),
    )


def _by_id(services: Iterable[Service]) -> dict[str, Service]:
    return {service.service: service for service in services}


def _read_cache(path: Path, panel: str) -> Catalogue | None:
    """The cached catalogue, or None when absent or unreadable (a broken cache is refetched)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("panel") != panel:
            return None
        services = [service_from_dict(item) for item in data["services"]]
        unreadable = {str(k): str(v) for k, v in dict(data.get("unreadable") or {}).items()}
        return Catalogue(panel=panel, fetched_at=float(data["fetched_at"]), services=_by_id(services),
                         unreadable=unreadable)  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, InvalidOperation):
        return None


def _write_cache(path: Path, catalogue: Catalogue) -> None:
    data = {
        "panel": catalogue.panel,
        "fetched_at": catalogue.fetched_at,
        "services": [service.to_panel_dict() for service in catalogue.services.values()],
        "unreadable": catalogue.unreadable,
    }
    try:
        write_private_text(path, json.dumps(data, ensure_ascii=False))  # private, like the ledger
    except OSError:
        pass  # a cache that cannot be written only costs a refetch next time
