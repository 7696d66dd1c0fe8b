"""The README's Python examples run as written.

Every ```python block of README.md is executed, in order, each in a fresh
namespace, so that a reader can copy any one of them alone.
"""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks():
    """(first line number, code) of each ```python block of the README."""
    text = README.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 2, match.group(1))
        for match in BLOCK.finditer(text)
    ]


def test_readme_has_examples():
    """The quick start has blocks for the functions, scorer and estimator."""
    code = "\n".join(block for _, block in python_blocks())
    for name in (
        "cross_entropy_with_grad",
        "neg_cross_entropy_scorer",
        "make_cross_entropy_scorer",
        "log_loss",
        "LogisticRegression",
    ):
        assert name in code


BLOCKS = python_blocks()


@pytest.mark.parametrize("line, code", BLOCKS, ids=[f"line{n}" for n, _ in BLOCKS])
def test_readme_block_runs(line, code):
    """The block starting at ``line`` of README.md runs without error."""
    pytest.importorskip("sklearn")
    if "dask" in code:  # the Dask section's examples need the dask extra
        pytest.importorskip("distributed")
    if "fastxent.torch" in code:  # the PyTorch section's need PyTorch
        pytest.importorskip("torch")
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "readme"})
