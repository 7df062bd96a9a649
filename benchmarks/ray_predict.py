"""Ray Data batch prediction on this machine: texts/s with 1 and 2 actors against the streaming
single-process path (`predict --input`), on the same Parquet file of SMS messages repeated to
--rows rows. Each run is a fresh subprocess; Ray starts a local cluster with --cpus CPUs.

texts/s for Ray counts from the start of the job (actors starting and loading the model
included) to the last file written; for streaming, the prediction loop (model load excluded),
so the comparison favours streaming by the actors' start-up.

Usage: python benchmarks/ray_predict.py RUN_OR_MODEL_DIR [--rows 20000] [--cpus 2] [--backend onnx]
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

STREAMING = """
import json, sys
from textclf.inference.stream import predict_stream
r = predict_stream(sys.argv[1], sys.argv[2], sys.argv[3], backend=sys.argv[4], overwrite=True,
                   progress=False)
print(json.dumps({"rows": r.rows, "seconds": r.seconds}))
"""

RAY = """
import json, sys
import ray
from textclf.inference.ray_predict import predict_ray
ray.init(num_cpus=int(sys.argv[6]), include_dashboard=False, log_to_driver=False, configure_logging=False)
r = predict_ray(sys.argv[1], sys.argv[2], sys.argv[3], backend=sys.argv[4], actors=int(sys.argv[5]),
                overwrite=True)
print(json.dumps({"rows": r.rows, "seconds": r.seconds, "cpus_per_actor": r.cpus_per_actor}))
"""


def run(code: str, *args) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True,
                         text=True)
    if out.returncode:
        raise SystemExit(f"failed: {args}\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["wall"] = time.perf_counter() - start
    r["texts_per_s"] = r["rows"] / r["seconds"]
    return r


def main() -> None:
    import pandas as pd

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--backend", default="onnx", help="onnx = the int8 export (default)")
    ap.add_argument("--sms", type=Path, default=SMS, help="The SMSSpamCollection file")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="textclf-ray-"))
    lines = [ln.split("\t", 1) for ln in args.sms.read_text(encoding="utf-8").splitlines() if "\t" in ln]
    texts = [lines[i % len(lines)][1] for i in range(args.rows)]
    src = work / "texts.parquet"
    pd.DataFrame({"id": range(args.rows), "text": texts}).to_parquet(src, index=False)
    results = {"streaming, 1 process": run(STREAMING, args.model, src, work / "stream.parquet", args.backend)}
    print(f"  streaming: {results['streaming, 1 process']['texts_per_s']:.0f} texts/s", flush=True)
    for actors in (1, 2):
        name = f"Ray Data, {actors} actor{'s' if actors > 1 else ''}"
        results[name] = run(RAY, args.model, src, work / f"ray{actors}", args.backend, actors, args.cpus)
        print(f"  {name}: {results[name]['texts_per_s']:.0f} texts/s", flush=True)
    base = results["streaming, 1 process"]["texts_per_s"]
    print(f"\n{args.rows:,} SMS texts, backend {args.backend}, {args.cpus} CPUs, "
          f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}\n")
    print("| path | texts/s | vs streaming | job s | wall s (with start-up) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        threads = f" ({r['cpus_per_actor']} thread{'s' if r['cpus_per_actor'] > 1 else ''} each)" \
            if "cpus_per_actor" in r else ""
        print(f"| {name}{threads} | {r['texts_per_s']:.0f} | {r['texts_per_s'] / base:.2f}x | {r['seconds']:.1f} "
              f"| {r['wall']:.1f} |")


if __name__ == "__main__":
    main()
