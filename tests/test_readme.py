"""The README's examples run as scripts and print what the README shows.

Each ```python block of README.md is saved to a file of its own and run by a
fresh interpreter, as a reader who copies it would run it. dask.distributed
starts its workers as processes that import the script, so an example that
starts a cluster outside an ``if __name__ == "__main__":`` guard fails here as
it fails for the reader; running the blocks with ``exec`` in the test process
could not see that.

A ```text block right after an example is the output the README shows for it:
the run's stdout must equal it line for line, and an example shown without one
must print nothing. Figures the prose quotes are checked against those outputs,
or computed, below. Timings are not checked: the benchmarks regenerate them.
"""

import re
from pathlib import Path
from typing import NamedTuple

import pytest
from example_code import run_script, skip_unless_installed

README = Path(__file__).resolve().parent.parent / "README.md"
TEXT = README.read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


class Example(NamedTuple):
    """A ```python block of the README with the output shown for it."""

    line: int  # first line of code, 1-based
    start: int  # offset of the opening fence
    code: str
    output: str  # the ```text block right after it, "" if there is none


def readme_examples(text):
    """Every ```python block of ``text``, in order, with its shown output.

    Parameters
    ----------
    text : str
        Markdown source.

    Returns
    -------
    examples : list of Example
    """
    fences = list(FENCE.finditer(text))
    examples = []
    for fence, after in zip(fences, [*fences[1:], None], strict=True):
        if fence.group(1) != "python":
            continue
        # Only blank lines may separate an example from its output: a text
        # block after prose is something else (show_config's, the demo's).
        shown = (
            after is not None
            and after.group(1) == "text"
            and not text[fence.end() : after.start()].strip()
        )
        examples.append(
            Example(
                line=text.count("\n", 0, fence.start()) + 2,
                start=fence.start(),
                code=fence.group(2),
                output=after.group(2) if shown else "",
            )
        )
    return examples


EXAMPLES = readme_examples(TEXT)


def find_phrase(phrase):
    """Offset of ``phrase`` in the README, whatever the line breaks within it."""
    pattern = r"\s+".join(map(re.escape, phrase.split()))
    match = re.search(pattern, TEXT)
    assert match, f"README.md no longer says {phrase!r}"
    return match.start()


def output_lines(text):
    """``text`` as lines without trailing blanks, which editors strip."""
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def test_readme_has_examples():
    """The quick start has blocks for the functions, scorer and estimator."""
    code = "\n".join(example.code for example in EXAMPLES)
    for name in (
        "cross_entropy_with_grad",
        "neg_cross_entropy_scorer",
        "make_cross_entropy_scorer",
        "log_loss",
        "LogisticRegression",
    ):
        assert name in code


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"line{e.line}" for e in EXAMPLES])
def test_readme_example_runs_as_a_script(example, tmp_path):
    """The example, saved alone, runs in a new interpreter and prints its output."""
    where = f"README.md line {example.line}"
    skip_unless_installed(example.code, where)
    script = tmp_path / f"readme_line{example.line}.py"
    script.write_text(example.code, encoding="utf-8")
    result = run_script(script, tmp_path, where)
    assert output_lines(result.stdout) == output_lines(example.output), (
        f"{where} printed other than the output shown:\n{result.stderr}"
    )


# Figures the prose quotes from an example's output, each with the words that
# quote it. The words must be in the README and the figure in the output shown
# for the nearest example above them, which the test above compares with a run:
# neither the figure nor the prose can change alone.
QUOTED_OUTPUTS = [
    ("The second row's loss is `1.92884e-22`", "1.92884e-22"),
    ("returns exactly 0 for it", "numpy's textbook formula: 0.0"),
    ("`n_iter_` is an array of shape `(1,)`", "(1,)"),
]


@pytest.mark.parametrize("phrase, figure", QUOTED_OUTPUTS)
def test_prose_quotes_the_output_shown(phrase, figure):
    """A figure in the prose is in the output of the example above it."""
    at = find_phrase(phrase)
    example = [example for example in EXAMPLES if example.start < at][-1]
    assert figure in example.output, (
        f"README.md says {phrase!r}; the example at line {example.line} shows "
        f"{example.output!r}"
    )


def test_prose_quotes_the_clipping_cap():
    """A clipped mistake costs log_loss -log(eps): the 36 nats the prose quotes."""
    find_phrase("a mistake costs at most 36 nats")
    metrics = pytest.importorskip("sklearn.metrics")
    assert round(metrics.log_loss([0], [[0.0, 1.0]], labels=[0, 1])) == 36


def test_prose_quotes_the_neg_log_loss_error():
    """neg_log_loss raises the quoted error on a fold that lacks a class."""
    quoted = "y_true and y_prob contain different number of classes"
    find_phrase(f"(`{quoted}`)")
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import get_scorer

    X = [[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]]
    y = [0, 0, 1, 1, 2, 2]
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match=re.escape(quoted)):
        get_scorer("neg_log_loss")(model, X[:4], y[:4])
