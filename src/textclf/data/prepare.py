"""From a DataConfig to labelled train/validation/test splits with a LabelSpace beside them."""
from __future__ import annotations

from dataclasses import dataclass, field

from textclf.config import DataConfig
from textclf.data.labels import LabelSpace, label_variants, normalize_labels
from textclf.data.load import LabelledData, load_labelled
from textclf.errors import DataError
from textclf.data.split import (SPLITS, Duplicates, cross_split_duplicates, find_duplicates,
                                stratified_group_split)


@dataclass
class Split:
    texts: list[str]
    labels: list[str]
    source: str
    rows: list[int]     # row numbers within `source`, so the split can be reproduced


@dataclass
class PreparedData:
    splits: dict[str, Split]
    labels: LabelSpace
    duplicates: Duplicates
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    variants: dict[str, list[str]] = field(default_factory=dict)

    def split_ids(self) -> dict:
        return {name: {"file": s.source, "rows": s.rows} for name, s in self.splits.items()}


def _load(path: str, cfg: DataConfig) -> LabelledData:
    return load_labelled(path, text_col=cfg.text_col, label_col=cfg.label_col,
                         no_header=cfg.no_header, columns=cfg.columns, sep=cfg.sep)


def _subset(d: LabelledData, idx: list[int]) -> Split:
    return Split([d.texts[i] for i in idx], [d.labels[i] for i in idx], d.source,
                 [d.rows[i] for i in idx])


def prepare(cfg: DataConfig, *, seed: int = 42, check_labels: bool = True) -> PreparedData:
    main = _load(cfg.train, cfg)
    given = {name: _load(p, cfg) for name, p in (("validation", cfg.valid), ("test", cfg.test)) if p}
    files = [main, *given.values()]
    variants = label_variants([lab for d in files for lab in d.labels])
    if cfg.normalize_labels:
        merged = normalize_labels([lab for d in files for lab in d.labels])
        for d in files:
            d.labels, merged = merged[:len(d.labels)], merged[len(d.labels):]
    notes = [f"picked {', '.join(main.picked)}"] if main.picked else []
    if variants and cfg.normalize_labels:
        notes.append("merged labels differing only by case/whitespace: "
                     + "; ".join("/".join(g) for g in variants.values()))

    missing = [s for s in ("validation", "test") if s not in given]
    splits: dict[str, Split] = {}
    if missing:
        share = {"validation": cfg.valid_size, "test": cfg.test_size}
        v = share["validation"] if "validation" in missing else 0.0
        t = share["test"] if "test" in missing else 0.0
        idx = stratified_group_split(main.texts, main.labels, valid_size=v, test_size=t, seed=seed)
        for s in ("train", *missing):
            splits[s] = _subset(main, idx[s])
    else:
        splits["train"] = _subset(main, list(range(len(main.texts))))
    for s, d in given.items():
        splits[s] = _subset(d, list(range(len(d.texts))))
        leaked = cross_split_duplicates(splits["train"].texts, d.texts)
        if leaked:
            notes.append(f"{leaked} {s} texts also occur in train (after normalising case/space)")
    splits = {s: splits[s] for s in SPLITS}
    empty = [s for s in SPLITS if not splits[s].texts]
    if empty:
        raise DataError(f"The {empty[0]} split is empty: too few distinct texts to split "
                        f"{cfg.train} three ways; add data or give --valid/--test files.")

    all_labels = [lab for d in files for lab in d.labels]
    if check_labels:
        space = LabelSpace.from_values(splits["train"].labels, positive=cfg.positive_label)
        for s in ("validation", "test"):
            space.encode(splits[s].labels, source=f"The {s} split")
    else:
        space = LabelSpace(names=tuple(sorted(set(all_labels))))
    dropped: dict[str, int] = {}
    for d in files:
        for k, n in d.dropped.items():
            dropped[k] = dropped.get(k, 0) + n
    return PreparedData(splits=splits, labels=space, dropped=dropped, notes=notes, variants=variants,
                        duplicates=find_duplicates(main.texts, main.labels))
