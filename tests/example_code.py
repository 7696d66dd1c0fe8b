"""What an example's code needs: the optional packages its imports name.

Shared by the tests that run the README's and the documentation's examples
as scripts, so that both skip an example by the same rule.
"""

import ast
import importlib.util

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
