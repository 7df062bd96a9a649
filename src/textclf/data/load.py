"""Files to tables: CSV, TSV, JSON, JSONL, Parquet and headerless TSV; column picking."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from textclf.errors import DataError, MissingColumnError

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
        raise MissingColumnError(f"{what.capitalize()} column '{given}' not found; columns are: "
                                 f"{', '.join(found)}.", what)
    hits = [c for c in found if c.strip().lower() in names]
    # The canonical name (first in `names`, e.g. "text"/"label") outranks the others ("url").
    canonical = [c for c in hits if c.strip().lower() in names[:2]]
    if len(canonical) == 1:
        return canonical[0]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise MissingColumnError(f"No {what} column found; pass {flag} (columns are: {', '.join(found)}).",
                                 what)
    raise DataError(f"Several columns could be the {what} column ({', '.join(hits)}); choose one with {flag}.")


PAIR_NAMES = (("sentence1", "sentence2"), ("sentence_a", "sentence_b"), ("text_a", "text_b"),
              ("text1", "text2"), ("premise", "hypothesis"), ("question", "sentence"),
              ("question1", "question2"), ("query", "passage"))
TRUE_VALUES = {"1", "true", "t", "yes", "y", "1.0"}
FALSE_VALUES = {"0", "false", "f", "no", "n", "0.0", "-1"}


@dataclass
class LabelledData:
    """Texts (and text pairs) with raw label values read from one file, plus what was dropped.

    `labels` holds one string per row for single-label data and a tuple of label names per row
    for multi-label data; `split` holds the raw value of a split column when one was given.
    """
    texts: list[str]
    labels: list
    text_col: str
    label_col: str
    source: str
    rows: list[int] = field(default_factory=list)    # row numbers in the file (0 = first data row)
    dropped: dict[str, int] = field(default_factory=dict)
    picked: list[str] = field(default_factory=list)   # human notes: which columns were auto-picked
    pairs: list[str] | None = None
    split: list[str] | None = None
    multi_label: bool = False
    label_names: list[str] | None = None   # multi-label: label order (columns or a names file)
    warnings: list[str] = field(default_factory=list)   # one line each, e.g. label columns dropped

    def subset(self, idx: list[int]) -> "LabelledData":
        def take(xs):
            return None if xs is None else [xs[i] for i in idx]
        return LabelledData(take(self.texts), take(self.labels), self.text_col, self.label_col,
                            self.source, take(self.rows), {}, [], take(self.pairs), take(self.split),
                            self.multi_label, self.label_names)


def _label_to_str(v) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def pick_pair(df: pd.DataFrame, text_col: str | None, pair_col: str | None) -> tuple[str, str] | None:
    """The two text columns of a sentence-pair task: given, or a well-known pair of names."""
    if pair_col is not None:
        second = pick_column(df, pair_col, (), "text pair", "--text-pair-col")
        first = pick_column(df, text_col, TEXT_NAMES, "text", "--text-col")
        if first == second:
            raise DataError(f"--text-col and --text-pair-col are both '{first}'.")
        return first, second
    if text_col is not None:
        return None
    lower = {c.strip().lower(): c for c in df.columns}
    for a, b in PAIR_NAMES:
        if a in lower and b in lower:
            return lower[a], lower[b]
    return None


def _bool_column(df: pd.DataFrame, col: str, path) -> pd.Series:
    raw = df[col]
    text = raw.astype(str).str.strip().str.lower()
    bad = ~(text.isin(TRUE_VALUES | FALSE_VALUES) | raw.isna())
    if bad.any():
        value = raw[bad].iloc[0]
        raise DataError(f"Label column '{col}' in {path} holds {value!r}; multi-label columns must "
                        "be 0/1 or true/false.")
    return text.isin(TRUE_VALUES)


GLOB_CHARS = set("*?[")


def resolve_label_cols(df: pd.DataFrame, patterns: list[str]) -> tuple[list[str], set[str]]:
    """Columns named by a list of names and/or globs ('Is*'), in file order, and which of them
    were named explicitly (a column both named and matched by a glob counts as named)."""
    import fnmatch

    found = list(df.columns)
    out: list[str] = []
    named: set[str] = set()
    missing = []
    for pat in patterns:
        hits = [c for c in found if fnmatch.fnmatchcase(c, pat)] or \
               [c for c in found if c.lower() == pat.lower()]
        missing += [] if hits else [pat]
        if not GLOB_CHARS & set(pat):
            named.update(hits)
        out.extend(h for h in hits if h not in out)
    if missing:
        msg = f"--label-cols '{missing[0]}' matches no column; columns are: {', '.join(found)}."
        if len(missing) == len(patterns):   # no label column at all: a file without labels
            raise MissingColumnError(msg, "label")
        raise DataError(msg)
    return [c for c in found if c in out], named


def _at_least_two(cols: list[str]) -> list[str]:
    if len(cols) < 2:
        raise DataError(f"--label-cols must name at least two label columns; it matched {', '.join(cols)}.")
    return cols


def constant_label_columns(flags: dict[str, pd.Series], keep: pd.Series) -> dict[str, str]:
    """Label columns that are the same on every kept row: name -> 'no positive' / 'no negative'."""
    out = {}
    for c, f in flags.items():
        n = int(f[keep].sum())
        if n == 0 or n == int(keep.sum()):
            out[c] = "no positive" if n == 0 else "no negative"
    return out


def _drop_constant_columns(names: list[str], named: set[str], flags: dict[str, pd.Series],
                           keep: pd.Series, path) -> tuple[list[str], str | None]:
    """Columns a glob picked that hold one value only are dropped (returns a one-line note
    naming them); a column named explicitly that holds one value only is an error."""
    constant = constant_label_columns(flags, keep)
    for c in names:
        if c in constant and c in named:
            what = "positive" if constant[c] == "no positive" else "negative"
            raise DataError(f"Label column '{c}' in {path} has no {what} value at all; "
                            "drop it from --label-cols.")
    dropped = [c for c in names if c in constant]
    if not dropped:
        return names, None
    note = ("dropped label columns a --label-cols pattern picked that hold one value only: "
            + ", ".join(f"{c} ({constant[c]})" for c in dropped))
    return _at_least_two([c for c in names if c not in constant]), note


def _split_label_list(value: str, sep: str, names: list[str] | None, row: int, path) -> tuple[str, ...]:
    parts = [p.strip() for p in str(value).split(sep) if p.strip()]
    if names is None:
        return tuple(dict.fromkeys(parts))
    out = []
    for p in parts:
        if p in names:
            out.append(p)
        elif p.lstrip("-").isdigit() and 0 <= int(p) < len(names):
            out.append(names[int(p)])
        else:
            raise DataError(f"Row {row + 1} of {path} has unknown label {p!r}; labels are ids "
                            f"0-{len(names) - 1} or the names {', '.join(names[:6])}...")
    return tuple(dict.fromkeys(out))


def looks_multi_label(values: pd.Series, sep: str = ",") -> bool:
    """A label column of delimited lists: some cells hold `sep` and every part is short."""
    text = values.dropna().astype(str)
    has_sep = text.str.contains(sep, regex=False)
    if has_sep.mean() < 0.01:
        return False
    parts = [p.strip() for v in text[has_sep].head(200) for p in v.split(sep)]
    return all(p and len(p.split()) <= 3 for p in parts)


def load_labelled(path: str | Path, *, text_col: str | None = None, label_col: str | None = None,
                  no_header: bool = False, columns: list[str] | None = None,
                  sep: str | None = None, require_labels: bool = True,
                  text_pair_col: str | None = None, label_cols: list[str] | None = None,
                  label_sep: str | None = None, label_names: list[str] | None = None,
                  task: str = "auto", split_col: str | None = None) -> LabelledData:
    df = read_table(path, no_header=no_header, columns=columns, sep=sep)
    pair = pick_pair(df, text_col, text_pair_col)
    if pair:
        tcol, pcol = pair
        notes = [] if text_col and text_pair_col else [f"text pair columns '{tcol}' + '{pcol}'"]
    else:
        tcol, pcol = pick_column(df, text_col, TEXT_NAMES, "text", "--text-col"), None
        notes = [] if text_col else [f"text column '{tcol}'"]
    texts = df[tcol]
    empty_text = texts.isna() | texts.astype(str).str.strip().eq("")
    keep = ~empty_text
    dropped = {"empty text": int(empty_text.sum())}
    if pcol is not None:
        empty_pair = df[pcol].isna() | df[pcol].astype(str).str.strip().eq("")
        dropped["empty text pair"] = int((empty_pair & keep).sum())
        keep &= ~empty_pair

    lcol, multi, names, warned = None, False, None, []
    if label_cols and task != "single":
        multi = True
        if label_names:   # the label set is already fixed (the training file's, or a model's)
            names, _ = resolve_label_cols(df, list(label_names))
            flags = {c: _bool_column(df, c, path) for c in names}
        else:
            names, named = resolve_label_cols(df, label_cols)
            flags = {c: _bool_column(df, c, path) for c in names}
            names, note = _drop_constant_columns(_at_least_two(names), named, flags, keep, path)
            warned += [note] if note else []
        lcol = ",".join(names)
        label_values = [tuple(c for c in names if flags[c].iat[i]) for i in range(len(df))]
    elif require_labels or label_col is not None:
        lcol = pick_column(df, label_col, LABEL_NAMES, "label", "--label-col")
        if lcol in (tcol, pcol):
            raise DataError(f"Text and label column are both '{lcol}'; pass --text-col and --label-col.")
        if not label_col:
            notes.append(f"label column '{lcol}'")
        labels = df[lcol]
        empty_label = labels.isna() | labels.astype(str).str.strip().eq("")
        dropped["empty label"] = int((empty_label & keep).sum())
        keep &= ~empty_label
        multi = task == "multilabel" or (task == "auto" and (
            label_sep is not None or looks_multi_label(labels[keep], label_sep or ",")))
        if multi:
            names = list(label_names) if label_names else None
            label_values = [_split_label_list(v, label_sep or ",", names, i, path) if k else ()
                            for i, (v, k) in enumerate(zip(labels, keep))]
        else:
            label_values = [_label_to_str(v) for v in labels]
    else:
        label_values = None
    dropped = {k: v for k, v in dropped.items() if v}
    if not keep.any():
        raise DataError(f"No usable rows in {path}: every row has an empty text or label.")
    rows = [int(i) for i in keep.to_numpy().nonzero()[0]]
    split_values = None
    if split_col is not None:
        scol = pick_column(df, split_col, (), "split", "--split-col")
        split_values = [str(df[scol].iat[i]).strip() for i in rows]
    return LabelledData(
        texts=[str(df[tcol].iat[i]) for i in rows],
        labels=[label_values[i] for i in rows] if label_values is not None else [],
        text_col=tcol, label_col=lcol or "", source=str(path), rows=rows, dropped=dropped,
        picked=notes, warnings=warned, pairs=[str(df[pcol].iat[i]) for i in rows] if pcol else None,
        split=split_values, multi_label=multi, label_names=names)
