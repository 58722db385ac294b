"""The one exception family of mlprom; each carries the exit code the CLI maps it to."""

from __future__ import annotations


class MlpromError(Exception):
    """Base of every error mlprom raises on purpose. The message names the culprit."""

    exit_code = 1


class ConfigError(MlpromError):
    """Usage or configuration error: bad flag, invalid YAML, unknown key, bad bucket name, bad date."""

    exit_code = 2


class UpstreamError(MlpromError):
    """An upstream (S3, Prometheus, Alertmanager, Pushgateway, MLflow) unreachable or failing after retries."""

    exit_code = 3


class StorageError(UpstreamError):
    """Storage (S3 or the local directory) refused or failed an operation."""


class ObjectNotFound(StorageError):
    """The key does not exist in storage."""

    def __init__(self, key: str, where: str) -> None:
        super().__init__(f"{where}: no object at key {key!r}")
        self.key = key


class NoDataError(MlpromError):
    """No data for the requested date."""

    exit_code = 4


class InputError(ConfigError):
    """The user's input (a file, a row, a model reference) is unusable; a usage error, exit 2."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT reached the CLI. A BaseException, like KeyboardInterrupt, so `except Exception`
    in a model or a library does not swallow it. Exit code 128 + the signal number: 143 and 130."""

    def __init__(self, signum: int, detail: str = "") -> None:
        import signal

        self.signum = signum
        self.name = signal.Signals(signum).name
        self.detail = detail  # what was kept, filled in by the stage that stopped
        super().__init__(self.name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def require_extra(modules: tuple[str, ...], extra: str, what: str) -> None:
    """Raise ConfigError (exit 2) naming the extra to install when one of `modules` is not installed."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"{what} needs {' and '.join(missing)}, which this install lacks: pip install 'mlprom[{extra}]'"
        )
