"""What is in the data and what is wrong with it: one report, as a dict, a rich table or markdown."""
from __future__ import annotations

from collections import Counter

import numpy as np

from textclf.data.features import cut_tokens, pair_room, window_counts
from textclf.data.prepare import MERGED_VARIANTS, PreparedData
from textclf.model_settings import DEFAULT_MAX_WINDOWS


def token_lengths(texts: list[str], tokenizer, pairs: list[str] | None = None) -> np.ndarray:
    enc = tokenizer(texts, pairs, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
    return np.array([len(ids) for ids in enc])


def _label_counts(labels: list, names) -> dict[str, int]:
    """Rows per label; a multi-label row counts once for each label it carries."""
    counts = Counter(v for row in labels for v in (row if isinstance(row, tuple) else (row,)))
    return {n: counts[n] for n in names}


def length_histogram(lengths: np.ndarray, sizes: dict[str, int], bins: int = 60) -> dict:
    """Token lengths per split as counts over shared bin edges (`lengths` holds the splits'
    texts in the order of `sizes`)."""
    step = max(1, -(-(int(lengths.max()) + 1) // bins))   # whole tokens per bin: no aliasing
    edges = np.arange(0, int(lengths.max()) + step + 1, step)
    out, start = {"edges": edges.tolist()}, 0
    for name, n in sizes.items():
        out[name] = np.histogram(lengths[start:start + n], bins=edges)[0].tolist()
        start += n
    return out


def data_report(data: PreparedData, tokenizer=None, max_length: int = 128, *, long_text: str = "chunk",
                stride: int = 32, max_windows: int | None = DEFAULT_MAX_WINDOWS) -> dict:
    if data.labels.multi_label:
        names = list(data.labels.names)
    else:
        names = sorted({lab for s in data.splits.values() for lab in s.labels})
    report: dict = {
        "task": data.labels.task + (" (text pairs)" if data.has_pairs else ""),
        "rows": {s: len(sp.texts) for s, sp in data.splits.items()},
        "dropped": data.dropped,
        "duplicate_rows": data.duplicates.duplicate_rows,
        "conflicting_duplicates": [{"text": t[:120], "labels": labs}
                                   for t, labs in data.duplicates.conflicting],
        "label_variants": data.variants,
        "labels": {s: _label_counts(sp.labels, names) for s, sp in data.splits.items()},
        "notes": data.notes,
    }
    if tokenizer is not None:
        splits = list(data.splits.values())
        pairs = [p for s in splits for p in s.pairs] if data.has_pairs else None
        lengths = token_lengths([t for s in splits for t in s.texts], tokenizer, pairs)
        report["token_length"] = {f"p{q}": int(np.percentile(lengths, q)) for q in (50, 90, 95, 99)}
        report["token_length"]["max"] = int(lengths.max())
        report["max_length"] = max_length
        report["over_max_length"] = int((lengths > max_length).sum())
        if long_text == "chunk" and max_windows:
            report["windows"] = capped_windows(splits, tokenizer, lengths, max_length, stride, max_windows)
        report["token_length_histogram"] = length_histogram(
            lengths, {s: len(sp.texts) for s, sp in data.splits.items()})
    if data.labels.multi_label:
        report["label_cardinality"] = {s: round(float(np.mean([len(r) for r in sp.labels])), 4)
                                       for s, sp in data.splits.items()}
    return report


def capped_windows(splits, tokenizer, lengths, max_length: int, stride: int, max_windows: int) -> dict:
    """How many texts make more than max_windows windows, and how many windows they lose."""
    pair_lengths = None
    if splits and splits[0].pairs is not None:   # the second texts as encode() cuts them
        pairs = cut_tokens(tokenizer, [p for s in splits for p in s.pairs],
                           pair_room(tokenizer, max_length, stride))
        pair_lengths = token_lengths(pairs, tokenizer) - tokenizer.num_special_tokens_to_add(pair=False)
        lengths = token_lengths([t for s in splits for t in s.texts], tokenizer, pairs)
    counts = window_counts(lengths, tokenizer, max_length=max_length, stride=stride,
                           pair_lengths=pair_lengths)
    over = counts > max_windows
    return {"max_windows": max_windows, "total": int(counts.sum()), "capped_texts": int(over.sum()),
            "dropped": int((counts[over] - max_windows).sum())}


def warnings(report: dict) -> list[str]:
    out = []
    merged = any(n.startswith(MERGED_VARIANTS) for n in report["notes"])
    if report["label_variants"] and not merged:
        groups = "; ".join("/".join(g) for g in report["label_variants"].values())
        out.append(f"labels differ only by case/whitespace: {groups} (use --normalize-labels)")
    if report["conflicting_duplicates"]:
        out.append(f"{len(report['conflicting_duplicates'])} duplicate texts carry conflicting labels")
    if report["dropped"]:
        out.append("dropped rows: " + ", ".join(f"{n} with {k}" for k, n in report["dropped"].items()))
    if report.get("over_max_length"):
        out.append(f"{report['over_max_length']} texts exceed max_length={report['max_length']} "
                   "tokens (truncated, or split into windows with --long-text chunk)")
    capped = report.get("windows", {})
    if capped.get("capped_texts"):
        out.append(f"{capped['capped_texts']} texts make more than {capped['max_windows']} windows; each keeps "
                   f"{capped['max_windows']} evenly spaced ones ({capped['dropped']:,} of {capped['total']:,} "
                   "windows left out; --max-windows)")
    return out + list(report["notes"])


def to_markdown(report: dict) -> str:
    splits = list(report["rows"])
    lines = ["| label | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    for lab in report["labels"][splits[0]]:
        cells = []
        for s in splits:
            n, tot = report["labels"][s][lab], max(report["rows"][s], 1)
            cells.append(f"{n} ({100 * n / tot:.1f}%)")
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    lines.append("| **rows** | " + " | ".join(str(report["rows"][s]) for s in splits) + " |")
    lines.append("")
    lines.append(f"- task: {report['task']}")
    if "label_cardinality" in report:
        lines.append("- labels per row: " + ", ".join(f"{k} {v:.3f}" for k, v in report["label_cardinality"].items()))
    lines.append(f"- duplicate rows (normalised text): {report['duplicate_rows']} "
                 "(kept within one split)")
    if "token_length" in report:
        tl = report["token_length"]
        lines.append("- token length: " + ", ".join(f"{k} {v}" for k, v in tl.items()))
    lines += [f"- {w}" for w in warnings(report)]
    return "\n".join(lines)


def print_report(report: dict, console) -> None:
    from rich.table import Table

    splits = list(report["rows"])
    table = Table(title="Data", title_justify="left")
    table.add_column("label")
    for s in splits:
        table.add_column(s, justify="right")
    for lab in report["labels"][splits[0]]:
        table.add_row(lab, *[f"{report['labels'][s][lab]} ({100 * report['labels'][s][lab] / max(report['rows'][s], 1):.1f}%)"
                             for s in splits])
    table.add_row("[bold]rows", *[f"[bold]{report['rows'][s]}" for s in splits])
    console.print(table)
    console.print(f"task: {report['task']}")
    if "label_cardinality" in report:
        console.print("labels per row: " + ", ".join(f"{k} {v:.3f}" for k, v in report["label_cardinality"].items()))
    console.print(f"duplicate rows (normalised text): {report['duplicate_rows']}, kept within one split")
    if "token_length" in report:
        tl = report["token_length"]
        console.print("token length: " + ", ".join(f"{k} {v}" for k, v in tl.items()))
    for w in warnings(report):
        console.print(f"[yellow]! {w}")
