"""Files to tables: CSV, TSV, JSON, JSONL, Parquet and headerless TSV; column picking."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from textclf.errors import DataError

TEXT_NAMES = ("text", "texts", "sentence", "review", "message", "msg", "sms", "content", "body",
              "comment", "document", "tweet", "url", "title", "question", "utterance")
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "target", "intent",
               "tag", "y", "emotion", "topic")


def _format_of(path: Path, head: str) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    for ext, fmt in ((".parquet", "parquet"), (".pq", "parquet"), (".jsonl", "jsonl"),
                     (".ndjson", "jsonl"), (".json", "json"), (".tsv", "tsv"), (".csv", "csv")):
        if ext in suffixes:
            return fmt
    # No telling extension (e.g. SMSSpamCollection): sniff the first line.
    first = head.splitlines()[0] if head else ""
    if first.lstrip().startswith("{"):
        return "jsonl"
    return "tsv" if "\t" in first else "csv"


def read_table(path: str | Path, *, no_header: bool = False, columns: list[str] | None = None,
               sep: str | None = None) -> pd.DataFrame:
    """Read a data file into a DataFrame of strings/objects, or raise one clear DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"Data file {path} does not exist; check the path.")
    if path.is_dir():
        raise DataError(f"{path} is a directory; give the data file inside it.")
    if path.stat().st_size == 0:
        raise DataError(f"Data file {path} is empty.")
    raw = path.read_bytes()
    fmt = "parquet" if raw[:4] == b"PAR1" else None
    if fmt is None:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"Data file {path} is not valid UTF-8 (bad byte at offset {exc.start}); "
                "re-save it as UTF-8.") from None
        if not text.strip():
            raise DataError(f"Data file {path} is empty.")
        fmt = _format_of(path, text[:4096])
    try:
        if fmt == "parquet":
            df = pd.read_parquet(io.BytesIO(raw))
        elif fmt == "jsonl":
            df = pd.read_json(io.StringIO(text), lines=True, dtype=False)
        elif fmt == "json":
            df = pd.read_json(io.StringIO(text), dtype=False)
        else:
            delimiter = sep or ("\t" if fmt == "tsv" else ",")
            quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
            header = None if no_header else "infer"
            df = pd.read_csv(io.StringIO(text), sep=delimiter, header=header, quoting=quoting,
                             dtype=str, keep_default_na=False, na_values=[""],
                             engine="python" if delimiter not in (",", "\t") else "c")
    except (ValueError, pd.errors.ParserError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"Cannot parse {path} as {fmt.upper()}: {msg}.") from None
    if no_header:
        if not columns:
            raise DataError("--no-header needs --columns naming each column, e.g. --columns label,text.")
        if len(columns) != df.shape[1]:
            raise DataError(f"--columns names {len(columns)} columns but {path} has {df.shape[1]}.")
        df.columns = columns
    df.columns = [str(c) for c in df.columns]
    if len(df) == 0:
        raise DataError(f"Data file {path} has a header but no rows.")
    return df


def pick_column(df: pd.DataFrame, given: str | None, names: tuple[str, ...], what: str, flag: str) -> str:
    found = list(df.columns)
    if given is not None:
        if given in found:
            return given
        lower = {c.lower(): c for c in found}
        if given.lower() in lower:
            return lower[given.lower()]
        raise DataError(f"{what.capitalize()} column '{given}' not found; columns are: {', '.join(found)}.")
    hits = [c for c in found if c.strip().lower() in names]
    # The canonical name (first in `names`, e.g. "text"/"label") outranks the others ("url").
    canonical = [c for c in hits if c.strip().lower() in names[:2]]
    if len(canonical) == 1:
        return canonical[0]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise DataError(f"No {what} column found; pass {flag} (columns are: {', '.join(found)}).")
    raise DataError(f"Several columns could be the {what} column ({', '.join(hits)}); choose one with {flag}.")


@dataclass
class LabelledData:
    """Texts and raw label values read from one file, plus what was dropped and why."""
    texts: list[str]
    labels: list[str]
    text_col: str
    label_col: str
    source: str
    rows: list[int] = field(default_factory=list)    # row numbers in the file (0 = first data row)
    dropped: dict[str, int] = field(default_factory=dict)
    picked: list[str] = field(default_factory=list)   # human notes: which columns were auto-picked


def _label_to_str(v) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def load_labelled(path: str | Path, *, text_col: str | None = None, label_col: str | None = None,
                  no_header: bool = False, columns: list[str] | None = None,
                  sep: str | None = None, require_labels: bool = True) -> LabelledData:
    df = read_table(path, no_header=no_header, columns=columns, sep=sep)
    tcol = pick_column(df, text_col, TEXT_NAMES, "text", "--text-col")
    notes = [] if text_col else [f"text column '{tcol}'"]
    lcol = None
    if require_labels or label_col is not None:
        lcol = pick_column(df, label_col, LABEL_NAMES, "label", "--label-col")
        if lcol == tcol:
            raise DataError(f"Text and label column are both '{tcol}'; pass --text-col and --label-col.")
        if not label_col:
            notes.append(f"label column '{lcol}'")
    texts = df[tcol]
    empty_text = texts.isna() | texts.astype(str).str.strip().eq("")
    keep = ~empty_text
    dropped = {"empty text": int(empty_text.sum())}
    if lcol is not None:
        labels = df[lcol]
        empty_label = labels.isna() | labels.astype(str).str.strip().eq("")
        dropped["empty label"] = int((empty_label & keep).sum())
        keep &= ~empty_label
    dropped = {k: v for k, v in dropped.items() if v}
    if not keep.any():
        raise DataError(f"No usable rows in {path}: every row has an empty text or label.")
    out_labels = [_label_to_str(v) for v in df.loc[keep, lcol]] if lcol else []
    return LabelledData(texts=[str(t) for t in df.loc[keep, tcol]], labels=out_labels,
                        text_col=tcol, label_col=lcol or "", source=str(path),
                        rows=[int(i) for i in keep.to_numpy().nonzero()[0]],
                        dropped=dropped, picked=notes)
