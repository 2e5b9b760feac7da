"""Files private to the user (0600 in a 0700 folder, whatever the umask), written whole:
a temporary file beside the target, renamed over it, so a reader never sees half of one."""

from __future__ import annotations

import os
from pathlib import Path


def write_private_text(path: Path, text: str) -> None:
    """Write `text` to `path` (UTF-8), private to the user and whole; raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask took away
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)
