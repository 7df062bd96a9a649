"""Prediction throughput: textclf (torch, ONNX fp32, ONNX int8) against transformers.pipeline.

One run, one model, the same texts (the first N messages of ../shared/data/sms_spam_uci). Each
variant runs in its own subprocess, so its peak RSS is its own:

  pipeline            pipeline("text-classification", model=dir)(texts)      as users call it
  pipeline bs=32      pipeline(...)(texts, batch_size=32)
  textclf torch       textclf.load(dir, backend="torch").predict(texts)
  textclf onnx fp32   ... backend="onnx-fp32"  (needs `textclf export`; done here if missing)
  textclf onnx int8   ... backend="onnx-int8"
  textclf compressed  ... backend="compressed"  (only where `textclf export --compress` was run)

Prints texts/s, ratios against both pipeline calls, accuracy against the SMS labels, peak RSS,
non-padding tokens/s, and useful GFLOP/s as a share of this machine's fp32 matmul peak (measured
here: best of several 1024-3072 square matmuls in torch and in onnxruntime; int8 can exceed it).

Usage: python benchmarks/predict_speed.py RUN_OR_MODEL_DIR [--n 5000] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

SMS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sms_spam_uci" / "SMSSpamCollection"
VARIANTS = ("pipeline", "pipeline bs=32", "textclf torch", "textclf onnx fp32", "textclf onnx int8",
            "textclf compressed")


def load_texts(n: int):
    from textclf.data.load import load_labelled
    d = load_labelled(SMS, no_header=True, columns=["label", "text"])
    return d.texts[:n], d.labels[:n]


def matmul_peak_gflops(tries: int = 10) -> dict:
    """Best fp32 GFLOP/s of square matmuls, in torch and in onnxruntime (the faster one is the
    peak used for the share column), with the threads each library uses by default."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper

    def best(fn, size):
        fn()
        top = 0.0
        for _ in range(tries):
            start = time.perf_counter()
            fn()
            top = max(top, 2 * size ** 3 / (time.perf_counter() - start) / 1e9)
        return top

    out = {"torch": 0.0, "onnxruntime": 0.0}
    for size in (1024, 2048, 3072):
        a, b = torch.randn(size, size), torch.randn(size, size)
        out["torch"] = max(out["torch"], best(lambda: a @ b, size))
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, [size, size]) for n in ("a", "b")],
            [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        feeds = {"a": a.numpy(), "b": b.numpy()}
        out["onnxruntime"] = max(out["onnxruntime"], best(lambda: sess.run(None, feeds), size))
    return out


def useful_flops(model_dir: Path, lengths: list[int]) -> float:
    """Forward FLOPs on the real (non-padding) tokens: 2 x non-embedding weights per token,
    plus attention scores and mixing (4 x layers x hidden x length^2 per text)."""
    from safetensors import safe_open
    cfg = json.loads((model_dir / "config.json").read_text())
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}
    # per-token weight matrices: the encoder layers (not embeddings, pooler or head: once per text)
    params = sum(s[0] * s[1] for k, s in shapes.items() if len(s) == 2 and ".layer." in k)
    hidden, layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    return sum(2 * params * n + 4 * layers * hidden * n * n for n in lengths)


def child(variant: str, model_dir: str, n: int, repeats: int) -> dict:
    """Runs in a subprocess: load, warm up, time the best of `repeats` full passes."""
    texts, labels = load_texts(n)
    if variant.startswith("pipeline"):
        from transformers import pipeline
        pipe = pipeline("text-classification", model=model_dir, device="cpu")
        kw = {"batch_size": 32} if variant.endswith("32") else {}
        pipe(texts[:8], **kw)

        def run():
            return [o["label"] for o in pipe(texts, **kw)]
    else:
        import textclf
        backend = {"textclf torch": "torch", "textclf onnx fp32": "onnx-fp32",
                   "textclf onnx int8": "onnx-int8", "textclf compressed": "compressed"}[variant]
        p = textclf.load(model_dir, backend=backend)

        def run():
            return [o["label"] for o in p.predict(texts)]
    best, preds = None, None
    for _ in range(repeats):
        start = time.perf_counter()
        preds = run()
        took = time.perf_counter() - start
        best = took if best is None else min(best, took)
    acc = sum(a == b for a, b in zip(preds, labels)) / len(labels)
    return {"seconds": best, "texts_per_s": len(texts) / best, "accuracy": acc,
            "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss it is not inherited
    from the parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.model, args.n, args.repeats)))
        return
    from textclf.runs import model_dir_of
    model_dir = model_dir_of(args.model)
    if not (model_dir / "onnx" / "model.int8.onnx").exists():
        from textclf.inference.onnx import export
        export(model_dir, overwrite=True)
    from transformers import AutoTokenizer
    texts, _ = load_texts(args.n)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    max_len = json.loads((model_dir / "config.json").read_text()).get("textclf", {}).get("max_length", 512)
    lengths = [len(ids) for ids in tok(texts, truncation=True, max_length=max_len)["input_ids"]]
    flops = useful_flops(model_dir, lengths)
    peaks = matmul_peak_gflops()
    peak = max(peaks.values())
    print(f"{len(texts)} SMS texts, {sum(lengths):,} real tokens (median {sorted(lengths)[len(lengths)//2]}); "
          f"fp32 matmul peak on this machine: {peak:.1f} GFLOP/s (best square matmul: torch "
          f"{peaks['torch']:.1f}, onnxruntime {peaks['onnxruntime']:.1f})")
    results = {}
    for v in VARIANTS:
        if v == "textclf compressed" and not (model_dir / "onnx" / "model.compressed.onnx").exists():
            continue
        out = subprocess.run([sys.executable, __file__, str(model_dir), "--n", str(args.n),
                              "--repeats", str(args.repeats), "--child", v],
                             capture_output=True, text=True, check=True)
        results[v] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  measured {v}: {results[v]['texts_per_s']:.0f} texts/s", flush=True)
    base, base32 = results["pipeline"]["texts_per_s"], results["pipeline bs=32"]["texts_per_s"]
    print()
    print(f"| variant | texts/s | vs pipeline | vs pipeline bs=32 | real tokens/s | useful GFLOP/s | "
          f"% of matmul peak | accuracy | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for v, r in results.items():
        gflops = flops / r["seconds"] / 1e9
        print(f"| {v} | {r['texts_per_s']:.0f} | {r['texts_per_s'] / base:.2f}x | "
              f"{r['texts_per_s'] / base32:.2f}x | {sum(lengths) / r['seconds']:,.0f} | {gflops:.1f} | "
              f"{100 * gflops / peak:.0f}% | {r['accuracy']:.4f} | {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
