"""The API key out of every text a panel sends back, in every encoding it may come in.

Panels echo the request in error pages: the key as sent, URL-encoded (`%2B`, `+` for a
space), HTML-entity encoded (`&#115;`, `&#x73;`, `&amp;`) or JSON-escaped (`\\u0073`),
and sometimes a mixture, one character at a time. One pattern matches the key with each
of its characters in any of those forms.
"""

from __future__ import annotations

import html.entities
import re

MIN_MASKED_KEY = 8  # real panel keys are 32+ characters
MASK = "***"

# character -> its named HTML entities (amp, lt, quot, apos, …), with and without ";"
_NAMED: dict[str, list[str]] = {}
for _name, _char in html.entities.html5.items():
    if len(_char) == 1:
        _NAMED.setdefault(_char, []).append(_name)


def _char_pattern(char: str) -> str:
    code = ord(char)
    forms = [re.escape(char), f"%{code:02x}", f"&#0*{code};?", f"&#x0*{code:x};?", f"\\\\u{code:04x}"]
    if char == " ":
        forms.append(r"\+")
    forms += ["&" + re.escape(name if name.endswith(";") else name + ";") for name in _NAMED.get(char, [])]
    return "(?:" + "|".join(forms) + ")"


class KeyMask:
    """`mask(text)` replaces the key, in any encoding, by `***`. Keys shorter than
    MIN_MASKED_KEY (the sandbox's "sandbox") are left alone: they are no secrets, and
    masking them would garble ordinary words."""

    def __init__(self, key: str) -> None:
        self._pattern = (
            re.compile("".join(_char_pattern(c) for c in key), re.IGNORECASE)
            if len(key) >= MIN_MASKED_KEY
            else None
        )
        self._key = key

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        if self._key in text:  # the common case, cheaply
            text = text.replace(self._key, MASK)
        return self._pattern.sub(MASK, text)
