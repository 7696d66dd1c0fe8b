"""The documentation's API reference names every public name of the package.

The API pages under ``docs/api/`` are written by hand, one per public module,
so a name added to a module's ``__all__`` must be added to its page too. The
``__all__`` lists are read from the sources, so that this check needs neither
scikit-learn nor PyTorch. (The pages themselves are built, warnings as
errors, by ``.ci/run``.)
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "api"

# Each public module's source, and the API page that documents it.
PAGES = {
    "fastxent": ("fastxent/__init__.py", "fastxent.rst"),
    "fastxent.metrics": ("fastxent/metrics/__init__.py", "metrics.rst"),
    "fastxent.linear_model": ("fastxent/linear_model/__init__.py", "linear_model.rst"),
    "fastxent.torch": ("fastxent/torch/__init__.py", "torch.rst"),
}
# The directives that document one object, and the name they document.
DOCUMENTED = re.compile(
    r"^\.\. (?:auto(?:function|class|data)|py:(?:function|class|data))::"
    r" +([\w.]+)",
    re.M,
)


def public_names(source):
    """The ``__all__`` of the module at ``source``, read without importing it."""
    tree = ast.parse((ROOT / source).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__"
            for target in node.targets
        ):
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{source} has no __all__")


@pytest.mark.parametrize("module", sorted(PAGES))
def test_api_page_documents_every_public_name(module):
    """The module's page documents each name of its ``__all__``, and only
    names of it."""
    source, page = PAGES[module]
    documented = set(DOCUMENTED.findall((API / page).read_text(encoding="utf-8")))
    assert documented - {"__version__"} == public_names(source)


def test_api_index_lists_every_page():
    """The API index has a toctree entry for each page, dask's included."""
    index = (API / "index.rst").read_text(encoding="utf-8")
    for page in sorted(API.glob("*.rst")):
        if page.name != "index.rst":
            assert f"\n   {page.stem}\n" in index, page.name
