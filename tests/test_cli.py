"""The command line: score, demo, bench's pieces, help and missing extras.

Values printed by the commands are checked against independent computations
(scipy, scikit-learn's own cross-validation); timings are never asserted.
"""

import importlib.util
import io
import re
import sys

import numpy as np
import pytest
from scipy.special import log_softmax

from fastxent._cli import bench, cases, memory, report, timing
from fastxent._cli.main import main, restart_bench_with_passive_openmp
from fastxent._cli.progress import ProgressBar

TINY_CASES = cases.kernel_cases(shapes=((300, 2), (50, 7)))
# One small case per kernel and one estimator problem: bench in seconds.
_TINY_SETTINGS = bench.Settings(
    shapes=((2_000, 2),),
    dtypes=(np.float64,),
    repeats=1,
    budget_seconds=0.0,
    problems=("digits",),
    solvers=("lbfgs",),
    estimator_repeats=1,
)


def _printed_number(text, label):
    """The first number after ``label`` in ``text``."""
    match = re.search(re.escape(label) + r"\s+([-+0-9.eE]+)", text)
    assert match, f"{label!r} not in output:\n{text}"
    return float(match.group(1))


def test_score_bundled_file_matches_scipy(capsys):
    """``score`` prints the mean cross-entropy of the bundled logits."""
    from importlib import resources

    assert main(["score"]) == 0
    out = capsys.readouterr().out
    path = resources.files("fastxent") / "data" / "iris_logits.csv"
    table = np.loadtxt(str(path), delimiter=",", skiprows=1)
    labels = table[:, 0].astype(int)
    expected = -log_softmax(table[:, 1:], axis=1)[np.arange(len(labels)), labels]
    nats = _printed_number(out, "cross-entropy (nats)")
    bits = _printed_number(out, "cross-entropy (bits)")
    assert nats == pytest.approx(expected.mean(), rel=1e-5)
    assert bits == pytest.approx(expected.mean() / np.log(2), rel=1e-5)


def test_score_counts_rows_the_textbook_formula_rounds_to_zero(tmp_path, capsys):
    """A confident row's loss is positive, and counted as lost by lse - z_y."""
    csv = tmp_path / "logits.csv"
    csv.write_text("label,a,b,c\n0,0.0,-50.0,-60.0\n1,0.5,1.0,-1.0\n")
    assert main(["score", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "2 samples, 3 classes" in out
    assert _printed_number(out, "rounds to a loss of 0:") == 1
    # exp(-50) + exp(-60) is the loss of row 0 to 17 digits.
    assert f"{np.exp(-50.0) + np.exp(-60.0):.6e}" in out


def test_demo_matches_scikit_learn_cross_validation(capsys):
    """demo's accuracy and cross-entropy equal cross_validate's own scores."""
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import fastxent
    from fastxent.metrics import neg_cross_entropy_scorer

    assert main(["demo", "--datasets", "iris"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("iris"))
    numbers = [float(x) for x in re.findall(r"\d+\.\d+", row)]
    accuracy_sklearn, accuracy_ours, entropy_sklearn, entropy_ours = numbers[-4:]

    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    theirs = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    ours = make_pipeline(StandardScaler(), fastxent.LogisticRegression(n_threads=1))
    assert accuracy_sklearn == pytest.approx(
        cross_val_score(theirs, X, y, cv=folds).mean(), abs=1e-4
    )
    assert accuracy_ours == pytest.approx(
        cross_val_score(ours, X, y, cv=folds).mean(), abs=1e-4
    )
    for model, printed in ((theirs, entropy_sklearn), (ours, entropy_ours)):
        scores = cross_val_score(
            model, X, y, cv=folds, scoring=neg_cross_entropy_scorer
        )
        assert printed == pytest.approx(-scores.mean(), abs=1e-4)


@pytest.mark.parametrize("command", ["demo", "bench", "score"])
def test_help_of_each_command(command, capsys):
    """``COMMAND --help`` prints its usage and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"python -m fastxent {command}" in capsys.readouterr().out


def test_missing_scikit_learn_is_one_line_and_exit_code_2(monkeypatch, capsys):
    """demo without scikit-learn: one line on stderr naming the extra, code 2."""
    monkeypatch.setitem(sys.modules, "sklearn", None)
    assert main(["demo"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert 'pip install "fastxent[sklearn]"' in lines[0]


def test_missing_matplotlib_stops_bench_before_measuring(monkeypatch, capsys):
    """bench --plot without matplotlib fails at once, with the extra to install."""
    pytest.importorskip("sklearn")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["bench", "--quick", "--plot", "never.png"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert 'pip install "fastxent[plot]"' in captured.err


class _Restarted(Exception):
    pass


def _recording_execv(calls):
    def execv(path, args):
        calls.append((path, args))
        raise _Restarted

    return execv


def test_bench_restarts_with_passive_openmp_threads():
    """bench re-runs itself with OMP_WAIT_POLICY=passive, the same arguments."""
    calls, environ = [], {"PATH": "/bin"}
    with pytest.raises(_Restarted):
        restart_bench_with_passive_openmp(
            ["bench", "--quick"], environ, _recording_execv(calls)
        )
    assert environ["OMP_WAIT_POLICY"] == "passive"
    assert calls == [
        (sys.executable, [sys.executable, "-m", "fastxent", "bench", "--quick"])
    ]


@pytest.mark.parametrize(
    "argv, environ",
    [
        (["bench"], {"OMP_WAIT_POLICY": "active"}),  # the user's choice stands
        (["demo"], {}),
        (["score"], {}),
        ([], {}),
    ],
)
def test_other_runs_are_not_restarted(argv, environ):
    calls = []
    restart_bench_with_passive_openmp(argv, environ, _recording_execv(calls))
    assert calls == []
    assert environ.get("OMP_WAIT_POLICY") in (None, "active")


def test_bad_thread_count_is_a_usage_error(capsys):
    """--threads takes positive integers only."""
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--threads", "0"])
    assert exit_info.value.code == 2
    assert "positive integer" in capsys.readouterr().err


@pytest.mark.parametrize(
    "case", TINY_CASES, ids=lambda c: f"{c.kernel}-{c.dtype_label}"
)
def test_every_peer_computes_what_fastxent_computes(case):
    """Each peer's callable returns the same loss and gradient (or log-softmax)."""
    pytest.importorskip("sklearn")
    inputs = case.inputs(seed=3)
    implementations = cases.implementations(case, inputs, n_threads=1)
    reference = implementations.pop(cases.FASTXENT)
    loss, array = reference.canonical(reference.call())
    rtol = 1e-5 if case.dtype is np.float32 else 1e-12
    assert implementations.pop(cases.LIMIT)
    assert implementations, "no peer to compare with"
    for name, implementation in implementations.items():
        peer_loss, peer_array = implementation.canonical(implementation.call())
        if loss is not None:
            assert peer_loss == pytest.approx(loss, rel=rtol), name
        if array is not None:
            scale = np.max(np.abs(array))
            np.testing.assert_allclose(
                peer_array, array, atol=rtol * scale, err_msg=name
            )


def test_copy_limit_moves_as_many_bytes_as_the_kernel():
    """The copy's buffer is half the kernel's bytes read plus written."""
    case = cases.KernelCase("cross_entropy_with_grad", 1000, 10, np.float32)
    # logits read (40,000 B), gradient written (40,000 B), int64 labels read.
    assert case.bytes_moved == 40_000 + 40_000 + 8_000
    copy = cases.implementations(case, case.inputs(), 1)[cases.LIMIT]
    assert copy.call() is None


def test_full_cases_cover_the_issue_shapes():
    """Five shapes times two dtypes per categorical kernel; binary on 1-D."""
    full = cases.kernel_cases()
    per_kernel = {k: [c for c in full if c.kernel == k] for k in cases.KERNELS}
    assert len(per_kernel["cross_entropy_with_grad"]) == 10
    binary = per_kernel["binary_cross_entropy_with_grad"]
    assert [(c.n_samples, c.n_classes) for c in binary] == [(1_000_000, 1)] * 2
    assert binary[0].inputs()["logits"].shape == (1_000_000,)


def test_median_seconds_rotates_the_order_and_stops_at_the_budget():
    """Rounds rotate who goes first; a zero budget stops after min_repeats."""
    calls = []
    funcs = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    seconds = timing.median_seconds(funcs, repeats=50, budget_seconds=0.0)
    assert set(seconds) == {"a", "b", "c"}
    warm_up, rounds = calls[:3], calls[3:]
    assert warm_up == ["a", "b", "c"]
    assert rounds == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]


def test_peak_memory_sees_an_allocation():
    """An 8 MB array made by the call shows in both measures."""
    n_bytes = 8_000_000

    def allocate():
        return np.ones(n_bytes // 8)

    traced = memory.peak_traced_bytes(allocate)
    assert n_bytes <= traced < n_bytes + 100_000
    if memory.rss_supported():
        resident = memory.peak_rss_bytes(allocate)
        # Pages of the array that were touched; other threads may add a little.
        assert 0.95 * n_bytes <= resident < 2 * n_bytes


def _timing(kernel, n_samples, fastxent, peer, copy):
    case = cases.KernelCase(kernel, n_samples, 10, np.float64)
    seconds = {cases.FASTXENT: fastxent, "numpy/scipy": peer, cases.LIMIT: copy}
    return report.KernelTiming(case, 1, seconds)


def test_report_ratios_and_geometric_means():
    """Cells are peer / fastxent and fastxent / copy; the summary their
    geometric mean over cases."""
    timings = [
        _timing("cross_entropy", 100, 0.01, 0.02, 0.005),
        _timing("cross_entropy", 200, 0.01, 0.08, 0.0025),
    ]
    lines = report.summary_table(timings)
    assert lines[2] == "| `cross_entropy` | 1 | 4.0 (2.0-8.0) | - | - | 2.8 (2.0-4.0) |"
    every = report.kernel_table(timings)
    assert every[2].endswith("| 10.00 | 2.0 | 2.0 | - | - |")


def test_plot_writes_a_png(tmp_path):
    """--plot's figure is written as PNG."""
    pytest.importorskip("matplotlib")
    from fastxent._cli.plot import draw

    timings = [
        _timing("cross_entropy", 100, 0.01, 0.02, 0.005),
        _timing("log_softmax", 100, 0.01, 0.03, 0.004),
    ]
    path = tmp_path / "ratios.png"
    draw(timings, [], str(path), "test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_bar_writes_tenths_off_a_terminal():
    """Off a terminal the bar writes a line per tenth of the work, each naming
    the step that runs then."""
    stream = io.StringIO()
    progress = ProgressBar(20, stream=stream)
    for i in range(20):
        progress.show(f"case {i}")
        progress.step()
    progress.close()
    lines = stream.getvalue().splitlines()
    # The first label of tenths 0 to 9, the full bar, then the closing line.
    assert len(lines) == 12
    for tenth, line in enumerate(lines[:10]):
        assert line.endswith(f"] {2 * tenth}/20  case {2 * tenth}")
    assert lines[-2] == "[" + "#" * 30 + "] 20/20"
    assert lines[-1].startswith("done in")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_names_the_current_step(monkeypatch):
    """On a terminal every label is drawn as it is shown, whole if it fits the
    width, and a step finishing does not blank it."""
    monkeypatch.setenv("COLUMNS", "100")
    stream = _Terminal()
    progress = ProgressBar(3, stream=stream)
    labels = [
        "binary_cross_entropy_with_grad 1,000,000 float64, 2 threads",
        "cross_entropy 2,000 x 1,000 float32, 1 threads",
        "digits: sgd vs SGDClassifier, 2 threads",
    ]
    for done, label in enumerate(labels):
        progress.show(label)
        line = stream.getvalue().rsplit("\r", 1)[1]
        assert line.rstrip().endswith(f"] {done}/3  {label}")
        assert len(line) == 99
        progress.step()
        assert stream.getvalue().rsplit("\r", 1)[1] == line
    progress.close()
    assert re.fullmatch(
        r"\[#{30}\] 3/3  done in \d+ s *\n", stream.getvalue().split("\r")[-1]
    )


def test_progress_bar_cuts_labels_to_the_terminal_width(monkeypatch):
    """A label longer than the terminal is cut, so that the line never wraps."""
    monkeypatch.setenv("COLUMNS", "50")
    stream = _Terminal()
    ProgressBar(4, stream=stream).show("x" * 80)
    line = stream.getvalue().rsplit("\r", 1)[1]
    # 49 columns: the 38 of the bar and its gap, 11 of the label.
    assert line == "[" + "." * 30 + "] 0/4  " + "x" * 11


def test_bench_progress_names_each_case_in_turn(monkeypatch):
    """bench shows every kernel case and estimator job by name, in order."""
    pytest.importorskip("sklearn")
    shown = []
    monkeypatch.setattr(ProgressBar, "show", lambda self, label: shown.append(label))
    monkeypatch.setattr(bench, "QUICK", _TINY_SETTINGS)
    assert bench.run(quick=True, threads=[1], plot_path=None, stream=io.StringIO()) == 0
    kernels = [label.split()[0] for label in shown if label.endswith(", 1 threads")]
    assert kernels[: len(cases.KERNELS)] == list(cases.KERNELS)
    assert "digits: lbfgs vs lbfgs, 1 threads" in shown
    assert shown[-1] == "digits: sgd vs SGDClassifier, 1 threads"


def test_bench_plot_in_a_missing_directory_fails_before_measuring(
    monkeypatch, tmp_path, capsys
):
    """bench --plot DIR/FILE.png with no DIR: one line, code 2, nothing run."""
    pytest.importorskip("sklearn")

    def no_measuring(*args, **kwargs):
        raise AssertionError("measuring started")

    monkeypatch.setattr(bench.kernel_cases, "kernel_cases", no_measuring)
    missing = tmp_path / "nodir"
    assert main(["bench", "--quick", "--plot", str(missing / "x.png")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"python -m fastxent bench: --plot {missing / 'x.png'}: "
        f"no such directory: {missing}\n"
    )


def test_bench_plot_path_is_checked_by_the_command(tmp_path):
    """``python -m fastxent bench --plot nodir/x.png`` exits with code 2 and
    one line on stderr, at once."""
    pytest.importorskip("sklearn")
    import subprocess

    run = subprocess.run(
        [sys.executable, "-m", "fastxent", "bench", "--plot", "nodir/x.png"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr == (
        "python -m fastxent bench: --plot nodir/x.png: no such directory: nodir\n"
    )


def test_plot_path_with_an_unknown_format_is_refused(tmp_path):
    """An extension matplotlib cannot write is refused before measuring."""
    pytest.importorskip("matplotlib")
    from fastxent._cli.plot import BadPlotPath, check_path

    check_path(str(tmp_path / "ratios.png"))
    check_path(str(tmp_path / "ratios"))
    with pytest.raises(BadPlotPath, match=r"cannot write \.pgn files; use one of"):
        check_path(str(tmp_path / "ratios.pgn"))


def _is_dots(line):
    return line.get_marker() == "o" and line.get_linestyle() == "None"


def test_plot_bars_and_copy_dots_have_labelled_axes_of_their_own():
    """Each kernel panel draws the peer ratios (higher is better) and the copy
    ratios (lower is better) on two y axes, each labelled."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from fastxent._cli.plot import build_figure

    timings = [
        _timing("cross_entropy", 100, 0.01, 0.02, 0.005),
        _timing("cross_entropy", 200, 0.01, 0.08, 0.0025),
    ]
    figure = build_figure(timings, [], "test")
    try:
        visible = [ax for ax in figure.axes if ax.get_visible()]
        bars = [ax for ax in visible if ax.patches]
        dots = [ax for ax in visible if any(_is_dots(line) for line in ax.lines)]
        assert len(bars) == len(dots) == 1
        assert bars[0] is not dots[0]
        assert "higher is better" in bars[0].get_ylabel()
        assert "lower is better" in dots[0].get_ylabel()
        assert "copy time" in dots[0].get_ylabel()
        (line,) = [line for line in dots[0].lines if _is_dots(line)]
        np.testing.assert_allclose(line.get_ydata(), [2.0, 4.0])
        legend_labels = [t.get_text() for t in figure.legends[0].get_texts()]
        assert "fastxent time / copy time" in legend_labels
    finally:
        plt.close(figure)


def test_bench_end_to_end_on_tiny_settings(monkeypatch, tmp_path):
    """bench runs every kernel and the estimators, and prints every table."""
    pytest.importorskip("sklearn")
    monkeypatch.setattr(bench, "QUICK", _TINY_SETTINGS)
    out = io.StringIO()
    assert bench.run(quick=True, threads=[1], plot_path=None, stream=out) == 0
    text = out.getvalue()
    torch_kernels = cases.TORCH_KERNELS if importlib.util.find_spec("torch") else ()
    for kernel in cases.KERNELS + torch_kernels:
        assert f"| `{kernel}` | 2,000" in text
    assert "time to lbfgs objective" in text
    assert "epochs of SGD" in text
    assert "Peak extra memory" in text


def test_plot_threads_must_be_measured(capsys):
    """--plot-threads names one of the thread counts measured."""
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--threads", "1", "--plot-threads", "2"])
    assert exit_info.value.code == 2
    assert "--plot-threads must be one of the --threads" in capsys.readouterr().err
