"""LogisticRegression on dask arrays, on a real dask.distributed cluster.

One module-scoped ``LocalCluster`` (two worker processes on the loopback
interface, no dashboard) serves every test that needs a cluster; the data
are small so the module runs in about a minute. The fitted model must equal
the in-memory fit on the same data (coefficients to 1e-6 relative), and
predictions must be lazy dask arrays equal to the in-memory ones.
"""

import os
import signal
from types import SimpleNamespace

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask  # noqa: E402
from dask.sizeof import sizeof  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402

from fastxent.dask import _datafit, _rounds  # noqa: E402
from fastxent.dask._rounds import run_round  # noqa: E402
from fastxent.linear_model import LogisticRegression  # noqa: E402
from fastxent.metrics import neg_cross_entropy_scorer  # noqa: E402

TOL = 1e-8
COEF_RTOL = 1e-6


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    )  # fmt: skip
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def make_problem(n_samples=2000, n_features=8, n_classes=2, seed=0):
    """Features with unequal scales and offsets; labels from a noisy linear model."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) * rng.uniform(0.5, 3.0, n_features)
    X += rng.normal(size=n_features)
    W = rng.normal(size=(n_features, n_classes))
    y = (X @ W + rng.gumbel(size=(n_samples, n_classes))).argmax(axis=1)
    return X, y


def lazy(x, rows=1000):
    """x as a dask array of blocks of ``rows`` rows."""
    x = np.asarray(x)
    return da.from_array(x, chunks=(rows,) + x.shape[1:])


def assert_same_model(model, reference, rtol=COEF_RTOL):
    """Coefficients and intercepts within ``rtol`` of the largest coefficient."""
    scale = np.abs(reference.coef_).max()
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(
        model.intercept_, reference.intercept_, rtol=0, atol=rtol * scale
    )
    np.testing.assert_array_equal(model.classes_, reference.classes_)


@pytest.mark.parametrize(
    ("solver", "n_classes", "options"),
    [
        ("lbfgs", 2, {}),
        ("agd", 3, {"class_weight": "balanced"}),
        ("gd", 2, {"l1_ratio": 0.5, "C": 0.1}),
        ("lbfgs", 4, {"fit_intercept": False}),
    ],
)
def test_fit_on_cluster_equals_memory_fit(client, solver, n_classes, options):
    """Each solver on the cluster reaches the in-memory fit's coefficients."""
    X, y = make_problem(n_classes=n_classes)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    params = dict(solver=solver, tol=TOL, max_iter=2000, **options)
    reference = LogisticRegression(**params).fit(X, y, sample_weight=weights)
    model = LogisticRegression(**params).fit(
        lazy(X), lazy(y), sample_weight=lazy(weights)
    )
    assert_same_model(model, reference)
    assert model.n_features_in_ == X.shape[1]
    assert np.all(np.diff(model.loss_curve_) <= 1e-12)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_evaluation_in_row_blocks_equals_memory_fit(monkeypatch, n_classes):
    """Chunks evaluated in row blocks (37 rows here, the last one partial, so
    float32 and float64 alike cross block edges) give the in-memory fit.

    On the synchronous scheduler, so the patched block size reaches the tasks.
    """
    monkeypatch.setattr(_datafit, "_EVALUATION_BLOCK_BYTES", 37 * 8 * 8)
    X, y = make_problem(n_classes=n_classes, seed=5)
    weights = np.random.default_rng(6).uniform(0.5, 2.0, len(y))
    for dtype, rtol in ((np.float64, COEF_RTOL), (np.float32, 1e-4)):
        params = dict(solver="lbfgs", tol=TOL if dtype == np.float64 else 1e-6)
        reference = LogisticRegression(**params).fit(
            X.astype(dtype), y, sample_weight=weights
        )
        with dask.config.set(scheduler="sync"):
            model = LogisticRegression(**params).fit(
                lazy(X.astype(dtype)), lazy(y), sample_weight=lazy(weights)
            )
        assert_same_model(model, reference, rtol=rtol)


def test_string_labels_and_float32(client):
    """Labels of any type are encoded by one reduction; float32 X, float32 coef_."""
    X, y = make_problem(n_classes=3)
    labels = np.array(["ant", "bee", "cat"])[y]
    X32 = X.astype(np.float32)
    # float32 products bound the attainable gradient near 1e-7.
    params = dict(solver="lbfgs", tol=1e-6)
    reference = LogisticRegression(**params).fit(X32, labels)
    model = LogisticRegression(**params).fit(lazy(X32), lazy(labels))
    assert model.coef_.dtype == np.float32
    assert_same_model(model, reference, rtol=1e-4)


def test_predictions_are_lazy_and_equal(client):
    """predict*, decision_function on dask X return dask arrays, row for row equal."""
    X, y = make_problem(n_classes=3)
    model = LogisticRegression(solver="lbfgs").fit(X, y)
    Xd = lazy(X, 700)
    for method in (
        "predict",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
    ):
        result = getattr(model, method)(Xd)
        assert isinstance(result, da.Array), method
        expected = getattr(model, method)(X)
        assert result.dtype == expected.dtype, method
        np.testing.assert_array_equal(result.compute(), expected)
    binary = LogisticRegression(solver="lbfgs").fit(X, y == 1)
    scores = binary.decision_function(Xd)
    assert scores.shape == (len(y),)
    np.testing.assert_array_equal(scores.compute(), binary.decision_function(X))


def test_only_small_results_reach_the_client(client):
    """The fit gathers nothing of the size of X: every gathered object is small."""
    X, y = make_problem(n_samples=4000, n_features=30)
    Xd, yd = lazy(X), lazy(y)
    sizes = []
    original = distributed.Client._gather

    async def recording_gather(self, futures, *args, **kwargs):
        result = await original(self, futures, *args, **kwargs)
        sizes.append(sizeof(result))
        return result

    distributed.Client._gather = recording_gather
    try:
        LogisticRegression(solver="lbfgs", tol=TOL).fit(Xd, yd)
    finally:
        distributed.Client._gather = original
    assert sizes and max(sizes) < X.nbytes / 20


def _record_submissions(monkeypatch):
    """Log each graph submission to the scheduler (with its number of fastxent
    tasks) and each round the datafit runs, in order."""
    events = []
    submit = distributed.Client._graph_to_futures

    def recording_submit(self, *args, **kwargs):
        expr = kwargs["expr"] if "expr" in kwargs else args[0]
        graph = dict(expr.__dask_graph__())
        # Tasks, not the futures of kept data the graph refers to.
        tasks = [
            key[0] if isinstance(key, tuple) else key
            for key, value in graph.items()
            if not isinstance(value, distributed.Future)
        ]
        events.append(("graph", sum(str(n).startswith("fastxent-") for n in tasks)))
        return submit(self, *args, **kwargs)

    rounds = _datafit.run_round

    def recording_round(*args, **kwargs):
        events.append(("round", args[1].__name__))
        return rounds(*args, **kwargs)

    monkeypatch.setattr(distributed.Client, "_graph_to_futures", recording_submit)
    monkeypatch.setattr(_datafit, "run_round", recording_round)
    return events


@pytest.mark.parametrize(
    ("options", "gram_rounds"),
    [
        ({"solver": "lbfgs"}, 0),
        # With class weights the Lipschitz estimate's Gram matrix needs them:
        # one round when it is first needed.
        ({"solver": "agd", "class_weight": "balanced"}, 1),
    ],
)
def test_set_up_is_one_graph_and_each_round_one_more(
    client, monkeypatch, options, gram_rounds
):
    """Before the first loss evaluation the fit submits one graph (the set-up
    round) and nothing else; each later round is one graph of at most two
    tasks per worker thread (a group task and the split of its small result).
    """
    X, y = make_problem(n_samples=3000, n_classes=3)
    weights = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    events = _record_submissions(monkeypatch)
    LogisticRegression(tol=TOL, **options).fit(
        lazy(X), lazy(y), sample_weight=lazy(weights)
    )
    first = events.index(("round", "_evaluate_chunk"))
    assert first == 1 and events[0][0] == "graph"
    rounds = [event for event in events if event[0] == "round"]
    graphs = [event for event in events if event[0] == "graph"]
    assert len(rounds) > 3
    assert rounds.count(("round", "_gram_chunk")) == gram_rounds
    assert len(graphs) == 1 + len(rounds)
    threads = sum(client.nthreads().values())
    assert all(0 < n_tasks <= 2 * threads for _, n_tasks in graphs[1:])


def test_chunk_groups_share_the_chunks_and_follow_the_data():
    """Each worker gets its share of the chunks (per thread), taking chunks it
    holds first: copies on several workers (left by transfers) fill the less
    loaded one, and data all on one worker is split, not fitted there alone."""
    futures = [SimpleNamespace(key=("x", c)) for c in range(10)]
    only_a = {("x", c): ["a"] for c in range(5)}
    both = {("x", c): ["a", "b"] for c in range(5, 10)}
    assign = _rounds._assign_to_workers
    groups = assign({**only_a, **both}, futures, {"a": 1, "b": 1})
    assert groups == {"a": [0, 1, 2, 3, 4], "b": [5, 6, 7, 8, 9]}
    # Two threads on "b": it takes two chunks for each one of "a".
    held = {("x", c): ["a", "b"] for c in range(9)}
    groups = assign(held, futures[:9], {"a": 1, "b": 2})
    assert len(groups["a"]) == 3 and len(groups["b"]) == 6
    # Everything on "a": half of it moves to "b".
    held = {("x", c): ["a"] for c in range(10)}
    groups = assign(held, futures, {"a": 1, "b": 1})
    assert len(groups["a"]) == 5 and len(groups["b"]) == 5
    # A chunk no worker holds: no assignment (the tasks will place it).
    assert assign(only_a, futures[:6], {"a": 1, "b": 1}) == {}


def test_worker_killed_mid_fit(client, monkeypatch):
    """A worker killed during a fit: dask recomputes the lost chunks; same model.

    The kill is issued from inside the fit, after its fifth round, so it
    lands mid-fit whatever the machine's speed.
    """
    X, y = make_problem(n_classes=3, seed=3)
    params = dict(solver="lbfgs", tol=TOL)
    reference = LogisticRegression(**params).fit(X, y)
    victim = min(client.run(os.getpid).values())
    rounds = []

    def run_round_then_kill(*args, **kwargs):
        rounds.append(None)
        if len(rounds) == 5:
            os.kill(victim, signal.SIGKILL)
        return run_round(*args, **kwargs)

    monkeypatch.setattr(_datafit, "run_round", run_round_then_kill)
    try:
        model = LogisticRegression(**params).fit(lazy(X), lazy(y))
    except (RuntimeError, distributed.KilledWorker):
        pass  # a clear error is acceptable; a wrong model is not
    else:
        assert len(rounds) > 5
        assert_same_model(model, reference)
    client.wait_for_workers(2, timeout=120)


def test_restarted_cluster_gives_a_clear_error(client, monkeypatch):
    """client.restart() mid-fit loses every chunk: a RuntimeError, not a model."""
    X, y = make_problem(seed=4)
    rounds = []

    def run_round_then_restart(*args, **kwargs):
        rounds.append(None)
        if len(rounds) == 3:
            client.restart()
        return run_round(*args, **kwargs)

    monkeypatch.setattr(_datafit, "run_round", run_round_then_restart)
    with pytest.raises(RuntimeError, match="lost data"):
        LogisticRegression(solver="lbfgs", tol=TOL).fit(lazy(X), lazy(y))
    client.wait_for_workers(2, timeout=120)


def test_cross_val_score_on_joblib_dask_backend(client):
    """cross_val_score(n_jobs=-1) on the joblib dask backend: the sequential scores."""
    joblib = pytest.importorskip("joblib")
    X, y = make_problem(n_samples=600, n_classes=3)
    model = LogisticRegression(solver="lbfgs")
    expected = cross_val_score(model, X, y, cv=3, scoring=neg_cross_entropy_scorer)
    with joblib.parallel_backend("dask"):
        scores = cross_val_score(
            model, X, y, cv=3, n_jobs=-1, scoring=neg_cross_entropy_scorer
        )
    np.testing.assert_allclose(scores, expected, rtol=1e-12)


def test_bad_dask_input_is_refused():
    """Validation of dask data, on the local scheduler."""
    X, y = make_problem(n_samples=200)
    with pytest.raises(ValueError, match="at least 2 classes"):
        LogisticRegression().fit(lazy(X, 50), lazy(np.zeros(200, int), 50))
    with pytest.raises(ValueError, match="one label per row"):
        LogisticRegression().fit(lazy(X, 50), lazy(y[:-1], 50))
    with pytest.raises(ValueError, match="Negative values"):
        LogisticRegression().fit(lazy(X, 50), lazy(y, 50), sample_weight=-np.ones(200))
    with pytest.raises(ValueError, match="solver='sgd' takes in-memory data"):
        LogisticRegression(solver="sgd").fit(lazy(X, 50), lazy(y, 50))
    with pytest.raises(TypeError, match="partial_fit takes in-memory arrays"):
        LogisticRegression().partial_fit(lazy(X, 50), lazy(y, 50), classes=[0, 1])
    X_nan = X.copy()
    X_nan[7, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        LogisticRegression().fit(lazy(X_nan, 50), lazy(y, 50))
    fitted = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(lazy(X[:, :3], 50))


@pytest.mark.parametrize(
    "method", ["decision_function", "predict", "predict_proba", "predict_log_proba"]
)
def test_unfitted_predictions_raise_not_fitted(method):
    """As in memory: an unfitted model's dask predictions raise NotFittedError."""
    from sklearn.exceptions import NotFittedError

    X = dask.array.zeros((10, 3), chunks=5)
    with pytest.raises(NotFittedError):
        getattr(LogisticRegression(), method)(X)
