"""S3 (and S3-compatible) storage on boto3 with adaptive retries; errors name the bucket and key."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from mlprom.errors import ObjectNotFound, StorageError
from mlprom.storage.interface import DeleteResult, ObjectInfo, RequestCounter, Storage

DELETE_BATCH = 1000  # the DeleteObjects limit


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
        max_attempts: int = 5,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.counter = counter
        if client is None:
            import boto3
            from botocore.config import Config as BotoConfig

            client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                config=BotoConfig(
                    retries={"mode": "adaptive", "max_attempts": max_attempts},
                    connect_timeout=5,
                    read_timeout=30,
                ),
            )
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

    def _fail(self, action: str, key: str, exc: Exception) -> StorageError:
        from botocore.exceptions import ClientError

        where = f"s3://{self.bucket}/{self._full(key)}"
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = err.get("Code", "Unknown")
            if code in ("NoSuchBucket",):
                return StorageError(
                    f"s3://{self.bucket}: bucket does not exist (while trying to {action} {key})"
                )
            if code in ("AccessDenied", "403", "AllAccessDisabled"):
                return StorageError(f"{where}: access denied while trying to {action}")
            return StorageError(f"{where}: {action} failed: {code} {err.get('Message', '')}".rstrip())
        # Connection errors, missing credentials: botocore's messages carry no secrets.
        return StorageError(f"s3://{self.bucket}: {action} {key} failed: {exc.__class__.__name__}: {exc}")

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/json") -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            # A single PutObject is atomic: S3 never shows a partial object.
            self.client.put_object(
                Bucket=self.bucket, Key=self._full(key), Body=data, ContentType=content_type
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("write", key, exc) from None

    def get_bytes(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
            return bytes(response["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise ObjectNotFound(key, self.location) from None
            raise self._fail("read", key, exc) from None
        except BotoCoreError as exc:
            raise self._fail("read", key, exc) from None

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._full(prefix)):
                for item in page.get("Contents", ()):
                    yield ObjectInfo(self._rel(item["Key"]), int(item["Size"]), item.get("LastModified"))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("list", prefix, exc) from None

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
                response = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self._full(k)} for k in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as exc:
                reason = str(self._fail("delete", batch[0], exc))
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
