"""Objects of the previous layout (one report, drift sample and alert state per store), read when a model
has none of its own yet; the next run writes the model's own key. Said once per process."""

from __future__ import annotations

import logging

from mlprom.errors import ObjectNotFound
from mlprom.storage.interface import Storage

log = logging.getLogger(__name__)
_told: set[str] = set()


def tell_once(storage: Storage, legacy: str, key: str) -> None:
    """One line, once per process, that an object of the previous layout stands in for `key`."""
    if _told:
        return
    _told.add(legacy)
    log.warning(
        "reading %s, written in the previous layout (one per store); the next run for this model writes %s",
        storage.url_for(legacy),
        storage.url_for(key),
    )


def get_bytes(storage: Storage, key: str, legacy: str) -> tuple[str, bytes]:
    """(the key read, its bytes): the model's own `key`, else the previous layout's `legacy` one.

    ObjectNotFound (naming `key`) when neither exists. The caller checks that a legacy object is the
    model's (its `model` field) and tells the reader with `tell_once` when it uses it.
    """
    try:
        return key, storage.get_bytes(key)
    except ObjectNotFound:
        pass
    try:
        return legacy, storage.get_bytes(legacy)
    except ObjectNotFound:
        raise ObjectNotFound(key, storage.location) from None
