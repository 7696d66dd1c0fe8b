"""The estimator's backends and the interfaces they declare.

``fastxent/linear_model/_backend.py`` declares what ``LogisticRegression``
asks of the home of its data (``EstimatorBackend``) and of the encoded
targets a backend returns (``FitTargets``); ``_datafit.py`` what the solvers
ask of the datafits a backend builds (``Datafit``, and ``StochasticDatafit``
for sgd). Both backends, in memory and dask, implement them with the declared
parameters, the estimator picks one once per call, and their targets agree on
the same data.
"""

import contextlib
import inspect
import warnings

import numpy as np
import pytest

from fastxent.linear_model import LogisticRegression, _backend, _in_memory
from fastxent.linear_model._backend import EstimatorBackend, FitTargets, backend_for
from fastxent.linear_model._datafit import Datafit, StochasticDatafit


def protocol_members(protocol):
    """The methods a protocol declares, by name."""
    return {
        name: member
        for name, member in vars(protocol).items()
        if inspect.isfunction(member) and not name.startswith("_")
    }


def dask_backend():
    pytest.importorskip("dask.array")
    from fastxent.dask import _estimator

    return _estimator


def problem(n_samples=300, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 4))
    y = (X[:, :n_classes] + rng.gumbel(size=(n_samples, n_classes))).argmax(axis=1)
    return X, y


@pytest.mark.parametrize("name", ["in_memory", "dask"])
def test_backend_implements_the_declared_interface(name):
    """Each backend module has every method of EstimatorBackend, with its
    parameters (names and order, ``self`` aside)."""
    backend = _in_memory if name == "in_memory" else dask_backend()
    assert isinstance(backend, EstimatorBackend)
    for member, declared in protocol_members(EstimatorBackend).items():
        expected = list(inspect.signature(declared).parameters)[1:]
        actual = list(inspect.signature(getattr(backend, member)).parameters)
        assert actual == expected, member


def test_interfaces_declare_what_the_estimator_uses():
    """The protocols declare the eight steps and the four target methods."""
    assert set(protocol_members(EstimatorBackend)) == {
        "prepare_fit", "prepare_partial_fit", "datafit_classes",
        "warn_if_separated", "decision_function", "predict", "predict_proba",
        "predict_log_proba",
    }  # fmt: skip
    assert set(protocol_members(FitTargets)) == {
        "total_weight", "binary_targets", "class_codes", "row_weights",
    }  # fmt: skip


def built_datafit(name, n_classes):
    """The datafit ``LogisticRegression.fit`` builds on the backend ``name``."""
    X, y = problem(n_classes=n_classes)
    backend, scheduler = _in_memory, contextlib.nullcontext()
    if name == "dask":
        da = pytest.importorskip("dask.array")
        import dask

        backend, scheduler = dask_backend(), dask.config.set(scheduler="sync")
        X, y = da.from_array(X, chunks=(100, 4)), da.from_array(y, chunks=100)
    model = LogisticRegression()
    with scheduler:
        X, targets = backend.prepare_fit(model, X, y, None)
        return model._datafit(backend, X, targets, 0.0)


@pytest.mark.parametrize("name", ["in_memory", "dask"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_datafits_implement_the_solvers_interface(name, n_classes):
    """The binomial and multinomial datafits of each backend are Datafits, with
    the declared parameters; the in-memory ones are StochasticDatafits too."""
    datafit = built_datafit(name, n_classes)
    assert isinstance(datafit, Datafit)
    assert isinstance(datafit, StochasticDatafit) == (name == "in_memory")
    protocols = (Datafit, StochasticDatafit) if name == "in_memory" else (Datafit,)
    for protocol in protocols:
        for member, declared in protocol_members(protocol).items():
            expected = list(inspect.signature(declared).parameters)[1:]
            actual = list(inspect.signature(getattr(datafit, member)).parameters)
            assert actual == expected, member


def test_backend_follows_the_array_type():
    """numpy (and None) is served in memory; any dask array among the
    arguments picks the dask backend."""
    assert backend_for(np.ones(3)) is _in_memory
    assert backend_for(np.ones(3), None) is _in_memory
    da = pytest.importorskip("dask.array")
    backend = dask_backend()
    assert backend_for(da.ones(3)) is backend
    assert backend_for(np.ones((3, 2)), da.ones(3)) is backend


@pytest.mark.parametrize("method", ["fit", "partial_fit", "predict_proba"])
def test_one_dispatch_per_call(monkeypatch, method):
    """fit, partial_fit and each prediction look the backend up once."""
    X, y = problem()
    model = LogisticRegression().fit(X, y)
    calls = []
    lookup = _backend.find_backend

    def counting(*args):
        calls.append(args[0])
        return lookup(*args)

    monkeypatch.setattr(_backend, "find_backend", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "fit":
            model.set_params(max_iter=5).fit(X, y)
        elif method == "partial_fit":
            LogisticRegression().partial_fit(X, y, classes=[0, 1, 2])
        else:
            model.predict_proba(X)
    assert calls == ["estimator"]


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("class_weight", [None, "balanced", {0: 2.0, 1: 0.5}])
def test_targets_of_both_backends_agree(n_classes, class_weight):
    """The targets of prepare_fit are FitTargets in both backends, with the
    same classes and the same total weight (up to the order of the sum)."""
    da = pytest.importorskip("dask.array")
    import dask

    X, y = problem(n_classes=n_classes)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    model = LogisticRegression(class_weight=class_weight)
    _, memory = _in_memory.prepare_fit(model, X, y, weights)
    with dask.config.set(scheduler="sync"):
        _, cluster = dask_backend().prepare_fit(
            model,
            da.from_array(X, chunks=(100, 4)),
            da.from_array(y, chunks=100),
            da.from_array(weights, chunks=100),
        )
    for targets in (memory, cluster):
        assert isinstance(targets, FitTargets)
    np.testing.assert_array_equal(memory.classes, cluster.classes)
    np.testing.assert_allclose(
        memory.total_weight(), cluster.total_weight(), rtol=1e-13
    )
    np.testing.assert_array_equal(
        memory.binary_targets(), (memory.class_codes() == 1).astype(float)
    )


def test_dask_fit_of_int8_labels_of_a_wide_span():
    """int8 labels -100 and 100 (a span int8 cannot hold) are encoded per
    chunk by the in-memory rule: the dask fit is the in-memory one."""
    da = pytest.importorskip("dask.array")
    import dask

    X, y = problem(n_samples=400, n_classes=2)
    labels = np.where(y == 1, 100, -100).astype(np.int8)
    params = dict(solver="lbfgs", tol=1e-10)
    reference = LogisticRegression(**params).fit(X, labels)
    with dask.config.set(scheduler="sync"):
        model = LogisticRegression(**params).fit(
            da.from_array(X, chunks=(100, 4)), da.from_array(labels, chunks=100)
        )
    np.testing.assert_array_equal(model.classes_, reference.classes_)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-6)
