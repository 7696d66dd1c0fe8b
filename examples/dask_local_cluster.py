"""fastxent on dask arrays, with a fit on a two-worker local cluster.

The functions of fastxent take dask arrays chunked along samples and return
lazy results; ``LogisticRegression.fit`` on dask arrays runs its solver on
the client while every pass over the data runs on the workers, which keep
their chunks between passes. The fitted model equals the fit on the same
data in memory.

``LocalCluster`` starts its workers as processes, which import this file
afresh: the ``if __name__ == "__main__":`` guard keeps them from starting
clusters of their own. Needs the ``dask`` extra (dask and distributed) and
scikit-learn.
"""

import dask.array as da
import numpy as np
from dask.distributed import Client, LocalCluster

import fastxent
from fastxent.linear_model import LogisticRegression


def main():
    # dashboard_address=":0": any free port, so two runs never clash.
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0")
    with cluster, Client(cluster):
        # Random data made on the workers, in chunks of 10,000 rows: labels
        # drawn from a logistic model whose coefficients are 1, 0.5, -1 on
        # the first three features and 0 on the other seven.
        rng = da.random.default_rng(0)
        X = rng.normal(size=(40_000, 10), chunks=(10_000, 10))
        noise = rng.logistic(size=40_000, chunks=10_000)
        y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] + noise > 0).astype(int)

        logits = rng.normal(size=(40_000, 5), chunks=(10_000, 5))
        labels = rng.integers(0, 5, size=40_000, chunks=10_000)
        loss = fastxent.cross_entropy(logits, labels)  # lazy
        in_memory = fastxent.cross_entropy(logits.compute(), labels.compute())
        print(
            f"cross_entropy of dask arrays: {float(loss.compute()):.6f} "
            f"(in memory {in_memory:.6f})"
        )

        model = LogisticRegression(solver="lbfgs", C=1.0).fit(X, y)
        proba = model.predict_proba(X)  # lazy, chunked as X
        print(f"predict_proba: {type(proba).__name__}, chunks {proba.chunks[0]}")

        reference = LogisticRegression(solver="lbfgs", C=1.0).fit(
            X.compute(), y.compute()
        )
        first = ", ".join(f"{c:.2f}" for c in model.coef_[0, :3])
        print(f"coefficients of the first three features: {first}")
        # Equal to within the solver's tolerance: summed chunk by chunk, the
        # gradients differ in their last bits from the in-memory ones, so the
        # two fits stop at neighbouring iterates.
        gap = np.abs(model.coef_ - reference.coef_).max()
        print(f"dask fit against in-memory fit, largest coef_ difference: {gap:.0e}")


if __name__ == "__main__":
    main()
