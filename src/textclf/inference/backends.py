"""The two ways a Predictor runs the network: PyTorch, or an exported ONNX model in onnxruntime.

A backend takes one padded batch ({"input_ids", "attention_mask", ["token_type_ids"]} as int64
numpy arrays) and returns float32 logits. Everything around it (tokenising, length-sorted
batching, window aggregation, temperature, thresholds) is shared, so both give the same outputs.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path

import numpy as np

ONNX_DIR = "onnx"
ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model.int8.onnx"
ONNX_COMPRESSED = "model.compressed.onnx"       # textclf export --compress (inference/compress.py)
COMPRESSED_TOKENIZER = "tokenizer.compressed"   # its pruned tokenizer: a dir with tokenizer.json


def cpu_threads() -> int:
    """Physical-ish cores this process may use (affinity-aware), for intra-op threads."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # not on Linux
        return max(1, os.cpu_count() or 1)


class TorchBackend:
    name = "torch"
    # fixed cost of one call in tokens' worth of work, for splitting batches by length
    # (fitted t = a + b*tokens on 2 CPU cores: 8.7 ms + 152 us/token)
    overhead_tokens = 57.0

    def __init__(self, model):
        import torch

        self.model = model.eval()
        self.device = next(model.parameters()).device
        self.input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids")
                            if n in inspect.signature(model.forward).parameters]
        if self.device.type == "cpu" and torch.get_num_threads() > cpu_threads():
            torch.set_num_threads(cpu_threads())   # no oversubscription
        if self.device.type != "cpu":
            # on an accelerator a small batch costs about what one text does: keep batches whole
            self.overhead_tokens = 4096.0

    def __call__(self, batch: dict[str, np.ndarray], *, dropout: bool = False) -> np.ndarray:
        import torch

        feeds = {k: torch.from_numpy(np.asarray(v)).to(self.device) for k, v in batch.items()
                 if k in self.input_names}
        self.model.train(dropout)   # dropout on only for MC-dropout passes
        try:
            with torch.inference_mode():
                return self.model(**feeds).logits.float().cpu().numpy()
        finally:
            self.model.eval()


class OnnxBackend:
    name = "onnx"
    overhead_tokens = 23.0   # 0.80 ms + 35 us/token (int8, 2 CPU cores)

    def __init__(self, path: str | Path, threads: int | None = None, spin: bool = True):
        """spin=False: onnxruntime's worker threads sleep between calls instead of busy-waiting,
        leaving the cores to the rest of the process (a server's event loop)."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or cpu_threads()
        opts.inter_op_num_threads = 1
        if not spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.threads, self.spin = opts.intra_op_num_threads, spin
        if self.threads == 1:   # no thread pool to wake: a call's fixed cost is smaller (5-12 tokens
            self.overhead_tokens = 8.0   # measured best on 2 cores, int8 MiniLM, 2026-12-06)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, batch: dict[str, np.ndarray], *, dropout: bool = False) -> np.ndarray:
        if dropout:
            from textclf.errors import ModelError
            raise ModelError("MC dropout needs the torch backend (dropout is folded away in ONNX); "
                             "pass --backend torch.")
        feeds = {k: np.asarray(batch[k], dtype=np.int64) for k in self.input_names}
        return self.session.run(None, feeds)[0].astype(np.float32)


def sleeping(backend):
    """The backend with worker threads that sleep between calls: onnxruntime's otherwise spin
    for a while after each run, taking the cores a server's event loop needs (measured on 2
    cores: half the CPU per request). A PyTorch backend is returned as it is."""
    if isinstance(backend, OnnxBackend) and backend.spin:
        return _warm(OnnxBackend(backend.path, threads=backend.threads, spin=False))
    return backend


def single_threaded(backend):
    """The backend with one intra-op thread: each call runs on the calling thread alone, so
    several threads can each run a call at once on their own core (one session, shared:
    onnxruntime's run is thread-safe). On 2 cores two such calls at once gave 1.52 ms per text
    in groups of 16 against 1.78 for one call on two threads (int8 MiniLM, 2026-12-06). A
    PyTorch backend is returned as it is (its thread count is the process's)."""
    if isinstance(backend, OnnxBackend) and backend.threads != 1:
        return _warm(OnnxBackend(backend.path, threads=1))
    return backend


def _warm(backend: "OnnxBackend") -> "OnnxBackend":
    backend({k: np.ones((1, 4), dtype=np.int64) for k in backend.input_names})
    return backend


BACKENDS = ("auto", "torch", "compressed", "onnx-int8", "onnx", "onnx-fp32")


def onnx_path(model_dir: str | Path, prefer_int8: bool = True) -> Path | None:
    """The exported ONNX model in a model dir (int8 first), or None."""
    d = Path(model_dir) / ONNX_DIR
    for name in ((ONNX_INT8, ONNX_FP32) if prefer_int8 else (ONNX_FP32,)):
        if (d / name).exists():
            return d / name
    return None


def compressed_files(model_dir: str | Path) -> tuple[Path, Path] | None:
    """(model.compressed.onnx, its tokenizer dir) when the model dir has a compressed export."""
    d = Path(model_dir) / ONNX_DIR
    model, tok = d / ONNX_COMPRESSED, d / COMPRESSED_TOKENIZER
    return (model, tok) if model.exists() and (tok / "tokenizer.json").exists() else None


def pick_backend(model_dir: str | Path, backend: str = "auto") -> tuple[str, Path | None, Path | None]:
    """(kind, ONNX file, pruned tokenizer dir) for a --backend choice: kind is 'torch' or 'onnx';
    auto takes the compressed export, else int8, else fp32 ONNX, else torch."""
    from textclf.errors import ModelError

    if backend not in BACKENDS:
        raise ModelError(f"Unknown backend {backend!r}; use {', '.join(BACKENDS)}.")
    d = Path(model_dir) / ONNX_DIR
    fix = f"run `textclf export {model_dir}` first"
    if backend == "torch":
        return "torch", None, None
    if backend in ("auto", "compressed"):
        found = compressed_files(model_dir)
        if found:
            return "onnx", found[0], found[1]
        if backend == "compressed":
            raise ModelError(f"{model_dir} has no compressed export; run `textclf export "
                             f"{model_dir} --compress` first.")
    if backend == "onnx-int8":
        if not (d / ONNX_INT8).exists():
            raise ModelError(f"{model_dir} has no int8 ONNX export; {fix}.")
        return "onnx", d / ONNX_INT8, None
    exported = onnx_path(model_dir, prefer_int8=backend != "onnx-fp32")
    if exported is None:
        if backend == "auto":
            return "torch", None, None
        raise ModelError(f"{model_dir} has no ONNX export; run `textclf export {model_dir} --onnx` first.")
    return "onnx", exported, None


def load_pruned_tokenizer(path: str | Path):
    """The tokenizer saved beside a compressed model (a tokenizer dir without config.json)."""
    from transformers import AutoTokenizer

    from textclf.errors import ModelError
    try:
        return AutoTokenizer.from_pretrained(str(path), trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot load the compressed model's tokenizer in {path} ({exc}); run "
                         "`textclf export --compress --overwrite` again.") from None
