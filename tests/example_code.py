"""Running an example as a reader would, and skipping it when a package it
imports is not installed.

Shared by the tests that run the README's examples, the documentation's code
blocks and the scripts of ``examples/``, so that all of them run an example
and skip it by the same rule.
"""

import ast
import importlib.util
import subprocess
import sys

import pytest

# Per example, generous: CI has 2 shared cores, and the cluster examples start
# a LocalCluster of two worker processes.
TIMEOUT = 300

# The optional package behind each importable name an example may use: the
# longest prefix of an imported name that is listed here decides.
OPTIONAL = {
    "sklearn": "sklearn",
    "joblib": "joblib",
    "dask": "dask",
    "dask.distributed": "distributed",
    "torch": "torch",
    "fastxent.metrics": "sklearn",
    "fastxent.linear_model": "sklearn",
    "fastxent.torch": "torch",
}


def optional_imports(code):
    """The optional packages that ``code``'s import statements need, sorted."""
    imported = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    needed = set()
    for name in imported:
        prefixes = [
            key for key in OPTIONAL if name == key or name.startswith(key + ".")
        ]
        if prefixes:
            needed.add(OPTIONAL[max(prefixes, key=len)])
    return sorted(needed)


def missing_packages(code):
    """Those of :func:`optional_imports` that are not installed, sorted."""
    return [
        name
        for name in optional_imports(code)
        if importlib.util.find_spec(name) is None
    ]


def skip_unless_installed(code, where):
    """Skip the running test when :func:`missing_packages` of ``code`` names
    any; ``where`` says which example it is."""
    missing = missing_packages(code)
    if missing:
        pytest.skip(f"{where} needs {', '.join(missing)}")


def run_script(path, cwd, where):
    """Run ``python path`` in ``cwd`` in a fresh interpreter, as a reader
    would; the completed process, once it exited 0 (``where`` names the
    example when it did not).

    Returns
    -------
    subprocess.CompletedProcess
        With the standard output and error as text.
    """
    completed = subprocess.run(
        [sys.executable, str(path)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert completed.returncode == 0, f"{where} failed:\n{completed.stderr}"
    return completed
