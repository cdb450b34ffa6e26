"""Hypothesis profiles for the property tests (tests/unit/test_properties.py).

    HYPOTHESIS_PROFILE=ci   (default) few examples, no example database: a run is reproducible
                            from the seed pytest prints on failure (--hypothesis-seed=N)
    HYPOTHESIS_PROFILE=fuzz many examples, for a long local run; bench/fuzz.py runs longer still
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=150, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fuzz", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
