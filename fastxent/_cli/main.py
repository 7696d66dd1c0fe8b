"""Argument parsing and dispatch of ``python -m fastxent [demo|bench|score]``.

Each command imports its optional dependencies only when it runs; a missing
one ends the command with one line on stderr and exit code 2 (argparse's
code for a usage error), not a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from fastxent._optional import MissingDependency

PROG = "python -m fastxent"


def _thread_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def restart_bench_with_passive_openmp(argv, environ=os.environ, execv=os.execv):
    """Re-run ``bench`` in a new process with ``OMP_WAIT_POLICY=passive``,
    unless the variable is set; other commands return at once.

    scikit-learn, PyTorch and fastxent each load an OpenMP runtime of their
    own, and by default each runtime's idle threads spin for milliseconds
    after a parallel call, so the peer timed next shares the second core
    with them. Measured on 2 cores, 1e6 binary logits, 2 threads: fastxent
    9.3 ms passive, 17.0 ms right after a scikit-learn call; scikit-learn
    20.5 ms passive, 27.5 ms spinning. A runtime reads the variable when it
    is loaded, which ``import fastxent`` has done before any command runs:
    hence a new process, not a setting.
    """
    if argv[:1] != ["bench"] or "OMP_WAIT_POLICY" in environ:
        return
    environ["OMP_WAIT_POLICY"] = "passive"
    execv(sys.executable, [sys.executable, "-m", "fastxent", *argv])


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command line, one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="fastxent: fast, accurate cross-entropy on the CPU. "
        "Without a command, runs 'demo'.",
    )
    commands = parser.add_subparsers(dest="command", metavar="{demo,bench,score}")

    demo = commands.add_parser(
        "demo",
        help="cross-validated LogisticRegression, fastxent's against "
        "scikit-learn's, on scikit-learn's bundled datasets (the default)",
        description="Cross-validate fastxent's LogisticRegression and "
        "scikit-learn's on the datasets bundled with scikit-learn (offline), "
        "scored by accuracy and fastxent's cross-entropy scorer; prints fit "
        "time ratios and scores. Needs scikit-learn: "
        'pip install "fastxent[sklearn]".',
    )
    from fastxent._cli.demo import DATASETS

    demo.add_argument(
        "--datasets",
        nargs="+",
        choices=DATASETS,
        default=list(DATASETS),
        metavar="NAME",
        help=f"datasets to run, among {', '.join(DATASETS)} (default: all)",
    )

    bench = commands.add_parser(
        "bench",
        help="time the kernels and the estimator against numpy/scipy, "
        "scikit-learn and PyTorch; print a Markdown table of ratios",
        description="Time fastxent's kernels and LogisticRegression against "
        "their installed peers in one process (threads pinned, peers "
        "interleaved, medians) and print Markdown tables of ratios (peer time / "
        "fastxent time) and of fastxent's time over a copy of the same bytes. "
        "Progress goes to stderr. Runs with OMP_WAIT_POLICY=passive unless "
        "it is set, so that no peer's idle OpenMP threads spin beside the "
        "next. Needs scikit-learn; PyTorch and matplotlib "
        'are optional: pip install "fastxent[bench]".',
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="two shapes, float64, few repeats, one estimator problem: "
        "about a minute instead of ten or more",
    )
    bench.add_argument(
        "--threads",
        nargs="+",
        type=_thread_count,
        default=[1, 2],
        metavar="N",
        help="thread counts to measure (default: 1 2)",
    )
    bench.add_argument(
        "--plot", metavar="FILE.png", help="also draw the ratios (needs matplotlib)"
    )
    bench.add_argument(
        "--plot-threads",
        type=_thread_count,
        metavar="N",
        help="the thread count whose runs the plot shows (default: the largest)",
    )

    from fastxent._cli import score as score_command

    score = commands.add_parser(
        "score",
        help="cross-entropy of logits stored in a CSV file",
        description=score_command.HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score_command.add_arguments(score)
    return parser


def main(argv=None) -> int:
    """Run the command in ``argv`` (default: ``sys.argv[1:]``).

    Returns
    -------
    exit_code : int
        0 on success, 2 for a missing optional dependency, a file
        ``score`` cannot read or a ``--plot`` file ``bench`` cannot write,
        1 when stdout was closed early.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "bench":
            from fastxent._cli import bench
            from fastxent._cli.plot import BadPlotPath

            if args.plot_threads not in (None, *args.threads):
                parser.error("--plot-threads must be one of the --threads")
            try:
                return bench.run(
                    quick=args.quick,
                    threads=args.threads,
                    plot_path=args.plot,
                    plot_threads=args.plot_threads,
                )
            except BadPlotPath as problem:
                print(f"{PROG} bench: {problem}", file=sys.stderr)
                return 2
        if args.command == "score":
            from fastxent._cli import score

            try:
                return score.run(args.csv, score.Layout.from_args(args))
            except score.BadCsv as problem:
                print(f"{PROG} score: {problem}", file=sys.stderr)
                return 2
        from fastxent._cli import demo

        datasets = getattr(args, "datasets", demo.DATASETS)
        return demo.run(datasets)
    except MissingDependency as missing:
        print(f"{PROG}: {missing}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of stdout left (`| head`): stop quietly. Point stdout at
        # devnull so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
