"""Whether the optional `ui` extra is installed, without importing any of it."""

from __future__ import annotations

from importlib.util import find_spec

# import name -> the requirement pyproject's `ui` extra names
UI_MODULES = {"starlette": "starlette", "uvicorn": "uvicorn", "jinja2": "jinja2", "multipart": "python-multipart"}
INSTALL = 'pip install "bulkorders[ui]"   (from a checkout: pip install ".[ui]")'


def missing_extra() -> str | None:
    """None when the web app can run, else a message naming what is missing and the pip command."""
    missing = [package for module, package in UI_MODULES.items() if find_spec(module) is None]
    if not missing:
        return None
    return f"`bulkorders ui` needs the ui extra ({', '.join(missing)} missing). Install it with:\n  {INSTALL}"
