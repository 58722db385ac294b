"""mlprom: join slow or wrong model predictions to what the infrastructure was doing, and alert on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Monitor", "__version__"]

if TYPE_CHECKING:
    from mlprom.serving.monitor import Monitor


def __getattr__(name: str) -> Any:
    # Imported lazily so `import mlprom` stays cheap for cron and the CLI.
    if name == "Monitor":
        from mlprom.serving.monitor import Monitor

        return Monitor
    raise AttributeError(f"module 'mlprom' has no attribute {name!r}")
