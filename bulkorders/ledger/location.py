"""Where the ledger is: a file path, or a PostgreSQL URL (a team ledger), and how to show it.

`--ledger`, `BULKORDERS_LEDGER` and `ledger = "…"` of the config file all give one text;
`LedgerLocation.parse` tells a URL (`postgresql://`, `postgres://`) from a path. A URL's
password is never shown: `shown` (and `str()`) mask it, in the user part
(`postgresql://bob:***@db/camp`) and in a `password=` parameter alike. No I/O library:
only `may_exist` looks at the file system.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

URL_SCHEMES = ("postgresql://", "postgres://")
MASK = "***"
_PASSWORD_PARAM = re.compile(r"(?i)([?&]password=)[^&#]*")


def is_url(text: object) -> bool:
    """Whether a ledger location is a PostgreSQL URL (otherwise it is a file path)."""
    return isinstance(text, str) and text.strip().lower().startswith(URL_SCHEMES)


def mask_url(url: str) -> str:
    """The URL with its password replaced by `***`, wherever libpq would read one.

    The user part ends at the last `@` before the query: a password holding an
    unencoded `/` or `@` is masked whole as well.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    head, mark, query = rest.partition("?")
    at = head.rfind("@")
    if at >= 0 and ":" in head[:at]:
        user = head[: head.index(":")]
        head = f"{user}:{MASK}{head[at:]}"
    if mark:
        query = _PASSWORD_PARAM.sub(lambda m: m.group(1) + MASK, f"?{query}")[1:]
    return f"{scheme}{sep}{head}{mark}{query}"


@dataclass(frozen=True)
class LedgerLocation:
    """A ledger's location as given. `str()` is the shown form: never the password."""

    text: str = field(repr=False)

    @classmethod
    def parse(cls, value: str | Path) -> LedgerLocation:
        """A location from an option, variable or config value (`~` expanded in paths)."""
        text = str(value).strip() if is_url(str(value)) else str(Path(value).expanduser())
        return cls(text)

    @property
    def is_url(self) -> bool:
        return is_url(self.text)

    @property
    def engine(self) -> str:
        """The engine this location is opened with: "postgresql" or "sqlite"."""
        return "postgresql" if self.is_url else "sqlite"

    @property
    def path(self) -> Path | None:
        """The ledger file, or None for a database server."""
        return None if self.is_url else Path(self.text)

    @property
    def target(self) -> str | Path:
        """What `Ledger.open` takes: the URL as given (with its password), or the path."""
        return self.text if self.is_url else Path(self.text)

    @property
    def shown(self) -> str:
        """How messages and outputs name it: the path, or the URL with the password masked."""
        return mask_url(self.text) if self.is_url else self.text

    @property
    def password(self) -> str | None:
        """The URL's own password (user part or `password=`), None when it gives none."""
        if not self.is_url:
            return None
        head, _, query = self.text.partition("://")[2].partition("?")
        at = head.rfind("@")
        if at >= 0 and ":" in head[:at]:
            return head[head.index(":") + 1 : at] or None
        found = _PASSWORD_PARAM.search(f"?{query}")
        if found is None:
            return None
        return found.group(0).split("=", 1)[1] or None

    def scrub(self, text: str) -> str:
        """`text` with this location's password masked, as written and percent-decoded."""
        secret = self.password
        if not secret:
            return text
        for form in sorted({secret, unquote(secret)}, key=len, reverse=True):
            text = text.replace(form, MASK)
        return text

    def may_exist(self) -> bool:
        """False only for a ledger file that is not there yet (a server is asked when opened)."""
        return self.path is None or self.path.exists()

    def __str__(self) -> str:
        return self.shown

    def __repr__(self) -> str:
        return f"LedgerLocation({self.shown!r})"
