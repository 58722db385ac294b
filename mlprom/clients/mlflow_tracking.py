"""MLflow tracking and model loading: one run per capture, metrics sent in batches, errors as UpstreamError.

MLflow's own logging and prints are kept off stdout (stdout carries mlprom's data only).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mlprom.errors import InputError, UpstreamError

if TYPE_CHECKING:
    from mlprom.config import Config

log = logging.getLogger("mlprom")

METRICS_PER_CALL = 1000  # MLflow's log_batch limit
PARAM_MAX_CHARS = 6000  # MLflow's param value limit
# MLflow's own HTTP client takes its per-attempt timeout, retries and back-off from these variables; its
# defaults (120 s, 7 retries, backoff factor 2, Retry-After honoured without a cap) are many minutes of
# silence before an error. mlprom sets these unless the operator has set them.
_HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER": "false",
}
PROBE_TIMEOUT = 5.0  # the /health probe before a run starts: total deadline, retries included
_CREDENTIALS = re.compile(r"//[^/@\s]+@")


def describe_uri(uri: str) -> str:
    """A tracking URI fit for messages: no user:password@, no query string."""
    if uri.startswith(("http://", "https://")):
        from mlprom.clients.http import redact_url

        return redact_url(uri)
    return _CREDENTIALS.sub("//", uri).split("?", 1)[0]


def resolve_tracking_uri(config: Config) -> str:
    """mlflow.tracking_uri, else MLFLOW_TRACKING_URI, else MLflow's own default."""
    if config.mlflow.tracking_uri:
        return config.mlflow.tracking_uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    import mlflow

    return str(mlflow.get_tracking_uri())


def quiet_mlflow() -> None:
    """MLflow and the libraries it drives log at INFO on stderr; only their warnings and errors matter."""
    for name in ("mlflow", "alembic", "urllib3.connectionpool"):
        logging.getLogger(name).setLevel(logging.WARNING)


@contextlib.contextmanager
def mlflow_call(what: str, uri: str) -> Iterator[None]:
    """Run MLflow code with its prints on stderr and its failures as UpstreamError naming the URI."""
    where = describe_uri(uri)
    try:
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except UpstreamError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow raises MlflowException, requests and SQLAlchemy errors alike
        raise UpstreamError(f"MLflow at {where}: {what} failed: {_cause(exc, uri)}") from None


def _cause(exc: BaseException, uri: str) -> str:
    text = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
    text = text.replace(uri, describe_uri(uri))
    text = _CREDENTIALS.sub("//", text)
    if "Connection refused" in text or "Failed to establish a new connection" in text:
        return "connection refused"
    if "too many 429 error responses" in text:
        return "answered 429 (too many requests) after retries"
    if "too many 500 error responses" in text or "too many 50" in text:
        return "kept answering with server errors after retries"
    if "Max retries exceeded" in text:
        return "unreachable after retries"
    first = text.strip().splitlines()[0] if text.strip() else exc.__class__.__name__
    return first[:300]


def _env_number(name: str) -> float:
    try:
        return float(os.environ.get(name) or _HTTP_RETRY_DEFAULTS[name])
    except ValueError:
        return float(_HTTP_RETRY_DEFAULTS[name])


def call_deadline() -> float:
    """The total deadline of one call to an HTTP tracking server, from MLflow's HTTP variables:
    (retries + 1) × timeout + the back-off between them + 2 s. 15 s, 2 retries, factor 1: 53 s."""
    timeout = _env_number("MLFLOW_HTTP_REQUEST_TIMEOUT")
    retries = int(_env_number("MLFLOW_HTTP_REQUEST_MAX_RETRIES"))
    factor = _env_number("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR")
    jitter = _env_number("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER")
    backoff = sum(min(120.0, factor * 2**k + jitter) for k in range(1, retries + 1))
    return (retries + 1) * timeout + backoff + 2.0


class BoundedClient:
    """An MlflowClient whose every call ends within `seconds`, also against a server that trickles.

    MLflow's requests session bounds each read, not a call; so each call runs in a daemon thread and the
    caller stops waiting at the deadline (UpstreamError). The abandoned call ends when the server does.
    """

    def __init__(self, client: Any, seconds: float, where: str) -> None:
        self._client = client
        self._seconds = seconds
        self._where = where

    def __getattr__(self, name: str) -> Any:
        from mlprom.clients.deadline import run_bounded

        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return run_bounded(
                lambda: attr(*args, **kwargs), self._seconds, f"MLflow at {self._where}: {name}"
            )

        return call


def probe(uri: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Fail fast when an HTTP tracking server does not work at all (any answer but 429/5xx will do)."""
    if not uri.startswith(("http://", "https://")):
        return
    from mlprom.clients.http import RETRY_STATUSES, RetryPolicy, build_session, request, split_credentials
    from mlprom.config import HTTPEndpoint

    where = describe_uri(uri)
    clean, auth = split_credentials(uri)
    session = build_session(HTTPEndpoint(), "mlflow", RetryPolicy(total=1, backoff_factor=0.5))
    answer = request(
        session,
        "GET",
        clean.rstrip("/") + "/health",
        "MLflow tracking server",
        timeout,
        max_bytes=64 * 1024,
        shown=where,
        auth=auth,
    )
    if answer.status_code in RETRY_STATUSES:
        raise UpstreamError(f"MLflow tracking server at {where}: /health answered {answer.describe()}")


class MlflowRun:
    """One MLflow run: params at start, metric steps buffered and sent METRICS_PER_CALL at a time."""

    def __init__(self, client: Any, run_id: str, uri: str, experiment_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.uri = uri
        self.experiment_id = experiment_id
        self._pending: list[Any] = []
        self.calls = 0

    @classmethod
    def start(
        cls,
        config: Config,
        params: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        run_name: str | None = None,
    ) -> MlflowRun:
        for key, value in _HTTP_RETRY_DEFAULTS.items():
            os.environ.setdefault(key, value)
        quiet_mlflow()
        uri = resolve_tracking_uri(config)
        probe(uri)
        with mlflow_call("starting a run", uri):
            from mlflow.tracking import MlflowClient

            client: Any = MlflowClient(tracking_uri=uri)
            if uri.startswith(("http://", "https://")):
                client = BoundedClient(client, call_deadline(), describe_uri(uri))
            experiment_id = _experiment_id(client, config.mlflow.experiment)
            run = client.create_run(experiment_id, tags=dict(tags or {}), run_name=run_name)
        started = cls(client, run.info.run_id, uri, experiment_id)
        started.log_params(params)
        return started

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:PARAM_MAX_CHARS]) for k, v in params.items() if v is not None]
        for i in range(0, len(items), 100):  # MLflow accepts at most 100 params per batch
            with mlflow_call("logging params", self.uri):
                self.client.log_batch(self.run_id, params=items[i : i + 100])
                self.calls += 1

    def log_metrics(self, values: Mapping[str, float], step: int, timestamp_ms: int | None = None) -> None:
        """Buffer metric values for one step; sent when METRICS_PER_CALL are pending."""
        from mlflow.entities import Metric

        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        for key, value in values.items():
            self._pending.append(Metric(key, float(value), ts, step))
        if len(self._pending) >= METRICS_PER_CALL:
            self.flush()

    def flush(self) -> None:
        while self._pending:
            chunk, self._pending = self._pending[:METRICS_PER_CALL], self._pending[METRICS_PER_CALL:]
            with mlflow_call("logging metrics", self.uri):
                self.client.log_batch(self.run_id, metrics=chunk)
                self.calls += 1

    def finish(self, summary: Mapping[str, float], status: str = "FINISHED") -> None:
        """Send what is pending, the summary metrics (step 0), and close the run with `status`."""
        self.log_metrics(summary, step=0)
        self.flush()
        with mlflow_call("ending the run", self.uri):
            self.client.set_terminated(self.run_id, status=status)
            self.calls += 1

    def abort(self) -> None:
        """Mark the run FAILED without raising: used while another error is already on its way."""
        try:
            with mlflow_call("ending the run", self.uri):
                self.client.set_terminated(self.run_id, status="FAILED")
        except UpstreamError as exc:
            log.warning("%s", exc)


def _experiment_id(client: Any, name: str) -> str:
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise UpstreamError(f"MLflow experiment {name!r} is deleted; restore it or set mlflow.experiment")
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:
        # Another run created it between our lookup and create.
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


# ---------------------------------------------------------------- loading models


def load_pyfunc(model_uri: str, config: Config) -> tuple[Callable[[Any], Any], str | None]:
    """mlflow.pyfunc.load_model(model_uri) -> (predict, model version or None); a bad URI is InputError."""
    quiet_mlflow()
    if "://" not in model_uri and ":/" not in model_uri and not os.path.exists(os.path.expanduser(model_uri)):
        raise InputError(f"--model-uri {model_uri}: no such model directory")
    uri = resolve_tracking_uri(config)
    try:
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mlflow
            import mlflow.pyfunc

            mlflow.set_tracking_uri(uri)  # runs:/ and models:/ resolve against the configured server
            model = mlflow.pyfunc.load_model(model_uri)
    except Exception as exc:  # noqa: BLE001 - MLflow raises many types for a bad or unreachable model
        raise _load_error(model_uri, uri, exc) from None
    version = _model_version(model_uri, model)
    return model.predict, version


def _load_error(model_uri: str, tracking_uri: str, exc: Exception) -> Exception:
    cause = _cause(exc, tracking_uri)
    code = getattr(exc, "error_code", "")
    unreachable = cause in (
        "connection refused",
        "unreachable after retries",
        "answered 429 (too many requests) after retries",
        "kept answering with server errors after retries",
    ) or isinstance(exc, ConnectionError | TimeoutError)
    if unreachable:
        return UpstreamError(f"--model-uri {model_uri}: MLflow at {describe_uri(tracking_uri)}: {cause}")
    if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND") or isinstance(
        exc, OSError | ValueError | ImportError
    ):
        return InputError(f"--model-uri {model_uri}: cannot load the model: {cause}")
    return InputError(f"--model-uri {model_uri}: cannot load the model: {exc.__class__.__name__}: {cause}")


def _model_version(model_uri: str, model: Any) -> str | None:
    # models:/name/3 names its version; otherwise the run that logged it is the best identity there is.
    match = re.match(r"^models:/[^/@]+/(\d+)$", model_uri)
    if match:
        return match.group(1)
    metadata = getattr(model, "metadata", None)
    run_id = getattr(metadata, "run_id", None)
    if run_id:
        return f"run:{run_id}"
    uuid = getattr(metadata, "model_uuid", None)
    return f"uuid:{uuid}" if uuid else None
