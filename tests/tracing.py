"""Peak memory of one call, as traced by ``tracemalloc``, for the memory tests.

``tracemalloc`` sees numpy's data buffers as well as Python objects, so the
peak of a call bounds every temporary it makes; the memory tests compare it
with the size of an (n_samples, n_classes) array.
"""

import tracemalloc


def peak_bytes(func) -> int:
    """Peak traced memory, in bytes, allocated while ``func()`` runs.

    The result of ``func`` is dropped only after the peak is read, so an
    output the call returns counts towards the peak.
    """
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    result = func()
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    del result
    return peak
