"""What a user meets first: the licence, ``dir`` and ``help`` of the package,
and the one-line hint when an optional dependency is missing.

Runs that need scikit-learn absent, or a fresh interpreter to see what
``import fastxent`` imports, are subprocesses.
"""

import doctest
import importlib
import pydoc
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import fastxent
from fastxent import _optional
from fastxent._optional import MissingDependency, require

ROOT = Path(__file__).resolve().parent.parent
SKLEARN_HINT = 'pip install "fastxent[sklearn]"'


def run_python(code, *, without_sklearn=False, check=True):
    """Run ``code`` in a fresh interpreter, where ``import sklearn`` fails if
    ``without_sklearn``; the completed process."""
    code = textwrap.dedent(code)
    if without_sklearn:
        code = "import sys; sys.modules['sklearn'] = None\n" + code
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert completed.returncode == 0, completed.stderr
    return completed


# ------------------------------------------------------------------ licence


def test_license_is_bsd_3_clause_of_the_fastxent_developers():
    """LICENSE holds the BSD 3-Clause text that pyproject.toml declares."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = \{ text = "BSD-3-Clause" \}$', pyproject, re.M)
    assert text.startswith("BSD 3-Clause License\n")
    assert re.search(r"^Copyright \(c\) \d{4}, the fastxent developers$", text, re.M)
    flat = " ".join(text.split())
    for clause in (
        "1. Redistributions of source code must retain the above copyright notice",
        "2. Redistributions in binary form must reproduce the above copyright notice",
        "3. Neither the name of the copyright holder nor the names of its "
        "contributors may be used to endorse or promote products",
        'THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"',
    ):
        assert clause in flat


# ---------------------------------------------------------------- dir, __all__


def test_dir_lists_every_public_name_and_no_private_one():
    """dir(fastxent) has all of __all__, the lazy LogisticRegression included,
    and __version__, but no private module or helper."""
    listed = dir(fastxent)
    assert listed == sorted(listed)
    assert set(fastxent.__all__) <= set(listed)
    assert "LogisticRegression" in listed
    assert "__version__" in listed
    assert "register_backend" not in listed
    assert [name for name in listed if name.startswith("_")] == ["__version__"]


def test_all_names_every_public_function_and_class():
    """__all__ is complete: every public global that is not a subpackage is in
    it, and every name in it can be fetched."""
    public = {
        name
        for name in dir(fastxent)
        if not name.startswith("_")
        and not isinstance(getattr(fastxent, name), types.ModuleType)
    }
    assert public == set(fastxent.__all__)
    assert len(fastxent.__all__) == len(set(fastxent.__all__))


def test_register_backend_is_internal():
    """The backend wiring is no public name, and still serves dask arrays."""
    from fastxent import _dispatch

    assert not hasattr(fastxent, "register_backend")
    assert "register_backend" not in fastxent.__all__
    assert _dispatch._BACKENDS["dask"] == {
        "functions": "fastxent.dask._functional",
        "estimator": "fastxent.dask._estimator",
    }


def test_import_dir_and_all_do_not_import_scikit_learn():
    """import fastxent, dir(fastxent) and __all__ leave scikit-learn unimported;
    fetching LogisticRegression imports it and gives the estimator."""
    out = run_python(
        """
        import sys
        import fastxent
        dir(fastxent), fastxent.__all__
        print("sklearn" in sys.modules)
        from fastxent.linear_model import LogisticRegression
        print(fastxent.LogisticRegression is LogisticRegression)
        """
    ).stdout
    assert out.split() == ["False", "True"]


# ---------------------------------------------------------------------- help


def test_module_docstring_is_for_users():
    """help(fastxent) opens with a docstring naming every public name, and no
    internals (private modules, file names, registration)."""
    doc = fastxent.__doc__
    for name in fastxent.__all__:
        assert f"`{name}`" in doc, name
    assert "fastxent.metrics" in doc
    assert SKLEARN_HINT in doc
    for internal in ("_dispatch", ".py", "register", "backend", "import path"):
        assert internal not in doc


def test_module_docstring_example_runs():
    """The docstring's example prints what it shows."""
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner()
    for test in finder.find(fastxent):
        runner.run(test)
    assert runner.summarize(verbose=False) == (0, 4)


def test_help_lists_the_public_names_only():
    """pydoc shows the public functions and the estimator, not the module's
    __getattr__ and __dir__ or private helpers."""
    text = pydoc.render_doc(fastxent, renderer=pydoc.plaintext)
    # The FUNCTIONS section runs to the next upper-case heading.
    functions = re.split(r"\n[A-Z]+\n", text.split("\nFUNCTIONS\n")[1])[0]
    shown = re.findall(r"^    (\w+)\(", functions, re.M)
    assert shown == sorted(set(fastxent.__all__) - {"LogisticRegression"})
    assert "class LogisticRegression" in text


def test_help_without_scikit_learn():
    """Without scikit-learn, dir() leaves the estimator out, so that help()
    still renders: it fetches every name dir() lists."""
    out = run_python(
        """
        import pydoc
        import fastxent
        print("LogisticRegression" in dir(fastxent))
        text = pydoc.render_doc(fastxent, renderer=pydoc.plaintext)
        print("cross_entropy_with_grad(" in text)
        """,
        without_sklearn=True,
    ).stdout
    assert out.split() == ["False", "True"]


# ------------------------------------------------------- missing scikit-learn


@pytest.mark.parametrize(
    ("statement", "purpose"),
    [
        ("fastxent.LogisticRegression", "fastxent.LogisticRegression"),
        ("from fastxent import LogisticRegression", "fastxent.LogisticRegression"),
        ("import fastxent.linear_model", "fastxent.linear_model"),
        ("import fastxent.metrics", "fastxent.metrics"),
    ],
)
def test_missing_scikit_learn_is_a_one_line_import_error(statement, purpose):
    """Without scikit-learn, the estimator and the scikit-learn subpackages
    raise an ImportError whose one line names the extra to install, with no
    chained traceback of the failed import."""
    completed = run_python(
        "import fastxent\n" + statement, without_sklearn=True, check=False
    )
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == (
        f"fastxent._optional.MissingDependency: {purpose} needs scikit-learn, "
        f"which is not installed: {SKLEARN_HINT}"
    )
    assert "During handling" not in completed.stderr
    assert "direct cause" not in completed.stderr


def test_missing_dependency_is_an_import_error():
    """require raises an ImportError subclass naming the module and the extra."""
    with pytest.raises(ImportError) as raised:
        require("matplotlib_never_installed", "python -m fastxent bench --plot")
    assert isinstance(raised.value, MissingDependency)
    assert raised.value.name == "matplotlib_never_installed"
    assert str(raised.value) == (
        "python -m fastxent bench --plot needs matplotlib_never_installed, which "
        "is not installed: pip install matplotlib_never_installed"
    )
    assert raised.value.__cause__ is None


def test_missing_dependency_of_an_installed_package_keeps_its_cause(monkeypatch):
    """An installed package that fails on a missing dependency of its own gets
    the same hint (the extra installs both), with the real failure attached."""

    def import_without_scipy(name):
        raise ModuleNotFoundError("No module named 'scipy'", name="scipy")

    fake = types.SimpleNamespace(
        import_module=import_without_scipy, util=importlib.util
    )
    monkeypatch.setattr(_optional, "importlib", fake)
    with pytest.raises(MissingDependency, match=re.escape(SKLEARN_HINT)) as raised:
        require("sklearn", "fastxent.metrics")
    assert raised.value.__cause__.name == "scipy"
