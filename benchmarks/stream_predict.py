"""Streaming file prediction: peak memory does not grow with the file, throughput matches the
in-memory Predictor.

Makes two TSV files (label, text; with a header) by repeating the SMS messages of
../shared/data/sms_spam_uci, a small one (--small rows) and a big one (--big rows), then runs in
separate subprocesses, so each peak RSS (ru_maxrss from wait4) is its own:

  in-memory, small   Predictor.load(...).predict_proba(all texts)    the whole file in memory
  streaming, small   textclf.inference.stream.predict_stream(...)    what `predict --input` does
  streaming, big     the same on the big file

texts/s counts prediction time only (the model load is excluded in both paths); the streaming
figure includes reading and writing the chunks. Prints one table and the two comparisons.

Usage: python benchmarks/stream_predict.py RUN_OR_MODEL_DIR [--small 10000] [--big 1000000]
       [--backend onnx] [--workdir DIR] [--sms FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sms_spam_uci" / "SMSSpamCollection"
SRC = Path(__file__).resolve().parents[1] / "src"

IN_MEMORY = """
import json, sys, time
from textclf.data.load import read_table
from textclf.inference.predictor import Predictor
p = Predictor.load(sys.argv[1], backend=sys.argv[3])
texts = read_table(sys.argv[2])["text"].tolist()
start = time.perf_counter()
probs = p.predict_proba(texts)
print(json.dumps({"rows": len(probs), "seconds": time.perf_counter() - start}))
"""

STREAMING = """
import json, sys
from textclf.inference.stream import predict_stream
r = predict_stream(sys.argv[1], sys.argv[2], sys.argv[4], backend=sys.argv[3], overwrite=True,
                   chunk_rows=int(sys.argv[5]))
print(json.dumps({"rows": r.rows, "seconds": r.seconds}))
"""


def make_file(path: Path, rows: int, sms: Path = SMS) -> Path:
    """`rows` lines of label<TAB>text, the SMS messages over and over, with a header."""
    lines = [ln for ln in sms.read_text(encoding="utf-8").splitlines() if ln.strip()]
    with open(path, "w", encoding="utf-8") as f:
        f.write("label\ttext\n")
        for i in range(rows):
            f.write(lines[i % len(lines)] + "\n")
    return path


def measure(code: str, *args) -> dict:
    """Run `code` in a fresh interpreter; its JSON line plus wall time and peak RSS (MB)."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                            env=env, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"benchmark step failed ({status}): {args}")
    result = json.loads(out.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - start
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["texts_per_s"] = result["rows"] / result["seconds"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=1_000_000)
    ap.add_argument("--backend", default="onnx", help="onnx = the int8 export (default)")
    ap.add_argument("--chunk-rows", type=int, default=4096)
    ap.add_argument("--workdir", default=None, help="Where the files go (default: a temp dir)")
    ap.add_argument("--sms", type=Path, default=SMS, help="The SMSSpamCollection file")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="textclf-stream-"))
    work.mkdir(parents=True, exist_ok=True)
    small, big = (make_file(work / "small.tsv", args.small, args.sms),
                  make_file(work / "big.tsv", args.big, args.sms))
    print(f"files in {work}: {small.stat().st_size / 1e6:.1f} MB, {big.stat().st_size / 1e6:.1f} MB",
          flush=True)
    results = {}
    results["in-memory"] = measure(IN_MEMORY, args.model, small, args.backend)
    print(f"  in-memory, {args.small:,} rows: {results['in-memory']['texts_per_s']:.0f} texts/s", flush=True)
    results["streaming"] = measure(STREAMING, args.model, small, args.backend, work / "small.out.csv",
                                   args.chunk_rows)
    print(f"  streaming, {args.small:,} rows: {results['streaming']['texts_per_s']:.0f} texts/s", flush=True)
    results["streaming big"] = measure(STREAMING, args.model, big, args.backend, work / "big.out.csv",
                                       args.chunk_rows)
    print(f"\nbackend {args.backend}, chunks of {args.chunk_rows} rows, output CSV\n")
    print("| path | rows | texts/s | prediction s | wall s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rows in (("in-memory", args.small), ("streaming", args.small), ("streaming big", args.big)):
        r = results[name]
        print(f"| {name.replace(' big', '')} | {rows:,} | {r['texts_per_s']:.0f} | {r['seconds']:.1f} | "
              f"{r['wall']:.1f} | {r['peak_rss_mb']:.0f} |")
    grow = results["streaming big"]["peak_rss_mb"] - results["streaming"]["peak_rss_mb"]
    ratio = results["streaming"]["texts_per_s"] / results["in-memory"]["texts_per_s"]
    print(f"\npeak RSS, streaming {args.big:,} rows - streaming {args.small:,} rows: {grow:+.0f} MB")
    print(f"throughput, streaming / in-memory on {args.small:,} rows: {ratio:.3f}")


if __name__ == "__main__":
    main()
