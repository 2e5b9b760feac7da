"""A package's public surface, loaded on first use.

Each package's `__init__.py` names what other packages may import from it and the private
module that holds each name. Nothing is imported until a name is asked for, so importing a
pure module of a package (say `bulkorders.sheets.cells`) never drags in its heavy siblings
(`bulkorders.sheets.read` and calamine).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def public_surface(
    package: str, exports: Mapping[str, str]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """`__all__`, `__getattr__` and `__dir__` for `package`, whose `exports` map each public
    name to the submodule (relative to `package`) that defines it."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return sorted(exports), __getattr__, __dir__
