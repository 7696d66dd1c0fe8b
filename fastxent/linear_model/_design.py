"""The linear map the solvers see: X standardised implicitly, plus an intercept.

The solvers do not step in the coefficients ``(W, b)`` of the user's problem
but in coordinates ``w`` where the design is

    X~ = [(X - 1 mean^T) diag(scale), 1],      logits Z = X~ @ w,

with ``mean`` the weighted column means (only with an intercept) and
``scale_j = 1 / sqrt(var_j + ridge)``. This is a diagonal preconditioner
written as a change of variables: ``W = diag(scale) V`` and
``b = c - mean^T W`` for ``w = [V; c]``, so every objective value, and the
minimiser once mapped back, is exactly the user's. Nothing is centred or
copied: ``X~ @ w`` is ``X @ W`` plus a row vector, and ``X~^T G`` is
``X^T G`` minus a rank-one term, so sparse X stays sparse.

Why bother: gradient methods need a number of iterations that grows with the
condition number, and unscaled features (pixels from 0 to 16, columns with
nonzero means, near-constant columns) are the usual cause of a bad one. On
digits this cuts accelerated gradient descent from 24,634 to 2,067
iterations to reach a gradient of 1e-8 at C=1. ``ridge`` (the l2 penalty's
curvature relative to the loss's) keeps near-constant columns from getting
huge scales that would make the penalty, not the data, set the step size.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# Rows per block when a statistic of dense X needs a float64 or squared copy:
# bounds the temporary memory to a few megabytes whatever n_samples is.
_BLOCK_ROWS = 8192
# Rows used to estimate the largest eigenvalue (see spectral_norm_sq).
_POWER_ROWS = 16384
# Up to this many entries (samples, or rows if more, x coefficient rows) a
# dense design's eigenvalue comes from its Gram matrix: on such small
# problems the 24 calls of the power iteration cost more than writing X~ out
# once, one product and a small eigensolve, which give the eigenvalue itself
# rather than an estimate from below. Larger ones would pay for the memory.
_GRAM_ENTRIES = 32768


def subsample_stride(n_samples):
    """Step between the evenly spaced rows (at most ``_POWER_ROWS``) of the
    Lipschitz estimate's subsample; the dask fit takes the same rows."""
    return -(-n_samples // _POWER_ROWS) if n_samples > _POWER_ROWS else 1


class StandardizedCoordinates:
    """The solvers' coordinates ``w`` and the maps to and from the user's.

    What a design needs of its column statistics alone, shared by the
    in-memory design below and the dask one (``fastxent/dask/_datafit.py``).

    Parameters
    ----------
    mean, scale : ndarray of shape (n_features,)
        Column means (zeros without intercept) and scales.
    fit_intercept : bool
    """

    def __init__(self, mean, scale, fit_intercept):
        self.mean = mean
        self.scale = scale
        self.fit_intercept = bool(fit_intercept)
        self.n_features = len(scale)
        self.n_rows = self.n_features + int(self.fit_intercept)

    def coef_scale(self):
        """Factor mapping each row of ``w`` to the user's coefficients.

        Returns
        -------
        ndarray of shape (n_rows,)
            ``scale`` for the feature rows, 1 for the intercept row.
        """
        return np.append(self.scale, np.ones(int(self.fit_intercept)))

    def to_original(self, w):
        """The user's coefficients stacked over the intercept.

        Parameters
        ----------
        w : ndarray of shape (n_rows, n_outputs)

        Returns
        -------
        ndarray of shape (n_rows, n_outputs)
            ``W`` in the first ``n_features`` rows, ``b`` in the last one when
            there is an intercept.
        """
        p = self.n_features
        original = np.empty_like(w)
        original[:p] = self.scale[:, None] * w[:p]
        if self.fit_intercept:
            original[p] = w[p] - self.mean @ original[:p]
        return original

    def from_original(self, original):
        """Inverse of :meth:`to_original`.

        Parameters
        ----------
        original : ndarray of shape (n_rows, n_outputs)

        Returns
        -------
        w : float64 ndarray of shape (n_rows, n_outputs)
        """
        p = self.n_features
        original = np.asarray(original, dtype=np.float64)
        w = np.empty_like(original)
        w[:p] = original[:p] / self.scale[:, None]
        if self.fit_intercept:
            w[p] = original[p] + self.mean @ original[:p]
        return w

    def gradient_to_original(self, grad):
        """Map a gradient with respect to ``w`` to one with respect to ``(W, b)``.

        With ``W = diag(scale) V`` and ``b = c - mean^T W`` the chain rule
        gives ``dF/dV = diag(scale) (dF/dW - mean dF/db)``, inverted here.

        Parameters
        ----------
        grad : ndarray of shape (n_rows, n_outputs)

        Returns
        -------
        ndarray of shape (n_rows, n_outputs)
        """
        p = self.n_features
        original = np.empty_like(grad)
        original[:p] = grad[:p] / self.scale[:, None]
        if self.fit_intercept:
            original[:p] += np.outer(self.mean, grad[p])
            original[p] = grad[p]
        return original


class StandardizedDesign(StandardizedCoordinates):
    """Implicitly standardised design matrix with an optional intercept column.

    Parameters
    ----------
    X : ndarray or scipy.sparse CSR matrix of shape (n_samples, n_features)
        float32 or float64; C-contiguous when dense.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative float64 weights of the rows, used for the means and
        variances.
    fit_intercept : bool
        Append a column of ones (and centre the features, which the intercept
        absorbs).
    ridge : float
        Added to every variance before taking ``1 / sqrt``: the l2 penalty's
        curvature divided by the loss's curvature bound.
    mean, scale : ndarray of shape (n_features,), default=None
        Reuse the statistics of another design (mini-batches of one data set
        share their parent's coordinates).
    """

    def __init__(
        self, X, sample_weight, *, fit_intercept, ridge=0.0, mean=None, scale=None
    ):
        if scale is None:
            mean, scale = _standardising_stats(X, sample_weight, fit_intercept, ridge)
        super().__init__(mean, scale, fit_intercept)
        self.X = X
        self.n_samples = X.shape[0]
        self.dtype = X.dtype
        self.sample_weight = sample_weight
        # float32 products go through scratch buffers of X's dtype, keyed by
        # shape, so the solvers' float64 logits never force a copy of X.
        self._scratch = {}

    def subset(self, rows):
        """The same coordinates restricted to ``rows`` (a mini-batch).

        Parameters
        ----------
        rows : ndarray of int of shape (n_rows_subset,)

        Returns
        -------
        StandardizedDesign
        """
        return StandardizedDesign(
            self.X[rows],
            self.sample_weight[rows],
            fit_intercept=self.fit_intercept,
            mean=self.mean,
            scale=self.scale,
        )

    def _buffer(self, shape):
        buf = self._scratch.get(shape)
        if buf is None:
            buf = self._scratch[shape] = np.empty(shape, self.dtype)
        return buf

    def matmul(self, w, out):
        """``out = X~ @ w``.

        Parameters
        ----------
        w : ndarray of shape (n_rows, n_outputs)
        out : float64 ndarray of shape (n_samples, n_outputs)

        Returns
        -------
        out : ndarray of shape (n_samples, n_outputs)
        """
        p = self.n_features
        coef = self.scale[:, None] * w[:p]
        shift = None
        if self.fit_intercept:
            shift = w[p] - self.mean @ coef
        if sp.issparse(self.X):
            product = self.X @ coef.astype(self.dtype, copy=False)
        elif self.dtype == np.float64:
            product = np.matmul(self.X, coef, out=out)
        else:
            product = np.matmul(
                self.X, coef.astype(self.dtype), out=self._buffer(out.shape)
            )
        if shift is None:
            if product is not out:
                out[...] = product
        else:
            np.add(product, shift, out=out)
        return out

    def rmatmul(self, G, out):
        """``out = X~^T @ G``.

        Parameters
        ----------
        G : float64 ndarray of shape (n_samples, n_outputs)
        out : float64 ndarray of shape (n_rows, n_outputs)

        Returns
        -------
        out : ndarray of shape (n_rows, n_outputs)
        """
        p = self.n_features
        if sp.issparse(self.X):
            out[:p] = self.X.T @ G.astype(self.dtype, copy=False)
        elif self.dtype == np.float64:
            np.matmul(self.X.T, G, out=out[:p])
        else:
            G_cast = self._buffer(G.shape)
            G_cast[...] = G
            out[:p] = np.matmul(self.X.T, G_cast, out=self._buffer(out[:p].shape))
        if self.fit_intercept:
            column_sum = G.sum(axis=0)
            out[:p] -= np.outer(self.mean, column_sum)
            out[p] = column_sum
        out[:p] *= self.scale[:, None]
        return out

    def spectral_norm_sq(self, n_iter=12, seed=0):
        """Largest eigenvalue of ``X~^T diag(sample_weight / sum) X~``.

        Power iteration on products with X and X^T (never forming the
        Gram matrix), on at most ``_POWER_ROWS`` evenly spaced rows: each
        product is a pass over X, so the 12 iterations cost as much as a
        dozen solver iterations on all rows, and an estimate is all a
        starting step size needs (the line searches correct it).

        Parameters
        ----------
        n_iter : int, default=12
        seed : int, default=0
            Seed of the starting vector (fixed, so fits are reproducible).

        Returns
        -------
        float
        """
        if self.n_samples > _POWER_ROWS:
            stride = subsample_stride(self.n_samples)
            return self.subset(np.arange(0, self.n_samples, stride)).spectral_norm_sq(
                n_iter, seed
            )
        weight = self.sample_weight / self.sample_weight.sum()
        # X~ written out (n_samples x n_rows) and the Gram matrix and identity
        # (n_rows x n_rows) both stay small; a wide design goes to the power
        # iteration, whose products cost n_samples x n_rows.
        small = max(self.n_samples, self.n_rows) * self.n_rows <= _GRAM_ENTRIES
        if small and not sp.issparse(self.X):
            shape = (self.n_samples, self.n_rows)
            explicit = self.matmul(np.eye(self.n_rows), np.empty(shape))
            gram = explicit.T @ (explicit * weight[:, None])
            return float(np.linalg.eigvalsh(gram)[-1])
        u = np.empty((self.n_samples, 1))

        def product(v):
            self.matmul(v, u)
            np.multiply(u, weight[:, None], out=u)
            return self.rmatmul(u, v)

        return power_iteration(product, self.n_rows, n_iter, seed)

    def row_norms_sq(self):
        """Squared Euclidean norm of every row of ``X~``.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        # ||x~_i||^2 = sum_j scale_j^2 (x_ij - mean_j)^2 (+ 1); for sparse X
        # expanded into three sparse products so rows are never densified.
        s2 = self.scale**2
        if sp.issparse(self.X):
            norms = self.X.multiply(self.X) @ s2
            norms -= 2.0 * (self.X @ (s2 * self.mean))
            norms += s2 @ self.mean**2
            # The expansion can round a tiny norm below zero.
            np.maximum(norms, 0.0, out=norms)
        else:
            norms = np.empty(self.n_samples)
            for start in range(0, self.n_samples, _BLOCK_ROWS):
                block = self.X[start : start + _BLOCK_ROWS].astype(np.float64)
                block -= self.mean
                block *= block
                norms[start : start + _BLOCK_ROWS] = block @ s2
        return norms + float(self.fit_intercept)


def power_iteration(product, n_rows, n_iter=12, seed=0):
    """Largest eigenvalue of a symmetric positive semi-definite ``A``, by power
    iteration; approaches it from below.

    Parameters
    ----------
    product : callable
        ``product(v)`` returns ``A @ v`` for ``v`` of shape (n_rows, 1); it
        may write the result into ``v`` and return it.
    n_rows : int
    n_iter : int, default=12
    seed : int, default=0
        Seed of the starting vector (fixed, so fits are reproducible).

    Returns
    -------
    float
    """
    v = np.random.default_rng(seed).standard_normal((n_rows, 1))
    v /= np.linalg.norm(v)
    eigenvalue = 0.0
    for _ in range(n_iter):
        v = product(v)
        eigenvalue = float(np.linalg.norm(v))
        if eigenvalue == 0.0:
            break
        v /= eigenvalue
    return eigenvalue


def _standardising_stats(X, sample_weight, fit_intercept, ridge):
    """Weighted column means (zero without intercept) and scales."""
    total = sample_weight.sum()
    first, second = column_moments(X, sample_weight)
    return stats_from_moments(first / total, second / total, fit_intercept, ridge)


def column_moments(X, sample_weight, scratch=None):
    """Weighted column sums ``sum_i w_i x_ij`` and ``sum_i w_i x_ij^2``, in float64.

    Sums over row blocks add up, which is how a chunked X (dask) gets the
    statistics of the whole: one call per chunk, then a sum.

    Parameters
    ----------
    X : ndarray or scipy.sparse CSR matrix of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,)
    scratch : ndarray of shape (block_rows, n_features), float64, optional
        Where dense rows are converted, ``block_rows`` at a time. Callers
        that make many calls pass one (a dask worker returns large freed
        arrays to the system, so a fresh block each time costs page faults).

    Returns
    -------
    first, second : ndarray of shape (n_features,)
    """
    if sp.issparse(X):
        first = np.asarray(X.T @ sample_weight, dtype=np.float64)
        second = np.asarray(X.multiply(X).T @ sample_weight, dtype=np.float64)
        return first, second
    if scratch is None:
        scratch = np.empty((min(_BLOCK_ROWS, X.shape[0]), X.shape[1]))
    step = max(1, scratch.shape[0])
    first = np.zeros(X.shape[1])
    second = np.zeros(X.shape[1])
    for start in range(0, X.shape[0], step):
        rows = X[start : start + step]
        block = scratch[: rows.shape[0]]
        block[...] = rows
        weight = sample_weight[start : start + step]
        first += weight @ block
        block *= block
        second += weight @ block
    return first, second


def stats_from_moments(mean, second, fit_intercept, ridge):
    """Column means (zero without intercept) and scales from weighted moments.

    Parameters
    ----------
    mean, second : ndarray of shape (n_features,)
        Weighted means of X and of X squared.
    fit_intercept : bool
    ridge : float

    Returns
    -------
    mean, scale : ndarray of shape (n_features,)
    """
    if fit_intercept:
        variance = second - mean**2
        # E[x^2] - E[x]^2 cancels for (near-)constant columns; below this
        # relative level the difference is rounding noise, so call it 0.
        variance[variance <= 1e-12 * second] = 0.0
    else:
        mean = np.zeros_like(mean)
        variance = second
    curvature = variance + ridge
    # A column with no variance and no l2 penalty has a zero gradient (after
    # centring) or a flat l1 term: any positive scale is exact, take 1.
    scale = np.ones_like(curvature)
    positive = curvature > 0
    scale[positive] = 1.0 / np.sqrt(curvature[positive])
    return mean, scale
