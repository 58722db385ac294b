"""HTTP for every upstream: sessions with auth and TLS, one request function with a total deadline.

`request()` is the only way mlprom talks HTTP. One call (all attempts, back-off, Retry-After waits and
reading the whole answer) ends within its deadline: the endpoint's `timeout`, or the enclosing
`deadline.scope()` when that ends sooner. Connection errors, 429 and 5xx are retried with exponential
back-off; Retry-After is honoured up to `RetryPolicy.retry_after_cap` and never past the deadline.
Answers larger than `max_bytes` are refused. Redirects are followed only for GET and only on the first
URL's scheme, host and port (`_redirect_target`). Every message names the server without credentials.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mlprom.clients.deadline import Deadline, watch, watched_pool_classes
from mlprom.errors import ConfigError, UpstreamError
from mlprom.redact import printable, redact_url, split_url

if TYPE_CHECKING:
    import requests

    from mlprom.config import HTTPEndpoint

RETRY_STATUSES = (429, 500, 502, 503, 504)
DEFAULT_TIMEOUT = 30.0  # the endpoints' `timeout` default: the total deadline of one call
CONNECT_TIMEOUT = 5.0  # per attempt; the rest of the deadline is left for retries
DEFAULT_MAX_BYTES = 16 * 1024 * 1024  # answers of Alertmanager, Pushgateway, MLflow's /health are tiny
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5  # hops of one GET, all on the first URL's scheme, host and port
_FOLLOWED_METHODS = ("GET", "HEAD")  # a redirected POST/PUT/DELETE would drop or resend its body
_CHUNK = 64 * 1024


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of one call: `total` retries after the first attempt, within the call's deadline."""

    total: int = 3
    backoff_factor: float = 0.5  # waits 0.5 s, 1 s, 2 s, ... between attempts
    backoff_max: float = 10.0
    retry_after_cap: float = 30.0  # the longest Retry-After honoured; longer is still capped by the deadline

    def backoff(self, retry: int) -> float:
        """The wait before retry number `retry` (1-based)."""
        return float(min(self.backoff_max, self.backoff_factor * 2 ** (retry - 1)))


def _read_secret(path: str, what: str) -> str:
    """A token or password file: one line of printable text (it goes into an HTTP header)."""
    from mlprom.config.loader import FileTooLarge, NotRegularFile, read_regular_file

    try:
        body = read_regular_file(path, 64 * 1024)
    except FileTooLarge:
        raise ConfigError(f"{what} {path}: expected one line of printable text") from None
    except NotRegularFile as exc:
        # A FIFO would hang the run and /dev/zero feed it forever: a secret is a file someone wrote.
        raise ConfigError(f"{what} {path}: is {exc.kind}, not a regular file; refusing to read it") from None
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
    from mlprom.config.loader import file_kind

    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise ConfigError(f"{what} {path}: no such file") from None
    if not stat.S_ISREG(mode):
        # The TLS library would block on a FIFO's open or read a device without end.
        raise ConfigError(f"{what} {path}: is {file_kind(mode)}, not a regular file")
    return path


def _watched_adapter(pool_size: int) -> Any:
    """A requests HTTPAdapter without retries of its own (request() retries) whose connections are watched."""
    from requests.adapters import HTTPAdapter

    class WatchedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = watched_pool_classes(
                self.poolmanager.pool_classes_by_scheme
            )

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **proxy_kwargs)
            manager.pool_classes_by_scheme = watched_pool_classes(manager.pool_classes_by_scheme)
            return manager

    return WatchedAdapter(max_retries=0, pool_connections=pool_size, pool_maxsize=pool_size)


def build_session(
    endpoint: HTTPEndpoint, name: str, retry: RetryPolicy | None = None, pool_size: int = 10
) -> requests.Session:
    """A Session carrying the endpoint's headers, auth and TLS; `request()` retries with `retry`."""
    import requests

    session = requests.Session()
    adapter = _watched_adapter(pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.mlprom_retry = retry or RetryPolicy()  # type: ignore[attr-defined]
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
    sigv4 = getattr(endpoint, "sigv4", None)  # prometheus only; the config refuses it beside other auth
    if sigv4 is not None:
        from mlprom.clients.sigv4 import sigv4_auth

        session.auth = sigv4_auth(sigv4)
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
    from urllib.parse import unquote

    parts = split_url(url)
    if parts is None or not parts[1]:
        return url, None
    scheme, userinfo, host, tail = parts
    user, _, password = userinfo[:-1].partition(":")
    return f"{scheme}{host}{tail}", (unquote(user), unquote(password))


# ---------------------------------------------------------------- one request


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read in full within the deadline."""

    status_code: int
    reason: str
    headers: Mapping[str, str]
    content: bytes
    url: str  # redacted
    attempts: int = 1
    note: str | None = None  # why retrying stopped before `total` (Retry-After past the deadline, ...)
    elapsed: float = field(default=0.0, compare=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not (strict: UTF-8, no NaN tokens, no lone surrogates)."""
        import orjson

        return orjson.loads(self.content)

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type", "")).split(";", 1)[0].strip().lower()

    @property
    def is_html(self) -> bool:
        """A web page (a login portal, a proxy's error page), not an API answer."""
        head = self.content.lstrip()[:64].lower()
        return self.content_type in ("text/html", "application/xhtml+xml") or head.startswith(
            (b"<!doctype html", b"<html")
        )

    def snippet(self, limit: int = 300) -> str:
        """The body as one printable, redacted line, for messages."""
        if self.is_html:
            return "an HTML page"
        return printable(self.text, limit) or self.reason or ""

    def attempts_note(self) -> str:
        """` (4 attempts; asked to retry after 3600 s, past the 2 s deadline)`, or "" after one attempt."""
        parts = [f"{self.attempts} attempts"] if self.attempts > 1 else []
        if self.note:
            parts.append(self.note)
        return f" ({'; '.join(parts)})" if parts else ""

    def describe(self) -> str:
        """`HTTP 503` plus how many attempts and why retrying stopped, for messages."""
        return f"HTTP {self.status_code}{self.attempts_note()}"


class _TooLarge(Exception):
    pass


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) with the scheme's default port filled in; None when the URL has no valid one."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def _redirect_target(answer: Answer, method: str, url: str, first: str, hops: int, where: str) -> str | None:
    """Where to follow a 3xx answer to `url`, or None to hand the answer back as it is (no Location).

    The policy: never follow on POST, PUT or DELETE (requests would turn a 301/302 POST into a bodyless GET
    that "succeeds", and resend the configured headers to wherever Location points); follow a GET only to
    the scheme, host and port of the first URL, at most MAX_REDIRECTS times. Anything else is an
    UpstreamError naming the Location without credentials.
    """
    from urllib.parse import urljoin

    location = next((str(v).strip() for k, v in answer.headers.items() if k.lower() == "location"), "")
    shown = redact_url(urljoin(url, location)) if location else "nowhere (no Location)"
    moved = f"{where}: redirected (HTTP {answer.status_code}) to {shown}"
    if method.upper() not in _FOLLOWED_METHODS:
        raise UpstreamError(f"{moved}; mlprom never follows a redirect of a {method.upper()}")
    if not location:
        return None
    target = urljoin(url, location)
    if _origin(target) is None or _origin(target) != _origin(first):
        raise UpstreamError(f"{moved}; not followed to another scheme, host or port")
    if hops >= MAX_REDIRECTS:
        raise UpstreamError(f"{moved}; not followed: more than {MAX_REDIRECTS} redirects")
    # Credentials in a Location are the server's, not the operator's: requests would send them as auth.
    return split_credentials(target)[0]


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (a number or an HTTP date), or None when absent or unreadable."""
    value = str(headers.get("Retry-After", "")).strip()
    if not value:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def describe_exception(exc: BaseException) -> str:
    """A short cause for a requests failure that never echoes URLs with credentials or headers."""
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake or verification failed"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "timed out waiting for an answer"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection closed in the middle of the answer"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "answer could not be decoded"
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
        return "invalid URL"
    if isinstance(exc, requests.exceptions.RetryError):
        return "failing after retries"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "Connection refused" in text:
            return "connection refused"
        if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
            return "host name not found"
        if "reset by peer" in text:
            return "connection reset"
        if "RemoteDisconnected" in text or "without response" in text or "Connection aborted" in text:
            return "connection closed without an answer"
        if "IncompleteRead" in text or "Response ended prematurely" in text:
            return "connection closed in the middle of the answer"
        return "connection failed"
    if isinstance(exc, OSError):
        return "connection failed"
    return exc.__class__.__name__


def _retryable(exc: BaseException) -> bool:
    import requests

    if isinstance(
        exc,
        requests.exceptions.SSLError
        | requests.exceptions.InvalidURL
        | requests.exceptions.InvalidSchema
        | requests.exceptions.MissingSchema
        | requests.exceptions.TooManyRedirects
        | requests.exceptions.InvalidHeader,
    ):
        return False
    return isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.Timeout
        | requests.exceptions.ChunkedEncodingError
        | OSError,
    )


def _attempt(
    session: requests.Session,
    method: str,
    url: str,
    shown: str,
    remaining: float,
    max_bytes: int,
    attempts: int,
    kwargs: dict[str, Any],
) -> Answer:
    started = time.monotonic()
    response = session.request(
        method,
        url,
        timeout=(min(CONNECT_TIMEOUT, remaining), remaining),
        stream=True,
        # request() follows redirects itself, by the policy of _redirect_target.
        allow_redirects=False,
        # Given per request, the config's TLS choice wins: requests would otherwise let REQUESTS_CA_BUNDLE
        # or CURL_CA_BUNDLE replace the session's verify (a ca_file, or False for insecure_skip_verify).
        # True (nothing configured) still lets those variables name the CA bundle.
        verify=session.verify,
        **kwargs,
    )
    try:
        declared = str(response.headers.get("Content-Length", "")).strip()
        if declared.isdigit() and int(declared) > max_bytes:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise _TooLarge
            chunks.append(chunk)
        return Answer(
            response.status_code,
            str(response.reason or ""),
            dict(response.headers),
            b"".join(chunks),
            shown,
            attempts,
            elapsed=time.monotonic() - started,
        )
    finally:
        response.close()


def request(
    session: requests.Session,
    method: str,
    url: str,
    what: str,
    timeout: float | None = None,
    *,
    deadline: Deadline | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    shown: str | None = None,
    **kwargs: Any,
) -> Answer:
    """One call, read in full: within `deadline` (else `timeout` seconds, bounded by the enclosing scope).

    Returns the final answer, also a 429/5xx one after the retries (callers say what it means for them).
    Raises UpstreamError naming `what` and the redacted URL (or `shown`) when no answer came: connection
    failures after the retries, the deadline, an answer over `max_bytes`.
    """
    import requests
    import urllib3

    if deadline is None:
        deadline = Deadline.after(DEFAULT_TIMEOUT if timeout is None else timeout)
    policy: RetryPolicy = getattr(session, "mlprom_retry", None) or RetryPolicy()
    shown = redact_url(shown if shown is not None else url)
    where = f"{what} at {shown}"
    last: Answer | None = None
    attempts = 0
    first, hops = url, 0
    with watch(deadline) as watcher:
        while True:
            remaining = deadline.remaining()
            if remaining <= 0:
                if last is not None:
                    return replace(last, note=f"no time left to retry within the {deadline}")
                raise UpstreamError(f"{where}: no answer within the {deadline}")
            attempts += 1
            try:
                answer = _attempt(session, method, url, shown, remaining, max_bytes, attempts, kwargs)
            except _TooLarge:
                raise UpstreamError(f"{where}: answer larger than {max_bytes:,} bytes; not read") from None
            except UnicodeError:
                # A header or credential that HTTP/1.1 cannot carry (not Latin-1): the config's fault.
                raise ConfigError(
                    f"{where}: a configured header or credential holds characters HTTP cannot send"
                ) from None
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                if watcher.fired or deadline.expired:
                    if last is not None:
                        return replace(last, attempts=attempts, note=f"then nothing within the {deadline}")
                    raise UpstreamError(f"{where}: no complete answer within the {deadline}") from None
                cause = describe_exception(exc)
                if not _retryable(exc):
                    raise UpstreamError(f"{where}: {cause}") from None
                if attempts > policy.total:
                    raise UpstreamError(f"{where}: {cause} ({attempts} attempts)") from None
                last = None  # the latest outcome is this failure, not an older answer
                wait = policy.backoff(attempts)
                if wait >= deadline.remaining():
                    raise UpstreamError(
                        f"{where}: {cause} ({attempts} attempts; no time left to retry within the {deadline})"
                    ) from None
                time.sleep(wait)
                continue
            if answer.status_code in REDIRECT_STATUSES:
                target = _redirect_target(answer, method, url, first, hops, where)
                if target is not None:
                    # A hop is not a retry: the next URL gets its own retries, all within the deadline.
                    url, hops, attempts, last = target, hops + 1, 0, None
                    continue
            if answer.status_code not in RETRY_STATUSES or attempts > policy.total:
                return answer
            last = answer
            asked = _retry_after(answer.headers)
            if asked is not None:
                wait = min(asked, policy.retry_after_cap)
                if wait >= deadline.remaining():
                    # Never sleep past the deadline: give up now with the answer we have.
                    return replace(answer, note=f"asked to retry after {asked:g} s, past the {deadline}")
            else:
                wait = policy.backoff(attempts)
                if wait >= deadline.remaining():
                    return replace(answer, note=f"no time left to retry within the {deadline}")
            time.sleep(wait)


def probe_ready(session: requests.Session, base_url: str, what: str, timeout: float) -> None:
    """GET {base_url}/-/ready, the readiness endpoint of Prometheus, Alertmanager and Pushgateway."""
    url = base_url.rstrip("/") + "/-/ready"
    answer = request(session, "GET", url, what, timeout, max_bytes=64 * 1024)
    if answer.status_code != 200:
        raise UpstreamError(f"{what} at {redact_url(url)}: not ready ({answer.describe()})")
    if answer.is_html:
        raise UpstreamError(f"{what} at {redact_url(url)}: answered with an HTML page, not {what}'s API")
