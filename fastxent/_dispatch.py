"""Hand calls on arrays of other libraries to the layer that implements them.

The functional API and the estimator work on in-memory arrays. Array types
of other libraries (dask) are served by backends that live in a higher layer
(``fastxent/dask/``), which the lower layers must not import. This module
is the meeting point: the top-level ``fastxent/__init__.py`` registers, for
the top-level package of a foreign array type, the *import path* of each
backend module as a string, and the lower layers ask for a backend by role
when they meet an argument of such a type.

Two roles exist: ``"functions"`` (a module with the functional API's
functions under the same names, the contract :class:`FunctionsBackend`
declares) and ``"estimator"`` (a module with the estimator's data backend,
the contract ``EstimatorBackend`` of ``fastxent/linear_model/_backend.py``
declares). Nothing is imported until an argument of a registered type
actually arrives, so ``import fastxent`` never imports dask, and without
dask installed no argument can be a dask array.

The test is a dictionary lookup per argument on its type (the package of
each type is computed once and cached), which costs little beside a call.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any, ParamSpec, Protocol, TypeVar, runtime_checkable

_P = ParamSpec("_P")
_R = TypeVar("_R")

# Top-level package of an array type -> {role: import path of the backend}.
_BACKENDS: dict[str, dict[str, str]] = {}
# Type -> its top-level package: ``type(x).__module__`` builds a new string
# for extension types on every access, which costs more than the cache.
_PACKAGE_OF_TYPE: dict[type, str] = {}


@runtime_checkable
class FunctionsBackend(Protocol):
    """What a backend of the ``"functions"`` role provides.

    One callable for each function :func:`dispatch_arrays` routes, under its
    name, that takes the in-memory function's parameters (the same
    ``inspect.signature``: names, kinds, defaults) and raises its errors for
    the same arguments; it returns its own library's arrays. The members
    are the whole list of routed names: ``dispatch_arrays`` refuses a
    function not declared here.
    """

    binary_cross_entropy: Callable[..., Any]
    binary_cross_entropy_with_grad: Callable[..., Any]
    cross_entropy: Callable[..., Any]
    cross_entropy_with_grad: Callable[..., Any]
    entropy: Callable[..., Any]
    kl_divergence: Callable[..., Any]
    log_softmax: Callable[..., Any]
    logsumexp: Callable[..., Any]
    softmax: Callable[..., Any]


def register_backend(package: str, **modules: str) -> None:
    """Serve arrays whose type is defined in ``package`` by ``modules``.

    Parameters
    ----------
    package : str
        Top-level package name of the array type, e.g. ``"dask"``.
    **modules : str
        Role name to the import path of the module implementing it, e.g.
        ``functions="fastxent.dask._functional"``.
    """
    _BACKENDS.setdefault(package, {}).update(modules)


def _package_of(obj: object) -> str:
    cls = type(obj)
    package = _PACKAGE_OF_TYPE.get(cls)
    if package is None:
        package = _PACKAGE_OF_TYPE[cls] = cls.__module__.partition(".")[0]
    return package


def find_backend(role: str, *objects: object) -> ModuleType | None:
    """The backend module for ``role`` of the first foreign object, or None.

    Parameters
    ----------
    role : str
        ``"functions"`` or ``"estimator"``.
    *objects : object
        Arguments to inspect; None and in-memory arrays are skipped.

    Returns
    -------
    module or None
        None when no object belongs to a registered package (the in-memory
        path), so callers pay nothing beyond the type test.
    """
    for obj in objects:
        modules = _BACKENDS.get(_package_of(obj))
        if modules is not None and role in modules:
            return importlib.import_module(modules[role])
    return None


def dispatch_arrays(*names: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorator: route a functional-API call to a backend by its arrays.

    The wrapped function is called unchanged unless one of its positional
    arguments, or one of the keyword arguments ``names``, is of a registered
    foreign type; then the backend's function of the same name receives the
    call, with the same arguments.

    Parameters
    ----------
    *names : str
        Keyword arguments that may hold arrays (``"sample_weight"``, ...).
    """

    def decorate(func: Callable[_P, _R]) -> Callable[_P, _R]:
        name = func.__name__
        if name not in FunctionsBackend.__annotations__:
            raise TypeError(
                f"{name} is routed to backends: declare it in FunctionsBackend"
            )

        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            backend = find_backend(
                "functions", *args, *(kwargs.get(key) for key in names)
            )
            if backend is None:
                return func(*args, **kwargs)
            return getattr(backend, name)(*args, **kwargs)

        return wrapper

    return decorate
