from textclf.data.labels import LabelSpace
from textclf.models.base import load_classifier
from textclf.models.freezing import apply_freezing


def _trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_freeze_base_trains_only_pooler_and_head(tiny_model_dir):
    m = load_classifier(str(tiny_model_dir), labels=LabelSpace(("a", "b")))
    counts = apply_freezing(m, "base")
    names = _trainable(m)
    assert names and all(n.startswith(("bert.pooler", "classifier")) for n in names)
    assert any(n.startswith("bert.pooler") for n in names)
    assert counts["trainable"] < counts["total"] / 10


def test_freeze_embeddings_and_unfreeze_last(tiny_model_dir):
    m = load_classifier(str(tiny_model_dir), labels=LabelSpace(("a", "b")))
    apply_freezing(m, "embeddings")
    names = _trainable(m)
    assert not any("embeddings" in n for n in names) and any("encoder.layer.0" in n for n in names)
    m = load_classifier(str(tiny_model_dir), labels=LabelSpace(("a", "b")))
    apply_freezing(m, "base", unfreeze_last=1)
    names = _trainable(m)
    assert any("encoder.layer.1." in n for n in names)
    assert not any("encoder.layer.0." in n for n in names)


def test_freeze_words_leaves_position_and_token_type_embeddings_trainable(tiny_model_dir):
    m = load_classifier(str(tiny_model_dir), labels=LabelSpace(("a", "b")))
    apply_freezing(m, "words")
    names = _trainable(m)
    assert "bert.embeddings.word_embeddings.weight" not in names
    assert {"bert.embeddings.token_type_embeddings.weight", "bert.embeddings.position_embeddings.weight",
            "bert.embeddings.LayerNorm.weight"} <= names
