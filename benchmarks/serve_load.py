"""Load on `textclf serve`, loopback only, against the model-alone ceiling.

For each backend (--backends, default int8 ONNX and torch) the model alone is timed first in this
process: ms per text in groups of C texts, i.e. C concurrent single-text requests batched
perfectly with no HTTP at all, both on one Predictor using every core and (ONNX) on one
single-threaded replica per core running at once; 1000 / the faster is the ceiling in texts/s. Then for each worker count
(--workers, default 1 and 2) a server is started on 127.0.0.1 (a subprocess), and C concurrent
clients each send single-text POST /predict requests back to back for a fixed time (at most
--max-requests in all). Prints requests/s and its share of the ceiling, p50/p95/p99 latency,
errors, the server's RSS after the run (VmRSS and peak VmHWM from /proc, summed over its
processes), and the CPU cores the server and the load generator used. --unbatched adds a server
that runs one forward per request; --max-wait-ms 0,2 compares batching waits side by side, and
--ort-spin 1,0 onnxruntime's threads spinning or sleeping between calls, --model-workers 1,0
one model worker against the automatic count (one per core for ONNX).

--rounds R alternates the measurements R times (ceiling, every server, ceiling, every server,
...), and the summary table gives each server's median over the rounds, its share being the
median of (server req/s / that round's ceiling): on a shared machine one figure alone says little.

Usage: python benchmarks/serve_load.py RUN_OR_MODEL_DIR [--clients 16] [--seconds 60] [--rounds 3]
       [--backends onnx,torch] [--workers 1,2] [--max-wait-ms 0,2] [--unbatched]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

SMS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sms_spam_uci" / "SMSSpamCollection"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB of a process and all its descendants, summed."""
    now = peak = 0.0
    for p in process_tree(pid):
        fields = {}
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            fields[k] = v.strip()
        now += int(fields["VmRSS"].split()[0]) / 1024
        peak += int(fields["VmHWM"].split()[0]) / 1024
    return now, peak


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's worker processes), from /proc."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


async def post(reader, writer, host: str, body: bytes) -> tuple[int, bytes]:
    """One POST /predict on a kept-alive connection. A few lines of raw HTTP/1.1 instead of an
    HTTP client library, so the load generator (on the same 2 cores) takes little CPU."""
    writer.write(b"POST /predict HTTP/1.1\r\nHost: " + host.encode() + b"\r\nContent-Type: application/json"
                 b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def load(host: str, port: int, texts: list[str], clients: int, seconds: float,
               max_requests: int) -> dict:
    latencies: list[float] = []
    errors = 0
    sent = 0
    stop_at = time.perf_counter() + seconds
    bodies = [json.dumps({"inputs": t, "top_k": 1}).encode() for t in texts]

    async def client(k: int):
        nonlocal errors, sent
        reader, writer = await asyncio.open_connection(host, port)
        i = k
        try:
            while time.perf_counter() < stop_at and sent < max_requests:
                sent += 1
                start = time.perf_counter()
                try:
                    status, body = await post(reader, writer, host, bodies[i % len(bodies)])
                    ok = status == 200 and body.startswith(b'[{"label":')
                except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                    ok = False
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                latencies.append(time.perf_counter() - start)
                errors += not ok
                i += clients
        finally:
            writer.close()
    cpu0 = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*[client(k) for k in range(clients)])
    took = time.perf_counter() - start
    lat = np.array(latencies) * 1000
    return {"requests": len(lat), "seconds": took, "req_per_s": len(lat) / took, "errors": errors,
            "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "p99_ms": float(np.percentile(lat, 99)),
            "client_cpu": (time.process_time() - cpu0) / took}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants so far (from /proc)."""
    total = 0.0
    for p in process_tree(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def run_mode(model: str, backend: str, batching: bool, texts, args, workers: int = 1,
             max_wait_ms: float | None = None, spin: str | None = None, model_workers: int | None = None) -> dict:
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "textclf.cli", "serve", model, "--port", str(port), "--backend", backend,
           "--workers", str(workers)]
    if not batching:
        cmd.append("--no-batching")
    if max_wait_ms is not None:
        cmd += ["--max-wait-ms", str(max_wait_ms)]
    if model_workers is not None:
        cmd += ["--model-workers", str(model_workers)]
    env = dict(os.environ) if spin is None else {**os.environ, "TEXTCLF_ORT_SPIN": spin}
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:   # every worker ready: many answers in a row, whichever worker takes each
                if all(httpx.get(url + "/ready").status_code == 200 for _ in range(10 * workers)):
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start: {' '.join(cmd)}")
            time.sleep(0.2)
        backend_name = httpx.get(url + "/info").json()["backend"]
        cpu0 = cpu_seconds(server.pid)
        result = asyncio.run(load("127.0.0.1", port, texts, args.clients, args.seconds, args.max_requests))
        result["server_cpu"] = (cpu_seconds(server.pid) - cpu0) / result["seconds"]
        result["rss_mb"], result["peak_rss_mb"] = rss_mb(server.pid)
        result["backend"] = backend_name
        return result
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def model_ceiling(model: str, backend: str, texts: list[str], group: int) -> dict:
    """The model alone (with the TF-IDF part of an ensemble where the model has one), in this
    process, ms per text: one at a time; in groups of `group` (micro-batches of that many
    concurrent requests) on one Predictor using every core; and, for ONNX, in groups of `group`
    on one single-threaded replica per core running at once (the server's own arrangement).
    The ceiling is the faster of the two grouped ways, so a server is never measured against the
    slower way of running its own model. One-at-a-time against grouped bounds what any batching
    scheduler can gain over one forward per request on this machine."""
    import textclf
    from textclf.inference.backends import OnnxBackend, cpu_threads
    from textclf.serving.app import batch_predictors

    p = textclf.load(model, backend=backend)
    sample = texts[:512]

    def best_of_two(run) -> float:
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            run()
            best = min(best, (time.perf_counter() - start) / len(sample) * 1000)
        return best

    def in_groups(q, part, size):
        for i in range(0, len(part), size):
            q.predict_proba(part[i:i + size])   # a TF-IDF ensemble's part included

    out = {"one": best_of_two(lambda: in_groups(p, sample, 1)),
           "grouped": best_of_two(lambda: in_groups(p, sample, group))}
    cores = cpu_threads()
    if isinstance(p.backend, OnnxBackend) and cores > 1:
        replicas = batch_predictors(p, cores)   # the server's replicas (p's backend becomes theirs)

        def parallel():
            threads = [threading.Thread(target=in_groups, args=(q, sample[k::cores], group))
                       for k, q in enumerate(replicas)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        out["parallel"] = best_of_two(parallel)
    out["ceiling"] = 1000 / min(v for k, v in out.items() if k != "one")
    return out


def machine_load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def modes(args) -> list[dict]:
    """The servers each round runs: every worker count and batching wait, and the unbatched one."""
    waits = [None] if args.max_wait_ms is None else [float(w) for w in args.max_wait_ms.split(",")]
    spins = [None] if args.ort_spin is None else args.ort_spin.split(",")
    model_workers = [None] if args.model_workers is None else [int(w) for w in args.model_workers.split(",")]
    out = []
    for w in args.workers.split(","):
        for wait in waits:
            for spin in spins:
                for mw in model_workers:
                    name = (f"{w} worker{'s' if int(w) > 1 else ''}" + ("" if wait is None else f", {wait:g} ms wait")
                            + ("" if spin is None else
                               f", onnxruntime threads {'spinning' if spin == '1' else 'sleeping'}")
                            + ("" if mw is None else f", {mw or 'auto'} model worker{'s' if mw != 1 else ''}"))
                    out.append({"name": name, "batching": True, "workers": int(w), "wait": wait, "spin": spin,
                                "model_workers": mw})
    if args.unbatched:
        out.append({"name": "1 worker, one forward per request", "batching": False, "workers": 1, "wait": None,
                    "spin": None, "model_workers": 1})
    return out


def median_row(rounds: list[dict]) -> dict:
    """One server's figures over its rounds: medians, the share against each round's own ceiling."""
    med = {k: float(np.median([r[k] for r in rounds]))
           for k in ("req_per_s", "ceiling", "p50_ms", "p95_ms", "p99_ms", "rss_mb", "peak_rss_mb",
                     "server_cpu", "client_cpu")}
    med["share"] = float(np.median([r["req_per_s"] / r["ceiling"] for r in rounds]))
    med["requests"] = int(sum(r["requests"] for r in rounds))
    med["errors"] = int(sum(r["errors"] for r in rounds))
    med["rounds"] = len(rounds)
    med["shares"] = [r["req_per_s"] / r["ceiling"] for r in rounds]
    return {**rounds[0], **med}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rounds", type=int, default=3, help="alternating ceiling/server rounds (median)")
    ap.add_argument("--max-requests", type=int, default=200_000)
    ap.add_argument("--backends", default="onnx,torch", help="comma-separated: onnx (int8), onnx-fp32, torch")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--max-wait-ms", default=None, help="comma-separated micro-batching waits to compare "
                    "(default: the server's default)")
    ap.add_argument("--ort-spin", default=None, help="comma-separated 1|0: onnxruntime's threads spin or "
                    "sleep between calls in the server (TEXTCLF_ORT_SPIN; default: the server's default)")
    ap.add_argument("--model-workers", default=None, help="comma-separated counts of model calls a server "
                    "process runs at once (--model-workers; 0 = automatic; default: the server's default)")
    ap.add_argument("--unbatched", action="store_true", help="also one forward per request (1 worker)")
    ap.add_argument("--sms", type=Path, default=SMS, help="The SMSSpamCollection file")
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from textclf.data.load import load_labelled
    texts = load_labelled(args.sms, no_header=True, columns=["label", "text"]).texts
    print(f"before: {machine_load()}", flush=True)
    rows = []
    for backend in args.backends.split(","):
        label = {"onnx": "onnx int8", "onnx-fp32": "onnx fp32"}.get(backend, backend)
        runs: dict[str, list[dict]] = {}
        for k in range(args.rounds):
            alone = model_ceiling(args.model, backend, texts, args.clients)
            ceiling = alone["ceiling"]
            parallel = (f", {alone['parallel']:.2f} in groups of {args.clients} on one single-threaded replica "
                        "per core at once" if "parallel" in alone else "")
            print(f"  round {k + 1}, {backend}: model alone {alone['one']:.2f} ms/text one at a time, "
                  f"{alone['grouped']:.2f} in groups of {args.clients} on all cores{parallel} -> ceiling "
                  f"{ceiling:.0f} texts/s", flush=True)
            for m in modes(args):
                r = run_mode(args.model, backend, m["batching"], texts, args, m["workers"], m["wait"], m["spin"],
                             m["model_workers"])
                r.update(mode=m["name"], ceiling=ceiling, backend=label)
                runs.setdefault(m["name"], []).append(r)
                print(f"  round {k + 1}, {backend}, {m['name']}: {r['req_per_s']:.1f} req/s = "
                      f"{100 * r['req_per_s'] / ceiling:.0f}% of the ceiling, p99 {r['p99_ms']:.1f} ms "
                      f"({machine_load()})", flush=True)
        rows += [median_row(rs) for rs in runs.values()]
    print(f"\n{args.clients} concurrent clients, single-text requests, {args.seconds:g} s per server per "
          f"round, medians of {args.rounds} alternating rounds; after: {machine_load()}\n")
    print("| backend | server | requests | req/s | model-alone ceiling texts/s | share of ceiling (rounds) "
          "| p50 ms | p95 ms | p99 ms | errors | server RSS MB (peak) | CPU cores used: server / load generator |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        shares = " / ".join(f"{100 * v:.0f}" for v in r["shares"])
        print(f"| {r['backend']} | {r['mode']} | {r['requests']} | {r['req_per_s']:.1f} | {r['ceiling']:.0f} | "
              f"{100 * r['share']:.0f}% ({shares}) | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
              f"{r['errors']} | {r['rss_mb']:.0f} ({r['peak_rss_mb']:.0f}) | {r['server_cpu']:.2f} / "
              f"{r['client_cpu']:.2f} |")


if __name__ == "__main__":
    main()
