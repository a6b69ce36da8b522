"""Settings the fuzz tests share: a small, time-bounded budget in CI, more on demand.

``FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/test_fuzz_*.py`` runs each property that many times (the
CI default is 150: the whole fuzz set stays well under a minute on two cores). Each example has a
deadline, so a parser that hangs or goes quadratic fails instead of stalling the suite.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=2000 if EXAMPLES > 1000 else 1000, derandomize=EXAMPLES <= 1000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Fuzzing through a real broker and central: each example is a batch of messages and a round trip, so fewer.
BROKER_EXAMPLES = max(EXAMPLES // 3, 20)
FUZZ_BROKER = settings(FUZZ, max_examples=BROKER_EXAMPLES, deadline=None)
