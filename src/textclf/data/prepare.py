"""From a DataConfig to labelled train/validation/test splits with a LabelSpace beside them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from textclf.config import DataConfig
from textclf.data.labels import LabelSpace, label_variants, normalize_labels, remap_labels
from textclf.data.load import LabelledData, load_labelled
from textclf.data.row_edits import edit_rows
from textclf.data.split import (SPLITS, Duplicates, cross_split_duplicates, find_duplicates,
                                stratified_group_split)
from textclf.errors import DataError, MissingColumnError

SPLIT_ALIASES = {
    "train": "train", "training": "train", "trn": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "development": "validation", "trial": "validation",
    "test": "test", "testing": "test", "tst": "test",
}


MERGED_VARIANTS = "merged labels differing only by case/whitespace: "   # the note --normalize-labels leaves

@dataclass
class Split:
    texts: list[str]
    labels: list          # a label per row; a tuple of labels per row for multi-label data
    source: str
    rows: list[int]       # row numbers within `source`, so the split can be reproduced
    pairs: list[str] | None = None


@dataclass
class PreparedData:
    splits: dict[str, Split]
    labels: LabelSpace
    duplicates: Duplicates
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    variants: dict[str, list[str]] = field(default_factory=dict)
    test_is_validation: bool = False   # the test file had no labels: scored on validation

    def split_ids(self) -> dict:
        return {name: {"file": s.source, "rows": s.rows} for name, s in self.splits.items()}

    @property
    def has_pairs(self) -> bool:
        return self.splits["train"].pairs is not None


def read_label_names(spec: str | None) -> list[str] | None:
    """Label names for label ids: a file with one name per line, or a comma-separated list."""
    if not spec:
        return None
    path = Path(spec)
    if path.is_file():
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        names = [n.strip() for n in spec.split(",") if n.strip()]
    if len(names) < 2:
        raise DataError(f"--label-names {spec} gives {len(names)} name(s); give a file with one "
                        "name per line or a comma-separated list.")
    return names


def _load(path: str, cfg: DataConfig, *, task: str | None = None, split_col: str | None = None,
          require_labels: bool = True, label_names: list[str] | None = None) -> LabelledData:
    """One data file; `label_names` (label columns the training file settled on) overrides
    cfg.label_names so validation and test files read exactly those columns."""
    return load_labelled(path, text_col=cfg.text_col, label_col=cfg.label_col,
                         no_header=cfg.no_header, columns=cfg.columns, sep=cfg.sep,
                         text_pair_col=cfg.text_pair_col, label_cols=cfg.label_cols,
                         label_sep=cfg.label_sep,
                         label_names=label_names or read_label_names(cfg.label_names),
                         task=task or cfg.task, split_col=split_col, require_labels=require_labels)


def _by_split_column(main: LabelledData, cfg: DataConfig) -> dict[str, LabelledData]:
    mapping = {str(k).strip().lower(): v for k, v in (cfg.split_map or {}).items()}
    bad_target = sorted(set(mapping.values()) - set(SPLITS))
    if bad_target:
        raise DataError(f"--split-map maps to {bad_target[0]!r}; targets must be train, validation or test.")
    seen = sorted(set(main.split))
    target = {}
    for v in seen:
        t = mapping.get(v.lower()) or SPLIT_ALIASES.get(v.lower())
        if t is None:
            raise DataError(f"Split column value {v!r} is not train/validation/test; map it, e.g. "
                            f"--split-map {v}=test (values found: {', '.join(seen)}).")
        target[v] = t
    out = {}
    for s in SPLITS:
        idx = [i for i, v in enumerate(main.split) if target[v] == s]
        if idx:
            out[s] = main.subset(idx)
    if "train" not in out:
        raise DataError(f"No row of the split column '{cfg.split_col}' maps to train.")
    return out


def _relabel(files: list[LabelledData], fn) -> None:
    """Apply `fn` (labels of every file, concatenated -> as many new labels) across all the files
    at once, so a mapping or merge sees every label, then hand each file its own part back."""
    new = fn([lab for d in files for lab in d.labels])
    for d in files:
        d.labels, new = new[:len(d.labels)], new[len(d.labels):]


def _to_split(d: LabelledData, idx: list[int] | None = None) -> Split:
    d = d if idx is None else d.subset(idx)
    return Split(d.texts, d.labels, d.source, d.rows, d.pairs)


@dataclass
class DataFiles:
    """The files of a DataConfig, read, with label maps and normalisation applied, not yet split:
    `main` (the training file, or its train rows under --split-col) and `given` (validation/test
    rows from files or the split column)."""
    main: LabelledData
    given: dict[str, LabelledData]
    notes: list[str]
    variants: dict[str, list[str]]
    test_is_validation: bool = False

    @property
    def files(self) -> list[LabelledData]:
        return [self.main, *self.given.values()]


def read_files(cfg: DataConfig) -> DataFiles:
    """Read the training file and any --valid/--test files (or split column), apply --label-map,
    find label variants and merge them under --normalize-labels."""
    main = _load(cfg.train, cfg, split_col=cfg.split_col)
    task = "multilabel" if main.multi_label else "single"
    given: dict[str, LabelledData] = {}
    notes = [f"picked {', '.join(main.picked)}"] if main.picked else []
    notes += main.warnings
    if cfg.split_col:
        if cfg.valid or cfg.test:
            raise DataError("Give either --split-col or --valid/--test files, not both.")
        given = _by_split_column(main, cfg)
        dropped_rows, main = main.dropped, given.pop("train")
        main.dropped = dropped_rows
    test_is_validation = False
    for name, path in (("validation", cfg.valid), ("test", cfg.test)):
        if not path:
            continue
        try:
            given[name] = _load(path, cfg, task=task,
                                label_names=main.label_names if cfg.label_cols else None)
        except MissingColumnError as exc:
            if name != "test" or exc.what != "label":
                raise
            test_is_validation = True
            notes.append(f"test file {path} has no labels, so test metrics are computed on the "
                         "validation split (which also picked the checkpoint)")
    files = [main, *given.values()]
    if cfg.label_map:   # names as they are in the files, before variants are looked for or merged
        _relabel(files, lambda labs: remap_labels(
            labs, cfg.label_map, source=cfg.train if len(files) == 1 else "the data files"))
    if main.multi_label:
        variants = label_variants(sorted({v for d in files for row in d.labels for v in row}))
    else:
        variants = label_variants([lab for d in files for lab in d.labels])
    if cfg.normalize_labels and not main.multi_label:
        _relabel(files, normalize_labels)
        if variants:
            notes.append(MERGED_VARIANTS + "; ".join("/".join(g) for g in variants.values()))
    return DataFiles(main, given, notes, variants, test_is_validation)


def _edited(splits: dict[str, Split], cfg: DataConfig, notes: list[str]) -> dict[str, Split]:
    """--drop-rows / --relabel applied to the splits drawn from the training file, after the split
    (so a run with them has the same split as one without, less the dropped rows)."""
    names = [s for s, sp in splits.items() if sp.source == cfg.train]
    edited, note = edit_rows([splits[s] for s in names], cfg.drop_rows or [], cfg.relabel or {}, cfg.train)
    notes.append(note)
    return dict(zip(names, edited))


def prepare(cfg: DataConfig, *, seed: int = 42, check_labels: bool = True) -> PreparedData:
    read = read_files(cfg)
    main, given, notes, variants = read.main, read.given, read.notes, read.variants
    test_is_validation, files = read.test_is_validation, read.files

    missing = [s for s in ("validation", "test") if s not in given and not
               (s == "test" and test_is_validation)]
    splits: dict[str, Split] = {}
    if missing:
        share = {"validation": cfg.valid_size, "test": cfg.test_size}
        idx = stratified_group_split(main.texts, main.labels, pairs=main.pairs, seed=seed,
                                     valid_size=share["validation"] if "validation" in missing else 0.0,
                                     test_size=share["test"] if "test" in missing else 0.0)
        for s in ("train", *missing):
            splits[s] = _to_split(main, idx[s])
    else:
        splits["train"] = _to_split(main)
    for s, d in given.items():
        splits[s] = _to_split(d)
        leaked = cross_split_duplicates(splits["train"].texts, d.texts, splits["train"].pairs, d.pairs)
        if leaked:
            notes.append(f"{leaked} {s} texts also occur in train (after normalising case/space)")
    if cfg.drop_rows or cfg.relabel:
        splits.update(_edited(splits, cfg, notes))
    if test_is_validation:
        splits["test"] = splits["validation"]
    splits = {s: splits[s] for s in SPLITS}
    empty = [s for s in SPLITS if not splits[s].texts]
    if empty:
        raise DataError(f"The {empty[0]} split is empty: too few distinct texts to split "
                        f"{cfg.train} three ways; add data or give --valid/--test files.")

    if main.multi_label:
        space = LabelSpace.from_label_sets([r for d in files for r in d.labels], names=main.label_names)
        rare = [n for n in space.names if sum(n in r for r in splits["train"].labels) < 10]
        if rare:
            notes.append(f"{len(rare)} label(s) have fewer than 10 positives in train "
                         f"({', '.join(rare[:8])}); their scores are unreliable")
    elif check_labels:
        space = LabelSpace.from_values(splits["train"].labels, positive=cfg.positive_label)
        for s in ("validation", "test"):
            space.encode(splits[s].labels, source=f"The {s} split")
    else:
        space = LabelSpace(names=tuple(sorted({lab for d in files for lab in d.labels})))
    dropped: dict[str, int] = {}
    for d in files:
        for k, n in d.dropped.items():
            dropped[k] = dropped.get(k, 0) + n
    return PreparedData(splits=splits, labels=space, dropped=dropped, notes=notes, variants=variants,
                        duplicates=find_duplicates(main.texts, main.labels, main.pairs),
                        test_is_validation=test_is_validation)
