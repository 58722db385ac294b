"""S3 (and S3-compatible) storage on boto3; every request ends within `storage.timeout`; errors name the key.

Each call (all attempts, back-off and reading the answer) runs under a deadline: botocore's own connect
and read timeouts bound each attempt, its standard retry mode retries throttling, 5xx and connection
errors, a `needs-retry` hook refuses a retry that could not finish in time, and a watchdog shuts the
connection down when the deadline passes (a trickling endpoint never trips a per-read timeout).
A listing ends too: a repeated continuation token is refused, and all its pages together get
LIST_TIMEOUTS × `storage.timeout` of request time. No GET reads more than MAX_OBJECT_BYTES.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from typing import Any

from mlprom.clients.deadline import Deadline, Watch, current_watch, watch, watched_pool_classes
from mlprom.errors import ObjectNotFound, StorageError
from mlprom.storage.interface import (
    MAX_OBJECT_BYTES,
    DeleteResult,
    ObjectInfo,
    Refused,
    RequestCounter,
    Storage,
    Versioned,
)

DELETE_BATCH = 1000  # the DeleteObjects limit
DEFAULT_TIMEOUT = 30.0  # storage.timeout: the total deadline of one S3 request
MAX_ATTEMPTS = 3  # botocore standard retry mode's default: the first try and two retries
CONNECT_TIMEOUT = 5.0
# One listing (all its pages) may spend this many storage.timeouts in requests: 5 min at the default 30 s,
# room for a million keys at S3's 1000 a page, and an end for an endpoint that never stops paging.
LIST_TIMEOUTS = 10
# Conditional writes: S3 answers 412 when the ETag no longer matches (or the key exists, for
# If-None-Match: *), and 409 when another conditional write to the key is in flight.
_CONFLICT_CODES = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey")


def _retry_guard(attempts: int = 1, response: Any = None, **_: Any) -> bool | None:
    """needs-retry hook, ahead of botocore's: no retry once the deadline has passed or is too near.

    Standard mode sleeps at most min(2 ** (attempts - 1), 20) s, plus up to 5 s when S3 sends
    x-amz-retry-after; a retry that could not start before the deadline is not tried (False stops
    the retry; None lets botocore decide).
    """
    watcher = current_watch()
    if watcher is None:
        return None
    if watcher.fired:
        return False
    worst = min(2.0 ** (attempts - 1), 20.0)
    http = response[0] if isinstance(response, tuple) and response else None
    headers = getattr(http, "headers", None) or {}
    if "x-amz-retry-after" in headers:
        worst += 5.0
    if watcher.deadline.remaining() <= worst:
        return False
    return None


def watch_client(client: Any) -> bool:
    """Make a boto3 client's connections join the calling thread's watch and honour deadlines in its retries.

    botocore offers no public way to choose the connection classes of its urllib3 pools; this sets the
    pool classes of its URLLib3Session (tests/unit check it still takes). False when `client` is not a
    botocore client (a test double): then only the connect/read timeouts bound its calls.
    """
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is not None:
        events.register_first("needs-retry.s3", _retry_guard, unique_id="mlprom-deadline")
    http = getattr(getattr(client, "_endpoint", None), "http_session", None)
    classes = getattr(http, "_pool_classes_by_scheme", None)
    manager = getattr(http, "_manager", None)
    if not isinstance(classes, dict) or manager is None:
        return False
    watched = watched_pool_classes(classes)
    http._pool_classes_by_scheme = watched  # type: ignore[union-attr]
    manager.pool_classes_by_scheme = watched
    return True


def make_client(
    endpoint_url: str | None = None,
    region: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_attempts: int = MAX_ATTEMPTS,
    read_timeout: float | None = None,
) -> Any:
    """A boto3 S3 client whose calls can be bounded by `call_deadline`: per-attempt timeouts, standard retries."""
    import boto3
    from botocore.config import Config as BotoConfig

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=BotoConfig(
            retries={"mode": "standard", "total_max_attempts": max(1, max_attempts)},
            connect_timeout=max(0.1, min(CONNECT_TIMEOUT, timeout)),
            read_timeout=max(0.1, read_timeout if read_timeout is not None else timeout),
        ),
    )
    watch_client(client)
    return client


@contextlib.contextmanager
def call_deadline(timeout: float) -> Iterator[Watch]:
    """Bound the S3 calls made in the block by `timeout` seconds (or the enclosing scope, if sooner)."""
    with watch(Deadline.after(timeout)) as watcher:
        yield watcher


class S3Storage(Storage):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
        counter: RequestCounter | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        timeout: float = DEFAULT_TIMEOUT,
        max_object_bytes: int = MAX_OBJECT_BYTES,
    ) -> None:
        self.bucket = bucket
        self.max_object_bytes = max_object_bytes
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.counter = counter
        self.timeout = timeout
        if client is None:
            client = make_client(endpoint_url, region, timeout, max_attempts)
        else:
            watch_client(client)
        self.client = client
        if counter is not None:
            client.meta.events.register("before-call.s3", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        assert self.counter is not None
        self.counter.add(model.name)

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1 :] if self.prefix else full_key

    @contextlib.contextmanager
    def _call(self) -> Iterator[Watch]:
        with call_deadline(self.timeout) as watcher:
            yield watcher

    def _fail(self, action: str, key: str, exc: Exception, watcher: Watch | None = None) -> StorageError:
        from botocore.exceptions import ClientError

        from mlprom.redact import redact_text

        where = f"s3://{self.bucket}/{self._full(key)}"
        if watcher is not None and watcher.fired:
            return StorageError(
                f"s3://{self.bucket}: {action} {key}: no complete answer within the {watcher.deadline} "
                "(storage.timeout)"
            )
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = err.get("Code", "Unknown")
            if code in ("NoSuchBucket",):
                return StorageError(
                    f"s3://{self.bucket}: bucket does not exist (while trying to {action} {key})"
                )
            if code in ("AccessDenied", "403", "AllAccessDisabled"):
                return Refused(f"{where}: access denied while trying to {action}")
            message = redact_text(str(err.get("Message", "")))[:300]
            return StorageError(f"{where}: {action} failed: {code} {message}".rstrip())
        # Connection errors, missing credentials; an endpoint_url with user:password@ is redacted.
        return StorageError(
            f"s3://{self.bucket}: {action} {key} failed: {exc.__class__.__name__}: {redact_text(str(exc))}"
        )

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        with self._call() as watcher:
            try:
                # A single PutObject is atomic: S3 never shows a partial object.
                self.client.put_object(
                    Bucket=self.bucket, Key=self._full(key), Body=data, ContentType=content_type
                )
            except (ClientError, BotoCoreError) as exc:
                raise self._fail("write", key, exc, watcher) from None

    def _get(self, key: str) -> tuple[bytes, str]:
        from botocore.exceptions import BotoCoreError, ClientError

        with self._call() as watcher:
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
                return self._read_capped(key, response), str(response.get("ETag", ""))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    raise ObjectNotFound(key, self.location) from None
                raise self._fail("read", key, exc, watcher) from None
            except BotoCoreError as exc:
                raise self._fail("read", key, exc, watcher) from None

    def _read_capped(self, key: str, response: dict[str, Any]) -> bytes:
        """The body of a GET, refused unread past the cap when declared so, else refused once read past it."""
        cap = self.max_object_bytes
        body = response["Body"]
        declared = response.get("ContentLength")
        try:
            if isinstance(declared, int) and declared > cap:
                raise Refused(
                    f"{self.url_for(key)}: {declared:,} bytes, over the {cap:,}-byte cap of a stored object; "
                    "not read"
                )
            data = bytes(body.read(cap + 1))
        finally:
            body.close()
        if len(data) > cap:
            raise Refused(f"{self.url_for(key)}: over the {cap:,}-byte cap of a stored object; not read")
        return data

    def get_bytes(self, key: str) -> bytes:
        return self._get(key)[0]

    def get_versioned(self, key: str) -> Versioned | None:
        try:
            data, etag = self._get(key)
        except ObjectNotFound:
            return None
        return Versioned(data, etag)

    def put_if(
        self, key: str, data: bytes, version: str | None, content_type: str = "application/json"
    ) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        # S3 conditional writes: If-Match the ETag read, or If-None-Match: * for a key read as absent.
        condition = {"IfMatch": version} if version is not None else {"IfNoneMatch": "*"}
        with self._call() as watcher:
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=self._full(key), Body=data, ContentType=content_type, **condition
                )
            except ClientError as exc:
                error = exc.response.get("Error", {})
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if error.get("Code") in _CONFLICT_CODES or status in (409, 412):
                    return False
                raise self._fail("write", key, exc, watcher) from None
            except BotoCoreError as exc:
                raise self._fail("write", key, exc, watcher) from None
        return True

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        from botocore.exceptions import BotoCoreError, ClientError

        # One ListObjectsV2 page per request, each within its own deadline (a paginator would hide them).
        # Only the time spent in requests counts against the listing's budget, not the caller's between pages.
        where = f"s3://{self.bucket}/{self._full(prefix)}"
        budget = LIST_TIMEOUTS * self.timeout
        spent = 0.0
        seen: set[str] = set()
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._full(prefix)}
            if token:
                params["ContinuationToken"] = token
            started = time.monotonic()
            with self._call() as watcher:
                try:
                    page = self.client.list_objects_v2(**params)
                except (ClientError, BotoCoreError) as exc:
                    raise self._fail("list", prefix, exc, watcher) from None
            spent += time.monotonic() - started
            for item in page.get("Contents", ()):
                yield ObjectInfo(self._rel(item["Key"]), int(item["Size"]), item.get("LastModified"))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            if token in seen:
                # The same page again: an endpoint that would keep mlprom listing forever.
                raise StorageError(
                    f"{where}: listing repeated a continuation token after {len(seen) + 1} pages"
                )
            seen.add(token)
            if spent >= budget:
                raise StorageError(
                    f"{where}: listing not done after {len(seen)} pages and {spent:.1f} s "
                    f"({LIST_TIMEOUTS} x storage.timeout)"
                )

    def delete_many(self, keys: Iterable[str]) -> DeleteResult:
        from botocore.exceptions import BotoCoreError, ClientError

        deleted: list[str] = []
        failed: list[tuple[str, str]] = []
        requests = 0
        batch: list[str] = []

        def flush() -> None:
            nonlocal requests
            if not batch:
                return
            requests += 1
            try:
                with self._call() as watcher:
                    try:
                        response = self.client.delete_objects(
                            Bucket=self.bucket,
                            Delete={"Objects": [{"Key": self._full(k)} for k in batch], "Quiet": True},
                        )
                    except (ClientError, BotoCoreError) as exc:
                        raise self._fail("delete", batch[0], exc, watcher) from None
            except StorageError as exc:
                reason = str(exc)
                failed.extend((k, reason) for k in batch)
                batch.clear()
                return
            errors = {
                self._rel(e["Key"]): f"{e.get('Code', 'Error')}: {e.get('Message', '')}"
                for e in response.get("Errors", ())
            }
            for k in batch:
                if k in errors:
                    failed.append((k, errors[k]))
                else:
                    deleted.append(k)
            batch.clear()

        for key in keys:
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                flush()
        flush()
        return DeleteResult(tuple(deleted), tuple(failed), requests)

    def url_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"
