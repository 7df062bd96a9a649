"""Which parameters train: everything, all but the embeddings, or only the head (+ last N layers)."""
from __future__ import annotations


def _encoder_layers(base):
    for attr in ("encoder.layer", "layer", "layers", "transformer.layer"):
        obj = base
        try:
            for part in attr.split("."):
                obj = getattr(obj, part)
            return list(obj)
        except AttributeError:
            continue
    return []


def apply_freezing(model, freeze: str = "none", unfreeze_last: int = 0) -> dict[str, int]:
    """Freeze per `freeze` (none|words|embeddings|base), then unfreeze the last N encoder layers.

    `freeze="words"` freezes the word embeddings only (position and token-type embeddings and
    the embedding LayerNorm train); "embeddings" freezes all of the embedding module.

    `freeze="base"` leaves the pooler (if any) and the classification head trainable, which is
    what the seed notebook 001 did. Returns trainable/total parameter counts.
    """
    base = getattr(model, model.base_model_prefix, None)
    if base is None:
        raise ValueError("model has no base model to freeze")
    if freeze == "words":
        for p in base.get_input_embeddings().parameters():
            p.requires_grad = False
    elif freeze == "embeddings":
        for p in base.embeddings.parameters():
            p.requires_grad = False
    elif freeze == "base":
        for name, p in base.named_parameters():
            p.requires_grad = name.startswith("pooler.")
    if unfreeze_last:
        for layer in _encoder_layers(base)[-unfreeze_last:]:
            for p in layer.parameters():
                p.requires_grad = True
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "total": total}
