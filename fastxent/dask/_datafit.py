"""The distributed design and datafits: what the solvers drive on dask data.

They answer the interface of ``fastxent/linear_model/_datafit.py`` (logits,
value, value_grad, backprop, lipschitz, new_logits) so that the in-memory
solvers (agd, gd, lbfgs) run unchanged; X stays in its chunks on the
workers and only coefficient-sized arrays travel:

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
global column statistics, so the products, the float32 handling and the
implicit centring and scaling are the in-memory code's. Those statistics,
the weights' range and (without class weights) the subsample's Gram matrix
come from the set-up round (``_setup.py``), whose kept chunk data are the
input of every round here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fastxent._binary import binary_cross_entropy, binary_cross_entropy_with_grad
from fastxent._categorical import cross_entropy, cross_entropy_with_grad
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
    MultinomialCrossEntropy,
)
from fastxent.linear_model._design import (
    StandardizedDesign,
    stats_from_moments,
    subsample_stride,
)

# Power iterations of the estimate beyond GRAM_MAX_ROWS, as in memory.
_POWER_ITERATIONS = 12
# Bytes of X per row block of an evaluation (see _evaluate_chunk). Measured
# on 5 chunks of 100,000 x 50, binary, two processes at once on 2 cores:
# 66 ms in one piece, 54 ms in 2 MB blocks; blocks of 512 rows cost more
# in kernel calls than they save. With 10 classes the kernel and the
# products dominate and blocks change nothing measurable.
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


class DistributedDesign:
    """The implicitly standardised design of ``_design.py`` over a chunked X.

    Parameters
    ----------
    X : dask array of shape (n_samples, n_features)
        float32 or float64 (its metadata only: the data are the set-up
        round's kept chunks).
    sample_weight : ClusterWeights
        From the estimator backend's ``prepare_fit``: the set-up round's
        results and kept chunks.
    fit_intercept : bool
    ridge : float
        As for ``StandardizedDesign``.
    """

    def __init__(self, X, sample_weight, *, fit_intercept, ridge=0.0):
        data = sample_weight.data
        self.data = data
        self.fit_intercept = bool(fit_intercept)
        self.n_samples, self.n_features = X.shape
        self.n_rows = self.n_features + int(self.fit_intercept)
        self.dtype = X.dtype
        self.weight_total = data.weight_total
        self.weight_min = data.weight_min
        self.weight_max = data.weight_max
        self.mean, self.scale = stats_from_moments(
            data.first / data.weight_total,
            data.second / data.weight_total,
            fit_intercept,
            ridge,
        )
        self._subsample = data.subsample
        # The coordinate maps need only mean and scale: an empty design
        # carries them, so they run the in-memory code itself.
        self._coordinates = StandardizedDesign(
            np.empty((0, self.n_features), self.dtype),
            np.empty(0),
            fit_intercept=self.fit_intercept,
            mean=self.mean,
            scale=self.scale,
        )

    def coef_scale(self):
        """As :meth:`StandardizedDesign.coef_scale`."""
        return self._coordinates.coef_scale()

    def to_original(self, w):
        """As :meth:`StandardizedDesign.to_original`."""
        return self._coordinates.to_original(w)

    def from_original(self, original):
        """As :meth:`StandardizedDesign.from_original`."""
        return self._coordinates.from_original(original)

    def gradient_to_original(self, grad):
        """As :meth:`StandardizedDesign.gradient_to_original`."""
        return self._coordinates.gradient_to_original(grad)

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
        per_chunk = [(start,) for start in data.starts]
        if self._subsample is None and self.n_rows <= GRAM_MAX_ROWS:
            _, self._subsample = run_round(
                data.plan, _gram_chunk, (stride, encoding), [data.kept],
                keep=False, per_chunk=per_chunk,
            )  # fmt: skip
        if self._subsample is not None:
            if not self._subsample[0] > 0.0:
                return 0.0
            return float(np.linalg.eigvalsh(self._gram_matrix())[-1])
        _, total = run_round(
            data.plan, _gram_total_chunk, (stride, encoding), [data.kept],
            keep=False, per_chunk=per_chunk,
        )  # fmt: skip
        if not total > 0.0:
            return 0.0
        v = np.random.default_rng(0).standard_normal((self.n_rows, 1))
        v /= np.linalg.norm(v)
        eigenvalue = 0.0
        static = (self.mean, self.scale, self.fit_intercept, total, stride, encoding)
        for _ in range(_POWER_ITERATIONS):
            _, v = run_round(
                data.plan, _power_chunk, (v, *static), [data.kept],
                keep=False, per_chunk=per_chunk,
            )  # fmt: skip
            eigenvalue = float(np.linalg.norm(v))
            if eigenvalue == 0.0:
                break
            v /= eigenvalue
        return eigenvalue

    def _gram_matrix(self):
        """``X~_s^T diag(w_s / sum w_s) X~_s`` from the subsample's raw moments.

        With ``m`` the column means, ``S`` the scales, ``W = sum w``,
        ``b = sum w x`` and ``A = sum w x x^T`` over the subsample, the feature
        block is ``S (A - m b^T - b m^T + W m m^T) S / W``, the feature-intercept
        column ``S (b - W m) / W`` and the intercept entry 1.
        """
        total, b, A = self._subsample
        m, s = self.mean, self.scale
        p = self.n_features
        gram = np.empty((self.n_rows, self.n_rows))
        centred = A - np.outer(m, b) - np.outer(b, m) + total * np.outer(m, m)
        gram[:p, :p] = centred * np.outer(s, s) / total
        if self.fit_intercept:
            column = s * (b - total * m) / total
            gram[:p, p] = column
            gram[p, :p] = column
            gram[p, p] = 1.0
        return gram


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
    binomial: bool
    n_outputs: int
    encoding: ChunkEncoding
    weight_scale: float
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
            weights = weights * spec.weight_scale
        cached = (
            spec.encoding.targets(data),
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
    if spec.binomial:
        loss_function = (
            binary_cross_entropy_with_grad if spec.with_grad else binary_cross_entropy
        )
    else:
        loss_function = cross_entropy_with_grad if spec.with_grad else cross_entropy
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
        logits = Z_rows.reshape(-1) if spec.binomial else Z_rows
        out = {"out": buffer[rows].reshape(logits.shape)} if spec.with_grad else {}
        result = loss_function(
            logits,
            targets[rows],
            sample_weight=None if weights is None else weights[rows],
            reduction="sum",
            n_threads=spec.n_threads,
            **out,
        )
        if spec.with_grad:
            part, G = result
            grad += design.rmatmul(G.reshape(Z_rows.shape), np.empty_like(grad))
        else:
            part = result
        loss += float(part)
    small = (loss, grad) if spec.with_grad else (loss,)
    if not spec.keep:
        return small
    kept = {f"P{j}": product for j, product in enumerate(products)}
    if spec.keep_logits:
        kept["Z"] = Z
    return small, kept


class _DistributedCrossEntropy:
    """Shared part of the distributed binomial and multinomial datafits.

    Parameters
    ----------
    design : DistributedDesign
    target : ClusterLabels
        Encoded targets (0/1 floats for the binomial, class indices else),
        from the estimator backend's ``prepare_fit``.
    sample_weight : ClusterWeights
        The design's weights.
    n_threads : int or None
        Threads of the kernel in each chunk's call; None means 1 (dask runs
        the chunk groups in parallel).
    """

    curvature = None
    n_outputs = None
    binomial = None

    def __init__(self, design, target, sample_weight, *, n_threads=None):
        self.design = design
        self.sample_weight = sample_weight
        self.encoding = target.encoding()
        self.n_threads = 1 if n_threads is None else n_threads
        # Unit weights are the kernels' default; else the weights times the
        # power of two the in-memory "mean" uses, so the sums stay finite.
        self.unit_weights = design.weight_min == design.weight_max
        self.weight_scale = 1.0
        if design.weight_max > 0.0:
            self.weight_scale = math.ldexp(1.0, -math.frexp(design.weight_max)[1])
        self.total_weight = (
            float(self.n_samples)
            if self.unit_weights
            else design.weight_total * self.weight_scale
        )

    @property
    def n_samples(self):
        return self.design.n_samples

    @property
    def coef_shape(self):
        """Shape ``(n_rows, n_outputs)`` of the solvers' parameter array."""
        return (self.design.n_rows, self.n_outputs)

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

    def lipschitz(self):
        """As the in-memory datafit: curvature times the design's eigenvalue."""
        return self.curvature * self.design.spectral_norm_sq()

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
            binomial=self.binomial, n_outputs=self.n_outputs, encoding=self.encoding,
            weight_scale=self.weight_scale,
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

    curvature = BinomialCrossEntropy.curvature
    n_outputs = 1
    binomial = True


class DistributedMultinomialCrossEntropy(_DistributedCrossEntropy):
    """Softmax cross-entropy with one logit per class, on chunked data."""

    curvature = MultinomialCrossEntropy.curvature
    binomial = False

    def __init__(self, design, target, sample_weight, *, n_classes, n_threads=None):
        super().__init__(design, target, sample_weight, n_threads=n_threads)
        self.n_outputs = n_classes
