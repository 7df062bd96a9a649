import json

import pandas as pd
import pytest

from textclf.data.load import load_labelled, read_table
from textclf.errors import DataError

ROWS = [("ham", "hello there"), ("spam", "win cash now"), ("ham", "see you soon")]


def _df():
    return pd.DataFrame(ROWS, columns=["label", "text"])


@pytest.mark.parametrize("ext", ["csv", "tsv", "json", "jsonl", "parquet"])
def test_reads_every_format(tmp_path, ext):
    p = tmp_path / f"d.{ext}"
    df = _df()
    if ext == "csv":
        df.to_csv(p, index=False)
    elif ext == "tsv":
        df.to_csv(p, index=False, sep="\t")
    elif ext == "json":
        p.write_text(json.dumps(df.to_dict(orient="records")))
    elif ext == "jsonl":
        df.to_json(p, orient="records", lines=True)
    else:
        df.to_parquet(p)
    d = load_labelled(p)
    assert d.texts == [t for _, t in ROWS] and d.labels == [lab for lab, _ in ROWS]
    assert d.text_col == "text" and d.label_col == "label"


def test_headerless_tsv_without_extension(tmp_path):
    p = tmp_path / "SMSSpamCollection"
    p.write_text('ham\tsay "hi" to him\nspam\tfree "prize"\n', encoding="utf-8")
    d = load_labelled(p, no_header=True, columns=["label", "text"])
    assert d.texts == ['say "hi" to him', 'free "prize"']   # quotes kept verbatim (QUOTE_NONE)


def test_picks_obvious_columns_case_insensitively_and_says_so(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"Category": ["a", "b"], "Message": ["x", "y"], "URL": ["No", "yes"]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="Several columns could be the text column"):
        load_labelled(p)
    d = load_labelled(p, text_col="message")
    assert d.text_col == "Message" and d.label_col == "Category"
    assert "label column 'Category'" in d.picked


def test_canonical_name_wins_over_other_candidates(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"label": ["a"], "TEXT": ["x"], "URL": ["No"]}).to_csv(p, index=False)
    assert load_labelled(p).text_col == "TEXT"


def test_integer_labels_keep_their_names(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "label": [0, 1, 10]}).to_csv(p, index=False)
    assert load_labelled(p).labels == ["0", "1", "10"]


def test_empty_texts_and_labels_are_dropped_with_counts(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("text,label\nhello,a\n,b\n   ,a\nworld,\nok,b\n")
    d = load_labelled(p)
    assert d.texts == ["hello", "ok"]
    assert d.dropped == {"empty text": 2, "empty label": 1}
    assert d.rows == [0, 4]


@pytest.mark.parametrize("content,match", [
    (None, "does not exist"),
    (b"", "is empty"),
    (b"   \n\n", "is empty"),
    (b"text,label\n", "header but no rows"),
    (b"text,label\ncaf\xe9,a\n", "not valid UTF-8"),
    (b"text,label\n,\n , \n", "No usable rows"),
    (b"foo,bar\n1,2\n", "No text column found"),
])
def test_bad_files_give_one_clear_error(tmp_path, content, match):
    p = tmp_path / "bad.csv"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(DataError, match=match):
        load_labelled(p)


def test_missing_named_column_lists_columns(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("text,label\nx,a\n")
    with pytest.raises(DataError, match="'body' not found; columns are: text, label"):
        load_labelled(p, text_col="body")


def test_no_header_needs_matching_columns(tmp_path):
    p = tmp_path / "d.tsv"
    p.write_text("a\tb\tc\n")
    with pytest.raises(DataError, match="names 2 columns but"):
        read_table(p, no_header=True, columns=["label", "text"])
