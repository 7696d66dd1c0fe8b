"""Optional dependencies of the commands, and the one-line error when absent."""

from __future__ import annotations

import importlib
from types import ModuleType

# The extra of pyproject.toml that installs each optional module.
_EXTRA_OF = {
    "sklearn": "sklearn",
    "scipy": "sklearn",
    "threadpoolctl": "sklearn",
    "matplotlib": "plot",
    "torch": "bench",
}


class MissingDependency(Exception):
    """A command needs a module that is not installed; the message says how."""


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency`.

    Parameters
    ----------
    module : str
        Importable name, e.g. ``"sklearn"``.
    purpose : str
        What needs it, for the message, e.g. ``"python -m fastxent demo"``.

    Returns
    -------
    module : module
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = _EXTRA_OF.get(module)
        install = f'"fastxent[{extra}]"' if extra else module
        raise MissingDependency(
            f"{purpose} needs {module}, which is not installed: pip install {install}"
        ) from None


def optional(module: str) -> ModuleType | None:
    """Import ``module`` if it is installed, else None (a peer left out)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None
