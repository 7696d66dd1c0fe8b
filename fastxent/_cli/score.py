"""``python -m fastxent score [FILE]``: the cross-entropy of stored logits.

Scores the logits of a classifier stored in a CSV file (by default the
bundled ``iris_logits.csv``: a softmax regression's logits on the 150 iris
flowers) and shows what an accurate cross-entropy changes: the mean loss in
nats and bits, and the confident rows, whose loss the textbook
``logsumexp - z_y`` rounds to 0. Needs numpy only.
"""

from __future__ import annotations

import contextlib
import sys
from importlib import resources

import numpy as np

from fastxent import cross_entropy, log_softmax


def load_logits_csv(path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``label,logit_0,...`` rows (one header line) into (logits, labels).

    Returns
    -------
    logits : ndarray of shape (n_samples, n_classes)
    labels : ndarray of shape (n_samples,), intp
    """
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    if table.shape[1] < 2:
        raise ValueError(f"{path}: need a label column and at least one logit column")
    return np.ascontiguousarray(table[:, 1:]), table[:, 0].astype(np.intp)


def naive_cross_entropy_rows(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The textbook per-row loss ``max + log(sum(exp(z - max))) - z_y``.

    Returns
    -------
    loss : ndarray of shape (n_samples,)
    """
    top = logits.max(axis=1)
    lse = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    return lse - logits[np.arange(len(labels)), labels]


def run(csv_path: str | None = None, stream=None) -> int:
    """Print the report on ``csv_path`` (None: the bundled file).

    Returns
    -------
    exit_code : int
    """
    stream = sys.stdout if stream is None else stream
    if csv_path is None:
        name = "bundled iris_logits.csv"
        opened = resources.as_file(
            resources.files("fastxent") / "data" / "iris_logits.csv"
        )
    else:
        name = csv_path
        opened = contextlib.nullcontext(csv_path)
    with opened as path:
        logits, labels = load_logits_csv(path)

    rows = cross_entropy(logits, labels, reduction="none")
    naive = naive_cross_entropy_rows(logits, labels)
    accuracy = float(np.mean(logits.argmax(axis=1) == labels))
    lines = [
        f"{name}: {logits.shape[0]} samples, {logits.shape[1]} classes",
        f"  accuracy                 {accuracy:.4f}",
        f"  cross-entropy (nats)     {cross_entropy(logits, labels):.6g}",
        f"  cross-entropy (bits)     {cross_entropy(logits, labels, base=2):.6g}",
        "  most confident rows: fastxent loss vs textbook lse - z_y",
    ]
    for i in np.argsort(rows)[:3]:
        lines.append(f"    row {i:4d}  {rows[i]:.6e}  {naive[i]:.6e}")
    zeros = int(np.sum((naive == 0) & (rows > 0)))
    lines.append(f"  rows the textbook formula rounds to a loss of 0: {zeros}")
    true_class = log_softmax(logits)[np.arange(len(labels)), labels]
    lines.append(
        f"  smallest log-probability of the true class: {true_class.min():.6g}"
    )
    stream.write("\n".join(lines) + "\n")
    return 0
