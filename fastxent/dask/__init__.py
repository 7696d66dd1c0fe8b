"""fastxent on dask arrays: the same functions and estimator, chunk by chunk.

Nothing here is called directly: ``fastxent/__init__.py`` registers this
package (by import path, see ``fastxent/_dispatch.py``) as the backend of
arrays whose type comes from dask, so ``fastxent.cross_entropy(x, y)`` or
``LogisticRegression().fit(X, y)`` with dask arrays land here. Layout, one
concept per file:

- ``_arrays.py``: conversion and checks of dask inputs (dtype, chunks along
  samples, the class axis in one chunk) and of errors raised in a block.
- ``_functional.py``: the functional API of sections 1-4 of the API as
  blockwise maps over sample chunks and tree sums of per-chunk sums.
- ``_rounds.py``: one "round" of the estimator: one task per group of chunks
  (a worker thread's), a sum of small per-chunk results, chunk results kept
  on the workers.
- ``_setup.py``: the fit's set-up round, one reduction for everything the fit
  needs before its first evaluation, which also keeps the data on the
  workers; the encoded labels and weights the estimator's solver receives.
- ``_logits.py``: logits held on the cluster as lazy linear combinations,
  which the solvers update with the same numpy calls as in-memory buffers.
- ``_datafit.py``: the distributed design and datafits the solvers drive.
- ``_estimator.py``: ``LogisticRegression``'s fit and predictions on dask
  input (the ``EstimatorBackend`` of ``fastxent/linear_model/_backend.py``):
  validation of metadata, the set-up round, then the in-memory solvers.

Needs dask and distributed: ``pip install "fastxent[dask]"``.
"""

from fastxent._optional import require

require("dask.array", "fastxent.dask")
