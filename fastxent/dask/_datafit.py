"""The distributed design and datafits: what the solvers drive on dask data.

They answer the interface of ``fastxent/linear_model/_datafit.py`` (logits,
value, value_grad, backprop, lipschitz, new_logits) so that the in-memory
solvers (agd, gd, lbfgs) run unchanged; X stays in its chunks on the
workers and only coefficient-sized arrays travel:

- ``logits(w, out)`` and the solvers' updates of logits buffers are
  bookkeeping (``_logits.py``): nothing runs.
- ``value(Z)`` / ``value_grad(Z, out)`` is one round (``_rounds.py``): each
  chunk task forms its rows of ``Z`` (computing any pending ``X~ @ D`` it
  needs, once, and keeping it for the line search's later trials), calls the
  fused kernel, and with the gradient also computes ``X~_c^T G_c``, so the
  rows' ``dloss/dZ`` never leave the task; the tree sum returns the loss sum
  and the ``(n_rows, n_outputs)`` gradient. ``backprop`` then only copies it.
- So an L-BFGS iteration whose unit step is accepted is one round and two
  passes over X (``X @ D``, ``X^T G``), as in memory.

Each chunk task builds a ``StandardizedDesign`` over its block with the
global column statistics, so the products, the float32 handling and the
implicit centring and scaling are the in-memory code's. Those statistics
come from one round of per-chunk column moments, which also gathers what
the Lipschitz estimate needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fastxent._binary import binary_cross_entropy, binary_cross_entropy_with_grad
from fastxent._categorical import cross_entropy, cross_entropy_with_grad
from fastxent.dask._logits import Basis, ChunkedLogits
from fastxent.dask._rounds import add_parts, chunk_refs, new_token, run_round
from fastxent.linear_model._datafit import (
    BinomialCrossEntropy,
    MultinomialCrossEntropy,
)
from fastxent.linear_model._design import (
    _POWER_ROWS,
    StandardizedDesign,
    column_moments,
    stats_from_moments,
)

# Up to this many coefficient rows the Lipschitz estimate uses the exact
# Gram matrix of the subsample (each chunk sends its (n_rows, n_rows) part
# in the statistics round); beyond, power iteration, one round per step.
_GRAM_MAX_ROWS = 1024
# Power iterations of the estimate beyond _GRAM_MAX_ROWS, as in memory.
_POWER_ITERATIONS = 12


def _chunk_design(X_c, mean, scale, fit_intercept):
    return StandardizedDesign(
        X_c, None, fit_intercept=fit_intercept, mean=mean, scale=scale
    )


def _design_chunk(stride, gram, start, X_c, w_c):
    """Column moments and weight range of a chunk, and its share of the subsample.

    The subsample holds the rows ``0, stride, 2 stride, ...`` of the whole X,
    the rows of the in-memory Lipschitz estimate. With ``gram`` their
    weighted raw moments (sum w x, sum w x x^T) are returned; otherwise they
    are kept on the worker for power iteration.
    """
    first, second = column_moments(X_c, w_c)
    rows = slice((-start) % stride, None, stride)
    X_sub = X_c[rows].astype(np.float64)
    w_sub = w_c[rows]
    small = (
        w_c.sum(), first, second, w_c.max(initial=-np.inf), w_c.min(initial=np.inf),
        w_sub.sum(),
    )  # fmt: skip
    if gram:
        return (*small, w_sub @ X_sub, (X_sub.T * w_sub) @ X_sub)
    return {"small": small, "X": X_sub, "w": w_sub}


# Positions of the weight range in _design_chunk's tuple; the rest are sums.
_WEIGHT_MAX, _WEIGHT_MIN = 3, 4


def _merge_design_parts(*parts):
    """Merge _design_chunk results: max and min of the weight range, sums else."""
    merged = list(add_parts(*parts))
    merged[_WEIGHT_MAX] = max(part[_WEIGHT_MAX] for part in parts)
    merged[_WEIGHT_MIN] = min(part[_WEIGHT_MIN] for part in parts)
    return tuple(merged)


def _power_chunk(v, mean, scale, fit_intercept, total, state):
    """``X~_s^T diag(w_s / total) X~_s v`` over one chunk's subsample rows."""
    design = _chunk_design(state["X"], mean, scale, fit_intercept)
    u = design.matmul(v, np.empty((design.n_samples, 1)))
    u *= (state["w"] / total)[:, None]
    return design.rmatmul(u, np.empty_like(v))


class DistributedDesign:
    """The implicitly standardised design of ``_design.py`` over a chunked X.

    Parameters
    ----------
    X : dask array of shape (n_samples, n_features)
        float32 or float64, chunked along rows only, persisted.
    sample_weight : dask array of shape (n_samples,)
        Non-negative float64 weights with the row chunks of X, persisted.
    fit_intercept : bool
    ridge : float
        As for ``StandardizedDesign``.
    """

    def __init__(self, X, sample_weight, *, fit_intercept, ridge=0.0):
        self.X = X
        self.sample_weight = sample_weight
        self.fit_intercept = bool(fit_intercept)
        self.n_samples, self.n_features = X.shape
        self.n_rows = self.n_features + int(self.fit_intercept)
        self.dtype = X.dtype
        self.token = new_token()
        self.x_refs = chunk_refs(X)
        self.w_refs = chunk_refs(sample_weight)
        starts = np.cumsum((0, *X.chunks[0][:-1]))
        stride = 1
        if self.n_samples > _POWER_ROWS:
            stride = -(-self.n_samples // _POWER_ROWS)
        gram = self.n_rows <= _GRAM_MAX_ROWS
        kept, parts = run_round(
            self.token,
            _design_chunk,
            (stride, gram),
            [[x, w] for x, w in zip(self.x_refs, self.w_refs, strict=True)],
            keep=not gram,
            per_chunk=[(int(start),) for start in starts],
            combine=_merge_design_parts,
        )
        total, first, second, self.weight_max, self.weight_min = parts[:5]
        if not (np.isfinite(first).all() and np.isfinite(second).all()):
            raise ValueError(
                "Input X contains NaN or infinity (or values whose squares "
                "overflow float64)"
            )
        self.weight_total = float(total)
        self.mean, self.scale = stats_from_moments(
            first / total, second / total, fit_intercept, ridge
        )
        self._subsample_total = float(parts[5])
        self._subsample_kept = kept
        self._subsample_gram = None if kept is not None else parts[6:]
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
        of the Gram matrix) up to ``_GRAM_MAX_ROWS`` coefficient rows, else
        by the in-memory power iteration, one round per step.

        Returns
        -------
        float
        """
        total = self._subsample_total
        if not total > 0.0:
            return 0.0
        if self._subsample_gram is not None:
            return float(np.linalg.eigvalsh(self._gram_matrix())[-1])
        v = np.random.default_rng(0).standard_normal((self.n_rows, 1))
        v /= np.linalg.norm(v)
        eigenvalue = 0.0
        static = (self.mean, self.scale, self.fit_intercept, total)
        for _ in range(_POWER_ITERATIONS):
            _, v = run_round(
                self.token, _power_chunk, (v, *static),
                [[state] for state in self._subsample_kept], keep=False,
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
        total = self._subsample_total
        b, A = self._subsample_gram
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


@dataclass(frozen=True)
class _Evaluation:
    """What every chunk task of one evaluation round needs (all small).

    ``pending`` are the coefficients of bases to compute (``X~_c @ coef``);
    ``terms`` spell the logits as ``(source, position, field, coef)``:
    ``("pending", j, None, c)`` for the j-th computed product, or
    ``("held", i, field, c)`` for ``field`` of the i-th kept state passed in.
    """

    mean: np.ndarray
    scale: np.ndarray
    fit_intercept: bool
    binomial: bool
    n_outputs: int
    weight_scale: float
    unit_weights: bool
    n_threads: int
    pending: tuple
    terms: tuple
    with_grad: bool
    keep_logits: bool


def _evaluate_chunk(spec, X_c, y_c, w_c, *states):
    """One chunk of an evaluation: logits, fused loss (and gradient), X~^T G.

    Returns the small result ``(loss sum,)`` or ``(loss sum, X~_c^T G_c)``,
    wrapped with what is kept (the products and the logits) when anything is.
    """
    design = _chunk_design(X_c, spec.mean, spec.scale, spec.fit_intercept)
    products = [
        design.matmul(coef, np.empty((X_c.shape[0], coef.shape[1])))
        for coef in spec.pending
    ]
    Z = None
    for source, position, field, coef in spec.terms:
        basis = products[position] if source == "pending" else states[position][field]
        # The solvers' order: Z = c0 * B0, then Z += c1 * B1 (a 1.0 is exact).
        Z = coef * basis if Z is None else Z + coef * basis
    if Z is None:  # no terms: the zero logits of a start from w = 0
        Z = np.zeros((X_c.shape[0], spec.n_outputs))
    weights = None if spec.unit_weights else w_c * spec.weight_scale
    if spec.binomial:
        loss_function = (
            binary_cross_entropy_with_grad if spec.with_grad else binary_cross_entropy
        )
        logits = Z.reshape(-1)
    else:
        loss_function = cross_entropy_with_grad if spec.with_grad else cross_entropy
        logits = Z
    result = loss_function(
        logits, y_c, sample_weight=weights, reduction="sum", n_threads=spec.n_threads
    )
    if spec.with_grad:
        loss, G = result
        grad = np.empty((design.n_rows, Z.shape[1]))
        small = (float(loss), design.rmatmul(G.reshape(Z.shape), grad))
    else:
        small = (float(result),)
    if not products and not spec.keep_logits:
        return small
    kept = {"small": small}
    for j, product in enumerate(products):
        kept[f"P{j}"] = product
    if spec.keep_logits:
        kept["Z"] = Z
    return kept


class _DistributedCrossEntropy:
    """Shared part of the distributed binomial and multinomial datafits.

    Parameters
    ----------
    design : DistributedDesign
    target : dask array of shape (n_samples,)
        Encoded targets (0/1 floats for the binomial, class indices else).
    sample_weight : dask array of shape (n_samples,)
        The design's weights.
    n_threads : int or None
        Threads of the kernel in each chunk task; None means 1 (dask runs
        the chunks in parallel).
    """

    curvature = None
    n_outputs = None
    binomial = None

    def __init__(self, design, target, sample_weight, *, n_threads=None):
        self.design = design
        self.sample_weight = sample_weight
        self.n_threads = 1 if n_threads is None else n_threads
        target = target.rechunk((design.X.chunks[0],)).persist()
        self.y_refs = chunk_refs(target)
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
            binomial=self.binomial, n_outputs=self.n_outputs,
            weight_scale=self.weight_scale,
            unit_weights=self.unit_weights, n_threads=self.n_threads,
            pending=tuple(basis.coef for basis in pending), terms=tuple(terms),
            with_grad=with_grad, keep_logits=keep_logits,
        )  # fmt: skip
        refs = [
            [x, y, w, *(kept[c] for kept in states)]
            for c, (x, y, w) in enumerate(
                zip(design.x_refs, self.y_refs, design.w_refs, strict=True)
            )
        ]
        kept, small = run_round(
            design.token, _evaluate_chunk, (spec,), refs,
            keep=bool(pending) or keep_logits,
        )  # fmt: skip
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
