"""Peak extra memory of one call: traced by Python, and resident in the process.

Two views, because each misses something. ``tracemalloc`` sees every numpy
allocation (numpy reports them) but nothing a C++ library allocates itself,
such as PyTorch's tensors. The resident set size (RSS) sees everything, and
on Linux its peak can be reset before a call (``/proc/self/clear_refs``), so
the peak during the call minus the RSS before it is the call's extra memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import tracemalloc
from collections.abc import Callable

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"

_libc = None


def _release_free_heap() -> None:
    """Hand freed heap memory back to the system (glibc), if possible.

    glibc keeps freed blocks resident for reuse, and after freeing a large
    block it serves blocks up to that size from the heap; without a trim a
    call could reuse resident memory and show no RSS growth at all.
    """
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        _libc = ctypes.CDLL(name) if name else False
    if _libc and hasattr(_libc, "malloc_trim"):
        _libc.malloc_trim(0)


def _status_kib(field: str) -> int:
    with open(_STATUS) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{_STATUS} has no {field}")


def rss_supported() -> bool:
    """Whether the peak RSS can be reset here (Linux 4.0 and later)."""
    try:
        _status_kib("VmHWM")
        with open(_CLEAR_REFS, "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def peak_rss_bytes(func: Callable[[], object]) -> int:
    """Peak growth of the resident set while ``func`` runs, in bytes.

    Includes what the call returns (it is alive at the peak).
    """
    gc.collect()
    _release_free_heap()
    before = _status_kib("VmRSS")
    with open(_CLEAR_REFS, "w") as clear:
        # "5" resets the peak resident set size (VmHWM) to the current RSS.
        clear.write("5")
    result = func()
    peak = _status_kib("VmHWM")
    del result
    return max(peak - before, 0) * 1024


def peak_traced_bytes(func: Callable[[], object]) -> int:
    """Peak memory allocated through Python's allocators while ``func`` runs.

    Includes what the call returns.
    """
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = func()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return max(peak - before, 0)
