"""Scoring scikit-learn classifiers by their cross-entropy.

``fastxent.metrics.neg_cross_entropy_scorer`` goes wherever scikit-learn
takes ``scoring=``. Three things set it apart from ``"neg_log_loss"``, each
shown below on the wine data set bundled with scikit-learn:

1. it takes the classes from the fitted model, so a test set that lacks a
   class still scores;
2. it scores a logistic model's logits, unclipped, where ``neg_log_loss``
   clips probabilities at machine epsilon, which caps the cost of a
   confident mistake at ``-log(2.2e-16) = 36.04`` nats;
3. ``make_cross_entropy_scorer`` takes options (here ``base=2``, bits) and
   receives sample weights through scikit-learn's metadata routing.

Needs scikit-learn (the ``sklearn`` extra).
"""

import numpy as np
import sklearn
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastxent
from fastxent.metrics import make_cross_entropy_scorer, neg_cross_entropy_scorer

X, y = load_wine(return_X_y=True)
model = make_pipeline(StandardScaler(), LogisticRegression())
scores = cross_val_score(model, X, y, cv=5, scoring=neg_cross_entropy_scorer)
print(f"5-fold cross-entropy: {-scores.mean():.4f} nats")

# 1. A test set without class 2.
model.fit(X, y)
two_classes = y != 2
score = neg_cross_entropy_scorer(model, X[two_classes], y[two_classes])
print(f"without class 2, neg_cross_entropy_scorer: {-score:.4f} nats")
try:
    get_scorer("neg_log_loss")(model, X[two_classes], y[two_classes])
except ValueError as error:
    print(f"without class 2, neg_log_loss: ValueError: {str(error).split('. ')[0]}")

# 2. An over-confident model: fitted on half the data, then its logits
# multiplied by 100, so that its few mistakes on the other half cost far more
# than 36 nats each.
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, random_state=0, stratify=y
)
model.fit(X_train, y_train)
model[-1].coef_ *= 100.0
model[-1].intercept_ *= 100.0
per_row = fastxent.cross_entropy(
    model.decision_function(X_test), y_test, reduction="none"
)
print(f"over-confident model, worst test row: {per_row.max():.1f} nats")
print(
    "over-confident model, mean cross-entropy: "
    f"{-neg_cross_entropy_scorer(model, X_test, y_test):.4f} (fastxent), "
    f"{-get_scorer('neg_log_loss')(model, X_test, y_test):.4f} "
    "(neg_log_loss, clipped)"
)

# 3. Bits, and twice the weight on class 0, routed to the scorer only.
weights = np.where(y == 0, 2.0, 1.0)
with sklearn.config_context(enable_metadata_routing=True):
    in_bits = make_cross_entropy_scorer(base=2).set_score_request(sample_weight=True)
    model = make_pipeline(
        StandardScaler().set_fit_request(sample_weight=False),
        LogisticRegression().set_fit_request(sample_weight=False),
    )
    scores = cross_val_score(
        model, X, y, cv=5, scoring=in_bits, params={"sample_weight": weights}
    )
print(f"5-fold weighted cross-entropy: {-scores.mean():.4f} bits")
