"""Is a link cell a web address? Pure.

A link is sent to the panel and paid for: `javascript:alert(1)`, a formula's text
(`=WEBSERVICE(…)`, `@SUM(1)`), or a plain word (the shown text `click` of a hyperlink)
would be a paid order for nothing. A link must be an http(s) web address; one written
without its `https://` (`instagram.com/p/x`) is only a warning, as panels take those.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bulkorders.sheets import FORMULA_STARTS

WEB_SCHEMES = ("http://", "https://")
# `javascript:`, `data:`, `mailto:`… (a scheme has no dot; `instagram.com:443/p` is a host)
_SCHEME = re.compile(r"([a-z][a-z0-9+-]*):(?!\d)", re.IGNORECASE)
# a host name with a dot: `instagram.com`, `www.tiktok.com`, `t.me`, `пример.рф`, `1.2.3.4`
_HOST = re.compile(r"(?:[\w-]+\.)+[\w-]{2,}(?::\d+)?|(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?")


def link_problem(link: str) -> tuple[bool, str] | None:
    """None for a web address; else (is_error, what is wrong) for the link column."""
    if link.lower().startswith(WEB_SCHEMES):
        host = urlsplit(link).hostname or ""
        if not _HOST.fullmatch(host) and host != "localhost":
            return True, "has no web address after its http(s)://"
        return None
    if link.startswith(FORMULA_STARTS):
        return True, "is a formula's text, not a link; give the web address (https://…)"
    scheme = _SCHEME.match(link)
    if scheme:
        return True, f"is a {scheme.group(1).lower()}: address; a link must be a web address (https://…)"
    host = re.split(r"[/?#]", link, maxsplit=1)[0]
    if not _HOST.fullmatch(host):
        return True, "is not a web address; give the link (https://…)"
    return False, "is not an http(s):// link; the panel may refuse it"
