"""Logits on the cluster, as lazy linear combinations the solvers can update.

The in-memory solvers keep logits in ``(n_samples, n_outputs)`` buffers and
update them by linearity with numpy calls: ``np.multiply(XD, -t, out=Zn)``,
``Zn += Zy``, ``np.subtract(Zn, Zx, out=Zx)``, ``Zx *= beta``,
``Zn[...] = Zx``, ``Zx.copy()``. On dask those arrays live in chunks on the
workers, and running each update as its own round would cost a scheduler
round trip per line. Instead, :class:`ChunkedLogits` implements exactly those
numpy calls (``__array_ufunc__`` and the in-place operators) as bookkeeping
on coefficients: a buffer holds ``sum_j c_j B_j`` over *bases* ``B_j``,
and nothing runs until the datafit evaluates the loss. Then a single task
per chunk forms the combination from the bases (a few vector operations)
and feeds the kernel, so the solvers run unchanged.

A basis (:class:`Basis`) is either *pending*, ``X~ @ coef`` not yet
computed (what ``datafit.logits(w, out)`` leaves), or *held*: a field of the
per-chunk state that an evaluation round kept on the workers. The
evaluation that first needs a pending basis computes it and keeps it, so a
line search reuses ``X~ @ D`` for every trial step instead of recomputing
``X @ W``. Each evaluation also keeps the combination it formed and collapses
the buffer to that one basis, so combinations stay two or three terms long
and old chunks are released as soon as no buffer refers to them.
"""

from __future__ import annotations

import numbers

import numpy as np


class Basis:
    """An ``(n_samples, n_outputs)`` array of the fit, pending or held.

    Parameters
    ----------
    coef : ndarray of shape (n_rows, n_outputs), default=None
        For a pending basis: it stands for ``X~ @ coef`` (a copy is taken,
        the solvers reuse their buffers).
    """

    __slots__ = ("coef", "field", "states")

    def __init__(self, coef=None):
        self.coef = None if coef is None else np.array(coef, dtype=np.float64)
        self.states = None
        self.field = None

    @property
    def pending(self) -> bool:
        return self.states is None

    def hold(self, states, field):
        """Mark the basis as computed: ``field`` of each chunk's kept state."""
        self.states = states
        self.field = field
        self.coef = None


def _is_scalar(value) -> bool:
    return isinstance(value, numbers.Real) or (
        isinstance(value, np.ndarray | np.generic) and np.ndim(value) == 0
    )


def _combine(terms_a, scale_a, terms_b, scale_b):
    """``scale_a * A + scale_b * B`` as a term list, merging shared bases."""
    combined = {}
    for terms, scale in ((terms_a, scale_a), (terms_b, scale_b)):
        for basis, coef in terms:
            combined[basis] = combined.get(basis, 0.0) + scale * coef
    return list(combined.items())


class ChunkedLogits:
    """A logits buffer of the distributed datafit: ``sum_j c_j B_j``.

    Parameters
    ----------
    terms : list of (Basis, float), default=()
        No terms is the zero array.

    Attributes
    ----------
    gradient : ndarray of shape (n_rows, n_outputs) or None
        When the buffer received ``dloss/dZ`` (the datafit's ``value_grad``),
        that gradient is never stored as an array: only its product
        ``X~^T G``, computed in the same tasks, is, here.
    """

    # Take precedence over ndarray in mixed operations.
    __array_priority__ = 100

    def __init__(self, terms=()):
        self.terms = list(terms)
        self.gradient = None

    def copy(self) -> ChunkedLogits:
        return ChunkedLogits(self.terms)

    def __setitem__(self, key, value):
        if key is not Ellipsis or not isinstance(value, ChunkedLogits):
            raise TypeError("a ChunkedLogits buffer is assigned whole: Z[...] = Z2")
        self.terms = list(value.terms)

    def __iadd__(self, other):
        self.terms = _combine(self.terms, 1.0, other.terms, 1.0)
        return self

    def __isub__(self, other):
        self.terms = _combine(self.terms, 1.0, other.terms, -1.0)
        return self

    def __imul__(self, scalar):
        self.terms = [(basis, coef * float(scalar)) for basis, coef in self.terms]
        return self

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        """``np.add`` and ``np.subtract`` of buffers, ``np.multiply`` by a scalar."""
        if method != "__call__" or kwargs or len(inputs) != 2:
            return NotImplemented
        a, b = inputs
        if ufunc is np.multiply:
            if isinstance(b, ChunkedLogits):
                a, b = b, a
            if not (isinstance(a, ChunkedLogits) and _is_scalar(b)):
                return NotImplemented
            terms = [(basis, coef * float(b)) for basis, coef in a.terms]
        elif ufunc in (np.add, np.subtract):
            if not (isinstance(a, ChunkedLogits) and isinstance(b, ChunkedLogits)):
                return NotImplemented
            sign = 1.0 if ufunc is np.add else -1.0
            terms = _combine(a.terms, 1.0, b.terms, sign)
        else:
            return NotImplemented
        if out is None:
            return ChunkedLogits(terms)
        (target,) = out
        target.terms = terms
        return target
