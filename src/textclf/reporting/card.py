"""model/README.md: a Hugging Face model card (YAML metadata + markdown) built from the run dir.

The metadata is written with huggingface_hub's own ModelCardData/EvalResult, so the Hub (and
`huggingface_hub.ModelCard.load`) reads the test metrics back from its model-index.
"""
from __future__ import annotations

from pathlib import Path

from textclf import runs
from textclf.data.checks import warnings as data_warnings
from textclf.evaluation.report import (_label, comparison_markdown, ensemble_line, headline_keys,
                                       verdict_line)
from textclf.reporting.runfiles import RunFiles

FILE = "README.md"
LICENSE_PLACEHOLDER = "other"   # the user sets it: the base model's and the data's terms both apply
MAX_LABELS_LISTED = 30

# textclf metric key -> (model-index metric type, metric config)
METRIC_TYPES = {
    "accuracy": ("accuracy", None), "f1_positive": ("f1", "binary"), "macro_f1": ("f1", "macro"),
    "weighted_f1": ("f1", "weighted"), "micro_f1": ("f1", "micro"), "samples_f1": ("f1", "samples"),
    "mcc": ("matthews_correlation", None), "roc_auc": ("roc_auc", "macro"),
    "pr_auc": ("average_precision", "macro"), "subset_accuracy": ("accuracy", "subset"),
    "hamming_loss": ("hamming_loss", None),
}


def metric_name(key: str, m: dict) -> str:
    """The name a metric carries in the card's model-index (what a reader of the Hub sees)."""
    return _label(key, m)


def card_metrics(m: dict) -> dict[str, float]:
    """{model-index metric name: value} for the test metrics the card publishes."""
    return {metric_name(k, m): float(m[k]) for k in headline_keys(m)
            if k in METRIC_TYPES and m.get(k) is not None}


def _metric_config(key: str, m: dict) -> str | None:
    if m["task"] == "binary" and key in ("roc_auc", "pr_auc"):
        return None   # of the positive class
    return METRIC_TYPES[key][1]


def card_data(run: RunFiles):
    from huggingface_hub import EvalResult, ModelCardData

    m = run.test
    base = (run.environment or {}).get("base_model", {})
    data_file = Path(str(run.config.get("data", {}).get("train", "data")))
    split = "validation" if m.get("scored_on") else "test"
    by_name = {metric_name(k, m): k for k in headline_keys(m)}
    results = [EvalResult(task_type="text-classification", task_name="Text Classification",
                          dataset_type=data_file.stem, dataset_name=data_file.name,
                          dataset_split=split, metric_type=METRIC_TYPES[by_name[name]][0],
                          metric_config=_metric_config(by_name[name], m), metric_name=name,
                          metric_value=value)
               for name, value in card_metrics(m).items()]
    task_tag = {"binary": "binary-classification", "multiclass": "multi-class-classification",
                "multilabel": "multi-label-classification"}.get(m["task"], m["task"])
    return ModelCardData(base_model=base.get("hub_id"), language=base.get("language"),
                         license=LICENSE_PLACEHOLDER, library_name="transformers",
                         pipeline_tag="text-classification", model_name=run.name,
                         tags=["text-classification", "textclf", task_tag], eval_results=results)


def _md_table(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _labels_line(names: list[str]) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:MAX_LABELS_LISTED])
    more = f" and {len(names) - MAX_LABELS_LISTED} more" if len(names) > MAX_LABELS_LISTED else ""
    return shown + more


def _data_summary(run: RunFiles) -> str:
    d = run.metrics.get("data") or {}
    if not d:
        return "No data report was saved with this run."
    rows = [[s, f"{n:,}", Path(run.split_files.get(s) or "").name] for s, n in d["rows"].items()]
    out = [_md_table(["split", "rows", "file"], rows), ""]
    splits = list(d["labels"])
    counts = d["labels"][splits[0]]
    if len(counts) <= MAX_LABELS_LISTED:
        out.append(_md_table(["label", *splits],
                             [[lab, *[f"{d['labels'][s][lab]:,}" for s in splits]] for lab in counts]))
        out.append("")
    else:
        train = sorted(counts.values())
        out.append(f"{len(counts)} labels; training rows per label range from {train[0]} to {train[-1]}.\n")
    out.append(f"- duplicate rows (normalised text): {d['duplicate_rows']:,}, each group kept within "
               "one split so no test text was seen in training")
    if "token_length" in d:
        tl = d["token_length"]
        out.append(f"- token length: median {tl.get('p50')}, 95th percentile {tl.get('p95')}, "
                   f"max {tl.get('max')}; {d.get('over_max_length', 0):,} texts longer than "
                   f"{d['max_length']} tokens")
    out += [f"- {w}" for w in data_warnings(d)]
    return "\n".join(out)


def _hyperparameters(run: RunFiles) -> str:
    keep = ("model", "max_length", "epochs", "min_steps", "batch_size", "learning_rate", "weight_decay",
            "warmup_ratio", "class_weights", "loss", "label_smoothing", "freeze", "unfreeze_last",
            "long_text", "max_windows", "seed", "restarts", "refit")
    base = (run.environment or {}).get("base_model", {})
    t = run.metrics.get("training", {})
    settled = {k: t[k] for k in ("freeze", "learning_rate") if k in t}   # what auto/None became
    rows = [[k, settled.get(k, "auto" if run.config[k] is None else run.config[k])]
            for k in keep if k in run.config]
    if rows and rows[0][0] == "model":   # a hub id, or the base's directory name (no local paths)
        rows[0][1] = base.get("hub_id") or Path(str(run.config["model"])).name
    if t:
        rows.append(["epochs run (kept epoch)", f"{t.get('epochs_run', 0):g} ({t.get('best_epoch')})"])
        rows.append(["training time", f"{t.get('seconds', 0):.0f} s"])
    hw = (run.environment or {}).get("hardware", {})
    if hw:
        rows.append(["hardware", f"{hw.get('gpu') or hw.get('cpu')}, {hw.get('cores_usable')} cores, "
                                 f"{hw.get('torch_threads')} torch threads"])
    libs = (run.environment or {}).get("libraries", {})
    if libs:
        rows.append(["libraries", ", ".join(f"{k} {libs[k]}" for k in
                                            ("textclf", "torch", "transformers") if k in libs)])
    return _md_table(["setting", "value"], rows)


def _evaluation(run: RunFiles) -> str:
    m, base = run.test, run.metrics.get("baseline")
    split = f"the {m['scored_on']}" if m.get("scored_on") else "the held-out test split"
    out = [f"Scored once on {split} ({m['n']:,} texts), with the checkpoint and any thresholds "
           "chosen on the validation split. The baseline is TF-IDF (word and character n-grams) + "
           "logistic regression, tuned on the same validation split.", "",
           comparison_markdown(m, base)]
    if base:
        out += ["", verdict_line(m, base, run.metrics.get("comparison"))]
    if line := ensemble_line(run.metrics):
        out += ["", line]
    cal = run.metrics.get("calibration")
    if cal:
        out += ["", f"Probabilities are temperature-scaled (T = {cal['temperature']:.3f}, fitted on "
                    f"validation; expected calibration error on test {cal['ece_test_before']:.4f} -> "
                    f"{cal['ece_test_after']:.4f})" + (", built into the classification head."
                                                       if cal.get("folded_into_head") else ".")]
    worst = sorted(m["per_class"].items(), key=lambda kv: kv[1]["f1"])[:5]
    if len(m["per_class"]) > 2:
        out += ["", "Weakest classes on test (F1): " + ", ".join(f"`{n}` {c['f1']:.3f}" for n, c in worst)
                + ". The full per-class table is in the run's report."]
    return "\n".join(out)


def _limitations(run: RunFiles) -> str:
    d = run.metrics.get("data") or {}
    base = (run.environment or {}).get("base_model", {})
    lang = base.get("language")
    lang = ", ".join(lang) if isinstance(lang, list) else lang
    out = []
    conflicts = len(d.get("conflicting_duplicates", []))
    if d:
        out.append(f"- **Label noise.** The data had {d.get('duplicate_rows', 0):,} duplicate rows "
                   f"(after normalising case and spaces); {conflicts:,} duplicated texts carried "
                   "conflicting labels"
                   + (f", and label spellings that differ only by case ({len(d['label_variants'])} groups)"
                      if d.get("label_variants") else "")
                   + ". Scores are bounded by how consistent the labels are; the test split carries "
                     "the same noise.")
    out.append(f"- **Language.** The base model (`{base.get('hub_id') or run.config.get('model')}`) "
               + (f"was trained on {lang} text" if lang else "has no declared language")
               + "; texts in other languages, or another domain than the training data, will be "
                 "classified unreliably.")
    out.append("- **Biases carry over.** The base model's pre-training data and the labelled data "
               "both shape the predictions; biases in either are inherited. Check the errors on the "
               "groups of texts you care about before relying on it.")
    if d.get("over_max_length"):
        out.append(f"- **Long texts.** {d['over_max_length']:,} texts exceeded {d['max_length']} tokens "
                   "and were truncated or split into windows.")
    out.append("- The test metrics come from one split of one data set; expect other data to score lower.")
    return "\n".join(out)


def _pipeline_matches(run: RunFiles) -> bool:
    """Whether calibration (and a tuned decision threshold) live in the head's weights, so a plain
    pipeline outputs what textclf does."""
    cal = run.metrics.get("calibration") or {}
    d = run.metrics.get("decision") or {}
    return bool(cal.get("folded_into_head", False)) and (not d.get("applied") or
                                                         bool(d.get("folded_into_head")))


def _ensemble_applied(run: RunFiles) -> bool:
    return bool((run.metrics.get("ensemble") or {}).get("applied"))


def _usage(run: RunFiles) -> str:
    multi = run.multi_label
    pipe = ('clf = pipeline("text-classification", model="USER/NAME", top_k=None)   # every label, sigmoid'
            if multi else
            'clf = pipeline("text-classification", model="USER/NAME")')
    note = ("\nEach label has its own decision threshold, tuned on validation and saved in "
            "`config.json` under `textclf.thresholds`; textclf applies them, a plain pipeline "
            "returns every label's probability." if multi else
            "\nThe probabilities are already calibrated (and any tuned decision threshold is built "
            "into the head), so the plain pipeline gives the same labels as textclf."
            if _pipeline_matches(run) and not _ensemble_applied(run) else
            "\nWith textclf this model's predictions combine the fine-tuned model with a TF-IDF model "
            "saved in `tfidf/` (see Evaluation); a plain pipeline gives the fine-tuned model alone."
            if _ensemble_applied(run) else
            "\nThis model's head could not carry its temperature or decision threshold; textclf "
            "applies them from `config.json` (`textclf` section), a plain pipeline does not.")
    return f"""With `transformers` (replace `USER/NAME` with the repo id, or give the local model dir):

```python
from transformers import pipeline

{pipe}
print(clf("your text here"))
```
{note}

With textclf installed:

```python
import textclf

model = textclf.load("path/to/model")   # this directory, or the run dir
print(model.predict("your text here"))
```

or from the shell: `textclf predict path/to/model "your text here"`."""


def _exported(run: RunFiles) -> str:
    from textclf.reporting.runfiles import export_table

    found = export_table(run)
    if found is None:
        return ""
    head, rows, notes = found
    return ("\n## Exported models\n\nMeasured by `textclf export` on the test split:\n\n"
            + _md_table(head, rows) + "\n\n" + "\n".join(notes) + "\n")


def render(run: RunFiles) -> str:
    m = run.test
    base = (run.environment or {}).get("base_model", {})
    base_name = base.get("hub_id") or run.config.get("model")
    data_file = Path(str(run.config.get("data", {}).get("train", "")))
    kind = {"binary": "binary", "multiclass": "multi-class", "multilabel": "multi-label"}.get(m["task"], m["task"])
    primary = m["primary_metric"]
    base_link = (f"[`{base_name}`](https://huggingface.co/{base_name})" if base.get("hub_id")
                 else f"`{Path(str(base_name)).name}`")
    body = f"""
# {run.name}

A {kind} text classifier fine-tuned from {base_link}
with textclf on `{data_file.name}`.
{len(run.names)} {'labels' if run.multi_label else 'classes'}: {_labels_line(run.names)}.
Test {metric_name(primary, m)}: **{m[primary]:.4f}**{f" (TF-IDF baseline {run.metrics['baseline'][primary]:.4f})" if run.metrics.get("baseline") else ""}.

## Intended use

Classifying short texts like those in `{data_file.name}` into the labels above, as a first pass
whose mistakes are affordable or reviewed by a person. It is not meant for decisions about people
without such review, nor for texts unlike the training data (other languages, domains or lengths).

## Training data

{_data_summary(run)}

## Training procedure

Fine-tuned with textclf's trainer: the checkpoint with the best validation {primary} is kept.

{_hyperparameters(run)}

## Evaluation

{_evaluation(run)}

{_exported(run)}
## Limitations and bias

{_limitations(run)}

## How to use

{_usage(run)}

## Licence

The licence field is a placeholder (`{LICENSE_PLACEHOLDER}`): set it to terms compatible with the
base model's licence ({base.get('license') or 'see its card'}) and with the training data's licence.
"""
    from huggingface_hub import ModelCard

    return str(ModelCard(f"---\n{card_data(run).to_yaml()}\n---\n{body}"))


def write_card(run: RunFiles) -> Path:
    path = run.path / runs.MODEL_DIR / FILE
    if not path.parent.is_dir():
        from textclf.errors import TextclfError
        raise TextclfError(f"{run.path} has no {runs.MODEL_DIR}/ dir to write the model card into.")
    runs.atomic_write(path, render(run))
    return path
