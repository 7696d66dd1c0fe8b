"""fastxent's LogisticRegression in a scikit-learn pipeline, cross-validated.

The estimator minimises scikit-learn's objective for the same ``C`` and
``l1_ratio``, so it can stand in for ``sklearn.linear_model.
LogisticRegression`` in a pipeline and reach the same model. This script
cross-validates both, after a ``StandardScaler``, on the breast cancer data
set bundled with scikit-learn (the folds of ``python -m fastxent``), compares
their coefficients on the whole data, and fits an l1 model, whose zeros are
exact. Needs scikit-learn (the ``sklearn`` extra).
"""

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastxent
from fastxent.metrics import neg_cross_entropy_scorer

X, y = load_breast_cancer(return_X_y=True)
folds = StratifiedKFold(5, shuffle=True, random_state=0)
scoring = {"accuracy": "accuracy", "cross_entropy": neg_cross_entropy_scorer}

models = {
    "scikit-learn": SklearnLogisticRegression(max_iter=1000),
    "fastxent": fastxent.LogisticRegression(),
}
for name, estimator in models.items():
    pipeline = make_pipeline(StandardScaler(), estimator)
    scores = cross_validate(pipeline, X, y, cv=folds, scoring=scoring)
    print(
        f"{name:>12}: accuracy {scores['test_accuracy'].mean():.4f}, "
        f"cross-entropy {-scores['test_cross_entropy'].mean():.4f} nats"
    )

# The same objective, so the same minimiser, to the solvers' tolerance.
X_scaled = StandardScaler().fit_transform(X)
theirs = SklearnLogisticRegression(max_iter=1000, tol=1e-8).fit(X_scaled, y)
ours = fastxent.LogisticRegression(tol=1e-8).fit(X_scaled, y)
gap = np.abs(ours.coef_ - theirs.coef_).max() / np.abs(theirs.coef_).max()
print(f"largest coefficient difference, relative: {gap:.1e}")
print(f"iterations: n_iter_ = {ours.n_iter_}")

# An l1 penalty: accelerated proximal gradient, exact zeros.
lasso = fastxent.LogisticRegression(C=0.1, l1_ratio=1.0).fit(X_scaled, y)
n_zero = int(np.sum(lasso.coef_ == 0.0))
print(f"l1 penalty, C=0.1: {n_zero} of {lasso.coef_.size} coefficients are 0")
