"""Latency sketches through storage: one small object per flush beside the events, read back by correlate.

The histograms themselves (mlprom.analysis.sketch) are pure; this module stores them in the layout's
`model/dt=D/model=NAME/HHMMSS-ID.latency.json` keys and reads them, skipping bad objects with a warning.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from mlprom import layout
from mlprom.analysis.sketch import LatencySketch

if TYPE_CHECKING:
    from mlprom.storage.interface import Storage

log = logging.getLogger("mlprom")

SKETCH_VERSION = 1


@dataclass(frozen=True)
class StoredSketch:
    key: str
    source: str  # capture-model | monitor
    latency_threshold: float  # the threshold the capture classified slow with
    sketch: LatencySketch


def write_sketch(
    storage: Storage,
    model: str,
    sketch: LatencySketch,
    latency_threshold: float,
    source: str,
    now: datetime | None = None,
) -> list[str]:
    """Store `sketch` as one object per UTC date it covers; returns the keys written."""
    import orjson

    now = now or datetime.now(UTC)
    keys = []
    for midnight, part in sorted(sketch.split_by_day().items()):
        day = datetime.fromtimestamp(midnight, UTC).date()
        key = layout.latency_sketch_key(day, model, now)
        document = {
            "version": SKETCH_VERSION,
            "kind": "latency_sketch",
            "model": model,
            "source": source,
            "latency_threshold": latency_threshold,
            **part.to_dict(),
        }
        storage.put_bytes(key, orjson.dumps(document), "application/json")
        keys.append(key)
    return keys


def read_sketches(storage: Storage, day: date, model: str) -> list[StoredSketch]:
    """Every latency sketch of the date's model partition; a bad object is skipped with a warning naming it."""
    import orjson

    from mlprom.events.log import get_or_skip
    from mlprom.storage.interface import Refused

    out: list[StoredSketch] = []
    prefix = layout.partition_prefix("model", day, model)
    try:
        keys = [info.key for info in storage.list(prefix)]
    except Refused as exc:
        # The event pass lists the same partition, warns again and counts it as a partial failure.
        log.debug("skipping latency sketches under %s: %s", prefix, exc)
        return out
    for key in keys:
        parsed = layout.parse_key(key)
        if parsed is None or parsed.kind != "latency_sketch":
            continue
        body, _ = get_or_skip(storage, key, "latency sketch ")
        if body is None:
            continue
        try:
            document = orjson.loads(body)
            if not isinstance(document, dict) or document.get("version") != SKETCH_VERSION:
                raise ValueError("not a version 1 latency sketch")
            threshold = document.get("latency_threshold")
            if not isinstance(threshold, int | float) or not math.isfinite(threshold) or threshold < 0:
                raise ValueError("latency_threshold missing")
            sketch = LatencySketch.from_dict(document)
        except (orjson.JSONDecodeError, ValueError, TypeError, OverflowError) as exc:
            log.warning("skipping latency sketch %s: %s", key, exc)
            continue
        out.append(StoredSketch(key, str(document.get("source", "")), float(threshold), sketch))
    return out
