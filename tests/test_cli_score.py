"""``python -m fastxent score FILE`` on files of every shape (issue 16).

A file that scores is checked against scipy's log-softmax of the same
numbers; a file that does not must end in one line on stderr naming the file
and the row, and exit code 2.
"""

import re

import numpy as np
import pytest
from scipy.special import log_softmax

from fastxent._cli.main import main

PROG = "python -m fastxent score"


def _score(tmp_path, text, *options, name="logits.csv"):
    """Run ``score`` on a file holding ``text``; its exit code."""
    path = tmp_path / name
    path.write_text(text)
    return main(["score", str(path), *options])


def _printed(out, label):
    match = re.search(re.escape(label) + r"\s+([-+0-9.eE]+)", out)
    assert match, f"{label!r} not in output:\n{out}"
    return float(match.group(1))


def _assert_scored(out, logits, labels):
    """The report's sizes, accuracy and nats are those of scipy's log-softmax."""
    logits, labels = np.asarray(logits, dtype=float), np.asarray(labels)
    loss = -log_softmax(logits, axis=1)[np.arange(len(labels)), labels]
    assert f"{len(labels)} samples, {logits.shape[1]} classes" in out
    accuracy = np.mean(logits.argmax(axis=1) == labels)
    assert _printed(out, "accuracy") == pytest.approx(accuracy, abs=1e-4)
    assert _printed(out, "cross-entropy (nats)") == pytest.approx(loss.mean(), rel=1e-5)


def _assert_one_line_error(code, captured, where, *phrases):
    """Exit code 2, nothing on stdout, one line on stderr naming ``where``
    (the file's name and the row) and holding each of ``phrases``."""
    assert code == 2
    assert captured.out == ""
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"{PROG}: "), lines[0]
    assert f"{where}: " in lines[0]
    for phrase in phrases:
        assert phrase in lines[0]


LOGITS = [[0.1, 0.2, 3.0], [5.0, 0.1, 0.2], [0.0, 4.0, 1.0], [1.0, 0.5, 2.0]]
LABELS = [2, 0, 1, 1]


def _rows(labels=LABELS, index=False, label_at=0):
    """Rows of LOGITS with ``labels`` as cell ``label_at``, after an index."""
    lines = []
    for i, (logits, label) in enumerate(zip(LOGITS, labels, strict=True)):
        cells = [str(i)] if index else []
        cells += [str(z) for z in logits]
        cells.insert(label_at + index, str(label))
        lines.append(",".join(cells) + "\n")
    return "".join(lines)


@pytest.mark.parametrize(
    "header",
    [
        ",label,a,b,c",  # DataFrame.to_csv(): an unnamed index, first
        ",0,1,2,3",  # the same of a frame with default column names
        "Unnamed: 0,label,a,b,c",  # a file read by pandas and written again
    ],
)
def test_pandas_index_column_is_dropped_with_a_note(tmp_path, capsys, header):
    """The index is not read as the labels; stderr says it was dropped."""
    labels = [f"{label}.0" for label in LABELS]  # pandas writes floats so
    code = _score(tmp_path, header + "\n" + _rows(labels, index=True))
    captured = capsys.readouterr()
    assert code == 0
    _assert_scored(captured.out, LOGITS, LABELS)
    assert "dropped column 1" in captured.err
    assert "pandas' index" in captured.err


def test_file_without_header_keeps_its_first_row(tmp_path, capsys):
    assert _score(tmp_path, _rows()) == 0
    _assert_scored(capsys.readouterr().out, LOGITS, LABELS)


def test_header_is_read_when_present(tmp_path, capsys):
    assert _score(tmp_path, "label,a,b,c\n" + _rows()) == 0
    _assert_scored(capsys.readouterr().out, LOGITS, LABELS)


def test_no_header_reads_the_first_row_as_data(tmp_path, capsys):
    """--no-header: a first row of names is data, and refused as such."""
    code = _score(tmp_path, "label,a,b,c\n" + _rows(), "--no-header")
    _assert_one_line_error(
        code, capsys.readouterr(), "logits.csv, row 1", "'label' is not a number"
    )


def test_header_option_reads_a_numeric_first_row_as_names(tmp_path, capsys):
    """--header: column names that are numbers, as pandas writes 0, 1, ..."""
    assert _score(tmp_path, "0,1,2,3\n" + _rows(), "--header") == 0
    _assert_scored(capsys.readouterr().out, LOGITS, LABELS)


def test_label_column_is_found_by_name(tmp_path, capsys):
    """A header's 'target' column holds the labels wherever it stands."""
    assert _score(tmp_path, "a,b,target,c\n" + _rows(label_at=2)) == 0
    _assert_scored(capsys.readouterr().out, LOGITS, LABELS)


@pytest.mark.parametrize("column", ["cls", "4"])
def test_label_column_option_takes_a_name_or_a_number(tmp_path, capsys, column):
    text = "a,b,c,cls\n" + _rows(label_at=3)
    assert _score(tmp_path, text, "--label-column", column) == 0
    _assert_scored(capsys.readouterr().out, LOGITS, LABELS)


@pytest.mark.parametrize("column", ["0", "9", "nope"])
def test_label_column_that_is_no_column_is_refused(tmp_path, capsys, column):
    code = _score(tmp_path, "label,a,b,c\n" + _rows(), "--label-column", column)
    _assert_one_line_error(
        code, capsys.readouterr(), "logits.csv", "--label-column", "1 to 4"
    )


def test_index_column_option_drops_the_column(tmp_path, capsys):
    text = "id,label,a,b,c\n" + _rows(index=True)
    assert _score(tmp_path, text, "--index-column", "id") == 0
    _assert_scored(capsys.readouterr().out, LOGITS, LABELS)


def test_label_3_0_reads_as_3(tmp_path, capsys):
    logits = [[0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0]]
    assert _score(tmp_path, "label,a,b,c,d\n3.0,0,1,2,3\n0,3,2,1,0\n") == 0
    _assert_scored(capsys.readouterr().out, logits, [3, 0])


def test_label_4_5_is_refused_naming_the_row(tmp_path, capsys):
    code = _score(tmp_path, "label,a,b,c,d,e\n0,1,2,3,4,5\n4.5,1,2,3,4,5\n")
    _assert_one_line_error(
        code, capsys.readouterr(), "logits.csv, row 3", "label 4.5 is not an integer"
    )


def test_string_labels_are_refused(tmp_path, capsys):
    code = _score(tmp_path, "label,a,b\nsetosa,1,2\nvirginica,3,4\n")
    _assert_one_line_error(
        code, capsys.readouterr(), "logits.csv, row 2", "'setosa' is not a number"
    )


@pytest.mark.parametrize("label", ["3", "-1"])
def test_label_out_of_range_is_refused(tmp_path, capsys, label):
    code = _score(tmp_path, f"label,a,b,c\n0,1,2,3\n{label},1,2,3\n")
    _assert_one_line_error(
        code, capsys.readouterr(), "logits.csv, row 3", "out of range", "0 to 2"
    )


def test_ragged_rows_are_refused(tmp_path, capsys):
    code = _score(tmp_path, "label,a,b,c\n0,1,2,3\n1,2,3\n")
    _assert_one_line_error(
        code, capsys.readouterr(), "logits.csv, row 3", "3 cells where row 1 has 4"
    )


@pytest.mark.parametrize("row", ["0,,2,3", "0,1,2,"])
def test_empty_cell_is_refused(tmp_path, capsys, row):
    code = _score(tmp_path, f"label,a,b,c\n1,1,2,3\n{row}\n")
    _assert_one_line_error(code, capsys.readouterr(), "logits.csv, row 3", "empty")


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_files_are_read(tmp_path, capsys, delimiter):
    text = ("label,a,b,c\n" + _rows()).replace(",", delimiter)
    assert _score(tmp_path, text) == 0
    _assert_scored(capsys.readouterr().out, LOGITS, LABELS)


def test_one_column_names_the_delimiter_option(tmp_path, capsys):
    code = _score(tmp_path, "label|a|b\n0|1|2\n")
    _assert_one_line_error(
        code, capsys.readouterr(), "logits.csv, row 1", "one column", "--delimiter"
    )
    assert _score(tmp_path, "label|a|b\n0|1|2\n", "--delimiter", "|") == 0
    _assert_scored(capsys.readouterr().out, [[1.0, 2.0]], [0])


def test_missing_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "absent.csv"
    code = main(["score", str(path)])
    _assert_one_line_error(code, capsys.readouterr(), str(path), "cannot read")


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_empty_file_is_refused(tmp_path, capsys, text):
    code = _score(tmp_path, text)
    _assert_one_line_error(code, capsys.readouterr(), "logits.csv, row 1", "empty")


def test_header_without_rows_is_refused(tmp_path, capsys):
    code = _score(tmp_path, "label,a,b\n")
    _assert_one_line_error(code, capsys.readouterr(), "logits.csv, row 2", "no data")


@pytest.mark.parametrize("logit", ["nan", "inf"])
def test_nan_and_plus_inf_logits_are_refused(tmp_path, capsys, logit):
    code = _score(tmp_path, f"label,a,b\n0,{logit},2\n")
    _assert_one_line_error(
        code, capsys.readouterr(), "logits.csv, row 2", "finite numbers or -inf"
    )


def test_minus_inf_logit_is_a_masked_class(tmp_path, capsys):
    assert _score(tmp_path, "label,a,b,c\n0,1,-inf,2\n2,-inf,0,3\n") == 0
    logits = [[1.0, -np.inf, 2.0], [-np.inf, 0.0, 3.0]]
    _assert_scored(capsys.readouterr().out, logits, [0, 2])


def test_row_of_minus_inf_logits_is_refused(tmp_path, capsys):
    code = _score(tmp_path, "label,a,b\n0,1,2\n1,-inf,-inf\n")
    _assert_one_line_error(code, capsys.readouterr(), "logits.csv, row 3", "-inf")


def test_text_that_is_not_utf8_is_refused(tmp_path, capsys):
    path = tmp_path / "logits.csv"
    path.write_bytes(b"label,a,b\n0,1,2\n\xff,1,2\n")
    code = main(["score", str(path)])
    _assert_one_line_error(code, capsys.readouterr(), f"{path}, row 3", "UTF-8")
