"""Storage backends behind one interface; `open_storage(config)` picks one from `storage.url`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlprom.storage.interface import DeleteResult, ObjectInfo, RequestCounter, Storage

if TYPE_CHECKING:
    from mlprom.config import Config

__all__ = ["DeleteResult", "ObjectInfo", "RequestCounter", "Storage", "open_storage"]


def open_storage(config: Config, counter: RequestCounter | None = None) -> Storage:
    url = config.storage_url
    if url.scheme == "s3":
        from mlprom.storage.s3 import S3Storage

        assert url.bucket is not None
        return S3Storage(
            url.bucket,
            url.prefix,
            endpoint_url=config.storage.endpoint_url,
            region=config.storage.region,
            counter=counter,
            timeout=config.storage.timeout,
        )
    from mlprom.storage.local import LocalStorage

    assert url.path is not None
    return LocalStorage(url.path, lock_timeout=config.storage.timeout)
