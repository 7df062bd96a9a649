"""The user's decisions about single rows of the training file, fed back into a run:
--drop-rows FILE (a CSV with a `row` column) and --relabel FILE (a CSV with `row` and a new label,
e.g. the `suggested` column `textclf data issues` writes). Rows are 0-based data rows of the
training file, as `data issues` numbers them; the decisions are recorded in the run's config.
They are applied after the split is drawn, so a run with them keeps the split of a run without
(less the dropped rows), and the two compare on the same test rows.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textclf.errors import DataError

LABEL_COLUMNS = ("suggested", "label", "new_label")   # --relabel: the first of these that exists


def _read_csv(path: str, flag: str):
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{flag} {path} does not exist; give the CSV written by `textclf data issues` "
                        "(or any CSV with a 'row' column).")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{flag} {path} cannot be read as CSV ({str(exc).strip().splitlines()[0]}).") from None
    if "row" not in df.columns:
        raise DataError(f"{flag} {path} has no 'row' column (columns: {', '.join(df.columns)}).")
    return df


def _rows_of(df, path: str, flag: str) -> list[int]:
    bad = [v for v in df["row"] if not v.strip().isdigit()]
    if bad:
        raise DataError(f"{flag} {path}: 'row' holds {bad[0]!r}; rows are 0-based data row numbers.")
    return [int(v) for v in df["row"]]


def _for_file(df, train: str):
    """Only the lines about the training file, where the CSV names a file per line."""
    if "file" not in df.columns:
        return df
    want = Path(train).resolve()
    return df[[Path(f).resolve() == want for f in df["file"]]]


def read_drop_rows(path: str, train: str) -> list[int]:
    """The training file's rows listed in a CSV's `row` column, sorted, each once."""
    df = _for_file(_read_csv(path, "--drop-rows"), train)
    return sorted(set(_rows_of(df, path, "--drop-rows")))


def read_relabel(path: str, train: str, column: str | None = None) -> dict[int, str]:
    """{row: new label} from a CSV's `row` column and `column` (default: suggested, label or
    new_label, the first present). A multi-label row's labels are comma-joined."""
    df = _for_file(_read_csv(path, "--relabel"), train)
    col = column or next((c for c in LABEL_COLUMNS if c in df.columns), None)
    if col is None or col not in df.columns:
        raise DataError(f"--relabel {path} has no {column or 'suggested (or label)'} column with the new "
                        f"labels (columns: {', '.join(df.columns)}).")
    rows = _rows_of(df, path, "--relabel")
    out: dict[int, str] = {}
    for r, lab in zip(rows, df[col]):
        if r in out and out[r] != lab:
            raise DataError(f"--relabel {path} gives row {r} two labels ({out[r]!r} and {lab!r}).")
        out[r] = lab
    return out


def _check_rows(asked, known: set[int], path: str, flag: str) -> None:
    unknown = sorted(set(asked) - known)
    if unknown:
        raise DataError(f"{flag} names row {unknown[0]} ({len(unknown)} unknown in all), which is not a "
                        f"usable data row of {path} (rows are 0-based; rows with an empty text or "
                        "label are not used).")


def _new_label(value: str, multi: bool, names: set, row: int, path: str):
    parts = tuple(dict.fromkeys(p.strip() for p in value.split(",") if p.strip())) if multi else value.strip()
    unknown = [p for p in (parts if multi else [parts]) if p not in names]
    if unknown or (not multi and not parts):
        raise DataError(f"--relabel gives row {row} of {path} the label {value!r}, which is not a label "
                        f"of the data (labels: {', '.join(sorted(map(str, names))[:20])}).")
    return parts


def edit_rows(parts: list, drop: list[int], relabel: dict[int, str], path: str) -> tuple[list, str]:
    """Drop and relabel rows of the training file, whose rows are spread over `parts` (dataclasses
    with texts, labels, rows and pairs: the splits drawn from it): the edited parts and a note."""
    known = {r for d in parts for r in d.rows}
    _check_rows(drop, known, path, "--drop-rows")
    _check_rows(relabel, known, path, "--relabel")
    both = sorted(set(drop) & set(relabel))
    if both:
        raise DataError(f"Row {both[0]} of {path} is both dropped (--drop-rows) and relabelled (--relabel); "
                        "keep one decision per row.")
    multi = any(isinstance(lab, tuple) for d in parts for lab in d.labels)
    names = {v for d in parts for lab in d.labels for v in (lab if multi else [lab])}
    new = {r: _new_label(v, multi, names, r, path) for r, v in relabel.items()}
    gone, out = set(drop), []
    for d in parts:
        keep = [i for i, r in enumerate(d.rows) if r not in gone]
        out.append(replace(d, texts=[d.texts[i] for i in keep], rows=[d.rows[i] for i in keep],
                           labels=[new.get(d.rows[i], d.labels[i]) for i in keep],
                           pairs=None if d.pairs is None else [d.pairs[i] for i in keep]))
    changed = sum(1 for d in parts for r, lab in zip(d.rows, d.labels) if r in new and new[r] != lab)
    return out, (f"--drop-rows / --relabel: dropped {len(gone)} and relabelled {changed} rows of {path} "
                 f"({len(new) - changed} relabel lines already had that label)")
