"""BLAS threads during a fit: one for small X, the caller's choice otherwise."""

from __future__ import annotations

import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

# Below this size BLAS threads cost more than they save (a digits-sized
# product runs slower on two OpenBLAS threads than on one), and far more when
# a core is busy with something else. (The kernels make the same choice
# themselves, per call: one thread per 32,768 logits at most.)
_BLAS_THREADS_MIN_SIZE = 1_000_000  # entries (or nonzeros) of X

_threadpool_controller = None


def blas_limit(X, n_threads):
    """Context pinning BLAS threads for a fit on ``X``.

    One thread for small X; ``n_threads`` (None: BLAS's own default)
    otherwise. The kernels and BLAS run one after the other, never at the same
    time, so the two thread counts do not add up.
    """
    global _threadpool_controller
    if _threadpool_controller is None:
        # Built once: it scans the loaded libraries.
        _threadpool_controller = ThreadpoolController()
    size = X.nnz if sp.issparse(X) else X.size
    limit = 1 if size < _BLAS_THREADS_MIN_SIZE else n_threads
    return _threadpool_controller.limit(limits=limit, user_api="blas")
