"""`textclf export --compress`: a model a seventh of its fp32 size for the CPU.

Three steps, each done by the library that does it; this module is the glue:

1. Vocabulary pruning (WordPiece tokenizers) to `size` tokens: always the special tokens, every
   single character and every `##` + single character (so an unseen word still splits into short
   pieces instead of falling to [UNK]); then, while there is room, the tokens the run's training
   and validation texts use at least twice (most used first), the first `frequent` entries of the
   vocabulary, the training tokens used once, and the rest of the vocabulary in its own order,
   which for BERT's WordPiece vocabularies is by frequency in the pre-training corpus ("the",
   "of", "and", "##s", ...). The rest is dropped. The tokenizer is rebuilt with the `tokenizers` library (a new WordPiece
   vocab with ids 0..n-1 in the old order, special-token ids remapped) and the embedding rows are
   gathered in the same order, so a text whose tokens are all kept gets the same logits.
   WordPiece matching is greedy longest-prefix, so every training text tokenises as before.
2. Quantization with onnxruntime: the word-embedding Gather to 4 bits (`MatMulNBitsQuantizer`,
   GatherBlockQuantized, symmetric blocks) and every MatMul to int8 (`quantize_dynamic`, the int8
   export's kernels, so prediction is as fast). 4-bit MatMul (MatMulNBits) was measured about 2x
   slower than int8 on the reference CPU, so it is not used.
3. Position embeddings cut to the model's max length (no input is ever longer).

Files: <model dir>/onnx/model.compressed.onnx and onnx/tokenizer.compressed/ (tokenizer.json).
"""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

from textclf.errors import ModelError, TextclfError

VOCAB_SIZE = 7400    # tokens kept: the default model's compressed files are then 1/7.06 of fp32
FREQUENT = 1000      # vocabulary entries ranked right after the training tokens seen twice
EMBEDDING_BITS = 4
EMBEDDING_BLOCK = 64  # values per quantization block (one fp32 scale each)


# ---- 1) the vocabulary ---------------------------------------------------------------------

def _wordpiece(tokenizer) -> dict:
    """The tokenizer's JSON (the `tokenizers` serialisation), checked to be WordPiece."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ModelError("--compress needs a fast (tokenizers) tokenizer; this model's has none.")
    spec = json.loads(backend.to_str())
    kind = spec.get("model", {}).get("type")
    if kind != "WordPiece":
        raise ModelError(f"--compress prunes WordPiece vocabularies (BERT-style models); this "
                         f"model's tokenizer is {kind}. Use --quantize int8 instead.")
    return spec


def _special_ids(tokenizer, spec: dict) -> set[int]:
    ids = {t["id"] for t in spec.get("added_tokens", [])}
    ids.update(i for i in tokenizer.all_special_ids if i is not None)
    return ids


def token_counts(tokenizer, texts: list[str], pairs: list[str] | None = None) -> Counter:
    """How often each token id occurs in the texts (and their second texts), untruncated."""
    counts: Counter = Counter()
    for column in (texts, pairs or []):
        if column:
            for ids in tokenizer(list(column), add_special_tokens=False, verbose=False)["input_ids"]:
                counts.update(ids)
    return counts


def kept_ids(tokenizer, texts: list[str], pairs: list[str] | None = None, *,
             size: int = VOCAB_SIZE, frequent: int = FREQUENT) -> list[int]:
    """The token ids the pruned vocabulary keeps, ascending: the special tokens and every
    character and ##character, then, until `size` tokens are kept, in this order: the training
    tokens seen at least twice (most frequent first), the first `frequent` entries of the
    vocabulary, the training tokens seen once, and the rest of the vocabulary in its order
    (for BERT's WordPiece vocabulary, by frequency in its pre-training corpus)."""
    spec = _wordpiece(tokenizer)
    vocab: dict[str, int] = spec["model"]["vocab"]
    prefix = spec["model"].get("continuing_subword_prefix", "##")
    keep = _special_ids(tokenizer, spec)
    entries = []
    for token, i in vocab.items():
        bare = token[len(prefix):] if token.startswith(prefix) else token
        if len(bare) == 1:
            keep.add(i)                      # characters: x and ##x
        elif not (token.startswith("[") and token.endswith("]")):   # not [unused12]
            entries.append(i)
    entries.sort()
    counts = token_counts(tokenizer, texts, pairs)
    ranked = sorted(counts, key=lambda i: (-counts[i], i))
    order = ([i for i in ranked if counts[i] >= 2] + entries[:frequent]
             + [i for i in ranked if counts[i] == 1] + entries[frequent:])
    for i in order:
        if len(keep) >= size:
            break
        keep.add(i)
    return sorted(keep)


def pruned_tokenizer(tokenizer, kept: list[int]):
    """A tokenizer of the same class whose WordPiece vocab holds only `kept` (new id = rank in
    `kept`), built by editing the tokenizers JSON; returns (tokenizer, its JSON string)."""
    from tokenizers import Tokenizer

    spec = _wordpiece(tokenizer)
    new_id = {old: new for new, old in enumerate(kept)}
    vocab = spec["model"]["vocab"]
    spec["model"]["vocab"] = {t: new_id[i] for t, i in sorted(vocab.items(), key=lambda kv: kv[1])
                              if i in new_id}
    if spec["model"].get("unk_token") not in spec["model"]["vocab"]:
        raise ModelError("The tokenizer's unknown token is not in its vocabulary; cannot prune it.")
    for t in spec.get("added_tokens", []):
        t["id"] = new_id[t["id"]]

    def remap(node):   # post-processor special-token ids, wherever they sit
        if isinstance(node, dict):
            if "ids" in node and isinstance(node["ids"], list):
                node["ids"] = [new_id[i] for i in node["ids"]]
            for key in ("sep", "cls"):   # BertProcessing / RobertaProcessing: [token, id]
                if isinstance(node.get(key), list) and len(node[key]) == 2:
                    node[key] = [node[key][0], new_id[node[key][1]]]
            for v in node.values():
                remap(v)
        elif isinstance(node, list):
            for v in node:
                remap(v)
    remap(spec.get("post_processor"))
    if spec.get("padding"):
        spec["padding"]["pad_id"] = new_id[spec["padding"]["pad_id"]]
    text = json.dumps(spec, ensure_ascii=False, separators=(",", ":"))
    Tokenizer.from_str(text)   # it parses back
    return text


def save_pruned_tokenizer(tokenizer, kept: list[int], out: Path):
    """The pruned tokenizer as a tokenizer dir (tokenizer.json + tokenizer_config.json); loaded
    back with the model's own tokenizer class."""
    from textclf.inference.backends import load_pruned_tokenizer

    text = pruned_tokenizer(tokenizer, kept)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out))
    for extra in out.iterdir():   # what save_pretrained wrote besides these two, if anything
        if extra.name not in ("tokenizer.json", "tokenizer_config.json"):
            extra.unlink() if extra.is_file() else shutil.rmtree(extra)
    (out / "tokenizer.json").write_text(text, encoding="utf-8")
    loaded = load_pruned_tokenizer(out)
    if len(loaded.get_vocab()) != len(kept):
        raise ModelError(f"The pruned tokenizer in {out} did not load with its own vocabulary.")
    return loaded


def unknown_share(full, pruned, texts: list[str], pairs: list[str] | None = None) -> dict:
    """What pruning does to `texts`: tokens with the full and the pruned vocab, how many are the
    unknown token in each, and how many texts tokenise differently."""
    def run(tok):
        out = []
        for column in (texts, pairs or []):
            if column:
                out += [tok.convert_ids_to_tokens(ids) for ids in
                        tok(list(column), add_special_tokens=False, verbose=False)["input_ids"]]
        return out
    a, b = run(full), run(pruned)
    n_a, n_b = sum(map(len, a)), sum(map(len, b))
    u_a = sum(t == full.unk_token for toks in a for t in toks)
    u_b = sum(t == pruned.unk_token for toks in b for t in toks)
    return {"texts": len(texts), "tokens_full": n_a, "tokens_pruned": n_b,
            "token_count_change": round(n_b / n_a - 1, 4) if n_a else 0.0,
            "unknown_full": u_a, "unknown_pruned": u_b,
            "unknown_share_full": round(u_a / n_a, 6) if n_a else 0.0,
            "unknown_share_pruned": round(u_b / n_b, 6) if n_b else 0.0,
            "texts_tokenised_differently": sum(x != y for x, y in zip(a, b))}


def prune_embeddings(model, kept: list[int], max_positions: int | None = None) -> None:
    """In place: the input-embedding rows of `kept`, in that order (and the first max_positions
    position embeddings, where the model has absolute ones)."""
    import torch

    emb = model.get_input_embeddings()
    idx = torch.as_tensor(kept, dtype=torch.long)
    new = torch.nn.Embedding(len(kept), emb.embedding_dim, padding_idx=None)
    new.weight.data = emb.weight.data[idx].clone()
    model.set_input_embeddings(new)
    model.config.vocab_size = len(kept)
    base = getattr(model, model.base_model_prefix, model)
    pos = getattr(getattr(base, "embeddings", None), "position_embeddings", None)
    if max_positions and isinstance(pos, torch.nn.Embedding) and pos.num_embeddings > max_positions:
        cut = torch.nn.Embedding(max_positions, pos.embedding_dim)
        cut.weight.data = pos.weight.data[:max_positions].clone()
        base.embeddings.position_embeddings = cut
        model.config.max_position_embeddings = max_positions


# ---- 2) quantization -----------------------------------------------------------------------

def quantize(fp32: Path, out: Path, *, embedding_bits: int = EMBEDDING_BITS,
             block: int = EMBEDDING_BLOCK, symmetric: bool = True) -> None:
    """Word-embedding Gather to `embedding_bits` (onnxruntime's MatMulNBitsQuantizer ->
    GatherBlockQuantized), then MatMuls and the other embedding Gathers to int8 (quantize_dynamic).
    embedding_bits=8: quantize_dynamic alone (int8 embeddings, as the int8 export)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    if embedding_bits == 8:
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)
        return
    model = onnx.load(str(fp32))
    inits = {i.name: i for i in model.graph.initializer}
    gathers = [n for n in model.graph.node if n.op_type == "Gather" and n.input[0] in inits]
    if not gathers:
        raise ModelError(f"{fp32} has no embedding Gather to quantize.")
    word = max(gathers, key=lambda n: inits[n.input[0]].dims[0])   # the largest table
    others = [n.name for n in gathers if n is not word]
    stage = out.with_name(out.stem + ".stage.onnx")
    # the quantizers log every node at INFO, and warn that they raise the opset to 21 for int4
    # (the model is checked right after: it loads and its logits are compared with torch's)
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        q = MatMulNBitsQuantizer(model, bits=embedding_bits, block_size=block, is_symmetric=symmetric,
                                 op_types_to_quantize=("Gather",), nodes_to_exclude=others)
        q.process()
        q.model.save_model_to_file(str(stage), use_external_data_format=False)
        quantize_dynamic(str(stage), str(out), weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        logging.getLogger().setLevel(level)
        stage.unlink(missing_ok=True)


# ---- the data the vocabulary comes from -------------------------------------------------------

def training_texts(model_dir: Path) -> tuple[list[str], list[str] | None, str]:
    """The texts (and second texts) of the run's train and validation splits, read again from the
    files named in the run's config.yaml; (texts, pairs, where from)."""
    from textclf.config import TrainConfig
    from textclf.data.prepare import prepare

    run = model_dir.parent
    if not (run / "config.yaml").exists():
        raise ModelError(f"--compress chooses the vocabulary from the run's training data, and "
                         f"{model_dir} is not inside a run dir (no config.yaml beside it); export "
                         "the run dir that textclf train wrote.")
    cfg = TrainConfig.from_yaml(run / "config.yaml")
    try:
        data = prepare(cfg.data, seed=cfg.seed, check_labels=False)
    except TextclfError as exc:
        raise ModelError(f"--compress needs the run's training data to choose the vocabulary, and "
                         f"it cannot be read again ({exc})") from None
    texts, pairs = [], []
    for name in ("train", "validation"):
        s = data.splits.get(name)
        if s is None:
            continue
        texts += s.texts
        pairs += s.pairs or []
    return texts, (pairs or None), str(cfg.data.train)
