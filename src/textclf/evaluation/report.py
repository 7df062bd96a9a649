"""Reports: a rich table for the terminal, report.md for the run, a confusion-matrix plot."""
from __future__ import annotations


from textclf.data.checks import to_markdown as data_markdown
from textclf.evaluation.thresholds import MIN_GAIN

HEADLINE = ("accuracy", "macro_f1", "weighted_f1", "mcc", "roc_auc", "pr_auc")
MULTILABEL_HEADLINE = ("micro_f1", "macro_f1", "weighted_f1", "samples_f1", "subset_accuracy",
                       "hamming_loss", "label_cardinality", "predicted_cardinality", "roc_auc", "pr_auc")


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.4f}"


def headline_keys(m: dict) -> list[str]:
    if m.get("task") == "multilabel":
        return [k for k in MULTILABEL_HEADLINE if k in m]
    keys = (["f1_positive"] if m.get("task") == "binary" else []) + list(HEADLINE)
    return [k for k in keys if k in m]


def _label(k: str, m: dict) -> str:
    return f"F1 ({m['positive_label']})" if k == "f1_positive" else k


def comparison_markdown(model_m: dict, base_m: dict | None) -> str:
    cols = ["textclf"] + (["TF-IDF + LR"] if base_m else [])
    lines = ["| metric | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for k in headline_keys(model_m):
        cells = [_fmt(model_m.get(k))] + ([_fmt(base_m.get(k))] if base_m else [])
        lines.append(f"| {_label(k, model_m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _extra_cols(m: dict) -> list[str]:
    first = next(iter(m["per_class"].values()))
    return [k for k in ("threshold", "train_positives") if k in first]


def per_class_markdown(m: dict) -> str:
    extra = _extra_cols(m)
    lines = ["| class | precision | recall | F1 | support |" + "".join(f" {e} |" for e in extra),
             "|---|---:|---:|---:|---:|" + "---:|" * len(extra)]
    rare = set(m.get("rare_labels", []))
    for name, c in m["per_class"].items():
        flag = " ⚠ rare" if name in rare else ""
        lines.append(f"| {name}{flag} | {c['precision']:.4f} | {c['recall']:.4f} | {c['f1']:.4f} | "
                     f"{c['support']} |" + "".join(f" {c[e]:g} |" for e in extra))
    if rare:
        lines.append(f"\n⚠ rare: fewer than 10 positives in train ({len(rare)} labels); "
                     "their scores rest on very few examples.")
    return "\n".join(lines)


def confusion_markdown(m: dict) -> str:
    names = list(m["per_class"])
    lines = ["| true \\ predicted | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for name, row in zip(names, m["confusion_matrix"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def verdict_line(model_m: dict, base_m: dict, cmp: dict | None) -> str:
    """Did fine-tuning pay off? Says 'no clear difference' when McNemar's test cannot tell."""
    k = model_m["primary_metric"]
    diff = model_m[k] - base_m[k]
    head = f"{_label(k, model_m)}: textclf {model_m[k]:.4f} vs TF-IDF baseline {base_m[k]:.4f} ({diff:+.4f})"
    if not cmp:
        return head + "."
    detail = (f"textclf alone right on {cmp['model_only_right']} test texts, the baseline alone on "
              f"{cmp['baseline_only_right']} (McNemar p={cmp['mcnemar_p']:.3g})")
    if cmp["mcnemar_p"] < 0.05:
        winner = "fine-tuning beat the baseline" if cmp["model_only_right"] > cmp["baseline_only_right"] \
            else "the baseline beat fine-tuning"
        return f"{head}; {winner}: {detail}."
    return f"{head}; no significant difference: {detail}."


def ensemble_line(metrics: dict) -> str | None:
    """What the TF-IDF ensemble did: which figure the saved model's predictions give, and the
    fine-tuned model's alone (None where the run has no ensemble record)."""
    e = metrics.get("ensemble")
    if not e:
        return None
    if not e.get("applied"):
        return f"Predictions are the fine-tuned model's alone (TF-IDF ensemble not used: {e.get('reason')})."
    test, alone = metrics["test"], metrics.get("transformer") or {}
    k = test["primary_metric"]
    return (f"Predictions combine the fine-tuned model with the TF-IDF model (a stacker fitted on "
            f"validation; held-out gain {e['heldout_gain']:+.4f}): test {_label(k, test)} {test[k]:.4f}, "
            f"the fine-tuned model alone {alone.get(k, float('nan')):.4f} (what transformers.pipeline "
            f"gives from the model dir).")


def calibration_line(cal: dict) -> str:
    return (f"Probabilities are temperature-scaled (T = {cal['temperature']:.3f}, fitted on validation): "
            f"expected calibration error {cal['ece_valid_before']:.4f} -> {cal['ece_valid_after']:.4f} "
            f"on validation, {cal['ece_test_before']:.4f} -> {cal['ece_test_after']:.4f} on test."
            + offsets_sentence(cal.get("label_offsets")))


def offsets_sentence(record: dict | None) -> str:
    """' Each label's logit is then lowered ...' for a multi-label model with positive weights."""
    if not record:
        return ""
    low, high = min(record["offsets"]), max(record["offsets"])
    return (f" Each label's logit is then lowered by {record['share']:g} x the log of the positive weight "
            f"its loss used ({-high:.2f} to {-low:.2f}), so rare labels are not over-predicted.")


def refit_sentence(refit: dict | None) -> str:
    """' Then refit on ...' for a run whose model was trained again on train + validation; else ''."""
    if not refit:
        return ""
    return (f" The saved model was then refit on train + validation ({refit['rows']} rows) for "
            f"{refit['epochs']} epoch{'s' if refit['epochs'] != 1 else ''} ({refit['seconds']:.0f} s), "
            "with the temperature and thresholds chosen on validation.")


def decision_line(d: dict) -> str:
    """One sentence on the binary decision threshold: tuned and used, or 0.5 kept."""
    metric = "macro-F1" if d["metric"] == "macro_f1" else f"{d['label']} F1"
    gain = f"{d['heldout_gain']:+.4f} {metric} on held-out halves of validation"
    if d["applied"]:
        return (f"Decision threshold: '{d['label']}' when its probability is at least {d['threshold']:.3f} "
                f"(tuned on validation; {gain}), built into the model so argmax decides there.")
    return (f"Decision threshold: 0.5 kept (tuned: {d['tuned']:.3f}, {gain}; "
            f"a threshold is used from a gain of {MIN_GAIN}).")


def run_report(name: str, cfg, metrics: dict, data_report: dict) -> str:
    model_m, base_m = metrics["test"], metrics.get("baseline")
    t = metrics["training"]
    verdict = ""
    if base_m:
        verdict = "\n" + verdict_line(model_m, base_m, metrics.get("comparison")) + "\n"
    if "confusion_matrix" in model_m:
        plots = (f"### Confusion matrix\n\n{confusion_markdown(model_m)}\n\n"
                 "![confusion matrix](confusion_matrix.png)")
    else:
        plots = "### F1 per label\n\n![F1 per label](per_label_f1.png)"
    scored_on = f" — scored on {model_m['scored_on']}" if model_m.get("scored_on") else ""
    cal = metrics.get("calibration")
    calibration = f"\n{calibration_line(cal)}\n" if cal else ""
    if metrics.get("decision"):
        calibration += f"\n{decision_line(metrics['decision'])}\n"
    if line := ensemble_line(metrics):
        calibration += f"\n{line}\n"
    return f"""# textclf run: {name}

Base model `{cfg.model}`, task **{model_m['task']}**, trained on `{cfg.data.train}`.
Best epoch {t['best_epoch']} of {t['epochs_run']:g} by validation {model_m['primary_metric']}
({t['best_valid']:.4f}); training took {t['seconds']:.0f} s.{refit_sentence(t.get('refit'))}

## Test split ({model_m['n']} rows){scored_on}

{comparison_markdown(model_m, base_m)}
{verdict}{calibration}
### Per class

{per_class_markdown(model_m)}

{plots}

## Data

{data_markdown(data_report)}
"""


def print_metrics(console, model_m: dict, base_m: dict | None = None, title: str = "Test") -> None:
    from rich.table import Table

    table = Table(title=f"{title} ({model_m['n']} rows)", title_justify="left")
    table.add_column("metric")
    table.add_column("textclf", justify="right")
    if base_m:
        table.add_column("TF-IDF + LR", justify="right")
    for k in headline_keys(model_m):
        table.add_row(_label(k, model_m), _fmt(model_m.get(k)),
                      *([_fmt(base_m.get(k))] if base_m else []))
    console.print(table)
    extra = _extra_cols(model_m)
    rare = set(model_m.get("rare_labels", []))
    per = Table(title="Per class", title_justify="left")
    for col in ("class", "precision", "recall", "F1", "support", *extra):
        per.add_column(col, justify="left" if col == "class" else "right")
    for name, c in model_m["per_class"].items():
        per.add_row(name + (" [yellow](rare)" if name in rare else ""), _fmt(c["precision"]),
                    _fmt(c["recall"]), _fmt(c["f1"]), str(c["support"]), *[f"{c[e]:g}" for e in extra])
    console.print(per)
