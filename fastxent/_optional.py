"""Optional dependencies, and the one-line error that says how to install one.

The one home of that message: the scikit-learn pieces (``LogisticRegression``,
``fastxent.metrics``), the dask backend and the commands of
``python -m fastxent`` all import their optional dependencies through
:func:`require`.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

# The extra of pyproject.toml that installs each optional top-level package.
_EXTRA_OF = {
    "sklearn": "sklearn",
    "scipy": "sklearn",
    "threadpoolctl": "sklearn",
    "matplotlib": "plot",
    "torch": "torch",
    "dask": "dask",
    "distributed": "dask",
}
# The name users know a package by, where it is not its import name.
_NAME_OF = {"sklearn": "scikit-learn", "torch": "PyTorch"}


class MissingDependency(ImportError):
    """An optional dependency is not installed; the message says how to get it."""


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency`.

    Parameters
    ----------
    module : str
        Importable name, e.g. ``"sklearn"`` or ``"dask.array"``.
    purpose : str
        What needs it, for the message, e.g. ``"fastxent.metrics"`` or
        ``"python -m fastxent demo"``.

    Returns
    -------
    module : module
        The imported module.

    Raises
    ------
    MissingDependency
        One line: ``"<purpose> needs <package>, which is not installed: pip
        install <extra>"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.partition(".")[0]
        extra = _EXTRA_OF.get(package)
        install = f'"fastxent[{extra}]"' if extra else package
        message = (
            f"{purpose} needs {_NAME_OF.get(package, package)}, which is not "
            f"installed: pip install {install}"
        )
        # "No module named 'sklearn'" adds nothing to the message; any other
        # cause (a dependency of the package missing, a broken build) is the
        # real diagnosis and stays attached.
        cause = None if error.name == package else error
        raise MissingDependency(message, name=module) from cause


def optional(module: str) -> ModuleType | None:
    """Import ``module`` if it is installed, else None (a peer left out).

    Parameters
    ----------
    module : str
        Importable name.

    Returns
    -------
    module or None
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def installed(package: str) -> bool:
    """Whether the top-level ``package`` can be found, without importing it.

    Parameters
    ----------
    package : str
        Top-level import name, e.g. ``"sklearn"``.

    Returns
    -------
    bool
    """
    try:
        return importlib.util.find_spec(package) is not None
    except ValueError:
        # A module in sys.modules without a spec (``__main__``, some stubs).
        return True
