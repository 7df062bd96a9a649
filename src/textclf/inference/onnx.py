"""Export a model dir to ONNX (torch.onnx.export, dynamic batch and sequence axes) and quantize
it to int8 (onnxruntime.quantization.quantize_dynamic); the export checks itself.

Written into <model dir>/onnx/ atomically: model.onnx, model.int8.onnx and export.json with the
fp32-vs-torch logit difference, the int8-vs-fp32 test-split scores and the sizes on disk.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from textclf import runs
from textclf.inference.backends import ONNX_DIR, ONNX_FP32, ONNX_INT8, OnnxBackend, TorchBackend

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


def export(path: str | Path, *, quantize: bool = True, overwrite: bool = False, opset: int = 17,
           say=print) -> dict:
    import torch

    from textclf.inference.predictor import Predictor, batched_logits
    from textclf.model_settings import ModelSettings
    from textclf.models.base import load_classifier, load_tokenizer

    model_dir = runs.model_dir_of(path)
    out_dir = model_dir / ONNX_DIR
    model = load_classifier(str(model_dir))
    tokenizer = load_tokenizer(str(model_dir))
    pair = ModelSettings.of(model.config).text_pair
    enc = tokenizer(SAMPLES[:2], SAMPLES[2:] if pair else None, padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
    report: dict = {"opset": opset}
    with runs.atomic_dir(out_dir, overwrite=overwrite) as tmp:
        say("exporting to ONNX ...")
        start = time.perf_counter()
        torch.onnx.export(_logits_module(model), tuple(enc[n] for n in names), str(tmp / ONNX_FP32),
                          input_names=names, output_names=["logits"], dynamic_axes=axes,
                          opset_version=opset, dynamo=False)
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
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            say("quantizing to int8 ...")
            quantize_dynamic(str(tmp / ONNX_FP32), str(tmp / ONNX_INT8), weight_type=QuantType.QInt8)
            sizes["onnx_int8"] = (tmp / ONNX_INT8).stat().st_size
            int8 = batched_logits(OnnxBackend(tmp / ONNX_INT8), tokenizer, check_texts, **kw)
            report["int8_max_abs_logit_diff"] = float(np.abs(ref - int8).max())
        report["bytes"] = sizes
        if quantize:
            report["int8_smaller_than_safetensors"] = round(sizes["safetensors"] / sizes["onnx_int8"], 2)
        # 2) scores on the run's test split, fp32 vs int8
        split = _test_split(model_dir)
        if split is not None:
            say(f"scoring fp32 and int8 on the run's test split ({len(split[0])} texts) ...")
            base = Predictor(model.config, tokenizer, OnnxBackend(tmp / ONNX_FP32), model_dir)
            report["test_fp32"] = _score(base, *split)
            if quantize:
                q = Predictor(model.config, tokenizer, OnnxBackend(tmp / ONNX_INT8), model_dir)
                report["test_int8"] = _score(q, *split)
        runs.write_json(tmp / "export.json", report)
    return report
