"""The sanitizer build catches a bad memory access in the kernels.

Runs only when the kernels were built with ``FASTXENT_SANITIZE=1`` (they
then reference AddressSanitizer's ``__asan_report_*`` functions): a child
process calls a kernel directly with a label past the last class, which the
Python layer would have rejected, and AddressSanitizer must stop it with a
heap-buffer-overflow report. Without this canary, a sanitizer run that
reports nothing could also mean the instrumentation is not there.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from fastxent import _kernels

INSTRUMENTED = b"__asan_report" in open(_kernels.categorical.__file__, "rb").read()

CANARY = textwrap.dedent(
    """
    import numpy as np
    from fastxent import _kernels

    logits, labels = np.zeros((2, 3)), np.array([0, 1000], dtype=np.intp)
    _kernels.categorical.xent_hard(
        logits, labels, np.ones(3), 3.0, np.ones(2), 0.0, 1.0, 1.0,
        np.empty(2), None, 1,
    )
    """
)


@pytest.mark.skipif(
    not INSTRUMENTED, reason="kernels not built with FASTXENT_SANITIZE=1"
)
def test_address_sanitizer_reports_an_out_of_bounds_read():
    """A label past the last class, fed to the raw kernel, is reported."""
    child = subprocess.run(
        [sys.executable, "-c", CANARY],
        capture_output=True,
        text=True,
        env={**os.environ, "ASAN_OPTIONS": "detect_leaks=0"},
        timeout=120,
    )
    assert child.returncode != 0
    assert "AddressSanitizer: heap-buffer-overflow" in child.stderr
