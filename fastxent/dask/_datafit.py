"""The distributed design and datafits: what the solvers drive on dask data.

They implement the ``Datafit`` protocol of
``fastxent/linear_model/_datafit.py`` (logits, value, value_grad, backprop,
lipschitz, new_logits) so that the in-memory solvers (agd, gd, lbfgs) run
unchanged; X stays in its chunks on the workers and only coefficient-sized
arrays travel:

- ``logits(w, out)`` and the solvers' updates of logits buffers are
  bookkeeping (``_logits.py``): nothing runs.
- ``value(Z)`` / ``value_grad(Z, out)`` is one round (``_rounds.py``): each
  chunk's call forms its rows of ``Z`` (computing any pending ``X~ @ D`` it
  needs, once, and keeping it for the line search's later trials), calls the
  fused kernel, and with the gradient also computes ``X~_c^T G_c``, so the
  rows' ``dloss/dZ`` never leave the task; the sum returns the loss sum and
  the ``(n_rows, n_outputs)`` gradient. ``backprop`` then only copies it.
- So an L-BFGS iteration whose unit step is accepted is one round and two
  passes over X (``X @ D``, ``X^T G``), as in memory.

Each chunk's call builds a ``StandardizedDesign`` over its block with the
global column statistics and sums its losses with the in-memory datafits'
calls of the trusted core (their ``loss_sum``, on their ``kernel_target``),
so the products, the float32 handling, the implicit centring and scaling
and the kernel calls are the in-memory code's. Those statistics, the
weights' range and (without class weights) the subsample's Gram matrix come
from the set-up round (``_setup.py``), whose kept chunk data are the input
of every round here. The coordinate maps and the Lipschitz bound's power
iteration are the in-memory ones too (``_design.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastxent import _core
from fastxent._validation import scale_for_mean
from fastxent.dask._arrays import resolve_threads
from fastxent.dask._logits import Basis, ChunkedLogits
from fastxent.dask._rounds import run_round
from fastxent.dask._setup import (
    GRAM_MAX_ROWS,
    ChunkEncoding,
    subsample_moments,
    subsample_rows,
)
from fastxent.linear_model._datafit import (
    BinomialCrossEntropy,
    LinearDatafit,
    MultinomialCrossEntropy,
)
from fastxent.linear_model._design import (
    StandardizedCoordinates,
    StandardizedDesign,
    power_iteration,
    stats_from_moments,
    subsample_stride,
)

# Bytes of X per row block of an evaluation (see _evaluate_chunk): a block's
# second pass then reads from cache, which pays on binary fits; much smaller
# blocks cost more in kernel calls than they save, and with many classes
# the kernel and the products dominate whatever the block.
_EVALUATION_BLOCK_BYTES = 1 << 21


def _chunk_design(X_c, mean, scale, fit_intercept):
    return StandardizedDesign(
        X_c, None, fit_intercept=fit_intercept, mean=mean, scale=scale
    )


def _subsample(stride, encoding, start, state):
    """A chunk's subsample rows in float64 and their weights (ones if unit)."""
    rows = subsample_rows(stride, start)
    X_sub = state["X"][rows].astype(np.float64)
    w_sub = encoding.weights(state, rows)
    return X_sub, (np.ones(X_sub.shape[0]) if w_sub is None else w_sub)


def _gram_chunk(stride, encoding, start, state):
    """A chunk's share of the subsample's weight sum and raw moments."""
    return subsample_moments(*_subsample(stride, encoding, start, state))


def _power_chunk(v, mean, scale, fit_intercept, total, stride, encoding, start, state):
    """``X~_s^T diag(w_s / total) X~_s v`` over one chunk's subsample rows."""
    X_sub, w_sub = _subsample(stride, encoding, start, state)
    design = _chunk_design(X_sub, mean, scale, fit_intercept)
    u = design.matmul(v, np.empty((design.n_samples, 1)))
    u *= (w_sub / total)[:, None]
    return design.rmatmul(u, np.empty_like(v))


def _chunk_sum(data, func, static):
    """One round over the kept chunks of ``data`` (a ``TrainingData``) with
    nothing kept: the sum of ``func(*static, start, state)``, ``start`` the
    chunk's first row and ``state`` its kept data."""
    per_chunk = [(start,) for start in data.starts]
    return run_round(
        data.plan, func, static, [data.kept], keep=False, per_chunk=per_chunk
    )[1]


class DistributedDesign(StandardizedCoordinates):
    """The implicitly standardised design of ``_design.py`` over a chunked X.

    Parameters
    ----------
    X : dask array of shape (n_samples, n_features)
        float32 or float64 (its metadata only: the data are the set-up
        round's kept chunks).
    sample_weight : TrainingData
        The set-up round's results and kept chunks (the targets' row
        weights, from the estimator backend's ``prepare_fit``).
    fit_intercept : bool
    ridge : float
        As for ``StandardizedDesign``.
    """

    def __init__(self, X, sample_weight, *, fit_intercept, ridge=0.0):
        data = self.data = sample_weight
        super().__init__(
            *stats_from_moments(
                data.first / data.weight_total,
                data.second / data.weight_total,
                fit_intercept,
                ridge,
            ),
            fit_intercept,
        )
        self.n_samples = X.shape[0]
        self.dtype = X.dtype
        self._subsample = data.subsample

    def spectral_norm_sq(self):
        """Largest eigenvalue of ``X~_s^T diag(w_s / sum w_s) X~_s``.

        Over the subsample rows of the in-memory estimate: exactly (eigvalsh
        of the Gram matrix) up to ``GRAM_MAX_ROWS`` coefficient rows, from
        the set-up round's moments or, with class weights, one round that
        gathers them; else by the in-memory power iteration, one round per
        step.

        Returns
        -------
        float
        """
        data = self.data
        stride = subsample_stride(self.n_samples)
        encoding = data.encoding()
        if self._subsample is None and self.n_rows <= GRAM_MAX_ROWS:
            self._subsample = _chunk_sum(data, _gram_chunk, (stride, encoding))
        if self._subsample is not None:
            if not self._subsample[0] > 0.0:
                return 0.0
            return float(np.linalg.eigvalsh(self._gram_matrix())[-1])
        total = _chunk_sum(data, _gram_total_chunk, (stride, encoding))
        if not total > 0.0:
            return 0.0
        static = (self.mean, self.scale, self.fit_intercept, total, stride, encoding)

        def product(v):
            return _chunk_sum(data, _power_chunk, (v, *static))

        return power_iteration(product, self.n_rows)

    def _gram_matrix(self):
        """``X~_s^T diag(w_s / sum w_s) X~_s`` from the subsample's raw moments.

        ``X~ = [X, 1] T`` for ``T = to_original(I)``, the in-memory map from
        the solvers' coordinates to the user's, so the Gram matrix is
        ``T^T M T / W`` with ``M = [[A, b], [b^T, W]]`` the raw moments of
        ``[X, 1]`` (``W = sum w``, ``b = sum w x``, ``A = sum w x x^T`` over
        the subsample); ``M = A`` without an intercept.
        """
        total, b, A = self._subsample
        coordinates = self.to_original(np.eye(self.n_rows))
        moments = A
        if self.fit_intercept:
            moments = np.block([[A, b[:, None]], [b[None, :], np.array([[total]])]])
        return coordinates.T @ moments @ coordinates / total


def _gram_total_chunk(stride, encoding, start, state):
    """A chunk's share of the subsample's weight sum."""
    return float(_subsample(stride, encoding, start, state)[1].sum())


@dataclass(frozen=True)
class _Evaluation:
    """What every chunk's call of one evaluation round needs (all small).

    ``pending`` are the coefficients of bases to compute (``X~_c @ coef``);
    ``terms`` spell the logits as ``(source, position, field, coef)``:
    ``("pending", j, None, c)`` for the j-th computed product, or
    ``("held", i, field, c)`` for ``field`` of the i-th kept state passed in.
    ``keep``: return the products and the logits with the small result.
    """

    mean: np.ndarray
    scale: np.ndarray
    fit_intercept: bool
    in_memory: type
    n_outputs: int
    encoding: ChunkEncoding
    weight_max: float
    unit_weights: bool
    n_threads: int
    pending: tuple
    terms: tuple
    with_grad: bool
    keep_logits: bool

    @property
    def keep(self):
        return bool(self.pending) or self.keep_logits


def _fit_arrays(spec, data):
    """The chunk's targets, kernel weights and a gradient buffer, made once.

    They depend only on the chunk and the fit, so the first evaluation
    stores them in the chunk's kept data (a cache of pure functions of it:
    a recomputed chunk rebuilds them) rather than every round allocating
    them anew, which on dask workers costs page faults (see ``_setup.py``).
    """
    cached = data.get("fit_arrays")
    if cached is None:
        n_rows = data["X"].shape[0]
        weights = None
        if not spec.unit_weights:
            weights = spec.encoding.weights(data)
            if weights is None:
                weights = np.ones(n_rows)
            weights = scale_for_mean(weights, spec.weight_max)
        targets = spec.encoding.targets(data)
        cached = (
            spec.in_memory.kernel_target(targets),
            weights,
            np.empty((n_rows, spec.n_outputs)),
        )
        data["fit_arrays"] = cached
    return cached


def _evaluate_chunk(spec, data, *states):
    """One chunk of an evaluation: logits, fused loss (and gradient), X~^T G.

    ``data`` is the chunk's kept training data (``_setup.py``), ``states``
    what earlier evaluations kept. Returns the small result ``(loss sum,)``
    or ``(loss sum, X~_c^T G_c)``, with, when ``spec.keep``, a dict of what
    is kept (the products ``P<j>`` and the logits ``Z``).

    The chunk goes through in row blocks of ``_EVALUATION_BLOCK_BYTES`` of
    X: a block's products, logits, kernel call and ``X~_b^T G_b`` run one
    after the other, so the second pass over the block's rows reads them
    from cache rather than memory.
    """
    X_c = data["X"]
    n_samples = X_c.shape[0]
    targets, weights, buffer = _fit_arrays(spec, data)
    products = [np.empty((n_samples, coef.shape[1])) for coef in spec.pending]
    bases = [
        products[position] if source == "pending" else states[position][field]
        for source, position, field, _ in spec.terms
    ]
    coefs = [coef for *_, coef in spec.terms]
    # Without keep_logits the logits are one basis (times 1.0), read as is.
    Z = np.empty((n_samples, spec.n_outputs)) if spec.keep_logits else None
    step = max(1, _EVALUATION_BLOCK_BYTES // (X_c.itemsize * max(1, X_c.shape[1])))
    loss = 0.0
    grad = np.zeros((len(spec.mean) + int(spec.fit_intercept), spec.n_outputs))
    for start in range(0, n_samples, step):
        rows = slice(start, start + step)
        design = _chunk_design(X_c[rows], spec.mean, spec.scale, spec.fit_intercept)
        for coef, product in zip(spec.pending, products, strict=True):
            design.matmul(coef, product[rows])
        if not bases:  # the zero logits of a start from w = 0
            Z_rows = np.zeros((design.n_samples, spec.n_outputs))
        elif Z is None:
            Z_rows = bases[0][rows]
        else:
            # The solvers' order: Z = c0 * B0, then Z += c1 * B1; the gradient
            # buffer holds c1 * B1 until the kernel overwrites it.
            Z_rows = np.multiply(bases[0][rows], coefs[0], out=Z[rows])
            for basis, coef in zip(bases[1:], coefs[1:], strict=True):
                Z_rows += np.multiply(basis[rows], coef, out=buffer[rows])
        G = buffer[rows] if spec.with_grad else None
        row_weight = _core.UNIT_WEIGHT if weights is None else weights[rows]
        loss += spec.in_memory.loss_sum(
            Z_rows, targets[rows], row_weight, 1.0, G, spec.n_threads
        )
        if spec.with_grad:
            grad += design.rmatmul(G, np.empty_like(grad))
    small = (loss, grad) if spec.with_grad else (loss,)
    if not spec.keep:
        return small
    kept = {f"P{j}": product for j, product in enumerate(products)}
    if spec.keep_logits:
        kept["Z"] = Z
    return small, kept


class _DistributedCrossEntropy(LinearDatafit):
    """Shared part of the distributed binomial and multinomial datafits.

    Parameters
    ----------
    design : DistributedDesign
    target : ChunkEncoding
        How each chunk's kept labels become its targets (0/1 floats for the
        binomial, class indices else), from the targets of the estimator
        backend's ``prepare_fit``.
    sample_weight : TrainingData
        The design's.
    n_threads : int or None
        Threads of the kernel in each chunk's call; None means 1 (dask runs
        the chunk groups in parallel).
    """

    #: The in-memory datafit, whose kernel calls (``kernel_target`` and
    #: ``loss_sum``) every chunk makes on its rows.
    in_memory: type

    def __init__(self, design, target, sample_weight, *, n_threads=None):
        self.design = design
        self.sample_weight = sample_weight
        self.encoding = target
        self.n_threads = resolve_threads(n_threads)
        # As the in-memory datafits resolve them: equal weights as the
        # kernels' unit weight, others scaled for a mean (each chunk by the
        # power of two of the largest weight of all), and the total weight.
        self.unit_weights = sample_weight.weight_min == sample_weight.weight_max
        self.weight_max = sample_weight.weight_max
        self.total_weight = float(self.n_samples)
        if not self.unit_weights:
            total = np.array([sample_weight.weight_total])
            self.total_weight = float(scale_for_mean(total, self.weight_max)[0])

    def new_logits(self):
        """An empty logits buffer on the cluster (see ``_logits.py``)."""
        return ChunkedLogits()

    def logits(self, w, out):
        """``out = X~ @ w``: recorded, computed by the evaluation that needs it.

        ``w = 0`` (a fit's usual start) is the empty combination: no product.
        """
        out.terms = [(Basis(w), 1.0)] if np.any(w) else []
        out.gradient = None
        return out

    def value(self, Z):
        """Weighted mean loss of the logits ``Z``: one round."""
        return self._evaluate(Z, with_grad=False)[0]

    def value_grad(self, Z, out):
        """Weighted mean loss; ``X~^T dloss/dZ`` into ``out.gradient``: one round."""
        loss, grad = self._evaluate(Z, with_grad=True)
        out.terms = []
        out.gradient = grad
        return loss

    def backprop(self, G, out):
        """``out = X~^T G``, already computed by the ``value_grad`` that filled G."""
        out[...] = G.gradient
        return out

    def _evaluate(self, Z, *, with_grad):
        pending, states, terms = [], [], []
        for basis, coef in Z.terms:
            if basis.pending:
                terms.append(("pending", len(pending), None, coef))
                pending.append(basis)
            else:
                position = next(
                    (i for i, s in enumerate(states) if s is basis.states), None
                )
                if position is None:
                    position = len(states)
                    states.append(basis.states)
                terms.append(("held", position, basis.field, coef))
        keep_logits = bool(terms) and not (len(terms) == 1 and terms[0][3] == 1.0)
        design = self.design
        spec = _Evaluation(
            mean=design.mean, scale=design.scale, fit_intercept=design.fit_intercept,
            in_memory=self.in_memory, n_outputs=self.n_outputs, encoding=self.encoding,
            weight_max=self.weight_max,
            unit_weights=self.unit_weights, n_threads=self.n_threads,
            pending=tuple(basis.coef for basis in pending), terms=tuple(terms),
            with_grad=with_grad, keep_logits=keep_logits,
        )  # fmt: skip
        data = design.data
        kept, small = run_round(
            data.plan, _evaluate_chunk, (spec,), [data.kept, *states], keep=spec.keep
        )
        for j, basis in enumerate(pending):
            basis.hold(kept, f"P{j}")
        if keep_logits:
            held = Basis()
            held.hold(kept, "Z")
            Z.terms = [(held, 1.0)]
        loss = small[0] / self.total_weight
        grad = small[1] / self.total_weight if with_grad else None
        return loss, grad


class DistributedBinomialCrossEntropy(_DistributedCrossEntropy):
    """Sigmoid cross-entropy with one logit, on chunked data."""

    in_memory = BinomialCrossEntropy
    curvature = BinomialCrossEntropy.curvature
    n_outputs = 1


class DistributedMultinomialCrossEntropy(_DistributedCrossEntropy):
    """Softmax cross-entropy with one logit per class, on chunked data."""

    in_memory = MultinomialCrossEntropy
    curvature = MultinomialCrossEntropy.curvature

    def __init__(self, design, target, sample_weight, *, n_classes, n_threads=None):
        super().__init__(design, target, sample_weight, n_threads=n_threads)
        self.n_outputs = n_classes
