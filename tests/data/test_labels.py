import pytest

from textclf.data.labels import LabelSpace, label_variants, normalize_labels
from textclf.errors import DataError


def test_names_sorted_naturally_and_minority_is_positive():
    space = LabelSpace.from_values(["ham"] * 5 + ["spam"] * 2)
    assert space.names == ("ham", "spam") and space.positive == "spam"
    assert space.task == "binary" and space.primary_metric == "f1_positive"
    assert LabelSpace.from_values(["10", "2", "1", "2"]).names == ("1", "2", "10")


def test_balanced_binary_takes_the_positive_class_from_its_names():
    # 697 against 703: the minority rule would call "negative" the positive class
    space = LabelSpace.from_values(["negative"] * 697 + ["positive"] * 703)
    assert space.positive == "positive" and space.primary_metric == "macro_f1"
    assert LabelSpace.from_values(["phishing"] * 10 + ["legitimate"] * 9).positive == "phishing"
    assert LabelSpace.from_values(["1"] * 10 + ["0"] * 9).positive == "1"
    assert LabelSpace.from_values(["fresh"] * 10 + ["rotten"] * 9).positive == "rotten"   # minority
    # imbalanced data keeps the minority rule, whatever the names
    assert LabelSpace.from_values(["positive"] * 10 + ["negative"] * 3).positive == "negative"


def test_multiclass_uses_macro_f1_and_no_positive():
    space = LabelSpace.from_values(["a", "b", "c", "a"])
    assert space.task == "multiclass" and space.positive is None
    assert space.primary_metric == "macro_f1"


def test_case_variants_are_reported_never_merged_silently():
    values = ["ham", "Spam", "spam", "spam", "smishing", "Smishing "]
    assert label_variants(values) == {"spam": ["Spam", "spam"], "smishing": ["Smishing ", "smishing"]}
    with pytest.raises(DataError, match="--normalize-labels"):
        LabelSpace.from_values(values)
    merged = normalize_labels(values)
    assert merged == ["ham", "spam", "spam", "spam", "smishing", "smishing"] or \
        merged == ["ham", "spam", "spam", "spam", "Smishing ", "Smishing "]
    assert len(set(merged)) == 3


def test_single_class_is_an_error():
    with pytest.raises(DataError, match="single class"):
        LabelSpace.from_values(["a", "a"])


def test_unknown_label_at_encode_names_it():
    space = LabelSpace.from_values(["a", "b"])
    assert space.encode(["b", "a"]) == [1, 0]
    with pytest.raises(DataError, match="labels the model does not know \\('c'\\)"):
        space.encode(["a", "c"])


def test_positive_label_must_exist():
    with pytest.raises(DataError, match="is not a label"):
        LabelSpace.from_values(["a", "b"], positive="x")


def test_balanced_binary_chooses_checkpoints_by_macro_f1():
    imbalanced = LabelSpace.from_values(["ham"] * 80 + ["spam"] * 20)
    assert imbalanced.positive == "spam" and imbalanced.primary_metric == "f1_positive"
    balanced = LabelSpace.from_values(["cat"] * 52 + ["dog"] * 48)
    # an all-"dog" model would score F1(dog) 0.65 here; macro-F1 cannot be gamed that way
    assert balanced.positive == "dog" and balanced.primary_metric == "macro_f1"
    chosen = LabelSpace.from_values(["yes"] * 52 + ["no"] * 48, positive="yes")
    assert chosen.primary_metric == "f1_positive"       # the user said which class matters
    assert LabelSpace.from_values(list("aabbcc")).primary_metric == "macro_f1"


def test_primary_metric_round_trips_through_the_model_config():
    from types import SimpleNamespace

    for space in (LabelSpace.from_values(["a"] * 5 + ["b"] * 5), LabelSpace.from_values(["a"] * 9 + ["b"] * 3)):
        config = SimpleNamespace(id2label=space.id2label,
                                 textclf={"positive_label": space.positive, "primary_metric": space.primary_metric})
        assert LabelSpace.from_config(config).primary_metric == space.primary_metric
