"""Predictions for a file of any size: read in chunks, predict, append, rename when complete.

One job (`predict_stream`) runs in four named phases:

  open_job         formats, columns and the model; every user error is raised here, before any
                   output exists
  start_or_resume  the partial output and its state file: a new one, or the old one cut back to
                   its last finished chunk (a chunk half-appended when the job was killed is
                   dropped and predicted again)
  run_chunks       per chunk: usable texts, predictions, output columns, append, save the state
  finish           the partial output becomes the output (one rename), the state file goes

Memory holds one chunk at a time, so it does not grow with the file. For an output OUT the
partial output is `.OUT.partial` next to it (one file for CSV/TSV/JSONL; for Parquet a directory
with one file per chunk, joined row group by row group at the end) and its state
`.OUT.partial.json`: the finished chunk count, the byte length of the partial file after it, and
the settings, so `--resume` refuses a job started with another model, input or options.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from textclf import runs
from textclf.errors import DataError

OUTPUT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}
CHUNK_ROWS = 4096
MAX_EXAMPLES = 5   # bad rows named in the summary; the rest are counted


# ---------------------------------------------------------------------------------------------
# reading

@dataclass
class Skipped:
    """Input lines that are not rows: how many, and the first few as (line number, reason)."""
    count: int = 0
    examples: list = field(default_factory=list)

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((line, reason))

def input_format(path: Path) -> str:
    """csv, tsv, jsonl, json or parquet, from the magic bytes, the extension or the first line."""
    from textclf.data.load import _format_of

    if not path.exists():
        raise DataError(f"Input file {path} does not exist; check the path.")
    if path.is_dir():
        raise DataError(f"{path} is a directory; give the data file inside it (or use --engine ray).")
    if path.stat().st_size == 0:
        raise DataError(f"Input file {path} is empty.")
    with open(path, "rb") as f:
        head = f.read(65536)
    if head[:4] == b"PAR1":
        return "parquet"
    return _format_of(path, head.decode("utf-8-sig", errors="replace"))


def read_chunks(path: Path, fmt: str, chunk_rows: int, notes: Skipped) -> Iterator[pd.DataFrame]:
    """DataFrames of at most `chunk_rows` rows, in file order; the same boundaries every time.
    Lines the parser cannot use (a CSV line with too many fields, a JSONL line that is not a JSON
    object) are not rows: each is noted in `notes`."""
    if fmt in ("csv", "tsv"):
        yield from _csv_chunks(path, "\t" if fmt == "tsv" else ",", chunk_rows, notes)
    elif fmt == "jsonl":
        yield from _jsonl_chunks(path, chunk_rows, notes)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    else:   # a JSON array cannot be read in pieces: it is read whole, then cut into chunks
        from textclf.data.load import read_table

        df = read_table(path)
        for start in range(0, len(df), chunk_rows):
            yield df.iloc[start:start + chunk_rows].reset_index(drop=True)


def _csv_chunks(path: Path, sep: str, chunk_rows: int, notes: Skipped) -> Iterator[pd.DataFrame]:
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    try:
        reader = pd.read_csv(path, sep=sep, quoting=quoting, dtype=str, keep_default_na=False,
                             na_values=[""], chunksize=chunk_rows, encoding="utf-8-sig",
                             encoding_errors="replace", on_bad_lines="warn")
    except pd.errors.EmptyDataError:
        raise DataError(f"Input file {path} has no header row.") from None
    with reader:
        while True:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", pd.errors.ParserWarning)
                try:
                    chunk = next(reader)
                except StopIteration:
                    return
                except pd.errors.ParserError as exc:
                    raise DataError(f"Cannot parse {path}: {str(exc).strip().splitlines()[0]}.") from None
            for w in caught:
                for line in str(w.message).strip().splitlines():   # "Skipping line 7: expected 2 fields, saw 3"
                    if line.startswith("Skipping line"):
                        number, _, reason = line[len("Skipping line "):].partition(":")
                        notes.add(int(number), f"malformed line: {reason.strip()}")
            yield chunk


def _jsonl_chunks(path: Path, chunk_rows: int, notes: Skipped) -> Iterator[pd.DataFrame]:
    rows: list[dict] = []
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                notes.add(number, "malformed line: not a JSON object")
                continue
            rows.append(obj)
            if len(rows) == chunk_rows:
                yield pd.DataFrame.from_records(rows)
                rows = []
    if rows:
        yield pd.DataFrame.from_records(rows)


def count_rows(path: Path, fmt: str) -> int:
    """Rows in the file, for the progress bar's total and ETA (CSV: lines, so a quoted text
    spanning lines counts more than once)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq
        return pq.ParquetFile(path).metadata.num_rows
    if fmt == "json":
        return 0
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"
    return max(lines - (fmt in ("csv", "tsv")), 0)


# ---------------------------------------------------------------------------------------------
# bad rows

def text_or_reason(value) -> tuple[str | None, str | None]:
    """(the text, None) for a usable cell, else (None, why not)."""
    if isinstance(value, str):
        return (value, None) if value.strip() else (None, "empty text")
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None, "no text"
    return None, f"not text ({type(value).__name__})"


# ---------------------------------------------------------------------------------------------
# writing

class TextWriter:
    """CSV, TSV or JSONL, appended to one partial file; resumable at a byte offset."""

    def __init__(self, partial: Path, fmt: str):
        self.partial, self.fmt = partial, fmt

    def open(self, offset: int) -> None:
        """Start a new partial file (offset 0) or cut the old one back to `offset` bytes."""
        if offset == 0 or not self.partial.is_file():
            if offset:
                raise DataError(f"The partial output {self.partial} is gone; run again without --resume.")
            _remove(self.partial)
            self.partial.touch()
            return
        if self.partial.stat().st_size < offset:
            raise DataError(f"The partial output {self.partial} is shorter than its state file says; "
                            "run again without --resume.")
        with open(self.partial, "r+b") as f:
            f.truncate(offset)

    def append(self, df: pd.DataFrame, first: bool) -> int:
        if self.fmt == "jsonl":
            text = df.to_json(orient="records", lines=True, force_ascii=False)
            data = (text if text.endswith("\n") else text + "\n").encode("utf-8")
        else:
            data = df.to_csv(index=False, header=first, sep="\t" if self.fmt == "tsv" else ",",
                             lineterminator="\n").encode("utf-8")
        with open(self.partial, "ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            return f.tell()

    def finish(self, out: Path) -> None:
        self.partial.replace(out)


class ParquetWriter:
    """Parquet: one file per finished chunk in a partial directory (each renamed into place
    whole), joined into the output at the end one row group at a time."""

    def __init__(self, partial: Path):
        self.partial = partial
        self.schema = None

    def _part(self, index: int) -> Path:
        return self.partial / f"part-{index:06d}.parquet"

    def open(self, done: int) -> None:
        import pyarrow.parquet as pq

        if done == 0 or not self.partial.is_dir():
            if done:
                raise DataError(f"The partial output {self.partial} is gone; run again without --resume.")
            _remove(self.partial)
            self.partial.mkdir(parents=True)
            return
        for p in self.partial.iterdir():   # parts of chunks after the last finished one
            if not p.name.startswith("part-") or int(p.name[5:11]) >= done:
                p.unlink()
        if not self._part(done - 1).exists():
            raise DataError(f"The partial output {self.partial} lacks finished chunks; run again "
                            "without --resume.")
        self.schema = pq.read_schema(self._part(0))
        self.done = done

    def append(self, df: pd.DataFrame, first: bool) -> int:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        if self.schema is None:
            # an all-empty column in the first chunk must not fix its type to null
            self.schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f
                                     for f in table.schema])
            self.done = 0
        try:
            table = table.cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
            raise DataError(f"A column changes type in the input (rows after {self.done} chunks): "
                            f"{str(exc).splitlines()[0]}; write CSV or JSONL instead.") from None
        tmp = self.partial / f".part-{self.done:06d}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self._part(self.done))
        self.done += 1
        return 0

    def finish(self, out: Path) -> None:
        import pyarrow.parquet as pq

        tmp = out.with_name(f".{out.name}.joining")
        with pq.ParquetWriter(tmp, self.schema) as w:
            for i in range(self.done):
                w.write_table(pq.read_table(self._part(i)).cast(self.schema))
        tmp.replace(out)
        shutil.rmtree(self.partial, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


# ---------------------------------------------------------------------------------------------
# progress

class RowProgress:
    """A rich bar with rows/s and ETA on a terminal; elsewhere a line every `every` seconds."""

    def __init__(self, total: int, done: int, *, enabled: bool = True, every: float = 30.0):
        self.total, self.done, self.start_done = total, done, done
        self.start = self.last_line = time.perf_counter()
        self.every = every
        self.bar = None
        self.enabled = enabled
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bar = Progress(TextColumn("predict"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[rate]} rows/s"), TextColumn("ETA"),
                                TimeRemainingColumn(), TimeElapsedColumn(),
                                console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task("predict", total=total or None, completed=done, rate="-")
            self.bar.start()

    def rate(self) -> float:
        return (self.done - self.start_done) / max(time.perf_counter() - self.start, 1e-9)

    def update(self, rows: int) -> None:
        self.done += rows
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, rate=f"{self.rate():,.0f}")
        elif self.enabled and time.perf_counter() - self.last_line >= self.every:
            self.last_line = time.perf_counter()
            print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        rate = self.rate()
        text = f"predict: {self.done:,} rows"
        if self.total:
            left = max(self.total - self.done, 0) / max(rate, 1e-9)
            text += f" of ~{self.total:,} ({100 * self.done / self.total:.0f}%)"
            text += f", {rate:,.0f} rows/s, ETA {_duration(left)}"
        else:
            text += f", {rate:,.0f} rows/s"
        return text

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


# ---------------------------------------------------------------------------------------------
# the job

@dataclass
class Options:
    text_col: str | None = None
    text_pair_col: str | None = None
    threshold: float | None = None
    backend: str = "auto"
    mc_dropout: int = 0
    min_confidence: float | None = None
    seed: int = 0
    max_batch_tokens: int = 8192
    chunk_rows: int = CHUNK_ROWS


@dataclass
class Job:
    out: Path
    fmt_out: str
    input: Path
    fmt_in: str
    predictor: object
    text_col: str
    pair_col: str | None
    chunks: Iterator[pd.DataFrame]
    columns: list[str]             # the input's columns, from its first chunk
    options: Options
    partial: Path
    state_path: Path
    notes: Skipped = field(default_factory=Skipped)

    def settings(self) -> dict:
        """What a resumed job must share with the one it continues."""
        st = self.input.stat()
        o = self.options
        return {"input": str(self.input.resolve()), "input_bytes": st.st_size,
                "input_mtime_ns": st.st_mtime_ns, "model": str(self.predictor.model_dir.resolve()),
                "backend": str(getattr(self.predictor.backend, "path", self.predictor.backend.name)),
                "text_col": self.text_col, "text_pair_col": self.pair_col,
                "threshold": o.threshold, "mc_dropout": o.mc_dropout,
                "min_confidence": o.min_confidence, "seed": o.seed,
                "max_batch_tokens": o.max_batch_tokens, "chunk_rows": o.chunk_rows,
                "format": self.fmt_out}


@dataclass
class State:
    chunks: int = 0        # finished chunks
    rows: int = 0          # input rows in them
    bytes: int = 0         # length of the partial file after them (text formats)
    bad: int = 0
    examples: list = field(default_factory=list)   # [row number, reason] of the first bad rows
    abstained: int = 0

    def to_json(self, settings: dict) -> dict:
        return {"settings": settings, **self.__dict__}


@dataclass
class StreamResult:
    out: Path
    rows: int
    predicted_now: int
    seconds: float
    backend: str
    bad: int
    examples: list
    abstained: int
    resumed_from: int
    skipped: Skipped
    min_confidence: float | None = None

    @property
    def rate(self) -> float:
        return self.predicted_now / max(self.seconds, 1e-9)

    def summary(self) -> str:
        s = (f"wrote {self.rows} predictions to {self.out} ({self.rate:.0f} texts/s, "
             f"{self.backend} backend)")
        if self.resumed_from:
            s += f"; resumed after {self.resumed_from} rows"
        if self.min_confidence is not None:
            s += f"; {self.abstained} abstained (top score < {self.min_confidence})"
        if self.bad:
            named = ", ".join(f"{r} ({why})" for r, why in self.examples)
            s += (f"; {self.bad} rows without a usable text, their prediction columns left empty "
                  f"(row {named}{', ...' if self.bad > len(self.examples) else ''})")
        if self.skipped.count:
            named = ", ".join(f"{n} ({why})" for n, why in self.skipped.examples)
            s += (f"; {self.skipped.count} input lines skipped (line {named}"
                  f"{', ...' if self.skipped.count > len(self.skipped.examples) else ''})")
        return s


def text_columns(predictor, columns: list[str], options: Options, source) -> tuple[str, str | None]:
    """(text column, text pair column or None) for the model, from the options or the names."""
    from textclf.data.load import TEXT_NAMES, pick_column, pick_pair

    empty = pd.DataFrame(columns=columns)
    if predictor.text_pair:
        cols = pick_pair(empty, options.text_col, options.text_pair_col)
        if cols is None:
            raise DataError(f"The model classifies text pairs; {source} needs two text columns "
                            f"(--text-col and --text-pair-col; columns are: {', '.join(columns)}).")
        return cols
    return pick_column(empty, options.text_col, TEXT_NAMES, "text", "--text-col"), None


def open_job(model_path, input_path, output_path, options: Options, *, overwrite: bool) -> Job:
    """Check everything a user can get wrong, then load the model; nothing is written."""
    import textclf.inference.columns  # noqa: F401  (imported here, not in the first chunk's time)
    from textclf.inference.predictor import Predictor

    out = runs.check_output(output_path, overwrite)
    fmt_out = OUTPUT_FORMATS.get(out.suffix.lower())
    if fmt_out is None:
        raise DataError(f"Output {out} must end in .csv, .tsv, .jsonl or .parquet.")
    if options.chunk_rows < 1:
        raise DataError("--chunk-rows must be at least 1.")
    src = Path(input_path)
    fmt_in = input_format(src)
    notes = Skipped()
    chunks = read_chunks(src, fmt_in, options.chunk_rows, notes)
    first = next(chunks, None)
    if first is None or not len(first):
        raise DataError(f"Input file {src} has no rows.")
    first.columns = [str(c) for c in first.columns]
    backend = options.backend
    if options.mc_dropout and backend == "auto":
        backend = "torch"
    predictor = Predictor.load(model_path, backend=backend)
    text_col, pair_col = text_columns(predictor, list(first.columns), options, src)
    if options.mc_dropout and options.mc_dropout < 2:
        from textclf.errors import ModelError
        raise ModelError("--mc-dropout needs at least 2 passes.")

    def all_chunks():
        yield first
        yield from chunks
    return Job(out, fmt_out, src, fmt_in, predictor, text_col, pair_col, all_chunks(),
               list(first.columns), options, out.with_name(f".{out.name}.partial"),
               out.with_name(f".{out.name}.partial.json"), notes)


def start_or_resume(job: Job, resume: bool, say=None):
    """(writer, state): fresh, or the interrupted job's state with its partial output cut back
    to the last finished chunk."""
    writer = ParquetWriter(job.partial) if job.fmt_out == "parquet" else TextWriter(job.partial, job.fmt_out)
    state = State()
    saved = None
    if resume and job.state_path.exists():
        try:
            saved = json.loads(job.state_path.read_text(encoding="utf-8"))
        except ValueError:
            raise DataError(f"The state file {job.state_path} is unreadable; run again without "
                            "--resume to start over.") from None
        now = job.settings()
        changed = [k for k, v in now.items() if saved.get("settings", {}).get(k) != v]
        if changed:
            raise DataError(f"The interrupted job used another {', '.join(changed)}; run again "
                            "without --resume to start over (or with the same settings).")
        state = State(**{k: v for k, v in saved.items() if k != "settings"})
    elif resume and say:
        say("no interrupted job to resume; starting from the first row")
    if job.fmt_out == "parquet":
        writer.open(state.chunks)
    else:
        writer.open(state.bytes)
    if saved is None:
        _remove(job.state_path)
    return writer, state


def prediction_frame(p, df: pd.DataFrame, text_col: str, pair_col: str | None, o: Options,
                     state: State) -> pd.DataFrame:
    """The rows of `df` with the prediction columns of Predictor `p`; rows without a usable text
    get empty ones and are counted in `state`."""
    from textclf.inference.columns import ABSTAIN, prediction_columns

    n = len(df)
    texts = [text_or_reason(v) for v in df[text_col]]
    pairs = [text_or_reason(v) for v in df[pair_col]] if pair_col else None
    ok = np.array([t is not None and (pairs is None or pairs[i][0] is not None)
                   for i, (t, _) in enumerate(texts)], dtype=bool)
    for i in np.flatnonzero(~ok):
        state.bad += 1
        if len(state.examples) < MAX_EXAMPLES:
            why = texts[i][1] or (pairs[i][1] if pairs else None)
            state.examples.append([state.rows + int(i) + 1, why if pairs is None or texts[i][1]
                                   else f"text pair: {why}"])
    good = [t for (t, _), k in zip(texts, ok) if k]
    good_pairs = [q for (q, _), k in zip(pairs, ok) if k] if pairs else None
    uncertainty = None
    if not good:
        probs = np.zeros((0, len(p.labels.names)))
    elif o.mc_dropout:
        probs, uncertainty = p.mc_dropout(good, good_pairs, passes=o.mc_dropout, seed=o.seed,
                                          max_batch_tokens=o.max_batch_tokens)
    else:
        probs = p.predict_proba(good, good_pairs, max_batch_tokens=o.max_batch_tokens)
    cols = prediction_columns(probs, p.labels, p.thresholds_for(o.threshold), o.min_confidence)
    if uncertainty is not None:
        cols["uncertainty"] = np.round(uncertainty, 6).tolist()
    out = df.copy()
    where = np.flatnonzero(ok)
    for name, values in cols.items():
        full = np.full(n, None, dtype=object)
        full[where] = values
        out[name] = full
        if name != "label" and name != "labels":
            out[name] = out[name].astype("float64")
    if o.min_confidence is not None and "label" in cols:
        state.abstained += sum(v == ABSTAIN for v in cols["label"])
    return out


def run_chunks(job: Job, writer, state: State, progress: RowProgress) -> int:
    """Predict every chunk after the finished ones; returns the rows predicted now."""
    settings = job.settings()
    skip, now = state.chunks, 0
    for df in job.chunks:
        if skip:   # finished before the interruption: read past it, predict nothing
            skip -= 1
            continue
        df.columns = [str(c) for c in df.columns]
        if list(df.columns) != job.columns:   # JSONL objects may lack or add keys
            df = df.reindex(columns=job.columns)
        frame = prediction_frame(job.predictor, df, job.text_col, job.pair_col, job.options, state)
        state.bytes = writer.append(frame, first=state.chunks == 0)
        state.chunks += 1
        state.rows += len(df)
        runs.write_json(job.state_path, state.to_json(settings))   # only after the chunk is on disk
        now += len(df)
        progress.update(len(df))
    return now


def finish(job: Job, writer) -> None:
    writer.finish(job.out)
    _remove(job.state_path)


def predict_stream(model_path, input_path, output_path, *, overwrite: bool = False,
                   resume: bool = False, progress: bool = True, say=None, **options) -> StreamResult:
    """Predict every row of a CSV/TSV/JSONL/JSON/Parquet file into a CSV/TSV/JSONL/Parquet file
    (by extension), in input order, one chunk in memory at a time. `options`: the fields of
    `Options`. With `resume`, an interrupted job with the same settings continues where its
    last finished chunk ended."""
    say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
    opts = Options(**options)
    job = open_job(model_path, input_path, output_path, opts, overwrite=overwrite)
    job.out.parent.mkdir(parents=True, exist_ok=True)
    writer, state = start_or_resume(job, resume, say)
    resumed_from = state.rows
    if resumed_from:
        say(f"resuming after {state.rows:,} rows ({state.chunks} chunks)")
    bar = RowProgress(count_rows(job.input, job.fmt_in), state.rows, enabled=progress)
    start = time.perf_counter()
    try:
        now = run_chunks(job, writer, state, bar)
    except KeyboardInterrupt:
        say(f"stopped after {state.rows:,} rows; `--resume` continues from there")
        raise
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    finish(job, writer)
    return StreamResult(job.out, state.rows, now, seconds, job.predictor.backend.name, state.bad,
                        [tuple(e) for e in state.examples], state.abstained, resumed_from,
                        job.notes, opts.min_confidence)
