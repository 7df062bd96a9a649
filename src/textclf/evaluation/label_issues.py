"""Rows whose label looks wrong: `textclf data issues` and the "Label issues" section of a run.

Three kinds of issue, one line per row (a row can carry several):

- `label`: cleanlab's confident learning (`cleanlab.filter.find_label_issues`, multi-label through
  `cleanlab.multilabel_classification`; FILTER) on out-of-sample predicted probabilities: k-fold
  out-of-fold ones from the TF-IDF + logistic-regression baseline (`oof_tfidf`), or the
  predictions a run already has for rows it did not train on.
- `conflicting duplicate`: texts equal after case/whitespace normalisation (split.dedupe_key)
  that carry different labels; every row of such a group is listed.
- `outlier`: the OUTLIER_SHARE of rows least typical of the data by cleanlab's OutOfDistribution
  (mean cosine distance to the 10 nearest neighbours) on TF-IDF features reduced by truncated SVD.

`score` is 1 - cleanlab's label quality score of the given label (self-confidence: 1 - the
predicted probability of the given label; multi-label: cleanlab's per-label scores pooled), so
higher is more suspect; the list is sorted by it. `suggested` is the predicted label (multi-label:
the labels at or above the threshold tuned on the same predictions).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from textclf.data.labels import LabelSpace
from textclf.data.split import dedupe_keys
from textclf.errors import DataError, TextclfError
from textclf.evaluation.baseline import (C_GRID, classifier, join_pairs, predict_probs,
                                         tfidf_features)

DEFAULT_FOLDS = 5
OUTLIER_SHARE = 0.01     # the least typical 1% of rows (none below 100 rows)
OUTLIER_DIMS = 100       # truncated-SVD dimensions of the TF-IDF features for the neighbour search
NEIGHBOURS = 10
# cleanlab's filter: as many rows as confident learning estimates are mislabelled
# (cleanlab.count.num_label_issues), those with the lowest self-confidence, so the list is the head
# of the score ranking (prune_by_noise_rate, its default, flagged 164 rows at precision 0.835 where
# this flagged 139 at 0.942, sms_spam_uci with 3% of labels flipped; docs/experiments.md)
FILTER = "low_self_confidence"
LABEL, DUPLICATE, OUTLIER = "label", "conflicting duplicate", "outlier"
INSTALL = "pip install 'textclf[issues]'"


def require_cleanlab():
    """The cleanlab module, or one sentence on how to install it."""
    try:
        import cleanlab  # noqa: F401
        import cleanlab.filter  # noqa: F401
    except ImportError:
        raise TextclfError(f"Finding label issues needs cleanlab, an optional extra: {INSTALL}.") from None
    return cleanlab


@dataclass
class IssuePool:
    """The labelled rows to examine, from one or more files; `rows[i]` is row i's 0-based data
    row in `files[i]`."""
    texts: list[str]
    labels: list            # raw label per row (a tuple of names for multi-label)
    rows: list[int]
    files: list[str]
    space: LabelSpace
    pairs: list[str] | None = None

    @property
    def y(self) -> np.ndarray:
        """Label ids (single-label) or a 0/1 matrix (multi-label)."""
        return np.asarray(self.space.encode(self.labels))

    @property
    def joined(self) -> list[str]:
        return join_pairs(self.texts, self.pairs)


def pool_of(parts, space: LabelSpace | None = None) -> IssuePool:
    """One pool from parts that have texts, labels, rows, source and pairs (LabelledData, Split);
    the label space is built from every part's labels unless given."""
    parts = list(parts)
    labels = [lab for p in parts for lab in p.labels]
    multi = bool(labels) and isinstance(labels[0], tuple)
    if space is None:
        space = (LabelSpace.from_label_sets(labels, names=getattr(parts[0], "label_names", None))
                 if multi else LabelSpace.from_values(labels))
    pairs = [x for p in parts for x in p.pairs] if parts[0].pairs is not None else None
    return IssuePool(texts=[t for p in parts for t in p.texts], labels=labels,
                     rows=[r for p in parts for r in p.rows],
                     files=[p.source for p in parts for _ in p.texts], space=space, pairs=pairs)


# ---- out-of-fold predictions -----------------------------------------------------------------

def check_folds(pool: IssuePool, folds: int) -> None:
    """One DataError sentence when k-fold out-of-fold predictions cannot be made for the pool."""
    if folds < 2:
        raise DataError(f"--folds {folds}: out-of-fold predictions need at least 2 folds.")
    groups = len(set(dedupe_keys(pool.texts, pool.pairs)))
    if groups < folds:
        raise DataError(f"The data has {groups} distinct texts, too few for {folds}-fold out-of-fold "
                        f"predictions; add rows or pass --folds {max(2, groups)}." if groups >= 2 else
                        f"The data has {groups} distinct text, too few for out-of-fold predictions; add rows.")
    y = pool.y
    counts = y.sum(0) if pool.space.multi_label else np.bincount(y, minlength=len(pool.space.names))
    rare = [(n, int(c)) for n, c in zip(pool.space.names, counts) if c < 2]
    if rare:
        name, c = rare[0]
        what = "positive row" if pool.space.multi_label else "row"
        raise DataError(f"{'Label' if pool.space.multi_label else 'Class'} {name!r} has {c} {what}"
                        f"{'' if c == 1 else 's'}; out-of-fold predictions need at least 2 of each "
                        "(one to learn from while another is held out): add rows, merge it with "
                        "--label-map, or drop it.")


def fold_of(pool: IssuePool, folds: int, seed: int = 42) -> np.ndarray:
    """The fold of each row: stratified by label, with normalised duplicates in one fold (so no
    copy of a held-out text is learnt from)."""
    keys = dedupe_keys(pool.texts, pool.pairs)
    ids = {k: g for g, k in enumerate(dict.fromkeys(keys))}
    groups = np.array([ids[k] for k in keys])
    y = pool.y
    out = np.zeros(len(keys), dtype=int)
    with warnings.catch_warnings():   # a class with fewer groups than folds: fine, told apart
        warnings.simplefilter("ignore")
        if pool.space.multi_label:
            from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
            gy = np.zeros((len(ids), y.shape[1]), dtype=int)
            np.maximum.at(gy, groups, y.astype(int))
            split = MultilabelStratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            for f, (_, held) in enumerate(split.split(np.zeros(len(gy)), gy)):
                out[np.isin(groups, held)] = f
        else:
            from sklearn.model_selection import StratifiedGroupKFold
            split = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
            for f, (_, held) in enumerate(split.split(np.zeros(len(y)), y, groups)):
                out[held] = f
    return out


def oof_tfidf(pool: IssuePool, fold: np.ndarray) -> tuple[np.ndarray, float]:
    """Out-of-fold probabilities of the TF-IDF + logistic-regression baseline (its features and
    classifier): each fold predicted by a model fitted on the others. cleanlab reads the
    probabilities themselves, so C (from the baseline's grid) is the one whose out-of-fold
    probabilities have the lowest log loss (multi-label: mean binary log loss). (probs, C)."""
    texts, y, space = pool.joined, pool.y, pool.space
    probs = {c: np.zeros((len(texts), len(space.names))) for c in C_GRID}
    for f in np.unique(fold):
        train, held = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        features = tfidf_features()
        x_train = features.fit_transform([texts[i] for i in train])
        x_held = features.transform([texts[i] for i in held])
        for c in C_GRID:
            clf = classifier(c, space).fit(x_train, y[train])
            probs[c][held] = predict_probs(clf, x_held, space)
    best = min(C_GRID, key=lambda c: log_loss(y, probs[c], space.multi_label))
    return probs[best], best


def log_loss(y: np.ndarray, probs: np.ndarray, multi_label: bool) -> float:
    """Mean negative log-likelihood of the given labels (multi-label: per label and row)."""
    p = np.clip(probs, 1e-7, 1 - 1e-7)
    if multi_label:
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


# ---- the issues ------------------------------------------------------------------------------

def label_quality(y: np.ndarray, probs: np.ndarray, space: LabelSpace) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab on out-of-sample probabilities: (is a label issue per row, label quality score).
    Multi-label: only labels that some but not all rows carry can be judged (a run's validation
    and test rows may lack a rare label); with fewer than two such labels nothing is flagged."""
    require_cleanlab()
    if space.multi_label:
        judged = np.flatnonzero((y.sum(0) > 0) & (y.sum(0) < len(y)))
        if len(judged) < 2:
            return np.zeros(len(y), dtype=bool), np.ones(len(y))
        y, probs = y[:, judged], probs[:, judged]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if space.multi_label:
            from cleanlab.multilabel_classification.filter import find_label_issues
            from cleanlab.multilabel_classification.rank import get_label_quality_scores
            lists = [list(np.flatnonzero(row)) for row in y]
            flagged = find_label_issues(lists, probs, filter_by=FILTER, n_jobs=1)
            quality = get_label_quality_scores(lists, probs)
        else:
            from cleanlab.filter import find_label_issues
            from cleanlab.rank import get_label_quality_scores
            flagged = find_label_issues(y, probs, filter_by=FILTER, n_jobs=1)
            quality = get_label_quality_scores(y, probs)
    return np.asarray(flagged, dtype=bool), np.asarray(quality, dtype=float)


def conflicting_duplicates(pool: IssuePool) -> np.ndarray:
    """Rows whose normalised text (pair) occurs elsewhere in the pool with another label."""
    keys = dedupe_keys(pool.texts, pool.pairs)
    seen: dict[str, set] = {}
    for k, lab in zip(keys, pool.labels):
        seen.setdefault(k, set()).add(lab)
    return np.array([len(seen[k]) > 1 for k in keys], dtype=bool)


def outliers(pool: IssuePool, share: float = OUTLIER_SHARE) -> np.ndarray:
    """The `share` of rows least typical of the pool (cleanlab's OutOfDistribution on TF-IDF
    features reduced to OUTLIER_DIMS dimensions); none when that is under one row."""
    n_out = int(len(pool.texts) * share)
    flagged = np.zeros(len(pool.texts), dtype=bool)
    if n_out < 1:
        return flagged
    require_cleanlab()
    from cleanlab.outlier import OutOfDistribution
    from sklearn.decomposition import TruncatedSVD

    x = tfidf_features().fit_transform(pool.joined)
    dims = max(2, min(OUTLIER_DIMS, x.shape[1] - 1, len(pool.texts) - 1))
    dense = TruncatedSVD(n_components=dims, random_state=0).fit_transform(x)
    k = min(NEIGHBOURS, len(pool.texts) - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ood = OutOfDistribution(params={"k": k}).fit_score(features=dense, verbose=False)
    flagged[np.argsort(ood, kind="stable")[:n_out]] = True
    return flagged


def suggestions(probs: np.ndarray, space: LabelSpace, y: np.ndarray) -> list[str]:
    """The predicted label per row (multi-label: comma-joined labels at the tuned threshold)."""
    if not space.multi_label:
        return [space.names[j] for j in probs.argmax(1)]
    from textclf.evaluation.thresholds import apply_thresholds, tune_thresholds
    chosen = apply_thresholds(probs, tune_thresholds(y, probs))
    return [",".join(n for n, c in zip(space.names, row) if c) for row in chosen]


def _given(value) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)


def find_issues(pool: IssuePool, probs: np.ndarray, *, with_outliers: bool = True,
                all_rows: bool = False):
    """The rows with an issue (`all_rows`: every row, `issue` empty where none) as a DataFrame,
    most suspect first: row, file, given, suggested, score, issue, text (and text_pair for
    sentence pairs)."""
    import pandas as pd

    y = pool.y
    flagged, quality = label_quality(y, probs, pool.space)
    kinds = {LABEL: flagged, DUPLICATE: conflicting_duplicates(pool)}
    if with_outliers:
        kinds[OUTLIER] = outliers(pool)
    any_issue = np.logical_or.reduce(list(kinds.values()))
    idx = np.arange(len(any_issue)) if all_rows else np.flatnonzero(any_issue)
    score = 1.0 - quality
    order = idx[np.argsort(-score[idx], kind="stable")]
    suggested = suggestions(probs, pool.space, y)
    df = pd.DataFrame({
        "row": [pool.rows[i] for i in order],
        "file": [pool.files[i] for i in order],
        "given": [_given(pool.labels[i]) for i in order],
        "suggested": [suggested[i] for i in order],
        "score": [round(float(score[i]), 4) for i in order],
        "issue": ["; ".join(k for k, m in kinds.items() if m[i]) for i in order],
        "text": [pool.texts[i] for i in order]})
    if pool.pairs is not None:
        df["text_pair"] = [pool.pairs[i] for i in order]
    types = {c: str for c in df.columns if c not in ("row", "score")}
    return df.astype({**types, "row": int, "score": float})   # also when no row is flagged


def summary_line(df, n_rows: int) -> str:
    """How many rows of each kind were flagged, in one line."""
    counts = {k: int(df["issue"].str.contains(k, regex=False).sum()) for k in (LABEL, DUPLICATE, OUTLIER)}
    return (f"{int(df['issue'].ne('').sum()):,} of {n_rows:,} rows flagged: {counts[LABEL]:,} likely label errors, "
            f"{counts[DUPLICATE]:,} in conflicting duplicates, {counts[OUTLIER]:,} outliers")


def print_issues(df, console, top: int = 20, title: str = "Likely label issues") -> None:
    """The `top` most suspect rows as a rich table."""
    from rich.markup import escape
    from rich.table import Table

    df = df[df["issue"] != ""]
    table = Table(title=f"{title} (most suspect first)", title_justify="left")
    many_files = df["file"].nunique() > 1
    for col, kw in (("row", {"justify": "right"}), ("file", {}), ("given", {}), ("suggested", {}),
                    ("score", {"justify": "right"}), ("issue", {}), ("text", {"overflow": "fold"})):
        if col != "file" or many_files:
            table.add_column(col, **kw)
    for r in df.head(top).itertuples(index=False):
        text = r.text if "text_pair" not in df.columns else f"{r.text} ‖ {r.text_pair}"
        text = " ".join(str(text).split())
        cells = [str(r.row)] + ([str(r.file)] if many_files else []) + [
            r.given, r.suggested, f"{r.score:.3f}", r.issue, text if len(text) <= 90 else text[:89] + "…"]
        table.add_row(*[escape(c) for c in cells])
    console.print(table)
