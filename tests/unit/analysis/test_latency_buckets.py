"""One set of log buckets for prediction times: the latency sketch's, which the hour profile's p95 uses too.

Stored sketches hold bucket indexes, so their bytes pin the buckets; stored hour profiles hold only the
numbers computed from them. Both are read back from documents as written before the profile took the
sketch's buckets.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime

import orjson

from mlprom.analysis import profile as P
from mlprom.analysis import sketch as S
from mlprom.analysis.profile import DayProfile
from mlprom.analysis.sketch import LatencySketch

# A capture-model sketch object of seven batches at 09:00 UTC, 20 s apart: 0, 0.5 µs, 0.05, 0.2, 0.5, 0.5, 12 s.
STORED_SKETCH = (
    b'{"version":1,"kind":"latency_sketch","model":"default","source":"capture-model","latency_threshold":10.0,'
    b'"gamma":1.02,"minutes":{"1795165200":{"count":3,"sum":0.0500005,"buckets":{"-697":2,"-151":1}},'
    b'"1795165260":{"count":3,"sum":1.2,"buckets":{"-81":1,"-35":2}},'
    b'"1795165320":{"count":1,"sum":12.0,"buckets":{"126":1}}}}'
)
SKETCH_VALUES = (0.0, 5e-7, 0.05, 0.2, 0.5, 0.5, 12.0)
NINE_AM = datetime(2026, 11, 20, 9, 0, tzinfo=UTC).timestamp()

# Two hours of a report's `profile` section.
STORED_PROFILE = (
    b'{"hours":[{"hour":9,"events":3,"slow":1,"slow_share":0.004975124378109453,"p95":0.29817034202517273,'
    b'"peak":false,"resources":{"cpu_usage":0.5,"memory_usage":null}},'
    b'{"hour":10,"events":4,"slow":2,"slow_share":0.009900990099009901,"p95":0.24905131021792784,'
    b'"peak":false,"resources":{}}],"peak_hours":[],'
    b'"method":"hour-of-day UTC; peak: robust z >= 3.5 of events or of slow log-odds (docs/profile.md); '
    b'p95 within 1% relative; fast events weighted x100 (1/model.sample_rate)"}'
)


def _header(document: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in document.items() if k not in ("gamma", "minutes")}


def test_a_stored_sketch_reads_back_to_the_same_bytes() -> None:
    document = orjson.loads(STORED_SKETCH)
    sketch = LatencySketch.from_dict(document)

    assert orjson.dumps({**_header(document), **sketch.to_dict()}) == STORED_SKETCH
    assert sketch.minutes[1795165260].quantile(0.5) == 2.0 * 1.02**-35 / 2.02  # the 0.5 s batches' bucket


def test_the_same_batches_fill_the_buckets_a_stored_sketch_holds() -> None:
    sketch = LatencySketch()
    for i, seconds in enumerate(SKETCH_VALUES):
        sketch.add(NINE_AM + 20 * i, seconds)

    assert sketch.to_dict() == LatencySketch.from_dict(orjson.loads(STORED_SKETCH)).to_dict()


def test_a_stored_hour_profile_reads_back_to_the_same_bytes() -> None:
    profile = DayProfile.from_dict(orjson.loads(STORED_PROFILE))

    assert [h.p95 for h in profile.hours] == [0.29817034202517273, 0.24905131021792784]
    assert orjson.dumps(profile.to_dict()) == STORED_PROFILE


def test_the_profile_answers_with_the_sketchs_buckets() -> None:
    rng = random.Random(5)
    for _ in range(5_000):
        seconds = math.exp(rng.uniform(math.log(2e-6), math.log(5e5)))
        assert P.bucket_value(P.bucket_index(seconds)) == S.bucket_value(S.bucket_of(seconds))


def test_the_profile_p95_is_a_value_the_sketch_would_answer() -> None:
    hours = P.HourProfile(date(2026, 11, 20))
    sketch = LatencySketch()
    for i, seconds in enumerate((0.21, 0.22, 0.4, 0.35, 3.3)):
        hours.add(NINE_AM + i, seconds, False)
        sketch.add(NINE_AM + i, seconds)

    p95 = hours.result().hours[9].p95

    assert p95 in {S.bucket_value(k) for k in sketch.minutes[int(NINE_AM)].buckets}
    assert P.RELATIVE_ACCURACY == S.RELATIVE_ACCURACY < 0.01
