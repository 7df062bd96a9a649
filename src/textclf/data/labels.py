"""LabelSpace: task type, label names (original spelling kept), encoding, positive class."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from textclf.errors import DataError


def _norm(label: str) -> str:
    return " ".join(label.split()).lower()


def label_variants(values: list[str]) -> dict[str, list[str]]:
    """Labels that differ only by case or whitespace, grouped by their normal form."""
    groups: dict[str, set[str]] = {}
    for v in set(values):
        groups.setdefault(_norm(v), set()).add(v)
    return {k: sorted(g) for k, g in groups.items() if len(g) > 1}


def normalize_labels(values: list[str]) -> list[str]:
    """Map each label to the most frequent spelling of its case/whitespace-normal form."""
    counts = Counter(values)
    best: dict[str, str] = {}
    for v, _ in counts.most_common():
        best.setdefault(_norm(v), v)
    return [best[_norm(v)] for v in values]


def match_labels(values: list[str], names: tuple[str, ...]) -> list[str]:
    """Map case/whitespace variants onto the spelling in `names` (e.g. a trained model's labels)."""
    known = {_norm(n): n for n in names}
    return [known.get(_norm(v), v) for v in values]


def remap_labels(rows: list, mapping: dict[str, str], *, source: str = "the data") -> list:
    """Rename labels per `mapping` (several names may map onto one, which merges them); labels not
    in it stay. Multi-label rows (lists) are mapped item by item, a merged name listed once. A
    mapped name that occurs nowhere is an error: it is almost always a typo."""
    seen = {v for r in rows for v in (r if isinstance(r, (list, tuple)) else [r])}
    unknown = sorted(k for k in mapping if k not in seen)
    if unknown:
        raise DataError(f"--label-map names {unknown[0]!r}, which is not a label in {source} "
                        f"(labels found: {', '.join(sorted(map(str, seen))[:20])}).")

    def one(r):
        if isinstance(r, (list, tuple)):
            return list(dict.fromkeys(mapping.get(v, v) for v in r))
        return mapping.get(r, r)
    return [one(r) for r in rows]


BALANCED_RATIO = 1.5


def is_balanced(counts) -> bool:
    """Class counts within BALANCED_RATIO of each other: no class weights needed ('auto'),
    and a binary task has no minority class to score."""
    counts = list(counts)
    return max(counts) <= BALANCED_RATIO * min(counts)


# names that say which side of a balanced binary task is the "positive" one
NEGATIVE_NAMES = frozenset({"0", "false", "no", "negative", "neg", "ham", "legitimate", "benign",
                            "safe", "normal", "not_entailment"})
POSITIVE_NAMES = frozenset({"1", "true", "yes", "positive", "pos"})


def named_positive(names) -> str | None:
    """The class a two-class task's names call positive (1 of 0/1, positive of negative/positive,
    phishing of legitimate/phishing), or None when the names do not say."""
    lowered = [n.strip().lower() for n in names]
    for marked, pick_other in ((NEGATIVE_NAMES, True), (POSITIVE_NAMES, False)):
        hits = [i for i, n in enumerate(lowered) if n in marked]
        if len(hits) == 1:
            return names[1 - hits[0]] if pick_other else names[hits[0]]
    return None


def _sort_key(name: str):
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


@dataclass(frozen=True)
class LabelSpace:
    names: tuple[str, ...]
    positive: str | None = None   # binary only: the class whose F1 is the primary metric
    multi_label: bool = False     # each text carries a set of labels (0, 1 or more)
    primary: str | None = None    # the primary metric when the rule below does not apply

    @property
    def task(self) -> str:
        if self.multi_label:
            return "multilabel"
        return "binary" if len(self.names) == 2 else "multiclass"

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    @property
    def positive_id(self) -> int | None:
        return None if self.positive is None else self.names.index(self.positive)

    @property
    def primary_metric(self) -> str:
        if self.primary:
            return self.primary
        return "f1_positive" if self.task == "binary" else "macro_f1"

    def encode(self, values: list, source: str = "the data"):
        """Single-label: a list of ids. Multi-label (values are label tuples): an (n, k) 0/1 matrix."""
        ids = self.label2id
        if self.multi_label:
            unknown = sorted({v for row in values for v in row if v not in ids})
        else:
            unknown = sorted({v for v in values if v not in ids})
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5])
            raise DataError(f"{source} has labels the model does not know ({shown}); "
                            f"known labels are: {', '.join(self.names)}.")
        if self.multi_label:
            import numpy as np
            out = np.zeros((len(values), len(self.names)), dtype=np.float32)
            for r, row in enumerate(values):
                out[r, [ids[v] for v in row]] = 1.0
            return out
        return [ids[v] for v in values]

    @classmethod
    def from_label_sets(cls, sets: list[tuple[str, ...]], names: list[str] | None = None) -> "LabelSpace":
        """Multi-label: names in the given order (e.g. a names file), else sorted; every name must
        occur at least once, since a label without positives can be neither learned nor scored."""
        counts = Counter(v for row in sets for v in row)
        if names is None:
            names = sorted(counts, key=_sort_key)
        variants = label_variants(list(names))
        if variants:
            shown = "; ".join("/".join(g) for g in variants.values())
            raise DataError(f"Labels differ only by case or whitespace ({shown}); "
                            "pass --normalize-labels to merge them.")
        if len(names) < 2:
            raise DataError(f"Multi-label data needs at least two labels; found {len(names)}.")
        never = [n for n in names if counts[n] == 0]
        if never:
            raise DataError(f"Label {never[0]!r} has no positive example in the training data; "
                            "drop it or add examples.")
        return cls(names=tuple(names), multi_label=True)

    @classmethod
    def from_values(cls, values: list[str], positive: str | None = None) -> "LabelSpace":
        counts = Counter(values)
        if len(counts) < 2:
            only = next(iter(counts), "nothing")
            raise DataError(f"The labels have a single class ({only!r}); a classifier needs at least two.")
        variants = label_variants(values)
        if variants:
            shown = "; ".join("/".join(g) for g in variants.values())
            raise DataError(f"Labels differ only by case or whitespace ({shown}); "
                            "pass --normalize-labels to merge them.")
        names = tuple(sorted(counts, key=_sort_key))
        primary = None
        if len(names) == 2:
            if positive is None:   # the minority class is the one people care about
                positive = min(names, key=lambda n: (counts[n], _sort_key(n)))
                if is_balanced(counts.values()):
                    # no minority worth the name (697 against 703 reviews), so the names say
                    # which class the report calls positive; one class's F1 would prefer a model
                    # that predicts only that class (F1 0.67 on a 50/50 split), so checkpoints
                    # are chosen by macro-F1
                    positive = named_positive(names) or positive
                    primary = "macro_f1"
            elif positive not in names:
                raise DataError(f"--positive-label {positive!r} is not a label; labels are: {', '.join(names)}.")
        else:
            positive = None
        return cls(names=names, positive=positive, primary=primary)

    @classmethod
    def from_config(cls, config) -> "LabelSpace":
        names = tuple(config.id2label[i] for i in range(len(config.id2label)))
        from textclf.model_settings import ModelSettings
        settings = ModelSettings.of(config)
        multi = getattr(config, "problem_type", None) == "multi_label_classification"
        return cls(names=names, positive=settings.positive_label, multi_label=multi,
                   primary=settings.primary_metric)
