"""Prometheus HTTP API client (also Thanos, Mimir, Cortex, VictoriaMetrics): instant queries and readiness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from mlprom.clients.http import build_session, probe_ready, redact_url, request, split_credentials
from mlprom.errors import UpstreamError
from mlprom.records import Series, number_or_raw

if TYPE_CHECKING:
    import requests

    from mlprom.config import PrometheusConfig


class QueryError(Exception):
    """Prometheus answered, but refused this one query (bad PromQL, timeout, too many samples)."""


@dataclass(frozen=True)
class ParsedResult:
    result_type: str
    series: tuple[Series, ...]
    warnings: tuple[str, ...]


def _sample(value: Any) -> tuple[float | None, str | None]:
    # A sample is [unix_ts, "text"]; the text may be "NaN", "+Inf" or "-Inf", which JSON cannot hold.
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"malformed sample {value!r}")
    return number_or_raw(value[1])


def parse_query_data(data: Any) -> tuple[str, tuple[Series, ...]]:
    """The `data` of a successful /api/v1/query answer -> (resultType, series)."""
    if not isinstance(data, dict) or "resultType" not in data:
        raise ValueError("answer has no data.resultType")
    kind = data["resultType"]
    result = data.get("result")
    if kind == "vector":
        out = []
        for item in result or ():
            value, raw = _sample(item.get("value"))
            out.append(Series(dict(item.get("metric") or {}), value, raw))
        return kind, tuple(out)
    if kind == "matrix":
        # An instant query of a range selector: keep each series' latest sample.
        out = []
        for item in result or ():
            values = item.get("values") or []
            value, raw = _sample(values[-1]) if values else (None, None)
            out.append(Series(dict(item.get("metric") or {}), value, raw))
        return kind, tuple(out)
    if kind == "scalar":
        value, raw = _sample(result)
        return kind, (Series({}, value, raw),)
    if kind == "string":
        if not isinstance(result, list) or len(result) != 2:
            raise ValueError(f"malformed string result {result!r}")
        return kind, (Series({}, None, str(result[1])),)
    raise ValueError(f"unknown resultType {kind!r}")


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and its samples in time order (None for NaN/±Inf)."""

    labels: dict[str, str]
    times: tuple[float, ...]
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class RangeResult:
    series: tuple[RangeSeries, ...]
    warnings: tuple[str, ...]


def parse_matrix_data(data: Any) -> tuple[RangeSeries, ...]:
    """The `data` of a successful /api/v1/query_range answer -> its series (resultType matrix)."""
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise ValueError("answer has no data.resultType matrix")
    out = []
    for item in data.get("result") or ():
        times: list[float] = []
        values: list[float | None] = []
        for sample in item.get("values") or ():
            if not isinstance(sample, list | tuple) or len(sample) != 2:
                raise ValueError(f"malformed sample {sample!r}")
            times.append(float(sample[0]))
            values.append(number_or_raw(sample[1])[0])
        out.append(RangeSeries(dict(item.get("metric") or {}), tuple(times), tuple(values)))
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
        """GET /-/ready; raises UpstreamError unless it answers 200."""
        probe_ready(self.session, self.base_url, self._what(), self.timeout)

    def query(self, expr: str, at: datetime) -> ParsedResult:
        """Instant query at `at`. QueryError: Prometheus refused the query; UpstreamError: it could not be asked."""
        form = {"query": expr, "time": f"{at.timestamp():.3f}", "timeout": f"{max(self.timeout - 1, 1):g}s"}
        url, data, warnings = self._call("query", form)
        try:
            kind, series = parse_query_data(data)
        except (ValueError, TypeError, AttributeError) as exc:
            raise UpstreamError(f"Prometheus at {redact_url(url)}: malformed answer: {exc}") from None
        return ParsedResult(kind, series, warnings)

    def query_range(self, expr: str, start: float, end: float, step: float) -> RangeResult:
        """Range query over [start, end] (unix seconds) at `step`; the caller keeps it under 11,000 points.

        POSTed form-encoded like `query`, so long expressions never hit a URL length limit.
        """
        form = {
            "query": expr,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
            "timeout": f"{max(self.timeout - 1, 1):g}s",
        }
        url, data, warnings = self._call("query_range", form)
        try:
            series = parse_matrix_data(data)
        except (ValueError, TypeError, AttributeError) as exc:
            raise UpstreamError(f"Prometheus at {redact_url(url)}: malformed answer: {exc}") from None
        return RangeResult(series, warnings)

    def _call(self, endpoint: str, form: dict[str, str]) -> tuple[str, Any, tuple[str, ...]]:
        """POST /api/v1/<endpoint>; (url, data, warnings) of a successful answer, else QueryError/UpstreamError."""
        url = f"{self.base_url}/api/v1/{endpoint}"
        response = request(self.session, "POST", url, self._what(), self.timeout, data=form)
        status = response.status_code
        try:
            # orjson: a day of history is megabytes of samples, parsed several times faster than json.
            body = orjson.loads(response.content)
        except ValueError:
            body = None
        if status >= 500 and not (
            isinstance(body, dict) and body.get("errorType") in ("timeout", "execution")
        ):
            raise UpstreamError(f"Prometheus at {redact_url(url)}: HTTP {status} after retries")
        if not isinstance(body, dict):
            if status >= 400:
                raise UpstreamError(
                    f"Prometheus at {redact_url(url)}: HTTP {status} with a body that is not JSON"
                )
            raise UpstreamError(f"Prometheus at {redact_url(url)}: answer is not valid JSON (HTTP {status})")
        warnings = tuple(str(w) for w in body.get("warnings") or ())
        if body.get("status") != "success":
            # The error envelope: {"status": "error", "errorType": "bad_data", "error": "..."}
            raise QueryError(f"{body.get('errorType', 'error')}: {body.get('error', f'HTTP {status}')}")
        return url, body.get("data"), warnings
