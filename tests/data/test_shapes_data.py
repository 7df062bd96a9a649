"""Loading and splitting multi-label, sentence-pair and split-column data."""
import numpy as np
import pandas as pd
import pytest

from textclf.config import DataConfig
from textclf.data.load import load_labelled, looks_multi_label
from textclf.data.prepare import prepare
from textclf.data.split import dedupe_keys, stratified_group_split
from textclf.errors import DataError

from conftest import EMOTIONS, multilabel_frame


def test_label_id_lists_map_to_names(tmp_path):
    p = tmp_path / "ml.csv"
    multilabel_frame().to_csv(p, index=False)
    d = load_labelled(p, label_names=EMOTIONS)
    assert d.multi_label
    assert all(isinstance(r, tuple) and set(r) <= set(EMOTIONS) for r in d.labels)
    raw = pd.read_csv(p)["labels"][0].split(",")
    assert d.labels[0] == tuple(EMOTIONS[int(i)] for i in raw)


def test_auto_detects_label_lists_but_not_plain_labels():
    assert looks_multi_label(pd.Series(["a,b", "a", "c", "b,c"] * 10))
    assert not looks_multi_label(pd.Series(["ham", "spam", "Smishing"] * 10))
    # a comma inside a long free-text value is not a label list
    assert not looks_multi_label(pd.Series(["a long sentence, with a comma in it here"] * 10))


def test_boolean_label_columns_and_globs(tmp_path):
    p = tmp_path / "toxic.csv"
    pd.DataFrame({"text": [f"t {i}" for i in range(8)],
                  "IsToxic": [1, 0, 1, 0, 1, 0, 0, 1], "IsAbusive": ["true", "false"] * 4,
                  "Other": list("abcdefgh")}).to_csv(p, index=False)
    d = load_labelled(p, label_cols=["Is*"])
    assert d.multi_label and d.label_names == ["IsToxic", "IsAbusive"]
    assert d.labels[0] == ("IsToxic", "IsAbusive") and d.labels[1] == ()


def _toxic(tmp_path):
    p = tmp_path / "toxic.csv"
    pd.DataFrame({"text": ["a", "b", "c", "d"], "IsToxic": [1, 0, 1, 0], "IsHate": [0, 0, 0, 0],
                  "IsRude": [0, 1, 1, 0], "IsText": [1, 1, 1, 1]}).to_csv(p, index=False)
    return p


def test_named_label_column_with_one_value_is_an_error(tmp_path):
    p = _toxic(tmp_path)
    with pytest.raises(DataError, match="'IsHate' in .* has no positive value at all"):
        load_labelled(p, label_cols=["IsToxic", "IsHate", "IsRude"])
    with pytest.raises(DataError, match="'IsText' in .* has no negative value at all"):
        load_labelled(p, label_cols=["IsToxic", "IsText", "IsRude"])
    # named next to a glob that also matches it: still named, still an error
    with pytest.raises(DataError, match="'IsHate' in"):
        load_labelled(p, label_cols=["Is*", "IsHate"])


def test_glob_drops_label_columns_with_one_value_and_says_so(tmp_path):
    d = load_labelled(_toxic(tmp_path), label_cols=["Is*"])
    assert d.label_names == ["IsToxic", "IsRude"]
    assert d.labels == [("IsToxic",), ("IsRude",), ("IsToxic", "IsRude"), ()]
    assert d.warnings == ["dropped label columns a --label-cols pattern picked that hold one value "
                          "only: IsHate (no positive), IsText (no negative)"]
    assert not load_labelled(_toxic(tmp_path), label_cols=["IsToxic", "IsRude"]).warnings


def test_glob_that_leaves_fewer_than_two_columns_is_an_error(tmp_path):
    with pytest.raises(DataError, match="at least two label columns; it matched IsToxic"):
        load_labelled(_toxic(tmp_path), label_cols=["IsToxic", "IsH*", "IsT*"])


def test_validation_and_test_files_read_the_training_files_label_columns(tmp_path):
    """A glob settles the label columns on the training file; another file may lack positives
    for a label (a small test file often does) and is read with exactly those columns."""
    from textclf.config import DataConfig
    from textclf.data.prepare import prepare

    rng = np.random.default_rng(0)
    train = pd.DataFrame({"text": [f"t{i}" for i in range(60)], "IsA": rng.integers(0, 2, 60),
                          "IsB": rng.integers(0, 2, 60), "IsNever": 0})
    small = pd.DataFrame({"text": [f"v{i}" for i in range(6)], "IsA": [1, 0, 1, 0, 1, 0],
                          "IsB": 0, "IsNever": [1, 0, 0, 0, 0, 0]})
    for name, df in (("train", train), ("valid", small), ("test", small)):
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    data = prepare(DataConfig(train=str(tmp_path / "train.csv"), valid=str(tmp_path / "valid.csv"),
                              test=str(tmp_path / "test.csv"), label_cols=["Is*"]))
    assert data.labels.names == ("IsA", "IsB")
    assert data.splits["test"].labels[0] == ("IsA",)   # IsNever is not a label, even where set
    assert any("IsNever (no positive)" in n for n in data.notes)


def test_unknown_label_name_in_a_row_is_an_error(tmp_path):
    p = tmp_path / "ml.csv"
    pd.DataFrame({"text": ["a", "b"], "labels": ["joy,anger", "joy,jealousy"]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="Row 2 .*unknown label 'jealousy'"):
        load_labelled(p, label_names=EMOTIONS)


def test_multilabel_split_is_dedupe_aware_and_keeps_every_label(tmp_path):
    df = multilabel_frame(400)
    df = pd.concat([df, df.head(30)], ignore_index=True)   # 30 exact duplicates
    labels = [tuple(EMOTIONS[int(i)] for i in s.split(",")) for s in df["labels"]]
    idx = stratified_group_split(df["text"].tolist(), labels, seed=1)
    keys = dedupe_keys(df["text"].tolist())
    seen = {s: {keys[i] for i in idx[s]} for s in idx}
    assert not (seen["train"] & seen["test"]) and not (seen["train"] & seen["validation"])
    assert sum(len(v) for v in idx.values()) == len(df)
    for s in ("validation", "test"):
        share = len(idx[s]) / len(df)
        assert 0.10 < share < 0.20
        present = {v for i in idx[s] for v in labels[i]}
        assert present == set(EMOTIONS)


def test_pairs_are_detected_and_deduplicated_as_pairs(tmp_path):
    p = tmp_path / "nli.tsv"
    rows = [{"sentence1": f"a man is playing {i % 7}", "sentence2": f"someone plays {i}",
             "label": "entailment" if i % 2 else "not_entailment"} for i in range(60)]
    pd.DataFrame(rows).to_csv(p, sep="\t", index=False)
    d = load_labelled(p)
    assert d.pairs is not None and d.text_col == "sentence1"
    keys = dedupe_keys(d.texts, d.pairs)
    assert len(set(keys)) == 60           # same premise, different hypothesis: not duplicates
    assert len(set(dedupe_keys(d.texts))) == 7


def test_missing_pair_column_is_an_error(tmp_path):
    p = tmp_path / "nli.csv"
    pd.DataFrame({"sentence1": ["a", "b"], "label": [0, 1]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="pair column 'sentence2' not found"):
        load_labelled(p, text_col="sentence1", text_pair_col="sentence2")


def test_split_column_with_mapping(tmp_path):
    p = tmp_path / "sick.tsv"
    sets = ["TRAIN"] * 40 + ["TRIAL"] * 10 + ["TEST"] * 12
    pd.DataFrame({"sentence_A": [f"x {i}" for i in range(62)], "sentence_B": [f"y {i}" for i in range(62)],
                  "label": ["A", "B"] * 31, "SemEval_set": sets}).to_csv(p, sep="\t", index=False)
    data = prepare(DataConfig(train=str(p), split_col="SemEval_set"))
    assert {s: len(v.texts) for s, v in data.splits.items()} == {"train": 40, "validation": 10, "test": 12}
    assert data.has_pairs
    pd.DataFrame({"text": [f"t {i}" for i in range(10)], "label": list("xxyyxxyyxx"),
                  "part": ["TRAIN", "HOLDOUT"] * 5}).to_csv(p, sep="\t", index=False)
    with pytest.raises(DataError, match="'HOLDOUT' is not train/validation/test"):
        prepare(DataConfig(train=str(p), split_col="part"))
    data = prepare(DataConfig(train=str(p), split_col="part", split_map={"HOLDOUT": "test"}))
    assert len(data.splits["test"].texts) == 5


def test_unlabelled_test_file_scores_on_validation(tmp_path, sms_csv):
    test = tmp_path / "test.csv"
    pd.DataFrame({"message": ["hello there", "win cash now"]}).to_csv(test, index=False)
    data = prepare(DataConfig(train=str(sms_csv), test=str(test)))
    assert data.test_is_validation
    assert data.splits["test"] is data.splits["validation"]
    assert any("no labels" in n for n in data.notes)


def test_label_map_merges_labels_in_every_split(tmp_path):
    p = tmp_path / "sick.tsv"
    sets = ["TRAIN"] * 45 + ["TRIAL"] * 15 + ["TEST"] * 15
    labels = ["ENTAILMENT", "NEUTRAL", "CONTRADICTION"] * 25
    pd.DataFrame({"sentence_A": [f"x {i}" for i in range(75)], "sentence_B": [f"y {i}" for i in range(75)],
                  "entailment_label": labels, "SemEval_set": sets}).to_csv(p, sep="\t", index=False)
    cfg = DataConfig(train=str(p), split_col="SemEval_set", label_col="entailment_label", label_map={
        "ENTAILMENT": "entailment", "NEUTRAL": "not_entailment", "CONTRADICTION": "not_entailment"})
    data = prepare(cfg)
    assert data.labels.names == ("entailment", "not_entailment") and data.labels.task == "binary"
    for s, split in data.splits.items():
        assert split.labels.count("not_entailment") == 2 * split.labels.count("entailment"), s
    with pytest.raises(DataError, match="--label-map names 'NEUTRL', which is not a label"):
        prepare(DataConfig(train=str(p), split_col="SemEval_set", label_col="entailment_label",
                           label_map={"NEUTRL": "x"}))


def test_label_map_on_label_lists_lists_a_merged_name_once():
    from textclf.data.labels import remap_labels

    rows = [["joy", "love"], ["anger"], ["love"]]
    assert remap_labels(rows, {"joy": "positive", "love": "positive"}) == \
        [["positive"], ["anger"], ["positive"]]
    assert remap_labels(["a", "b", "c"], {"c": "b"}) == ["a", "b", "b"]


def test_label_map_can_settle_case_variants_itself(tmp_path):
    p = tmp_path / "d.csv"
    pd.DataFrame({"text": [f"t {i}" for i in range(30)],
                  "label": ["ham", "Spam", "spam"] * 10}).to_csv(p, index=False)
    data = prepare(DataConfig(train=str(p), label_map={"Spam": "spam"}))
    assert data.labels.names == ("ham", "spam") and data.variants == {}


def test_a_file_missing_some_label_columns_is_an_error_but_one_with_none_has_no_labels(tmp_path):
    from textclf.errors import MissingColumnError

    p = tmp_path / "part.csv"
    pd.DataFrame({"text": ["a", "b"], "IsToxic": [1, 0]}).to_csv(p, index=False)
    with pytest.raises(DataError, match="'IsRude' matches no column") as exc:
        load_labelled(p, label_cols=["IsToxic", "IsRude"], label_names=["IsToxic", "IsRude"])
    assert not isinstance(exc.value, MissingColumnError)
    p.write_text("text\na\nb\n")
    with pytest.raises(MissingColumnError):
        load_labelled(p, label_cols=["IsToxic", "IsRude"], label_names=["IsToxic", "IsRude"])
