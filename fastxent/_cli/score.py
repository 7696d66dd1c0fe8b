"""python -m fastxent score [FILE]: the cross-entropy of stored logits.

Scores the logits of a classifier stored in a CSV file (by default the
bundled iris_logits.csv: a softmax regression's logits on the 150 iris
flowers) and shows what an accurate cross-entropy changes: the mean loss in
nats and bits, and the confident rows, whose loss the textbook lse - z_y
rounds to 0. Needs numpy only.

How the file is read (row N is line N of the file):
  delimiter  whichever of ',' ';' and tab the first row holds most of, a
             comma on a tie; --delimiter sets another.
  header     the first row is a header when one of its cells is not a
             number, or when its first cell is empty (as pandas writes a
             header over its index); --header and --no-header decide instead.
  index      the leading columns a header names '' or 'Unnamed: N', pandas'
             names for its index, are dropped with a note on stderr;
             --index-column names the one column to drop instead.
  labels     the header's column label, y or target (in any case), else the
             first column; --label-column takes a name of the header or a
             column number counted from 1. A label is a class number, 0 to
             k-1 for k logit columns: 3.0 reads as 3, 4.5 is refused.
  logits     every other column, one per class: numbers, finite or -inf,
             with at least one finite logit in each row.
A file that breaks a rule stops the command with one line on stderr that
names the file, the row and the fix, and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import itertools
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fastxent import cross_entropy, log_softmax

# The --help text: the docstring above, but for its title line.
HELP = __doc__.partition("\n\n")[2]

LABEL_NAMES = ("label", "y", "target")
DELIMITERS = (",", ";", "\t")
# pandas names an unnamed index '' when writing, 'Unnamed: N' when reading.
_PANDAS_INDEX = re.compile(r"(Unnamed: \d+)?")


class BadCsv(ValueError):
    """A file ``score`` cannot read; the message names the file, row and fix."""

    def __init__(self, name: str, problem: str, row: int | None = None):
        where = name if row is None else f"{name}, row {row}"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Layout:
    """How to read the file; None asks for the rules of the module docstring.

    Attributes
    ----------
    header : bool or None
        Whether the first row is a header.
    label_column, index_column : str or None
        A column number counted from 1, or else a name of the header.
    delimiter : str or None
        The character between cells.
    """

    header: bool | None = None
    label_column: str | None = None
    index_column: str | None = None
    delimiter: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Layout:
        """The layout the options of :func:`add_arguments` ask for."""
        return cls(args.header, args.label_column, args.index_column, args.delimiter)


class Table(NamedTuple):
    """The logits and labels of a file, and the notes on how it was read."""

    logits: np.ndarray
    labels: np.ndarray
    notes: list[str]


def _one_character(text: str) -> str:
    if len(text) != 1:
        raise argparse.ArgumentTypeError(f"expected one character, got {text!r}")
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the file and the options of :class:`Layout` to ``parser``."""
    parser.add_argument(
        "csv",
        nargs="?",
        metavar="FILE",
        help="the CSV file (default: the bundled iris_logits.csv)",
    )
    header = parser.add_mutually_exclusive_group()
    for flag, const, meaning in (
        ("--header", True, "a header"),
        ("--no-header", False, "data"),
    ):
        header.add_argument(
            flag,
            dest="header",
            action="store_const",
            const=const,
            help=f"the first row is {meaning}",
        )
    column = "a column number counted from 1, or a name of the header"
    parser.add_argument(
        "--label-column", metavar="COLUMN", help=f"the labels: {column}"
    )
    parser.add_argument(
        "--index-column",
        metavar="COLUMN",
        help=f"a column to drop, such as an index: {column}",
    )
    parser.add_argument(
        "--delimiter",
        type=_one_character,
        metavar="CHAR",
        help="the character between cells (default: detected)",
    )


def _label_rule(n_classes: int) -> str:
    return (
        f"labels are class numbers, 0 to {n_classes - 1} for {n_classes} logit columns"
    )


def _read_text(path, name: str) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or error
        raise BadCsv(name, f"cannot read it ({reason}); give a CSV file") from None
    try:
        # utf-8-sig: spreadsheets often begin a CSV file with a byte-order mark.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        row = raw[: error.start].count(b"\n") + 1
        raise BadCsv(name, "not UTF-8 text; save the file as UTF-8 CSV", row) from None


def _detect_delimiter(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    # max keeps the first of equal counts: the comma.
    return max(DELIMITERS, key=first.count)


def _read_rows(text: str, name: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """The rows of ``text`` that hold a cell, as (row number, stripped cells)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for cells in reader:
            if len(cells) > 1 or (cells and cells[0].strip()):
                rows.append((reader.line_num, [cell.strip() for cell in cells]))
    except csv.Error as error:
        problem = f"{error}; check the quotes of this row"
        raise BadCsv(name, problem, reader.line_num) from None
    return rows


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _split_header(rows, header: bool | None, name: str):
    """(the header's names or None, the data rows)."""
    first_row, first = rows[0]
    if header is None:
        header = first[0] == "" or not all(_is_number(c) for c in first if c)
    if not header:
        return None, rows
    if len(rows) == 1:
        problem = "no data after the header; give a row per sample"
        raise BadCsv(name, problem, first_row + 1)
    return first, rows[1:]


def _check_widths(rows, name: str, delimiter: str) -> int:
    """The number of columns, the same in every row."""
    first_row, first = rows[0]
    if len(first) < 2:
        problem = (
            f"one column when split at {delimiter!r}; the file needs a label "
            "column and logit columns (--delimiter sets the delimiter)"
        )
        raise BadCsv(name, problem, first_row)
    for row, cells in rows:
        if len(cells) != len(first):
            problem = (
                f"{len(cells)} cells where row {first_row} has {len(first)}; "
                "give every row the same columns"
            )
            raise BadCsv(name, problem, row)
    return len(first)


def _column(spec: str, option: str, names, n_columns: int, name: str) -> int:
    """The 0-based column ``spec`` names: a number from 1, else a header name."""
    if spec.isdigit() and 1 <= int(spec) <= n_columns:
        return int(spec) - 1
    if not spec.isdigit() and names is not None and spec in names:
        return names.index(spec)
    header = "" if names is None else ", or a name of the header"
    problem = f"{option} {spec!r} is no column; give 1 to {n_columns}{header}"
    raise BadCsv(name, problem)


def _pandas_index(names, label: int | None, name: str):
    """The leading columns pandas writes for an index, and a note for each."""
    if names is None:
        return [], []
    leading = len(list(itertools.takewhile(_PANDAS_INDEX.fullmatch, names)))
    dropped = [c for c in range(leading) if c != label]
    notes = [
        f"note: {name}: dropped column {c + 1} (named {names[c]!r}), pandas' "
        f"index; --label-column {c + 1} reads it as the labels"
        for c in dropped
    ]
    return dropped, notes


def _default_label(names, kept: list[int]) -> int:
    if names is not None:
        for wanted in LABEL_NAMES:
            for c in kept:
                if names[c].lower() == wanted:
                    return c
    return kept[0]


def _choose_columns(names, n_columns: int, layout: Layout, name: str):
    """(the label column, the logit columns, the notes on dropped columns)."""

    def column(spec, option):
        return _column(spec, option, names, n_columns, name)

    label = None
    if layout.label_column is not None:
        label = column(layout.label_column, "--label-column")
    if layout.index_column is None:
        dropped, notes = _pandas_index(names, label, name)
    else:
        dropped, notes = [column(layout.index_column, "--index-column")], []
        if dropped == [label]:
            problem = "--label-column and --index-column name the same column"
            raise BadCsv(name, f"{problem}; give two columns")
    kept = [c for c in range(n_columns) if c not in dropped]
    if label is None:
        label = _default_label(names, kept)
    logits = [c for c in kept if c != label]
    if not logits:
        problem = "no logit column besides the label and the index"
        raise BadCsv(name, f"{problem}; see --label-column and --index-column")
    return label, logits, notes


def _cell_problem(cell: str, column: int, is_label: bool, n_classes: int) -> str:
    if cell == "":
        return f"column {column + 1} is empty; give every label and logit a value"
    if is_label:
        return f"label {cell!r} is not a number; {_label_rule(n_classes)}"
    return f"{cell!r} in column {column + 1} is not a number; give logits as numbers"


def _parse(rows, columns: list[int], name: str) -> np.ndarray:
    """The cells of ``columns`` (the label first) as floats, a row per row."""
    try:
        flat = [float(cells[c]) for _, cells in rows for c in columns]
    except ValueError:
        raise _bad_cell(rows, columns, name) from None
    return np.array(flat, dtype=np.float64).reshape(len(rows), len(columns))


def _bad_cell(rows, columns: list[int], name: str) -> BadCsv:
    """The error on the first cell of ``columns`` that is not a number."""
    row, cell, c = next(
        (row, cells[c], c)
        for row, cells in rows
        for c in columns
        if not _is_number(cells[c])
    )
    problem = _cell_problem(cell, c, c == columns[0], len(columns) - 1)
    return BadCsv(name, problem, row)


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def _check_labels(values: np.ndarray, rows, n_classes: int, name: str):
    """The labels as intp, once each is an integer in range."""
    rule = _label_rule(n_classes)
    with np.errstate(invalid="ignore"):
        fraction = _first(~np.isfinite(values) | (values != np.round(values)))
    if fraction is not None:
        problem = f"label {values[fraction]:g} is not an integer; {rule}"
        raise BadCsv(name, problem, rows[fraction][0])
    outside = _first((values < 0) | (values >= n_classes))
    if outside is not None:
        problem = f"label {values[outside]:g} is out of range; {rule}"
        raise BadCsv(name, f"{problem} (see --label-column)", rows[outside][0])
    return values.astype(np.intp)


def _check_logits(logits: np.ndarray, rows, columns: list[int], name: str):
    bad = _first(np.isnan(logits) | (logits == np.inf))
    if bad is not None:
        i, j = divmod(bad, logits.shape[1])
        problem = f"logit {rows[i][1][columns[j]]!r} in column {columns[j] + 1}"
        raise BadCsv(name, f"{problem}; logits are finite numbers or -inf", rows[i][0])
    masked = _first(np.all(logits == -np.inf, axis=1))
    if masked is not None:
        problem = "every logit is -inf; give each row a finite logit"
        raise BadCsv(name, problem, rows[masked][0])


def load_logits_csv(path, layout: Layout = Layout(), name: str | None = None):
    """Read a CSV file of labels and logits by the rules of the module docstring.

    Parameters
    ----------
    path : str or path-like
    layout : Layout
        The options that decide instead of the rules.
    name : str, optional
        The file's name in messages (default: ``path``).

    Returns
    -------
    table : Table
        ``logits`` of shape (n_samples, n_classes), float64; ``labels`` of
        shape (n_samples,), intp; ``notes`` on columns dropped.

    Raises
    ------
    BadCsv
        When the file breaks a rule; the message names the row and the fix.
    """
    name = str(path) if name is None else name
    text = _read_text(path, name)
    delimiter = layout.delimiter or _detect_delimiter(text)
    rows = _read_rows(text, name, delimiter)
    if not rows:
        raise BadCsv(name, "the file is empty; give rows of label,logit_0,...", 1)
    n_columns = _check_widths(rows, name, delimiter)
    names, rows = _split_header(rows, layout.header, name)
    label, logit_columns, notes = _choose_columns(names, n_columns, layout, name)
    values = _parse(rows, [label, *logit_columns], name)
    logits = np.ascontiguousarray(values[:, 1:])
    _check_logits(logits, rows, logit_columns, name)
    labels = _check_labels(values[:, 0], rows, len(logit_columns), name)
    return Table(logits, labels, notes)


def naive_cross_entropy_rows(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The textbook per-row loss ``max + log(sum(exp(z - max))) - z_y``.

    Returns
    -------
    loss : ndarray of shape (n_samples,)
    """
    top = logits.max(axis=1)
    lse = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    return lse - logits[np.arange(len(labels)), labels]


def report_lines(name: str, logits: np.ndarray, labels: np.ndarray) -> list[str]:
    """The report on a file's logits, line by line."""
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
    true_class = log_softmax(logits, axis=1)[np.arange(len(labels)), labels]
    lines.append(
        f"  smallest log-probability of the true class: {true_class.min():.6g}"
    )
    return lines


def run(
    csv_path: str | None = None, layout: Layout = Layout(), stream=None, notes=None
) -> int:
    """Print the report on ``csv_path`` (None: the bundled file).

    Notes on how the file was read go to ``notes`` (default: stderr).

    Returns
    -------
    exit_code : int

    Raises
    ------
    BadCsv
        When the file breaks a rule of the module docstring.
    """
    stream = sys.stdout if stream is None else stream
    notes = sys.stderr if notes is None else notes
    if csv_path is None:
        name = "bundled iris_logits.csv"
        opened = resources.as_file(
            resources.files("fastxent") / "data" / "iris_logits.csv"
        )
    else:
        name = csv_path
        opened = contextlib.nullcontext(csv_path)
    with opened as path:
        table = load_logits_csv(path, layout, name)
    for note in table.notes:
        notes.write(note + "\n")
    stream.write("\n".join(report_lines(name, table.logits, table.labels)) + "\n")
    return 0
