"""What is in the data and what is wrong with it: one report, as a dict, a rich table or markdown."""
from __future__ import annotations

from collections import Counter

import numpy as np

from textclf.data.prepare import PreparedData


def token_lengths(texts: list[str], tokenizer) -> np.ndarray:
    enc = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
    return np.array([len(ids) for ids in enc])


def data_report(data: PreparedData, tokenizer=None, max_length: int = 128) -> dict:
    names = sorted({lab for s in data.splits.values() for lab in s.labels})
    report: dict = {
        "rows": {s: len(sp.texts) for s, sp in data.splits.items()},
        "dropped": data.dropped,
        "duplicate_rows": data.duplicates.duplicate_rows,
        "conflicting_duplicates": [{"text": t[:120], "labels": labs}
                                   for t, labs in data.duplicates.conflicting],
        "label_variants": data.variants,
        "labels": {s: {n: Counter(sp.labels)[n] for n in names} for s, sp in data.splits.items()},
        "notes": data.notes,
    }
    if tokenizer is not None:
        lengths = token_lengths([t for s in data.splits.values() for t in s.texts], tokenizer)
        report["token_length"] = {f"p{q}": int(np.percentile(lengths, q)) for q in (50, 90, 95, 99)}
        report["token_length"]["max"] = int(lengths.max())
        report["max_length"] = max_length
        report["over_max_length"] = int((lengths > max_length).sum())
    return report


def warnings(report: dict) -> list[str]:
    out = []
    if report["label_variants"]:
        groups = "; ".join("/".join(g) for g in report["label_variants"].values())
        out.append(f"labels differ only by case/whitespace: {groups} (use --normalize-labels)")
    if report["conflicting_duplicates"]:
        out.append(f"{len(report['conflicting_duplicates'])} duplicate texts carry conflicting labels")
    if report["dropped"]:
        out.append("dropped rows: " + ", ".join(f"{n} with {k}" for k, n in report["dropped"].items()))
    if report.get("over_max_length"):
        out.append(f"{report['over_max_length']} texts exceed max_length={report['max_length']} "
                   "tokens and will be truncated")
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
    console.print(f"duplicate rows (normalised text): {report['duplicate_rows']}, kept within one split")
    if "token_length" in report:
        tl = report["token_length"]
        console.print("token length: " + ", ".join(f"{k} {v}" for k, v in tl.items()))
    for w in warnings(report):
        console.print(f"[yellow]! {w}")
