"""The compiled kernels, imported from the clone this CPU runs best.

Names: each kernel module is named after the Python module it serves, without
the leading underscore (the package is private already), so a reader goes
from either one to the other:

- ``categorical``: ``fastxent/_categorical.py`` (its kernel calls sit in
  ``_core.py``, the layer of resolved arrays under the public functions)
- ``binary``: ``fastxent/_binary.py`` (also through ``_core.py``)
- ``logsumexp``: ``fastxent/_logsumexp.py``
- ``information``: ``fastxent/_information.py``
- ``log_loss``: ``fastxent/metrics/_log_loss.py``
- ``validation``: ``fastxent/_validation.py`` (the class-label check)
- ``lbfgs``: ``fastxent/linear_model/_solvers/_lbfgs.py``
- ``config``: ``fastxent/_config.py`` (how the clone was compiled)
- ``cpu``: this package itself (which clones the CPU runs)

Callers import this package and name the module at the call,
``_kernels.categorical.xent_hard(...)``: the layer is visible where it is
used, and a kernel module never shadows the function of the same name
(``logsumexp``, ``log_loss``) in the module it serves. What the kernels
share is not a module: C headers of ``nogil`` helpers (``fx_*.h``) and the
row blocks of ``_row.pxd``, which they cimport.

On x86-64 every kernel module but ``cpu`` is built three times from one
Cython source (``setup.py``): for the baseline instruction set (SSE2) here,
for x86-64-v3 (AVX2 + FMA) in ``_avx2`` and for x86-64-v4 (AVX-512) in
``_avx512``. This package imports the best clone the CPU runs and exposes
its modules under the usual names, so ``_kernels.categorical`` is the
chosen clone's whatever the CPU. Elsewhere (arm64, Windows, a
``FASTXENT_NATIVE=1`` build) only the baseline exists.

The environment variable ``FASTXENT_CLONE`` (``baseline``, ``avx2`` or
``avx512``), read once at import, forces a clone: the tests run under each
clone the CPU supports that way. A clone the CPU cannot run, or one that was
not built, is an ImportError that says which clones are available.

Results can differ between clones in the last bit (FMA contraction, vector
width, the order of partial sums in vector lanes); for one clone they never
depend on the number of threads.
"""

import importlib
import importlib.util
import os
import sys

from fastxent._kernels.cpu import runnable_clones

MODULES = (
    "binary",
    "categorical",
    "config",
    "information",
    "lbfgs",
    "log_loss",
    "logsumexp",
    "validation",
)

# Clone name -> the package holding its modules.
PACKAGES = {
    "avx512": "fastxent._kernels._avx512",
    "avx2": "fastxent._kernels._avx2",
    "baseline": "fastxent._kernels",
}


def _built(clone: str) -> bool:
    """Whether the clone's modules were compiled (a native build has none).

    Looked up, not imported: a Cython module registers itself in sys.modules
    under the name it was generated with, the baseline's, when that is free.
    """
    return importlib.util.find_spec(f"{PACKAGES[clone]}.config") is not None


def _choose() -> str:
    """The clone to import: FASTXENT_CLONE's, else the best this CPU runs."""
    available = [c for c in runnable_clones() if _built(c)]
    wanted = os.environ.get("FASTXENT_CLONE", "").strip().lower()
    if not wanted or wanted == "auto":
        return available[0]
    if wanted not in PACKAGES:
        raise ImportError(
            f"FASTXENT_CLONE={wanted!r} names no kernel clone; use one of "
            f"{', '.join(PACKAGES)} or 'auto'"
        )
    if wanted not in available:
        raise ImportError(
            f"FASTXENT_CLONE={wanted!r}: this CPU or build cannot run that "
            f"clone; available here: {', '.join(available)}"
        )
    return wanted


CLONE = _choose()
AVAILABLE = tuple(c for c in runnable_clones() if _built(c))

# Each module under its usual name, in the package and in sys.modules, so
# that every form of import reaches the chosen clone.
for _name in MODULES:
    _module = importlib.import_module(f"{PACKAGES[CLONE]}.{_name}")
    sys.modules[f"{__name__}.{_name}"] = _module
    globals()[_name] = _module
del _name, _module
