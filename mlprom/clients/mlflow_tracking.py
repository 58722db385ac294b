"""MLflow tracking and model loading: one run per capture, metrics sent in batches, errors as UpstreamError.

MLflow's own logging and prints are kept off stdout (stdout carries mlprom's data only); they reach
stderr only with -v. Model code MLflow runs (a pyfunc's loader) prints to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlprom.errors import InputError, UpstreamError

if TYPE_CHECKING:
    from mlprom.clients.http import Answer, RetryPolicy
    from mlprom.config import Config
    from mlprom.storage.inputs import InputFile

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
DIGEST_CHARS = 32  # MLflow stores a dataset digest in 36 characters at most
SUMMARY_ARTIFACT = "capture-summary.json"  # the capture's result (as -o json prints it), a run artifact
REPORT_ARTIFACT_DIR = "mlprom"  # correlate's report of date D: the run artifact mlprom/correlation-D.json


def describe_uri(uri: str) -> str:
    """A tracking URI fit for messages: no user:password@, no query string."""
    if uri.startswith(("http://", "https://")):
        from mlprom.redact import redact_url

        return redact_url(uri)
    return _CREDENTIALS.sub("//", uri).split("?", 1)[0]


def describe_model_uri(model_uri: str) -> str:
    """A model URI fit for messages and params: a URL's credentials and query string removed; MLflow's own
    schemes (models:/name@alias, runs:/id/path) kept whole, their '@' being an alias, not userinfo."""
    if "://" not in model_uri:
        return model_uri
    from mlprom.redact import redact_url

    return redact_url(model_uri)


def resolve_tracking_uri(config: Config) -> str:
    """mlflow.tracking_uri, else MLFLOW_TRACKING_URI, else MLflow's own default."""
    if config.mlflow.tracking_uri:
        return config.mlflow.tracking_uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    import mlflow

    return str(mlflow.get_tracking_uri())


# The SQLAlchemy stores' schemes (mlflow.store.db.db_types.DATABASE_ENGINES; a URI may add +driver).
DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def require_store_support(uri: str, what: str = "MLflow tracking URI") -> None:
    """ConfigError (exit 2) when `uri` is a database store this install cannot open.

    mlflow-skinny (the `tracking` extra) has the REST and file stores but not SQLAlchemy: MLflow registers
    the database schemes only when sqlalchemy can be imported, and its stores migrate with alembic. Without
    them a sqlite:/postgresql:/... URI (MLflow's default, sqlite:///mlflow.db, too) needs the full package."""
    import importlib.util

    from mlprom.errors import ConfigError

    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme not in DATABASE_SCHEMES:
        return
    if all(importlib.util.find_spec(m) is not None for m in ("sqlalchemy", "alembic")):
        return
    raise ConfigError(
        f"{what} {describe_uri(uri)} is a database store, which needs the full MLflow "
        "(this install has mlflow-skinny, without SQLAlchemy): pip install 'mlprom[mlflow]'"
    )


def require_stores(config: Config) -> str:
    """The tracking URI capture-model will use, refused (exit 2) with the registry's when this install
    cannot open it; checked before a model is loaded or a run created."""
    uri = resolve_tracking_uri(config)
    require_store_support(uri)
    registry = _registry_uri(uri)
    if registry != uri:
        require_store_support(registry, "MLflow registry URI")
    return uri


def _verbose() -> bool:
    return log.isEnabledFor(logging.DEBUG)


def quiet_mlflow() -> None:
    """MLflow and the libraries it drives log at INFO on stderr; without -v only their errors show."""
    level = logging.DEBUG if _verbose() else logging.ERROR
    for name in ("mlflow", "alembic", "urllib3.connectionpool"):
        logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def mlflow_call(what: str, uri: str) -> Iterator[None]:
    """Run MLflow code with its prints off stdout (on stderr with -v) and its failures as UpstreamError."""
    from mlprom.runtime.stdio import stdout_redirected

    where = describe_uri(uri)
    try:
        with stdout_redirected("stderr" if _verbose() else "devnull"), warnings.catch_warnings():
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


def get_health(uri: str, timeout: float, retry: RetryPolicy, what: str = "MLflow tracking server") -> Answer:
    """GET {uri}/health of an http(s) tracking server within `timeout`; credentials in the URI go to auth."""
    from mlprom.clients.http import build_session, request, split_credentials
    from mlprom.config import HTTPEndpoint

    clean, auth = split_credentials(uri)
    return request(
        build_session(HTTPEndpoint(), "mlflow", retry),
        "GET",
        clean.rstrip("/") + "/health",
        what,
        timeout,
        max_bytes=64 * 1024,
        shown=describe_uri(uri),
        auth=auth,
    )


def probe(uri: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Fail fast when an HTTP tracking server does not work at all (any answer but 429/5xx will do)."""
    if not uri.startswith(("http://", "https://")):
        return
    from mlprom.clients.http import RETRY_STATUSES, RetryPolicy

    answer = get_health(uri, timeout, RetryPolicy(total=1, backoff_factor=0.5))
    if answer.status_code in RETRY_STATUSES:
        raise UpstreamError(
            f"MLflow tracking server at {describe_uri(uri)}: /health answered {answer.describe()}"
        )


@dataclass(frozen=True)
class LoadedModel:
    """A model loaded by URI, and what the registry says about it."""

    predict: Callable[[Any], Any]
    uri: str  # what was loaded: models:/name@alias becomes models:/name/VERSION
    version: str | None  # the registry version, else run:<id> of the run that logged it, else uuid:<uuid>
    name: str | None = None  # the registered model's name, for models:/ URIs
    model_id: str | None = None  # MLflow 3's LoggedModel id, when the model has one


class MlflowRun:
    """One MLflow run: params at start, metric steps buffered and sent METRICS_PER_CALL at a time."""

    def __init__(self, client: Any, run_id: str, uri: str, experiment_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.uri = uri
        self.experiment_id = experiment_id
        self._pending: list[Any] = []
        self.calls = 0
        self.input_file: InputFile | None = None  # logged as the run's dataset input when it finishes
        self._system_metrics: Any = None
        self.model_id: str | None = None  # the LoggedModel the run evaluated, once linked
        self._dataset: tuple[str, str] | None = None  # the logged input's name and digest

    @classmethod
    def start(
        cls,
        config: Config,
        params: Mapping[str, Any],
        tags: Mapping[str, str] | None = None,
        run_name: str | None = None,
        model: LoadedModel | None = None,
        input_file: InputFile | None = None,
    ) -> MlflowRun:
        """Create the run as MLflow's fluent API would (its context tags: mlflow.user, mlflow.source.*),
        log params, link the model it evaluates, and start system metrics when configured."""
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
            run = client.create_run(experiment_id, tags=context_tags(tags or {}), run_name=run_name)
        started = cls(client, run.info.run_id, uri, experiment_id)
        started.input_file = input_file
        # From here on a failure ends the run FAILED (KILLED on a signal): a run is never left RUNNING.
        try:
            started.log_params(params)
            if model is not None and model.model_id:
                started.link_model(model.model_id)
            if config.mlflow.system_metrics:
                started._start_system_metrics()
        except BaseException as exc:
            started.abort(_ended_by(exc))
            raise
        return started

    def link_model(self, model_id: str) -> None:
        """Record the LoggedModel this run evaluated as the run's model input (MLflow 3); the summary
        metrics are then logged to that model too."""
        from mlflow.entities import LoggedModelInput

        with mlflow_call("linking the model", self.uri):
            self.client.log_inputs(self.run_id, models=[LoggedModelInput(model_id)])
            self.calls += 1
        self.model_id = model_id

    def _start_system_metrics(self) -> None:
        try:
            import psutil  # noqa: F401 - MLflow's CPU, memory and disk monitors need it
        except ImportError:
            log.warning("mlflow.system_metrics is on but psutil is not installed: no system metrics")
            return
        with mlflow_call("starting system metrics", self.uri):
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            self._system_metrics = SystemMetricsMonitor(self.run_id, tracking_uri=self.uri)
            self._system_metrics.start()

    def _stop_system_metrics(self) -> None:
        monitor, self._system_metrics = self._system_metrics, None
        if monitor is not None:
            from mlprom.runtime.stdio import stdout_redirected

            with stdout_redirected("stderr" if _verbose() else "devnull"):
                monitor.finish()

    def log_dataset(self, source: InputFile, rows: int) -> None:
        """The input as an MLflow dataset input (mlflow.data): where it lives, its digest, rows and columns."""
        import json

        with mlflow_call("logging the input dataset", self.uri):
            import pandas as pd
            from mlflow.data.pandas_dataset import from_pandas
            from mlflow.entities import Dataset, DatasetInput, InputTag

            location = source.location
            if "://" not in location:
                location = os.path.abspath(os.path.expanduser(location))
            digest = source.content_digest()[:DIGEST_CHARS]
            name = os.path.basename(location.rstrip("/")) or location
            # mlflow.data resolves the location to its source (local, s3, http ...); the frame is only
            # the columns' carrier: the data was streamed, never held whole.
            frame = pd.DataFrame(columns=list(source.columns or ()))
            described = from_pandas(frame, source=location, name=name, digest=digest)
            source_json = described.source.to_json()
            source_type = described.to_dict()["source_type"]
            profile = {"rows": rows, "columns": list(source.columns or ()), "bytes": source.consumed}
            dataset = Dataset(name, digest, source_type, source_json, None, json.dumps(profile))
            # "eval": the model was run on this data, as mlflow.evaluate tags its inputs.
            self.client.log_inputs(
                self.run_id, datasets=[DatasetInput(dataset, [InputTag("mlflow.data.context", "eval")])]
            )
            self.calls += 1
        self._dataset = (name, digest)

    def log_summary_metrics(self, summary: Mapping[str, float], timestamp_ms: int | None = None) -> None:
        """The summary (step 0), also logged to the LoggedModel the run evaluated, with the dataset it was
        measured on, so the model's page in MLflow shows its production numbers."""
        from mlflow.entities import Metric

        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        name, digest = self._dataset or (None, None)
        for key, value in summary.items():
            if self.model_id is None:
                self._pending.append(Metric(key, float(value), ts, 0))
            else:
                self._pending.append(
                    Metric(
                        key,
                        float(value),
                        ts,
                        0,
                        model_id=self.model_id,
                        dataset_name=name,
                        dataset_digest=digest,
                        run_id=self.run_id,
                    )
                )
        self.flush()

    def log_document(self, document: Mapping[str, Any], artifact_file: str) -> None:
        """A JSON document as a run artifact (in the run's artifact store)."""
        with mlflow_call(f"logging {artifact_file}", self.uri):
            self.client.log_dict(self.run_id, dict(document), artifact_file)
            self.calls += 1

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

    def finish(
        self,
        summary: Mapping[str, float],
        status: str = "FINISHED",
        document: Mapping[str, Any] | None = None,
    ) -> None:
        """Send what is pending, the input dataset, the summary metrics (step 0), the summary document
        (capture-summary.json), and close the run; if any of it fails the run ends FAILED instead."""
        try:
            self.flush()
            self._stop_system_metrics()
            if self.input_file is not None:
                # The digest covers every byte read, so the dataset is logged once the whole input was.
                self.log_dataset(self.input_file, int(summary.get("rows", 0)))
            self.log_summary_metrics(summary)
            if document is not None:
                self.log_document(document, SUMMARY_ARTIFACT)
        except BaseException as exc:
            self.abort(_ended_by(exc) if status == "FINISHED" else status)
            raise
        with mlflow_call("ending the run", self.uri):
            self.client.set_terminated(self.run_id, status=status)
            self.calls += 1

    def abort(self, status: str = "FAILED") -> None:
        """Mark the run FAILED (or KILLED) without raising: used while another error is already on its way."""
        try:
            try:
                self._stop_system_metrics()
            except Exception as exc:  # noqa: BLE001 - MLflow's monitor thread; the run must still end
                log.warning("stopping MLflow's system metrics failed: %s", exc)
            with mlflow_call("ending the run", self.uri):
                self.client.set_terminated(self.run_id, status=status)
        except UpstreamError as exc:
            log.warning("%s", exc)


def log_report_artifact(config: Config, run_id: str, document: bytes, file_name: str) -> str:
    """`document`, byte for byte, as the artifact REPORT_ARTIFACT_DIR/`file_name` of the existing run
    `run_id` (a re-run overwrites it); returns the artifact's path. Raises UpstreamError (ConfigError for a
    store this install cannot open) when the run is missing or deleted or the store fails. All of it ends
    within PROBE_TIMEOUT + one call's deadline (call_deadline()), whatever the store does."""
    from mlprom.clients.deadline import run_bounded

    for key, value in _HTTP_RETRY_DEFAULTS.items():
        os.environ.setdefault(key, value)
    quiet_mlflow()
    uri = resolve_tracking_uri(config)
    require_store_support(uri)
    probe(uri)
    artifact = f"{REPORT_ARTIFACT_DIR}/{file_name}"
    # The redirect and the warning filter stay in this thread's block: they end when it stops waiting,
    # not when an abandoned upload does.
    with mlflow_call(f"logging {artifact}", uri):
        run_bounded(
            lambda: _upload(uri, run_id, document, file_name),
            call_deadline(),
            f"MLflow at {describe_uri(uri)}: logging {artifact}",
        )
    return artifact


def _upload(uri: str, run_id: str, document: bytes, file_name: str) -> None:
    import tempfile

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)  # a run that does not exist raises here (RESOURCE_DOES_NOT_EXIST)
    if run.info.lifecycle_stage == "deleted":
        raise UpstreamError(f"MLflow at {describe_uri(uri)}: run {run_id} is deleted")
    with tempfile.TemporaryDirectory(prefix="mlprom-report-") as directory:
        path = os.path.join(directory, file_name)
        with open(path, "wb") as out:
            out.write(document)
        client.log_artifact(run_id, path, REPORT_ARTIFACT_DIR)


def _ended_by(exc: BaseException) -> str:
    from mlprom.errors import Interrupted

    return "KILLED" if isinstance(exc, Interrupted | KeyboardInterrupt) else "FAILED"


def context_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """`tags` and the context tags `mlflow.start_run` adds (mlflow.user, mlflow.source.*, git, and those of
    installed run-context plugins).

    mlflow.start_run takes them from mlflow.tracking.context.registry, which MLflow does not document; the
    fluent API cannot be used instead, as it makes the run the thread's active run and the tracking URI the
    process's. So the registry is used where it exists (every MLflow the compat check installs), and
    MLflow's documented system tags are set here where it does not."""
    try:
        from mlflow.tracking.context.registry import resolve_tags
    except ImportError:
        return {**system_tags(), **tags}
    return dict(resolve_tags(dict(tags)))


def system_tags() -> dict[str, str]:
    """The system tags MLflow documents for a run started from a script: who, what, and its type."""
    import getpass
    import sys

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (a container's arbitrary user)
        user = "unknown"
    return {"mlflow.user": user, "mlflow.source.name": sys.argv[0], "mlflow.source.type": "LOCAL"}


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


def load_pyfunc(model_uri: str, config: Config) -> LoadedModel:
    """mlflow.pyfunc.load_model(model_uri); models:/NAME@ALIAS is resolved to its version first, through the
    registry, and that version is what is loaded (an alias moved meanwhile changes nothing). A bad URI is
    InputError."""
    from mlprom.errors import Interrupted
    from mlprom.runtime.stdio import stdout_redirected

    quiet_mlflow()
    shown = describe_model_uri(
        model_uri
    )  # a model URI may carry user:password@ or a token: never in a message
    if "://" not in model_uri and ":/" not in model_uri and not os.path.exists(os.path.expanduser(model_uri)):
        raise InputError(f"--model-uri {shown}: no such model directory")
    uri = resolve_tracking_uri(config)
    registered = _registered_version(model_uri, uri)
    load_uri = f"models:/{registered.name}/{registered.version}" if registered else model_uri
    try:
        # Loading runs the model's own code (a loader, load_context): its prints go to stderr.
        with stdout_redirected("stderr"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mlflow
            import mlflow.pyfunc

            mlflow.set_tracking_uri(uri)  # runs:/ and models:/ resolve against the configured server
            model = mlflow.pyfunc.load_model(load_uri)
    except Interrupted:
        raise
    except BaseException as exc:  # noqa: BLE001 - MLflow and the model's code raise anything, sys.exit() too
        raise _load_error(shown, uri, exc) from None
    metadata = getattr(model, "metadata", None)
    model_id = (registered.model_id if registered else None) or _known_model_id(
        getattr(metadata, "model_id", None), uri
    )
    return LoadedModel(
        predict=model.predict,
        uri=load_uri,
        version=registered.version if registered else _model_version(model_uri, model),
        name=registered.name if registered else None,
        model_id=str(model_id) if model_id else None,
    )


@dataclass(frozen=True)
class _RegisteredVersion:
    name: str
    version: str
    model_id: str | None


_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))/?$")


def _registered_version(model_uri: str, tracking_uri: str) -> _RegisteredVersion | None:
    """models:/NAME@ALIAS or models:/NAME/N -> the registry's version (and its LoggedModel id)."""
    match = _MODELS_URI.match(model_uri)
    if match is None:
        return None
    name = match.group("name")
    from mlprom.runtime.stdio import stdout_redirected

    try:
        with stdout_redirected("stderr" if _verbose() else "devnull"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri=tracking_uri, registry_uri=_registry_uri(tracking_uri))
            if match.group("alias"):
                found = client.get_model_version_by_alias(name, match.group("alias"))
            else:
                found = client.get_model_version(name, match.group("version"))
    except Exception as exc:  # noqa: BLE001 - MLflow raises MlflowException, requests and SQLAlchemy errors
        raise _load_error(describe_model_uri(model_uri), tracking_uri, exc) from None
    # MLflow 3 registers a LoggedModel with source models:/m-<id>; model_id is not always filled in.
    source = re.match(r"^models:/(m-[0-9a-f]+)$", str(getattr(found, "source", "") or ""))
    model_id = getattr(found, "model_id", None) or (source.group(1) if source else None)
    return _RegisteredVersion(name, str(found.version), str(model_id) if model_id else None)


def _known_model_id(model_id: str | None, tracking_uri: str) -> str | None:
    """The model's own LoggedModel id (runs:/ URIs, a logged model's directory) when this tracking store
    has that LoggedModel; a model copied from another store keeps an id that is unknown here."""
    if not model_id:
        return None
    from mlprom.runtime.stdio import stdout_redirected

    try:
        with stdout_redirected("stderr" if _verbose() else "devnull"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from mlflow.tracking import MlflowClient

            MlflowClient(tracking_uri=tracking_uri).get_logged_model(str(model_id))
    except Exception as exc:  # noqa: BLE001 - not found, or a store without LoggedModels: the run just is not linked
        log.debug("the model's LoggedModel %s is not in %s: %s", model_id, describe_uri(tracking_uri), exc)
        return None
    return str(model_id)


def _registry_uri(tracking_uri: str) -> str:
    # The registry lives with the tracking store unless MLFLOW_REGISTRY_URI says otherwise, as in MLflow.
    return os.environ.get("MLFLOW_REGISTRY_URI") or tracking_uri


def _load_error(model_uri: str, tracking_uri: str, exc: BaseException) -> Exception:
    from mlprom.redact import redact_text

    if isinstance(exc, SystemExit):
        return InputError(f"--model-uri {model_uri}: loading the model called sys.exit({exc.code!r})")
    cause = redact_text(_cause(exc, tracking_uri))
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
