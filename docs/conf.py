"""Sphinx configuration of fastxent's documentation site.

Build it from the project's root, after ``pip install -e ".[docs]"``::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

autodoc imports fastxent, so the kernels must be built (the editable install
builds them). The build reads nothing from the network: there is no
intersphinx, and references to numpy, scikit-learn or PyTorch are written as
plain text or links.
"""

import fastxent

project = "fastxent"
author = "the fastxent developers"
copyright = "2026, the fastxent developers"
version = release = fastxent.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    # docs/benchmark.md is the bench command's report as Markdown, kept
    # readable where the repository is browsed; MyST makes it a page too.
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# The API pages are written by hand, one per public module, so autosummary
# builds the summary tables only and writes no stub files into the sources.
autosummary_generate = False

# fastxent.torch needs PyTorch, which the docs extra does not install (its
# wheel from PyPI is a CUDA build of several GB). autodoc imports the module
# against a stand-in torch; the public functions are plain Python functions
# whose annotations stay strings (``from __future__ import annotations``), so
# their signatures and docstrings render as with the real one. Mocked even
# where torch is installed, so the pages are the same on every machine.
autodoc_mock_imports = ["torch"]
# The numpydoc Parameters sections give every type, with shapes; type hints in
# the signatures as well would say it twice, less precisely.
autodoc_typehints = "none"
autodoc_member_order = "bysource"

# Methods are documented by ``:members:`` in the API pages; numpydoc's own
# member tables would list them a second time.
numpydoc_show_class_members = False

html_theme = "furo"
html_title = f"fastxent {release}"
