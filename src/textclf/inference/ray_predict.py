"""Batch prediction on Ray Data: the same rows and prediction columns as `predict --input`, spread
over the actors of a Ray cluster (this machine's, or a running one with `address`).

From Python, the callable class goes straight into `Dataset.map_batches`:

    import ray
    from textclf.inference.ray_predict import RayPredictor
    ds = ray.data.read_parquet("s3://bucket/texts/")
    ds = ds.map_batches(RayPredictor, fn_constructor_kwargs={"model": "/shared/run/model"},
                        batch_size=1024, batch_format="pandas",
                        compute=ray.data.ActorPoolStrategy(size=8), num_cpus=2)
    ds.write_parquet("s3://bucket/predictions/")

Each actor loads the Predictor once (ONNX int8 where the model dir has an export) and keeps it
for every batch it is given. `predict_ray` does the reading, column checks and writing around it
with Ray Data's own readers and writers.

Needs `pip install 'textclf[ray]'`.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from textclf import runs
from textclf.errors import DataError, TextclfError
from textclf.inference.stream import Options, State, prediction_frame, text_columns

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
           ".json": "jsonl", ".ndjson": "jsonl"}


def _ray():
    try:
        import ray
    except ImportError:
        raise TextclfError("--engine ray needs Ray Data: pip install 'textclf[ray]'.") from None
    return ray


class RayPredictor:
    """A `Dataset.map_batches` callable: the Predictor is loaded once per actor, each pandas
    batch comes back with label/score (or labels) and prob_<class> columns; rows without a
    usable text get empty prediction columns."""

    def __init__(self, model: str, *, backend: str = "auto", threads: int | None = None,
                 text_col: str | None = None, text_pair_col: str | None = None,
                 threshold: float | None = None, min_confidence: float | None = None,
                 max_batch_tokens: int = 8192, mc_dropout: int = 0, seed: int = 0):
        import textclf.inference.columns  # noqa: F401  (prediction_columns, loaded with the model)
        from textclf.inference.predictor import Predictor

        if mc_dropout and backend == "auto":
            backend = "torch"
        self.predictor = Predictor.load(model, backend=backend)
        _limit_threads(self.predictor, threads)
        self.options = Options(text_col=text_col, text_pair_col=text_pair_col, threshold=threshold,
                               backend=backend, mc_dropout=mc_dropout, min_confidence=min_confidence,
                               seed=seed, max_batch_tokens=max_batch_tokens)
        self.columns: tuple[str, str | None] | None = None

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        if self.columns is None:
            self.columns = text_columns(self.predictor, [str(c) for c in batch.columns],
                                        self.options, "the dataset")
        return prediction_frame(self.predictor, batch, *self.columns, self.options, State())


def _limit_threads(predictor, threads: int | None) -> None:
    """Use `threads` cores (the CPUs Ray gave the actor), not every core of the node."""
    if not threads:
        return
    from textclf.inference.backends import OnnxBackend

    if isinstance(predictor.backend, OnnxBackend):
        predictor.backend = OnnxBackend(predictor.backend.path, threads=threads)
    else:
        import torch
        torch.set_num_threads(threads)


def input_format(path: str) -> tuple[str, list[str] | str]:
    """(format, paths) of a file, or of the data files in a directory (all of one format)."""
    p = Path(path)
    if "://" in path:   # a URI (s3://, gs://, ...): the format comes from its name
        fmt = FORMATS.get(Path(path.rstrip("/")).suffix.lower(), "parquet")
        return fmt, path
    if not p.exists():
        raise DataError(f"Input {p} does not exist; check the path.")
    files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "_"))) \
        if p.is_dir() else [p]
    fmts = {FORMATS.get(f.suffix.lower()) for f in files}
    if not files or None in fmts:
        odd = next((f.name for f in files if FORMATS.get(f.suffix.lower()) is None), None)
        raise DataError(f"{p} holds no data files" + (f" ({odd} is not .parquet/.csv/.tsv/.jsonl)" if odd else "")
                        + "; give Parquet, CSV, TSV or JSONL files.")
    if len(fmts) > 1:
        raise DataError(f"{p} mixes formats ({', '.join(sorted(fmts))}); give one format per run.")
    return fmts.pop(), [str(f) for f in files]


def read(fmt: str, paths):
    ray = _ray()
    if fmt == "parquet":
        return ray.data.read_parquet(paths)
    if fmt == "jsonl":
        return ray.data.read_json(paths, lines=True)
    import pyarrow.csv as pcsv

    return ray.data.read_csv(paths, parse_options=pcsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ","))


def _parquet_sink(path: str):
    """A Parquet datasink that writes each write task's rows in the order it was given them.
    Ray's own `write_parquet` hands them to `pyarrow.dataset.write_dataset` with threads and no
    `preserve_order`, which can interleave a task's batches inside one file."""
    import pyarrow.parquet as pq
    from ray.data.datasource import BlockBasedFileDatasink

    class OrderedParquetSink(BlockBasedFileDatasink):
        def __init__(self, path: str):
            super().__init__(path, file_format="parquet")

        def write_block_to_file(self, block, file) -> None:
            pq.write_table(block.to_arrow(), file)

    return OrderedParquetSink(path)


def write(ds, fmt: str, path: str) -> None:
    if fmt == "parquet":
        ds.write_datasink(_parquet_sink(path))
    elif fmt == "jsonl":
        ds.write_json(path, force_ascii=False)
    else:
        ds.write_csv(path)


def output_format(output: str) -> str:
    """From the output directory's name: preds.csv/ -> csv, preds.jsonl/ -> jsonl, else parquet."""
    return {"csv": "csv", "jsonl": "jsonl"}.get(FORMATS.get(Path(output.rstrip("/")).suffix.lower()), "parquet")


def connect(address: str | None, num_cpus: int | None = None) -> int:
    """Join the cluster at `address`, or start a local one; returns its CPU count."""
    ray = _ray()
    if not ray.is_initialized():
        kw = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=num_cpus, **kw)
    return int(ray.cluster_resources().get("CPU", 1))


@dataclass
class RayResult:
    out: str
    rows: int
    seconds: float
    actors: int
    cpus_per_actor: int

    def summary(self) -> str:
        return (f"wrote {self.rows} predictions to {self.out} ({self.rows / max(self.seconds, 1e-9):.0f} "
                f"texts/s, {self.actors} Ray actor{'s' if self.actors > 1 else ''} x "
                f"{self.cpus_per_actor} CPU)")


def predict_ray(model: str, input_path: str, output: str, *, address: str | None = None,
                actors: int | None = None, num_cpus: int | None = None, batch_size: int = 1024,
                overwrite: bool = False, backend: str = "auto", text_col: str | None = None,
                text_pair_col: str | None = None, threshold: float | None = None,
                min_confidence: float | None = None, max_batch_tokens: int = 8192,
                mc_dropout: int = 0, seed: int = 0) -> RayResult:
    """Predict every row of a file or directory (Parquet/CSV/TSV/JSONL) into the directory
    `output` (Parquet, or CSV/JSONL when its name ends so), each file's rows in input order (the
    files' names are Ray Data's and need not sort in that order). Local outputs
    appear only when complete (written next to it, then renamed)."""
    from textclf.inference.predictor import Predictor

    remote = "://" in output
    out = output if remote else str(runs.check_output(output, overwrite))
    fmt_in, paths = input_format(input_path)
    # every user error before the cluster starts: the model, its backend and the columns
    probe = Predictor.load(model, backend="torch" if mc_dropout and backend == "auto" else backend,
                           warmup=False)
    cpus = connect(address, num_cpus)
    ray = _ray()
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ds = read(fmt_in, paths)
    columns = ds.schema().names
    rows = ds.count()   # Parquet: from the footers; CSV/JSONL: one read, cheap next to the model
    opts = Options(text_col=text_col, text_pair_col=text_pair_col)
    text_col, text_pair_col = text_columns(probe, columns, opts, input_path)
    model_dir = str(probe.model_dir.resolve())
    del probe
    actors = actors or max(1, cpus // 2)
    per_actor = max(1, cpus // actors)   # threads each actor runs
    # the actors' CPU requests leave one CPU to Ray Data's listing, reading and writing tasks:
    # with every CPU held by an actor those would wait for ever
    request = max(0.01, (cpus - 1) / actors)
    ds = ds.map_batches(RayPredictor, batch_size=batch_size, batch_format="pandas",
                        compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=min(per_actor, request),
                        fn_constructor_kwargs=dict(model=model_dir, backend=backend, threads=per_actor,
                                                   text_col=text_col, text_pair_col=text_pair_col,
                                                   threshold=threshold, min_confidence=min_confidence,
                                                   max_batch_tokens=max_batch_tokens,
                                                   mc_dropout=mc_dropout, seed=seed))
    target = out if remote else str(Path(out).with_name(f".{Path(out).name}.partial"))
    if not remote:
        shutil.rmtree(target, ignore_errors=True)
    start = time.perf_counter()
    try:
        write(ds, output_format(output), target)
    except BaseException:
        if not remote:
            shutil.rmtree(target, ignore_errors=True)
        raise
    seconds = time.perf_counter() - start
    if not remote:
        if Path(out).exists():   # --overwrite
            shutil.rmtree(out) if Path(out).is_dir() else os.remove(out)
        os.replace(target, out)
    return RayResult(out, rows, seconds, actors, per_actor)
