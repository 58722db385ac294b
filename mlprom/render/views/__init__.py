"""Per-result views: each module registers table and markdown renderers for its result types.

render() imports every module here before dispatching, so adding a result type means adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
