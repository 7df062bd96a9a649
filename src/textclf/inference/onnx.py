"""Export a model dir to ONNX (torch.onnx.export, dynamic batch and sequence axes) and quantize
it to int8 (onnxruntime.quantization.quantize_dynamic); the export checks itself.

Written into <model dir>/onnx/ atomically: model.onnx, model.int8.onnx and export.json with the
fp32-vs-torch logit difference, the int8-vs-fp32 test-split scores and the sizes on disk. With
compress=True also model.compressed.onnx and its pruned tokenizer (inference/compress.py), checked
against torch the same way, with its speed against int8 and the unknown-token share of the test
split under "compressed".
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from textclf import runs
from textclf.inference.backends import (COMPRESSED_TOKENIZER, ONNX_COMPRESSED, ONNX_DIR, ONNX_FP32,
                                        ONNX_INT8, OnnxBackend, TorchBackend)

SAMPLES = ["ok", "see you at the station at seven", "WINNER!! You have been selected to receive a "
           "£900 prize reward! To claim call 09061701461. Claim code KL341. Valid 12 hours only.",
           "I'll be late, the bus broke down " * 8]


def _logits_module(model):
    import torch

    class Logits(torch.nn.Module):   # a plain tensor out, not a ModelOutput
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            kw = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.m(input_ids=input_ids, attention_mask=attention_mask, **kw).logits
    return Logits(model).eval()


def _test_split(model_dir: Path):
    """(texts, pairs, true labels) of the run this model dir belongs to, if it is in a run dir."""
    import pandas as pd

    csv = model_dir.parent / "test_predictions.csv"
    if not csv.exists():
        return None
    df = pd.read_csv(csv, keep_default_na=False, dtype=str)
    pairs = df["text_pair"].tolist() if "text_pair" in df.columns else None
    return df["text"].tolist(), pairs, df["true_label"].tolist()


def _score(predictor, texts, pairs, truth) -> dict:
    from textclf.evaluation.metrics import score

    space = predictor.labels
    if space.multi_label:
        truth = [tuple(t.split(",")) if t else () for t in truth]
    y = np.asarray(space.encode(truth, source="the run's test split"))
    m = score(y, predictor.predict_proba(texts, pairs), space, predictor.thresholds)
    return {k: m[k] for k in ("accuracy", "subset_accuracy", "micro_f1", "macro_f1", "f1_positive")
            if k in m}


def _to_onnx(model, tokenizer, pair: bool, path: Path, opset: int) -> None:
    import torch

    enc = tokenizer(SAMPLES[:2], SAMPLES[2:] if pair else None, padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
    torch.onnx.export(_logits_module(model), tuple(enc[n] for n in names), str(path),
                      input_names=names, output_names=["logits"], dynamic_axes=axes,
                      opset_version=opset, dynamo=False)


def export(path: str | Path, *, quantize: bool = True, compress: bool = False,
           overwrite: bool = False, opset: int = 17, say=print, **compress_options) -> dict:
    from textclf.inference.predictor import Predictor, batched_logits
    from textclf.model_settings import ModelSettings
    from textclf.models.base import load_classifier, load_tokenizer

    model_dir = runs.model_dir_of(path)
    out_dir = model_dir / ONNX_DIR
    model = load_classifier(str(model_dir))
    tokenizer = load_tokenizer(str(model_dir))
    pair = ModelSettings.of(model.config).text_pair
    if compress:   # its errors (no run dir, no training data, not WordPiece) before any work
        from textclf.inference import compress as shrink
        shrink._wordpiece(tokenizer)
        train_texts = shrink.training_texts(model_dir)
    report: dict = {"opset": opset}
    with runs.atomic_dir(out_dir, overwrite=overwrite) as tmp:
        say("exporting to ONNX ...")
        start = time.perf_counter()
        _to_onnx(model, tokenizer, pair, tmp / ONNX_FP32, opset)
        report["export_seconds"] = round(time.perf_counter() - start, 2)
        # 1) fp32 ONNX against torch, on texts of very different lengths, batched and padded
        check_texts = SAMPLES * 2
        check_pairs = list(reversed(check_texts)) if pair else None
        kw = dict(max_length=256, pairs=check_pairs)
        ref = batched_logits(TorchBackend(model), tokenizer, check_texts, **kw)
        fp32 = batched_logits(OnnxBackend(tmp / ONNX_FP32), tokenizer, check_texts, **kw)
        report["fp32_max_abs_logit_diff"] = float(np.abs(ref - fp32).max())
        sizes = {"safetensors": (model_dir / "model.safetensors").stat().st_size,
                 "onnx_fp32": (tmp / ONNX_FP32).stat().st_size}
        if quantize or compress:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            say("quantizing to int8 ...")
            quantize_dynamic(str(tmp / ONNX_FP32), str(tmp / ONNX_INT8), weight_type=QuantType.QInt8)
            sizes["onnx_int8"] = (tmp / ONNX_INT8).stat().st_size
            int8 = batched_logits(OnnxBackend(tmp / ONNX_INT8), tokenizer, check_texts, **kw)
            report["int8_max_abs_logit_diff"] = float(np.abs(ref - int8).max())
        report["bytes"] = sizes
        if quantize or compress:
            report["int8_smaller_than_safetensors"] = round(sizes["safetensors"] / sizes["onnx_int8"], 2)
        # 2) scores on the run's test split, fp32 vs int8
        split = _test_split(model_dir)
        if split is not None:
            say(f"scoring fp32 and int8 on the run's test split ({len(split[0])} texts) ...")
            base = Predictor(model.config, tokenizer, OnnxBackend(tmp / ONNX_FP32), model_dir)
            report["test_fp32"] = _score(base, *split)
            if quantize or compress:
                q = Predictor(model.config, tokenizer, OnnxBackend(tmp / ONNX_INT8), model_dir)
                report["test_int8"] = _score(q, *split)
        if compress:
            report["compressed"] = _compress(model_dir, model, tmp, tokenizer, pair, train_texts, split,
                                             check=(check_texts, kw), opset=opset,
                                             test_int8=report.get("test_int8"), say=say,
                                             **compress_options)
            sizes["compressed"] = report["compressed"]["bytes"]
            report["compressed_smaller_than_safetensors"] = report["compressed"]["smaller_than_safetensors"]
        runs.write_json(tmp / "export.json", report)
    return report


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _compress(model_dir: Path, full_model, tmp: Path, tokenizer, pair: bool, train_texts, split, *,
              check, opset: int, test_int8, say, vocab_size: int | None = None,
              speed_texts: int = 400) -> dict:
    """Prune the vocabulary, export, quantize (inference/compress.py) and check the result
    against `full_model`, the torch model as loaded (a second copy is the one pruned)."""
    from textclf.inference import compress as shrink
    from textclf.inference.predictor import Predictor, batched_logits
    from textclf.model_settings import ModelSettings
    from textclf.models.base import load_classifier

    size = vocab_size or shrink.VOCAB_SIZE
    texts, pairs, source = train_texts
    say(f"pruning the vocabulary to {size:,} tokens, chosen from {len(texts)} training texts ...")
    kept = shrink.kept_ids(tokenizer, texts, pairs, size=size)
    small_tok = shrink.save_pruned_tokenizer(tokenizer, kept, tmp / COMPRESSED_TOKENIZER)
    model = load_classifier(str(model_dir))
    settings = ModelSettings.of(model.config)
    max_length = settings.max_length or min(tokenizer.model_max_length, 512)
    shrink.prune_embeddings(model, kept, max_positions=max_length
                            if model.config.model_type == "bert" else None)
    out: dict = {"vocabulary": {"kept": len(kept), "of": len(tokenizer.get_vocab()),
                                "rule": f"up to {size:,} tokens: special tokens and every character "
                                        f"and ##character; then the training and validation "
                                        f"texts' tokens used twice or more, the vocabulary's "
                                        f"first {shrink.FREQUENT:,} entries, the training tokens "
                                        f"used once, and the rest of the vocabulary in its order",
                                "training_texts": len(texts), "from": source},
                 "embedding_bits": shrink.EMBEDDING_BITS, "embedding_block": shrink.EMBEDDING_BLOCK,
                 "matmul": "int8 (dynamic)", "positions": model.config.max_position_embeddings}
    say(f"exporting the pruned model ({len(kept)} of {out['vocabulary']['of']} tokens) ...")
    staged = tmp / "model.compressed.fp32.onnx"
    _to_onnx(model, small_tok, pair, staged, opset)
    # the remap round-trips: training texts whose tokens are all kept give the full model's logits
    kept_set = set(kept)
    def all_kept(column):
        return [kept_set.issuperset(ids) for ids in
                tokenizer(column[:2000], add_special_tokens=False, verbose=False)["input_ids"]]
    ok = all_kept(texts)
    if pairs:
        ok = [a and b for a, b in zip(ok, all_kept(pairs))]
    whole = [i for i, good in enumerate(ok) if good][:64]
    if whole:
        sel = [texts[i] for i in whole]
        sel_pairs = [pairs[i] for i in whole] if pairs else None
        a = batched_logits(TorchBackend(full_model), tokenizer, sel, max_length=max_length, pairs=sel_pairs)
        b = batched_logits(OnnxBackend(staged), small_tok, sel, max_length=max_length, pairs=sel_pairs)
        out["pruned_fp32_max_abs_logit_diff_on_kept_texts"] = float(np.abs(a - b).max())
        out["kept_texts_checked"] = len(whole)
    say(f"quantizing: {shrink.EMBEDDING_BITS}-bit embeddings, int8 weights ...")
    shrink.quantize(staged, tmp / ONNX_COMPRESSED)
    staged.unlink()
    texts_c, kw = check   # at the model's own max length: its positions end there
    kw = {**kw, "max_length": max_length}
    ref = batched_logits(TorchBackend(full_model), tokenizer, texts_c, **kw)
    got = batched_logits(OnnxBackend(tmp / ONNX_COMPRESSED), small_tok, texts_c, **kw)
    out["max_abs_logit_diff"] = float(np.abs(ref - got).max())
    onnx_bytes = (tmp / ONNX_COMPRESSED).stat().st_size
    tok_bytes = _dir_bytes(tmp / COMPRESSED_TOKENIZER)
    safetensors = (model_dir / "model.safetensors").stat().st_size
    out["bytes"] = onnx_bytes + tok_bytes
    out["bytes_onnx"], out["bytes_tokenizer"] = onnx_bytes, tok_bytes
    out["smaller_than_safetensors"] = round(safetensors / out["bytes"], 2)
    if split is not None:
        test_texts, test_pairs, truth = split
        say(f"scoring torch and the compressed model on the run's test split ({len(test_texts)} texts) ...")
        out["test_unknown"] = shrink.unknown_share(tokenizer, small_tok, test_texts, test_pairs)
        torch_p = Predictor(full_model.config, tokenizer, TorchBackend(full_model), model_dir)
        small = Predictor(full_model.config, small_tok, OnnxBackend(tmp / ONNX_COMPRESSED), model_dir)
        out["test_torch"] = _score(torch_p, *split)
        out["test"] = _score(small, *split)
        out["delta_points_vs_torch"] = {k: round(100 * (v - out["test_torch"][k]), 2)
                                        for k, v in out["test"].items()}
        if test_int8:
            out["delta_points_vs_int8"] = {k: round(100 * (v - test_int8[k]), 2)
                                           for k, v in out["test"].items() if k in test_int8}
        out["primary_metric"] = small.labels.primary_metric
        int8 = Predictor(full_model.config, tokenizer, OnnxBackend(tmp / ONNX_INT8), model_dir)
        n = min(speed_texts, len(test_texts))
        say(f"timing int8 and compressed on {n} test texts ...")
        out["speed"] = _speed({"int8": int8, "compressed": small}, test_texts[:n],
                              test_pairs[:n] if test_pairs else None)
    return out


def _speed(predictors: dict, texts, pairs, rounds: int = 3) -> dict:
    """ms per text of each predictor, alternating their order each round, medians."""
    times: dict = {k: [] for k in predictors}
    names = list(predictors)
    for r in range(rounds):
        for k in (names if r % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            predictors[k].predict_proba(texts, pairs)
            times[k].append(time.perf_counter() - start)
    ms = {k: round(1000 * float(np.median(v)) / len(texts), 3) for k, v in times.items()}
    return {"texts": len(texts), "rounds": rounds, "ms_per_text": ms,
            "compressed_time_vs_int8": round(ms["compressed"] / ms["int8"], 3)}
