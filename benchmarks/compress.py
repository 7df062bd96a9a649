"""The compressed export against torch and int8, for one run: bytes, ratio, ms/text, test metric.

All three predictors load in one process and predict the same texts (the run's test split,
or its first --n) in alternating order for --rounds rounds; ms/text is the median, so the noise
of a shared machine hits all three alike. The test metric is computed here on the whole test
split with each backend. With --oov FILE (a text file, one text per line, e.g. texts of another
data set), it also reports what the pruned vocabulary does to text unlike the training data:
unknown-token share before/after pruning, token count change, and how often the compressed model
agrees with torch.

Usage: python benchmarks/compress.py RUN [--n 400] [--rounds 5] [--oov FILE] [--json OUT]
(run `textclf export RUN --compress` first)
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--n", type=int, default=400, help="test texts timed (all are scored)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--oov", help="file of texts unlike the training data, one per line")
    ap.add_argument("--json", help="write the figures here as JSON")
    args = ap.parse_args()

    from textclf.inference import compress
    from textclf.inference.onnx import _score, _test_split
    from textclf.inference.predictor import Predictor
    from textclf.runs import model_dir_of

    model_dir = model_dir_of(args.run)
    onnx_dir = model_dir / "onnx"
    export = json.loads((onnx_dir / "export.json").read_text())
    texts, pairs, truth = _test_split(model_dir)
    preds = {name: Predictor.load(model_dir, backend=b) for name, b in
             (("torch", "torch"), ("int8", "onnx-int8"), ("compressed", "compressed"))}
    sizes = {"torch": (model_dir / "model.safetensors").stat().st_size,
             "int8": (onnx_dir / "model.int8.onnx").stat().st_size,
             "compressed": export["compressed"]["bytes"]}
    n = min(args.n, len(texts))
    tt, tp = texts[:n], (pairs[:n] if pairs else None)
    times = {k: [] for k in preds}
    names = list(preds)
    for r in range(args.rounds):
        for k in (names if r % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            preds[k].predict_proba(tt, tp)
            times[k].append(time.perf_counter() - start)
    ms = {k: 1000 * float(np.median(v)) / n for k, v in times.items()}
    primary = preds["torch"].labels.primary_metric
    scores = {k: _score(p, texts, pairs, truth) for k, p in preds.items()}
    key = primary if primary in scores["torch"] else "macro_f1"
    out = {"run": str(args.run), "test_texts": len(texts), "timed_texts": n, "rounds": args.rounds,
           "primary_metric": key, "models": {}}
    print(f"{args.run}: {len(texts)} test texts ({n} timed, median of {args.rounds} alternating rounds)")
    print(f"| model | bytes | ratio to fp32 safetensors | ms/text | time vs int8 | test {key} | vs torch (points) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for k in names:
        m = scores[k][key]
        out["models"][k] = {"bytes": sizes[k], "ratio": sizes["torch"] / sizes[k], "ms_per_text": ms[k],
                            "time_vs_int8": ms[k] / ms["int8"], "test": scores[k]}
        print(f"| {k} | {sizes[k]:,} | {sizes['torch'] / sizes[k]:.2f}x | {ms[k]:.2f} | "
              f"{ms[k] / ms['int8']:.2f} | {m:.4f} | {100 * (m - scores['torch'][key]):+.2f} |")
    if args.oov:
        lines = [x.strip() for x in Path(args.oov).read_text(encoding="utf-8").splitlines() if x.strip()]
        other = pairs and list(reversed(lines))   # pair models: pair the texts among themselves
        from textclf.models.base import load_tokenizer
        u = compress.unknown_share(load_tokenizer(str(model_dir)), preds["compressed"].tokenizer,
                                   lines, other or None)
        a = preds["torch"].predict_proba(lines, other or None)
        b = preds["compressed"].predict_proba(lines, other or None)
        q = preds["int8"].predict_proba(lines, other or None)
        agree = float((a.argmax(1) == b.argmax(1)).mean())
        out["oov"] = {**u, "agreement_with_torch": agree,
                      "int8_agreement_with_torch": float((a.argmax(1) == q.argmax(1)).mean()),
                      "max_abs_prob_diff": float(np.abs(a - b).max()),
                      "mean_abs_prob_diff": float(np.abs(a - b).mean()),
                      "int8_mean_abs_prob_diff": float(np.abs(a - q).mean())}
        print(f"{Path(args.oov).name}: {len(lines)} texts, tokens {100 * u['token_count_change']:+.1f}% after "
              f"pruning, unknown {100 * u['unknown_share_full']:.3f}% -> {100 * u['unknown_share_pruned']:.3f}%, "
              f"{u['texts_tokenised_differently']} texts tokenised differently; compressed agrees with "
              f"torch on {100 * agree:.1f}% (mean |prob diff| {out['oov']['mean_abs_prob_diff']:.4f}); int8 on "
              f"{100 * out['oov']['int8_agreement_with_torch']:.1f}% ({out['oov']['int8_mean_abs_prob_diff']:.4f})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
