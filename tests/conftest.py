from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# CI runs a fixed, reproducible set of examples; local runs keep exploring.
settings.register_profile(
    "ci", derandomize=True, max_examples=300, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile("thorough", max_examples=5000, deadline=None)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
