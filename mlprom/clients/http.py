"""requests sessions with retries, auth and TLS from an HTTPEndpoint config; URL redaction for messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from mlprom.errors import ConfigError, UpstreamError

if TYPE_CHECKING:
    import requests

    from mlprom.config import HTTPEndpoint

RETRY_STATUSES = (429, 500, 502, 503, 504)


def redact_url(url: str) -> str:
    """The URL without user:password@ and without a query string (tokens live there too). Never raises:
    an invalid URL (bad port, bad host) is redacted as text."""
    if "://" not in url:
        return redact_text(url)  # not a URL with a host: whatever it is, keep secrets out of it
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        return redact_text(urlunsplit((parts.scheme, host, parts.path, "", "")))
    except ValueError:
        return redact_text(url)


# scheme://user:password@ and scheme://token@ ; the scheme-less user:password@host form too.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@'\"]*@")
_BARE_USERINFO = re.compile(r"(?<![\w/.:-])[\w.%+-]+:[^\s/@'\"]+@(?=[\w\[])")
_SECRET_PARAMS = re.compile(
    r"(?i)\b(access_token|token|api[_-]?key|apikey|key|password|passwd|pwd|secret|signature|sig|auth|"
    r"x-amz-signature|x-amz-credential|x-amz-security-token|client_secret)=([^&\s'\"]+)"
)
_AUTH_HEADER = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")


_URL_QUERY = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s?#'\"]*)\?[^\s#'\"]*")


def redact_text(text: str) -> str:
    """Any message, URL or not: userinfo, query strings of URLs, secret parameters and Authorization values
    replaced by ***."""
    text = _URL_QUERY.sub(r"\1?***", text)
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    text = _BARE_USERINFO.sub("***@", text)
    text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=***", text)
    return _AUTH_HEADER.sub(lambda m: f"{m.group(1)} ***", text)


@dataclass(frozen=True)
class RetryPolicy:
    total: int = 3
    backoff_factor: float = 0.5


def _read_secret(path: str, what: str) -> str:
    """A token or password file: one line of printable text (it goes into an HTTP header)."""
    try:
        with open(path, "rb") as handle:
            body = handle.read(64 * 1024 + 1)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read: {exc.strerror or exc.__class__.__name__}") from None
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path}: not UTF-8 text (a binary file?)") from None
    # Never echo the content: it is the secret.
    if len(body) > 64 * 1024 or not text or any(not c.isprintable() for c in text):
        raise ConfigError(f"{what} {path}: expected one line of printable text")
    return text


def _check_file(path: str, what: str) -> str:
    if not Path(path).is_file():
        raise ConfigError(f"{what} {path}: no such file")
    return path


def build_session(
    endpoint: HTTPEndpoint, name: str, retry: RetryPolicy | None = None, pool_size: int = 10
) -> requests.Session:
    """A Session carrying the endpoint's headers, auth and TLS, retrying connection errors and 5xx."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = retry or RetryPolicy()
    session = requests.Session()
    policy = Retry(
        total=retry.total,
        connect=retry.total,
        read=retry.total,
        status=retry.total,
        backoff_factor=retry.backoff_factor,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,  # POSTs here are queries or idempotent alert upserts: safe to retry
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    adapter = HTTPAdapter(max_retries=policy, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": "mlprom"})
    session.headers.update(endpoint.headers)
    if endpoint.bearer_token_file:
        token = _read_secret(endpoint.bearer_token_file, f"{name}.bearer_token_file")
        session.headers["Authorization"] = f"Bearer {token}"
    auth = endpoint.basic_auth
    if auth.username:
        password = auth.password or ""
        if auth.password_file:
            password = _read_secret(auth.password_file, f"{name}.basic_auth.password_file")
        session.auth = (auth.username, password)
    tls = endpoint.tls
    if tls.insecure_skip_verify:
        session.verify = False
    elif tls.ca_file:
        session.verify = _check_file(tls.ca_file, f"{name}.tls.ca_file")
    if tls.cert_file:
        cert = _check_file(tls.cert_file, f"{name}.tls.cert_file")
        session.cert = (cert, _check_file(tls.key_file, f"{name}.tls.key_file")) if tls.key_file else cert
    return session


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """URL without user:password@, and those credentials (to pass as auth instead)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, (parts.username, parts.password or "")


def describe_exception(exc: BaseException) -> str:
    """A short cause for a requests failure that never echoes URLs with credentials or headers."""
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS verification failed"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "timed out waiting for an answer"
    if isinstance(exc, requests.exceptions.RetryError):
        reason = getattr(getattr(exc.args[0], "reason", None), "args", [""])
        text = str(reason[0]) if reason else ""
        if "too many" in text and "error responses" in text:
            return "kept answering with server errors after retries"
        return "failing after retries"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "Connection refused" in text:
            return "connection refused"
        if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
            return "host name not found"
        return "connection failed"
    return exc.__class__.__name__


def request(
    session: requests.Session,
    method: str,
    url: str,
    what: str,
    timeout: float,
    **kwargs: Any,
) -> requests.Response:
    """One request; transport failures become UpstreamError naming `what` and the redacted URL."""
    import requests

    try:
        return session.request(method, url, timeout=(min(timeout, 10.0), timeout), **kwargs)
    except requests.exceptions.RequestException as exc:
        raise UpstreamError(f"{what} at {redact_url(url)}: {describe_exception(exc)}") from None


def probe_ready(session: requests.Session, base_url: str, what: str, timeout: float) -> None:
    """GET {base_url}/-/ready, the readiness endpoint of Prometheus, Alertmanager and Pushgateway."""
    url = base_url.rstrip("/") + "/-/ready"
    response = request(session, "GET", url, what, timeout)
    if response.status_code != 200:
        raise UpstreamError(f"{what} at {redact_url(url)}: not ready (HTTP {response.status_code})")
