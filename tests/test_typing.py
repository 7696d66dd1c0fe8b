"""Type hints of the public API: every public function and method annotated,
the hints resolvable at run time through the dask dispatch, and a type
checker that accepts the documented calls and rejects a misspelt option."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest

import fastxent
from fastxent._optional import installed

ROOT = Path(__file__).resolve().parent.parent

# Each public package, and the optional dependency it needs (None: none).
PACKAGES = {
    "fastxent": None,
    "fastxent.metrics": "sklearn",
    "fastxent.dask": "dask",
    "fastxent.torch": "torch",
}


def public_callables():
    """(name, function) of every public function, and of every public method
    a public class defines itself (with ``__init__``), of every package whose
    dependency is installed."""
    found = []
    for package_name, needs in PACKAGES.items():
        if needs is not None and not installed(needs):
            continue
        if package_name == "fastxent" and not installed("sklearn"):
            names = [n for n in fastxent.__all__ if n != "LogisticRegression"]
        else:
            names = getattr(importlib.import_module(package_name), "__all__", [])
        package = importlib.import_module(package_name)
        for name in names:
            obj = getattr(package, name)
            if inspect.isfunction(obj):
                found.append((f"{package_name}.{name}", obj))
            elif inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if inspect.isfunction(member) and (
                        attr == "__init__" or not attr.startswith("_")
                    ):
                        found.append((f"{package_name}.{name}.{attr}", member))
    return found


PUBLIC = public_callables()


def test_every_public_package_is_collected():
    """The collection covers the functional API and the estimator's methods."""
    names = {name for name, _ in PUBLIC}
    for name in fastxent.__all__:
        if name != "LogisticRegression":
            assert f"fastxent.{name}" in names
    if installed("sklearn"):
        assert "fastxent.LogisticRegression.fit" in names
        assert "fastxent.LogisticRegression.__init__" in names
        assert "fastxent.metrics.log_loss" in names


@pytest.mark.parametrize("name, func", PUBLIC, ids=[name for name, _ in PUBLIC])
def test_public_signatures_are_fully_annotated(name, func):
    """typing.get_type_hints resolves the hints, which cover every parameter
    and the return value."""
    hints = typing.get_type_hints(func)
    assert "return" in hints, name
    parameters = inspect.signature(func).parameters
    missing = [p for p in parameters if p != "self" and p not in hints]
    assert not missing, f"{name}: unannotated {missing}"


@pytest.mark.parametrize(
    "func", [fastxent.cross_entropy, fastxent.logsumexp, fastxent.entropy]
)
def test_dispatch_keeps_signature_and_hints(func):
    """The dask dispatch wrapper shows the wrapped function's signature and
    type hints, names and docstring."""
    wrapped = func.__wrapped__
    assert inspect.signature(func) == inspect.signature(wrapped)
    assert typing.get_type_hints(func) == typing.get_type_hints(wrapped)
    assert (func.__name__, func.__doc__) == (wrapped.__name__, wrapped.__doc__)


def test_hints_import_no_optional_dependency():
    """import fastxent and resolving its functions' hints import none of
    scipy, scikit-learn, dask or PyTorch."""
    code = """
        import sys, typing
        import fastxent
        for name in fastxent.__all__:
            if name != "LogisticRegression":
                typing.get_type_hints(getattr(fastxent, name))
        print(sorted(m for m in ("scipy", "sklearn", "dask", "torch")
                     if m in sys.modules))
    """
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["[]"]


ACCEPTED = """
    from typing import Any

    import numpy as np

    import fastxent
    from fastxent._typing import FloatArray, FloatResult
    from fastxent.linear_model import LogisticRegression
    from fastxent.metrics import log_loss, make_cross_entropy_scorer

    logits = np.zeros((4, 3))
    labels = [0, 1, 2, 0]
    loss: FloatResult = fastxent.cross_entropy(logits, labels, reduction="sum")
    pair: tuple[FloatResult, FloatArray] = fastxent.cross_entropy_with_grad(
        logits, np.array(labels), class_weight=[1.0, 2.0, 1.0], out=np.empty((4, 3))
    )
    bce = fastxent.binary_cross_entropy([0.5, -1.0], [1.0, 0.0], pos_weight=2.0)
    lse: FloatResult = fastxent.logsumexp(logits, axis=(0, 1))
    lse_sign: tuple[FloatResult, FloatResult] = fastxent.logsumexp(
        logits, axis=1, return_sign=True
    )
    p = fastxent.softmax(logits, axis=-1)
    h = fastxent.entropy(p, base=2) + fastxent.kl_divergence(p, p)
    lin = fastxent.linear_cross_entropy_with_grad(
        np.ones((4, 2)), np.ones((3, 2)), labels, chunk_size=2
    )
    info: dict[str, Any] = fastxent.show_config("dicts")
    printed: None = fastxent.show_config()
    model = LogisticRegression(C=np.inf, solver="lbfgs", class_weight="balanced")
    proba: FloatArray = model.fit(logits, labels).predict_proba(logits)
    score: float = log_loss(labels, proba)
    scorer = make_cross_entropy_scorer(response_method="predict_proba", base=2)
"""

REJECTED = {
    "reduction": 'fastxent.cross_entropy([[0.0, 1.0]], [0], reduction="avg")',
    "solver": 'LogisticRegression(solver="newton")',
    "show_config": 'fastxent.show_config("json")',
    "response_method": 'make_cross_entropy_scorer(response_method="predict")',
}


def run_mypy(tmp_path, source):
    """mypy's report on ``source``; fastxent's own modules are analysed but
    not reported on, as for an installed package."""
    pytest.importorskip("mypy")
    pytest.importorskip("sklearn")
    path = tmp_path / "usage.py"
    path.write_text(textwrap.dedent(source))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--follow-imports=silent",
            "--ignore-missing-imports",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,  # where an editable install's fastxent is found
        timeout=600,
    )
    return completed


def test_mypy_accepts_documented_usage(tmp_path):
    """mypy finds nothing wrong with calls written as the docstrings say."""
    completed = run_mypy(tmp_path, ACCEPTED)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_mypy_rejects_misspelt_options(tmp_path):
    """A value outside an option's Literal is an error on its own line."""
    header = (
        "import fastxent\n"
        "from fastxent.linear_model import LogisticRegression\n"
        "from fastxent.metrics import make_cross_entropy_scorer\n"
    )
    lines = list(REJECTED.values())
    completed = run_mypy(tmp_path, header + "\n".join(lines) + "\n")
    assert completed.returncode == 1, completed.stderr
    errors = [line for line in completed.stdout.splitlines() if ": error:" in line]
    first = header.count("\n") + 1
    flagged = {int(line.split(":")[1]) - first for line in errors}
    assert flagged == set(range(len(lines))), completed.stdout
