"""The set-up round of a dask fit, and the training data it leaves on the cluster.

Before its first loss evaluation a fit needs the classes, the weighted class
counts (for ``class_weight="balanced"``), the range and sum of the weights,
the weighted column moments (the standardisation, and the NaN check of X)
and, for the Lipschitz estimate, the Gram matrix of a row subsample. All of
them are sums (or extrema) over rows, so one round computes them together
(:func:`run_setup`), one task per group of chunks, a merge of small results:
a single graph submission, where separate steps (persist, labels, weight
sum, column statistics, encoding) each cost the scheduler a round trip.

The same round *keeps* each chunk's data on the workers for the rest of the
fit (persisting X once): its block of X, its labels as codes into its own
sorted label set (encoded as in memory, ``fastxent/_label_codes.py``), and
its sample weights (None for unit weights). The codes cannot be global
before the round, since the classes are known only once every chunk has
been seen; so every later round maps a chunk's labels through
``searchsorted(classes, chunk_labels)``, a lookup of a few entries, then one
gather over the chunk's rows (:class:`ChunkEncoding`): little beside the
chunk's two passes over X.

Class weights multiply each class's rows by a constant, so with a
``class_weight`` the moments are gathered per class and weighted on the
client. The subsample's Gram matrix is then left to the first Lipschitz
estimate, one more round with the class weights known (per-class Gram
matrices would grow with ``n_classes * n_features**2``).

The estimator's fit receives the encoded labels and the weights as the
round's :class:`TrainingData` (the ``FitTargets`` of
``fastxent/linear_model/_backend.py``): it answers from what the round
returned, so nothing is computed again, and carries the kept data to the
distributed design and datafits (``_datafit.py``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import dask
import numpy as np

from fastxent._label_codes import encode_labels
from fastxent.dask._rounds import RoundPlan, run_round
from fastxent.linear_model._design import column_moments, subsample_stride

# Up to this many coefficient rows the Lipschitz estimate uses the exact
# Gram matrix of the subsample; beyond, power iteration (see _datafit.py).
GRAM_MAX_ROWS = 1024
# Bytes of the float64 scratch block of the column moments: a block stays in
# a core's L2 cache between its two products, and one block reused for the
# whole chunk matters on dask workers, where allocations above 64 kB are
# returned to the system on free (distributed sets MALLOC_TRIM_THRESHOLD_)
# and every new one page-faults, as a fresh block per 8192 rows (the
# in-memory default) would.
_MOMENTS_BLOCK_BYTES = 1 << 18


def subsample_moments(X_sub, w_sub):
    """Weight sum and raw moments ``w @ X``, ``X^T diag(w) X`` of a chunk's
    subsample rows (float64)."""
    return w_sub.sum(), w_sub @ X_sub, (X_sub.T * w_sub) @ X_sub


def subsample_rows(stride, start):
    """The subsample rows ``0, stride, 2 stride, ...`` of X within a chunk
    whose first row is ``start``."""
    return slice((-start) % stride, None, stride)


def _encode_chunk(y_c):
    """Sorted labels of a chunk and each row's code into them, in the smallest
    integer dtype that holds the codes (they stay on the workers)."""
    labels, codes = encode_labels(np.asarray(y_c).reshape(-1))
    return labels, codes.astype(np.min_scalar_type(max(len(labels) - 1, 0)))


def _group_moments(X_c, w, groups, n_groups):
    """Weight sums and ranges, column moments of each group of rows."""
    n_features = X_c.shape[1]
    block_rows = _MOMENTS_BLOCK_BYTES // (8 * max(1, n_features))
    block = np.empty((max(1, min(X_c.shape[0], block_rows)), n_features))
    parts = [(X_c, w)]
    if n_groups != 1:
        order = np.argsort(groups, kind="stable")
        bounds = np.searchsorted(groups[order], np.arange(n_groups + 1))
        X_sorted, w_sorted = X_c[order], w[order]
        parts = [
            (X_sorted[low:high], w_sorted[low:high])
            for low, high in itertools.pairwise(bounds)
        ]
    first, second = np.zeros((2, len(parts), n_features))
    for k, (X_k, w_k) in enumerate(parts):
        first[k], second[k] = column_moments(X_k, w_k, scratch=block)
    return {
        "total": np.array([w_k.sum() for _, w_k in parts]),
        "max": np.array([w_k.max(initial=-np.inf) for _, w_k in parts]),
        "min": np.array([w_k.min(initial=np.inf) for _, w_k in parts]),
        "first": first,
        "second": second,
    }


def _setup_chunk(stride, gram, by_class, start, X_c, y_c, w_c):
    """Everything the fit needs from one chunk; the chunk's data, kept.

    Returns
    -------
    small : dict
        ``labels``, their weighted ``counts``, whether the weights are
        ``finite`` and their minimum ``low``; ``groups``: weight sum, max,
        min and column moments per class (``by_class``) or of all rows;
        with ``gram``, the subsample's weight sum and raw moments.
    state : dict
        ``X`` (C-contiguous), ``labels``, ``codes``, ``w`` (None: unit).
    """
    X_c = np.ascontiguousarray(X_c)
    labels, codes = _encode_chunk(y_c)
    if w_c is None:
        w = np.ones(X_c.shape[0])
        finite, low = True, 1.0
    else:
        w = w_c = np.asarray(w_c, dtype=np.float64).reshape(-1)
        finite = bool(np.isfinite(w).all())
        low = float(w.min(initial=np.inf))
    counts = np.bincount(codes, weights=w, minlength=len(labels))
    small = {
        "by_class": by_class, "labels": labels, "counts": counts,
        "finite": finite, "low": low,
    }  # fmt: skip
    if by_class:
        small["groups"] = _group_moments(X_c, w, codes, len(labels))
    else:
        small["groups"] = _group_moments(X_c, w, None, 1)
    if gram:
        rows = subsample_rows(stride, start)
        small["subsample"] = subsample_moments(X_c[rows].astype(np.float64), w[rows])
    state = {"X": X_c, "labels": labels, "codes": codes, "w": w_c}
    return small, state


def _aligned(labels, part_labels, values, fill):
    """``values`` (one row per label of ``part_labels``) on the rows of ``labels``."""
    out = np.full((len(labels), *values.shape[1:]), fill, dtype=values.dtype)
    out[np.searchsorted(labels, part_labels)] = values
    return out


def merge_setup(*parts):
    """Merge :func:`_setup_chunk` results: label union, sums, extrema."""
    labels = parts[0]["labels"]
    for part in parts[1:]:
        labels = np.union1d(labels, part["labels"])
    by_class = parts[0]["by_class"]
    merged = {
        "by_class": by_class,
        "labels": labels,
        "counts": np.sum(
            [_aligned(labels, part["labels"], part["counts"], 0.0) for part in parts],
            axis=0,
        ),
        "finite": all(part["finite"] for part in parts),
        "low": min(part["low"] for part in parts),
    }
    groups = {}
    for name, reduce, fill in _GROUP_REDUCTIONS:
        values = [part["groups"][name] for part in parts]
        if by_class:
            values = [
                _aligned(labels, part["labels"], value, fill)
                for part, value in zip(parts, values, strict=True)
            ]
        groups[name] = reduce.reduce(np.stack(values), axis=0)
    merged["groups"] = groups
    if "subsample" in parts[0]:
        merged["subsample"] = tuple(
            np.sum(items, axis=0)
            for items in zip(*(part["subsample"] for part in parts), strict=True)
        )
    return merged


# How each per-group statistic merges over chunks, and its value for a
# class a chunk does not have.
_GROUP_REDUCTIONS = (
    ("total", np.add, 0.0),
    ("max", np.maximum, -np.inf),
    ("min", np.minimum, np.inf),
    ("first", np.add, 0.0),
    ("second", np.add, 0.0),
)


@dataclass(frozen=True)
class ChunkEncoding:
    """How a chunk's kept labels and weights become the fit's targets and weights.

    Parameters
    ----------
    classes : ndarray of shape (n_classes,)
        The sorted classes of the whole data.
    class_weight : ndarray of shape (n_classes,) or None
        Factor of each class's sample weights.
    positive : int or None, default=None
        Targets are ``code == positive`` (the binomial's 0/1) rather than
        the class codes.
    dtype : numpy dtype, default=intp
        dtype of the targets.
    """

    classes: np.ndarray
    class_weight: np.ndarray | None
    positive: int | None = None
    dtype: np.dtype = np.dtype(np.intp)

    def _codes(self, state):
        """Global code of each of the chunk's own labels."""
        return np.searchsorted(self.classes, state["labels"])

    def targets(self, state):
        """The chunk's targets, ``(n_rows,)``: codes, or 0/1 for ``positive``."""
        codes = self._codes(state)
        if self.positive is not None:
            codes = codes == self.positive
        return codes.astype(self.dtype)[state["codes"]]

    def weights(self, state, rows=slice(None)):
        """Sample weights times class weights of ``rows`` of the chunk; None
        for unit weights."""
        w = state["w"]
        if self.class_weight is None:
            return None if w is None else w[rows]
        factors = self.class_weight[self._codes(state)][state["codes"][rows]]
        return factors if w is None else w[rows] * factors


class TrainingData:
    """A dask fit's training data after the set-up round.

    Once :meth:`weigh` has fixed the class weights, the fit's targets: the
    ``FitTargets`` of ``fastxent/linear_model/_backend.py``, answered from
    what the round returned, the targets as the :class:`ChunkEncoding` each
    later round applies to a chunk's kept labels.

    Attributes
    ----------
    plan : RoundPlan
        The chunk groups of the fit's rounds.
    kept : list of (key, entry)
        Per group, the chunks' kept data (``X``, ``labels``, ``codes``,
        ``w``): the ``inputs`` of every later round.
    starts : list of int
        First row of each chunk.
    n_samples : int
    classes : ndarray of shape (n_classes,)
    class_counts : ndarray of shape (n_classes,)
        Sample-weighted class counts (before class weights).
    x_finite : bool
        Whether X's column moments are finite (no NaN or infinity in X).
    weights_finite : bool
    weight_low : float
        Smallest sample weight (before class weights).
    class_weight : ndarray of shape (n_classes,) or None
        Set by :meth:`weigh`, as are ``weight_total``, ``weight_max``,
        ``weight_min``, ``first`` and ``second`` (weighted column sums of X
        and of its square) and ``subsample`` (the subsample's weight sum and
        raw moments ``w @ X``, ``X^T diag(w) X``, or None: not gathered).
    """

    def __init__(self, plan, kept, starts, X, small):
        self.plan = plan
        self.kept = kept
        self.starts = starts
        self.n_samples = X.shape[0]
        self.classes = small["labels"]
        self.class_counts = small["counts"]
        self.weights_finite = small["finite"]
        self.weight_low = small["low"]
        self._groups = small["groups"]
        # NaN or infinity anywhere in X reaches the moments (times a zero
        # weight it is NaN), as do squares that overflow.
        self.x_finite = bool(
            np.isfinite(self._groups["first"]).all()
            and np.isfinite(self._groups["second"]).all()
        )
        self._subsample = small.get("subsample")

    def weigh(self, class_weight):
        """Fix the class weights; the weighted statistics follow from the
        round's per-class ones.

        Parameters
        ----------
        class_weight : ndarray of shape (n_classes,) or None
        """
        groups = self._groups
        self.class_weight = class_weight
        # Class weights come with moments per class, none with those of all
        # rows, one group, whose factor 1 leaves its statistics as they are
        # (prepare_fit asks for per-class moments exactly then).
        factors = np.ones(1)
        self.subsample = self._subsample
        if class_weight is not None:
            factors = np.asarray(class_weight, dtype=np.float64)
            self.subsample = None
        with np.errstate(invalid="ignore"):
            self.weight_total = float(factors @ groups["total"])
            # Class weights are non-negative, so each class's extreme weight
            # times its factor is the extreme of its weighted weights.
            self.weight_max = float((factors * groups["max"]).max())
            self.weight_min = float((factors * groups["min"]).min())
            self.first = factors @ groups["first"]
            self.second = factors @ groups["second"]

    def encoding(self, positive=None, dtype=np.intp):
        """The :class:`ChunkEncoding` of the fit's targets and weights."""
        return ChunkEncoding(self.classes, self.class_weight, positive, np.dtype(dtype))

    def total_weight(self):
        """Sum of the row weights (sample weights times class weights)."""
        return self.weight_total

    def binary_targets(self):
        """Encoding of 1.0 for the rows of ``classes[1]``, else 0.0."""
        return self.encoding(positive=1, dtype=np.float64)

    def class_codes(self):
        """Encoding of each row's class code (intp)."""
        return self.encoding()

    def row_weights(self):
        """The training data itself: the design reads the weights' statistics
        from it, and each round the chunks' weights."""
        return self


def run_setup(X, y, sample_weight, *, by_class, gram):
    """The set-up round: one reduction over X, y and the weights.

    Parameters
    ----------
    X : dask array of shape (n_samples, n_features)
        float32 or float64, one column chunk.
    y : dask array of shape (n_samples,)
        Labels, with the row chunks of X.
    sample_weight : dask array of shape (n_samples,) or None
        float64, with the row chunks of X; None for unit weights.
    by_class : bool
        Gather the statistics per class (a ``class_weight`` will apply).
    gram : bool
        Gather the subsample's raw moments for the Lipschitz estimate.

    Returns
    -------
    TrainingData
        Before :meth:`TrainingData.weigh`.
    """
    plan = RoundPlan.for_array(X)
    arrays = [X, y] if sample_weight is None else [X, y, sample_weight]
    graph = dask.base.collections_to_expr(arrays, optimize_graph=True)
    keys = [list(dask.core.flatten(array.__dask_keys__())) for array in arrays]
    if sample_weight is None:
        keys.append([None] * len(keys[0]))
    starts = [int(s) for s in np.cumsum((0, *X.chunks[0][:-1]))]
    kept, small = run_round(
        plan, _setup_chunk,
        (subsample_stride(X.shape[0]), gram, by_class),
        keep=True,
        per_chunk=[(start,) for start in starts],
        sources=(graph.__dask_graph__(), list(zip(*keys, strict=True))),
        combine=merge_setup,
    )  # fmt: skip
    return TrainingData(plan, kept, starts, X, small)
