"""A short fuzzing run over the public API, part of the test suite.

Each example is one hostile call drawn by ``fuzz_cases.calls()`` and judged
by ``fuzz_oracle.check``: it must return the reference's values (shape,
dtype, finite where the reference is finite, within tolerance) or raise a
``ValueError`` / ``TypeError`` naming an argument at fault, and leave its
inputs untouched.

The default run draws ``FASTXENT_FUZZ_EXAMPLES`` (1500) calls from a fixed
seed, about a minute. Longer runs::

    FASTXENT_FUZZ_EXAMPLES=200000 FASTXENT_FUZZ_SEED=random \\
        python -m pytest tests/fuzz -q             # Hypothesis, shrinks failures
    python tests/fuzz/run_fuzz.py --minutes 60   # fuzz_one_input, counts inputs

Failures found by either land in Hypothesis' example database
(``.hypothesis/``), so the next plain ``pytest tests/fuzz`` replays them first.
"""

import os
from collections import Counter

from fuzz_cases import calls
from fuzz_oracle import check
from hypothesis import HealthCheck, given, seed, settings

EXAMPLES = int(os.environ.get("FASTXENT_FUZZ_EXAMPLES", "1500"))
SEED = os.environ.get("FASTXENT_FUZZ_SEED", "20260512")

# Outcome of every call run here, by function ("returned" or the error type);
# run_fuzz.py prints it.
OUTCOMES: Counter = Counter()
# The call being checked, for run_fuzz.py to print when one fails.
CURRENT = {"call": None}


def fuzz_settings(test):
    """Hypothesis settings from the environment; a fixed seed by default."""
    test = settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )(test)
    return test if SEED == "random" else seed(int(SEED))(test)


@fuzz_settings
@given(calls())
def test_public_api_survives_hostile_input(call):
    """Every call returns the reference's values or names its bad argument."""
    CURRENT["call"] = call
    OUTCOMES[call.name, check(call)] += 1
