"""Command line: ``python -m fastxent``.

Scores the logits of a classifier stored in a CSV file (by default the bundled
``iris_logits.csv``: a softmax regression's logits on the 150 iris flowers)
and shows what an accurate cross-entropy changes: the mean loss in nats and
bits, and the confident rows, whose loss the textbook ``logsumexp - z_y``
rounds to 0.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from importlib import resources

import numpy as np

from fastxent import cross_entropy, log_softmax


def load_logits_csv(path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``label,logit_0,...`` rows (one header line) into (logits, labels)."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if table.shape[1] < 2:
        raise ValueError(f"{path}: need a label column and at least one logit column")
    return np.ascontiguousarray(table[:, 1:]), table[:, 0].astype(np.intp)


def naive_cross_entropy_rows(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The textbook per-row loss ``max + log(sum(exp(z - max))) - z_y``."""
    top = logits.max(axis=1)
    lse = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    return lse - logits[np.arange(len(labels)), labels]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fastxent",
        description="Cross-entropy of stored classifier logits, accurately.",
    )
    parser.add_argument(
        "csv",
        nargs="?",
        help="CSV with a header and rows 'label,logit_0,...,logit_k' "
        "(default: the bundled iris_logits.csv)",
    )
    args = parser.parse_args(argv)
    if args.csv is None:
        name = "bundled iris_logits.csv"
        opened = resources.as_file(
            resources.files("fastxent") / "data" / "iris_logits.csv"
        )
    else:
        name = args.csv
        opened = contextlib.nullcontext(args.csv)
    with opened as path:
        logits, labels = load_logits_csv(path)

    rows = cross_entropy(logits, labels, reduction="none")
    naive = naive_cross_entropy_rows(logits, labels)
    accuracy = float(np.mean(logits.argmax(axis=1) == labels))
    print(f"{name}: {logits.shape[0]} samples, {logits.shape[1]} classes")
    print(f"  accuracy                 {accuracy:.4f}")
    print(f"  cross-entropy (nats)     {cross_entropy(logits, labels):.6g}")
    print(f"  cross-entropy (bits)     {cross_entropy(logits, labels, base=2):.6g}")
    confident = np.argsort(rows)[:3]
    print("  most confident rows: fastxent loss vs textbook lse - z_y")
    for i in confident:
        print(f"    row {i:4d}  {rows[i]:.6e}  {naive[i]:.6e}")
    zeros = int(np.sum((naive == 0) & (rows > 0)))
    print(f"  rows the textbook formula rounds to a loss of 0: {zeros}")
    top_class = log_softmax(logits)[np.arange(len(labels)), labels]
    print(f"  smallest log-probability of the true class: {top_class.min():.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
