"""The memory an in-memory fit needs, checked before it starts."""

from __future__ import annotations

import os


def _physical_memory_bytes():
    """Physical memory of the machine, or None where POSIX cannot tell."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_logits_fit_in_memory(n_samples, n_outputs):
    """Refuse a fit whose logits cannot fit in the machine's memory.

    Every solver keeps at least the logits and their gradient, two float64
    arrays of ``n_samples x n_outputs`` (the full-batch solvers three more).
    With as many classes as y can hold (10**6 labels, one sample each) that
    is terabytes: a clear error up front beats a ``MemoryError`` (or the
    out-of-memory killer) halfway through the fit.
    """
    needed = 2 * 8 * n_samples * n_outputs
    available = _physical_memory_bytes()
    if available is not None and needed > available:
        raise ValueError(
            f"y has {n_outputs} classes: fitting {n_samples} samples needs at "
            f"least two float64 arrays of n_samples x n_classes = {n_samples} x "
            f"{n_outputs} ({needed / 2**30:.1f} GiB), more than this machine's "
            f"{available / 2**30:.1f} GiB of memory. Merge rare classes or fit "
            "on fewer samples."
        )
