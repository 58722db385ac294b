"""Prometheus HTTP API client (also Thanos, Mimir, Cortex, VictoriaMetrics): instant and range queries, readiness.

Answers are validated before anything is stored: a malformed envelope fails the query, a series of the
wrong shape (a label value that is not a string, a sample that is not [time, "number"]) is skipped and
named in the query's warnings.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from mlprom.clients.deadline import Deadline
from mlprom.clients.http import build_session, probe_ready, request, split_credentials
from mlprom.errors import UpstreamError
from mlprom.records import Series, number_or_raw
from mlprom.redact import printable, redact_url

if TYPE_CHECKING:
    import requests

    from mlprom.config import PrometheusConfig

# A snapshot's answers are read in memory and stored whole; more than this is a runaway query.
MAX_ANSWER_BYTES = 64 * 1024 * 1024
RESULT_TYPES = ("vector", "matrix", "scalar", "string")
# One answer decoded at a time, however many requests are in flight: decoding holds the GIL anyway, and
# a decoded range answer (a list and two objects per point) is five times its JSON, so eight of them
# decoded side by side multiply a day of history's peak memory (docs/benchmarks.md, correlate's memory).
_DECODING = threading.Lock()
T = TypeVar("T")


class QueryError(Exception):
    """Prometheus answered, but refused this one query (bad PromQL, timeout, too many samples)."""


@dataclass(frozen=True)
class ParsedResult:
    result_type: str
    series: tuple[Series, ...]
    warnings: tuple[str, ...]
    skipped: tuple[str, ...] = ()  # why series of the wrong shape were left out


def _describe(value: Any) -> str:
    text = printable(repr(value), 60)
    return f"{type(value).__name__} {text}"


def _sample(value: Any) -> tuple[float | None, str | None]:
    # A sample is [unix_ts, "text"]; the text may be "NaN", "+Inf" or "-Inf", which JSON cannot hold.
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f'sample is {_describe(value)}, expected [time, "value"]')
    ts, text = value
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise ValueError(f"sample time is {_describe(ts)}, expected a number")
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"sample value is {_describe(text)}, expected a number as text")
    try:
        float(text)
    except ValueError:
        raise ValueError(f"sample value {printable(str(text), 60)!r} is not a number") from None
    return number_or_raw(text if isinstance(text, str) else repr(float(text)))


def _labels(metric: Any) -> dict[str, str]:
    if metric is None:
        return {}
    if not isinstance(metric, dict):
        raise ValueError(f"metric is {_describe(metric)}, expected an object of labels")
    for name, value in metric.items():
        if not isinstance(value, str):
            raise ValueError(f"label {printable(str(name), 60)!r} is {_describe(value)}, expected a string")
    return dict(metric)


def _series(item: Any, kind: str) -> Series:
    if not isinstance(item, dict):
        raise ValueError(f"series is {_describe(item)}, expected an object")
    labels = _labels(item.get("metric"))
    if kind == "vector":
        if "value" not in item and "histogram" in item:
            raise ValueError("native histogram sample (not supported)")
        value, raw = _sample(item.get("value"))
        return Series(labels, value, raw)
    # An instant query of a range selector: keep each series' latest sample.
    values = item.get("values")
    if values is None and "histograms" in item:
        raise ValueError("native histogram samples (not supported)")
    if not isinstance(values, list):
        raise ValueError(f"values is {_describe(values)}, expected a list of samples")
    if not values:
        return Series(labels, None, None)
    value, raw = _sample(values[-1])
    return Series(labels, value, raw)


def parse_query_data(data: Any, skipped: list[str] | None = None) -> tuple[str, tuple[Series, ...]]:
    """The `data` of a successful /api/v1/query answer -> (resultType, series).

    A malformed envelope raises ValueError. A malformed series raises too, unless `skipped` is given:
    then it is left out and the reason appended there.
    """
    if not isinstance(data, dict) or "resultType" not in data:
        raise ValueError("answer has no data.resultType")
    kind = data["resultType"]
    if kind not in RESULT_TYPES:
        raise ValueError(f"unknown resultType {printable(str(kind), 60)!r}")
    result = data.get("result")
    if kind in ("vector", "matrix"):
        if result is None:
            return kind, ()
        if not isinstance(result, list):
            raise ValueError(f"data.result is {_describe(result)}, expected a list of series")
        out = []
        for index, item in enumerate(result):
            try:
                out.append(_series(item, kind))
            except ValueError as exc:
                if skipped is None:
                    raise
                skipped.append(f"series {index}: {exc}")
        return kind, tuple(out)
    if kind == "scalar":
        value, raw = _sample(result)
        return kind, (Series({}, value, raw),)
    if not isinstance(result, list) or len(result) != 2 or not isinstance(result[1], str):
        raise ValueError(f'string result is {_describe(result)}, expected [time, "text"]')
    return kind, (Series({}, None, result[1]),)


def _string_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (printable(value, 500),)
    if isinstance(value, list):
        return tuple(printable(str(w), 500) for w in value)
    return ()


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and its samples in time order (None for NaN/±Inf)."""

    labels: dict[str, str]
    times: tuple[float, ...]
    values: tuple[float | None, ...]
    # Beside `values`, the text of each NaN/±Inf sample (None elsewhere); empty when there is none.
    raws: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class RangeResult:
    series: tuple[RangeSeries, ...]
    warnings: tuple[str, ...]


def _check_special(raw: str) -> None:
    """A sample's text that is no finite number must be NaN or ±Inf; any other text is malformed."""
    try:
        float(raw)
    except ValueError:
        raise ValueError(f"sample value {printable(raw, 60)!r} is not a number") from None


def parse_matrix_data(data: Any) -> tuple[RangeSeries, ...]:
    """The `data` of a successful /api/v1/query_range answer -> its series (resultType matrix)."""
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise ValueError("answer has no data.resultType matrix")
    out = []
    # Every series of an answer is on the same steps: one float per step, shared, not one per point.
    steps: dict[Any, float] = {}
    for item in data.get("result") or ():
        if not isinstance(item, dict):
            raise ValueError("a series is not an object")
        times: list[float] = []
        values: list[float | None] = []
        raws: list[str | None] | None = None  # made at the first NaN/±Inf: most series have none
        for sample in item.get("values") or ():
            if not isinstance(sample, list | tuple) or len(sample) != 2:
                raise ValueError(f"malformed sample {printable(repr(sample), 80)}")
            at = steps.get(sample[0])  # an unhashable time is malformed, as float() would say
            if at is None:
                at = steps[sample[0]] = float(sample[0])
                if not math.isfinite(at):
                    raise ValueError(f"sample time {printable(repr(sample[0]), 60)} is not a finite number")
            times.append(at)
            value, raw = number_or_raw(sample[1])
            values.append(value)
            if raw is not None:
                _check_special(raw)
                if raws is None:
                    raws = [None] * (len(values) - 1)
                raws.append(raw)
            elif raws is not None:
                raws.append(None)
        labels = item.get("metric") or {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise ValueError("a series' labels are not strings")
        out.append(RangeSeries(dict(labels), tuple(times), tuple(values), tuple(raws or ())))
    return tuple(out)


@dataclass(frozen=True)
class ScrapeTarget:
    """One active scrape target: its job and how often it is scraped (None: the server did not say)."""

    job: str
    instance: str
    interval_seconds: float | None


def parse_targets_data(data: Any) -> tuple[ScrapeTarget, ...]:
    """The `data` of a successful /api/v1/targets answer -> its active targets.

    `scrapeInterval` (Prometheus 2.42 and later) is a Prometheus duration; older servers leave it out.
    """
    from mlprom.config.durations import parse_duration

    if not isinstance(data, dict) or not isinstance(data.get("activeTargets"), list):
        raise ValueError("answer has no data.activeTargets list")
    out = []
    for item in data["activeTargets"]:
        if not isinstance(item, dict):
            raise ValueError(f"target is {_describe(item)}, expected an object")
        labels = _labels(item.get("labels"))
        interval = item.get("scrapeInterval")
        seconds = None
        if interval is not None:
            if not isinstance(interval, str):
                raise ValueError(f"scrapeInterval is {_describe(interval)}, expected a duration")
            seconds = parse_duration(interval)
            if seconds <= 0:
                raise ValueError(f"scrapeInterval {printable(interval, 60)!r} is not above zero")
        job = labels.get("job", item.get("scrapePool") if isinstance(item.get("scrapePool"), str) else "")
        out.append(ScrapeTarget(str(job), labels.get("instance", ""), seconds))
    return tuple(out)


class PrometheusClient:
    def __init__(self, url: str, session: requests.Session, timeout: float = 30.0) -> None:
        clean, creds = split_credentials(url)
        if creds and session.auth is None:
            session.auth = creds  # credentials in the URL go to auth, never into messages or records
        self.base_url = clean.rstrip("/")
        self.source = redact_url(self.base_url)
        self.session = session
        self.timeout = timeout

    @classmethod
    def from_config(cls, config: PrometheusConfig, pool_size: int = 10) -> PrometheusClient:
        return cls(config.url, build_session(config, "prometheus", pool_size=pool_size), config.timeout)

    def _what(self) -> str:
        return "Prometheus"

    def ready(self) -> None:
        """GET /-/ready; raises UpstreamError unless it answers 200.

        A SigV4-signed workspace (Amazon Managed Service for Prometheus) has no /-/ready: the query
        API is all it serves, so a query is what proves it answers.
        """
        from mlprom.clients.sigv4 import SigV4Auth  # requests and mlprom only: botocore loads when signing

        if isinstance(self.session.auth, SigV4Auth):
            return
        probe_ready(self.session, self.base_url, self._what(), self.timeout)

    def query(self, expr: str, at: datetime) -> ParsedResult:
        """Instant query at `at`. QueryError: Prometheus refused the query; UpstreamError: it could not be
        asked, or what it answered is not a Prometheus answer."""
        skipped: list[str] = []
        (kind, series), warnings = self._call(
            "query",
            {"query": expr, "time": f"{at.timestamp():.3f}"},
            lambda data: parse_query_data(data, skipped),
        )
        return ParsedResult(kind, series, warnings, tuple(skipped))

    def query_range(self, expr: str, start: float, end: float, step: float) -> RangeResult:
        """Range query over [start, end] (unix seconds) at `step`; the caller keeps it under 11,000 points.

        POSTed form-encoded like `query`, so long expressions never hit a URL length limit.
        """
        form = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        series, warnings = self._call("query_range", form, parse_matrix_data)
        return RangeResult(series, warnings)

    def targets(self) -> tuple[ScrapeTarget, ...]:
        """GET /api/v1/targets?state=active. UpstreamError when it cannot be read: Thanos, Mimir and
        VictoriaMetrics' single-node API answer 404 there, as does any server that does not scrape."""
        url = f"{self.base_url}/api/v1/targets"
        answer = request(
            self.session,
            "GET",
            url,
            self._what(),
            deadline=Deadline.after(self.timeout),
            max_bytes=MAX_ANSWER_BYTES,
            params={"state": "active"},
        )
        where = f"Prometheus at {redact_url(url)}"
        if answer.status_code == 404:
            raise UpstreamError(f"{where}: no targets API (HTTP 404)")
        with _DECODING:
            try:
                targets, _ = self._decoded(answer, where, parse_targets_data)
            except QueryError as exc:
                raise UpstreamError(f"{where}: {exc}") from None
        return targets

    def raw_samples(self, expr: str, at: float) -> RangeResult:
        """Instant query of a range selector (`up[5m]`) at `at`: each series' raw samples, unaligned."""
        series, warnings = self._call("query", {"query": expr, "time": f"{at:.3f}"}, parse_matrix_data)
        return RangeResult(series, warnings)

    def _call(
        self, endpoint: str, form: dict[str, str], parse: Callable[[Any], T]
    ) -> tuple[T, tuple[str, ...]]:
        """POST /api/v1/<endpoint>: (parse(data), warnings) of a successful answer, else QueryError or
        UpstreamError (also when `parse` finds the data malformed)."""
        url = f"{self.base_url}/api/v1/{endpoint}"
        where = f"Prometheus at {redact_url(url)}"
        deadline = Deadline.after(self.timeout)
        # Prometheus gives up on the query a second before we give up on Prometheus.
        query_timeout = max(deadline.remaining() - 1.0, 0.5)
        form = {**form, "timeout": f"{int(query_timeout * 1000)}ms"}
        answer = request(
            self.session,
            "POST",
            url,
            self._what(),
            deadline=deadline,
            max_bytes=MAX_ANSWER_BYTES,
            data=form,
        )
        with _DECODING:
            return self._decoded(answer, where, parse)

    def _decoded(self, answer: Any, where: str, parse: Callable[[Any], T]) -> tuple[T, tuple[str, ...]]:
        status = answer.status_code
        try:
            body = answer.json()
        except ValueError:
            body = None
        is_envelope = isinstance(body, dict) and body.get("status") in ("success", "error")
        if (status >= 500 or status == 429) and not (
            is_envelope and isinstance(body, dict) and body.get("errorType") in ("timeout", "execution")
        ):
            raise UpstreamError(f"{where}: {answer.describe()}: {answer.snippet(200)}")
        if not is_envelope or not isinstance(body, dict):
            if status in (401, 403):
                # A gateway's or AWS's refusal (a wrong SigV4 secret, an expired token), not Prometheus'.
                raise UpstreamError(
                    f"{where}: {answer.describe()}, credentials refused: {answer.snippet(200)}"
                )
            if answer.is_html:
                raise UpstreamError(
                    f"{where}: answered HTTP {status} with an HTML page, not the Prometheus API"
                )
            if body is None:
                raise UpstreamError(f"{where}: answer is not valid JSON (HTTP {status})")
            raise UpstreamError(f"{where}: answer is JSON but not a Prometheus answer (HTTP {status})")
        warnings = _string_list(body.get("warnings"))
        if body.get("status") != "success":
            # The error envelope: {"status": "error", "errorType": "bad_data", "error": "..."}
            kind = printable(str(body.get("errorType", "error")), 60)
            raise QueryError(f"{kind}: {printable(str(body.get('error', f'HTTP {status}')), 500)}")
        try:
            return parse(body.get("data")), warnings
        except (ValueError, TypeError, AttributeError) as exc:
            raise UpstreamError(f"{where}: malformed answer: {exc}") from None
