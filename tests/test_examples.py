"""The documentation's examples run as written, each in a fresh interpreter.

The scripts of ``examples/``, which the gallery page shows as they are, run
as a reader would run them, ``python examples/NAME.py`` from an empty
directory, and the figures the pages quote are checked in their output. Every
``code-block:: python`` of the pages under ``docs/`` is written to a file and
run the same way, so each block stands alone, imports included.
"""

import re
import textwrap
from pathlib import Path

import pytest
from example_code import run_script, skip_unless_installed

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"
GALLERY = DOCS / "examples.rst"


def number(pattern, text):
    """The float that group 1 of ``pattern`` matches in ``text``."""
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the output:\n{text}"
    return float(match.group(1))


def check_confident_rows(out):
    """The confident row's loss and gradient keep their digits, the
    textbook formula's are 0."""
    assert number(r"fastxent\.cross_entropy: +(\S+)", out) == 1.9288e-22
    assert number(r"cross_entropy_with_grad: +(\S+)", out) == -1.9288e-22
    textbook = re.findall(r"textbook formula: +(\S+)", out)
    assert [float(value) for value in textbook] == [0.0, 0.0]


def check_numpy_training_loop(out):
    """The loss starts at log(4), a uniform guess over four classes, and
    falls."""
    assert number(r"step +0: mean cross-entropy (\S+)", out) == 1.3863
    assert number(r"step 200: mean cross-entropy (\S+)", out) < 0.6


def check_scoring(out):
    """A fold without a class scores; neg_log_loss raises there; its
    clipping costs an over-confident mistake at most 36.04 nats."""
    assert number(r"without class 2, neg_cross_entropy_scorer: (\S+)", out) > 0
    assert "without class 2, neg_log_loss: ValueError" in out
    assert number(r"worst test row: (\S+) nats", out) > 36.05
    ours = number(r"mean cross-entropy: (\S+) \(fastxent\)", out)
    clipped = number(r", (\S+) \(neg_log_loss, clipped\)", out)
    assert ours > clipped


def check_logistic_regression(out):
    """The figures of the breast cancer row of ``python -m fastxent``."""
    for name in ("scikit-learn", "fastxent"):
        assert f"{name}: accuracy 0.9789, cross-entropy 0.0738 nats" in out
    assert number(r"coefficient difference, relative: (\S+)", out) < 1e-4
    assert number(r"l1 penalty, C=0\.1: (\d+) of", out) > 0


def check_dask(out):
    """The dask results equal the in-memory ones."""
    lazy = number(r"cross_entropy of dask arrays: (\S+)", out)
    assert lazy == number(r"\(in memory (\S+)\)", out)
    assert number(r"largest coef_ difference: (\S+)", out) < 1e-4


def check_torch(out):
    """fastxent's loss is PyTorch's, and falls over the steps."""
    gaps = [float(gap) for gap in re.findall(r"differs by (\S+)", out)]
    assert len(gaps) == 4 and max(gaps) < 1e-5
    losses = [float(loss) for loss in re.findall(r"loss (\d\.\d+),", out)]
    assert losses == sorted(losses, reverse=True)
    chunked = number(r"linear_cross_entropy: (\S+)", out)
    assert chunked == pytest.approx(number(r"whole logits: (\S+)\)", out), 1e-3)


CHECKS = {
    "confident_rows.py": check_confident_rows,
    "numpy_training_loop.py": check_numpy_training_loop,
    "scoring_with_cross_entropy.py": check_scoring,
    "logistic_regression_pipeline.py": check_logistic_regression,
    "dask_local_cluster.py": check_dask,
    "torch_training_step.py": check_torch,
}
SCRIPTS = sorted(path.name for path in EXAMPLES.glob("*.py"))


def test_every_example_is_declared_and_shown():
    """Each script has its checks here, a module docstring and a place in the
    documentation's gallery."""
    assert SCRIPTS == sorted(CHECKS)
    gallery = GALLERY.read_text(encoding="utf-8")
    for name in SCRIPTS:
        assert f".. literalinclude:: ../examples/{name}" in gallery, name
        source = (EXAMPLES / name).read_text(encoding="utf-8")
        assert source.startswith('"""'), name


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_runs_as_a_script(name, tmp_path):
    """``python examples/NAME.py`` exits 0 and prints what the docs quote."""
    path, where = EXAMPLES / name, f"examples/{name}"
    skip_unless_installed(path.read_text(encoding="utf-8"), where)
    CHECKS[name](run_script(path, tmp_path, where).stdout)


# A top-level ``.. code-block:: python`` and its indented body.
CODE_BLOCK = re.compile(r"^\.\. code-block:: python\n((?:\n|   .*\n)+)", re.M)


def code_blocks():
    """(page:line, code) of every Python code block of the pages."""
    blocks = []
    for page in sorted(DOCS.rglob("*.rst")):
        text = page.read_text(encoding="utf-8")
        for match in CODE_BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            where = f"{page.relative_to(DOCS).as_posix()}:{line}"
            blocks.append((where, textwrap.dedent(match.group(1)).strip() + "\n"))
    return blocks


BLOCKS = code_blocks()


def test_pages_have_code_blocks():
    """The block pattern finds the pages' examples (a guard on the regex)."""
    pages = {where.partition(":")[0] for where, _ in BLOCKS}
    assert {"index.rst", "guide/install.rst", "guide/torch.rst"} <= pages


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_docs_code_block_runs(where, code, tmp_path):
    """The block at ``where`` runs from a file of its own, in a fresh
    interpreter."""
    skip_unless_installed(code, where)
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    run_script(script, tmp_path, where)
