"""Hypothesis settings for the property suite: derandomized (the same examples on every run and machine),
no example database, modest example counts (tests/property/strategies.py: examples()) so the whole
suite stays under a minute.

For a longer fuzzing session: MLPROM_HYPOTHESIS_PROFILE=fuzz (fresh randomness) and
MLPROM_HYPOTHESIS_SCALE=50 (fifty times the examples).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
settings.register_profile("fuzz", parent=settings.get_profile("ci"), derandomize=False)
settings.load_profile(os.environ.get("MLPROM_HYPOTHESIS_PROFILE", "ci"))
