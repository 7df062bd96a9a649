"""report.html: one self-contained page per run (inline CSS, figures as base64 PNG, no scripts,
no external URLs), built from the run dir alone."""
from __future__ import annotations

import base64
import datetime as dt
import io
from html import escape
from pathlib import Path

import numpy as np

from textclf.data.checks import warnings as data_warnings
from textclf.evaluation.report import (_label, calibration_line, decision_line, ensemble_line,
                                       headline_keys, verdict_line)
from textclf.reporting import plots
from textclf.reporting.runfiles import RunFiles

FILE = "report.html"
DPI = 144            # PNG pixels per inch; shown at 96 CSS px per inch, sharp on dense screens
PAGE_PX = 1180       # figures wider than the page scroll sideways rather than shrink their type
MISTAKES = 20
TEXT_CHARS = 300

CSS = """
*{box-sizing:border-box}
body{font:15px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2328;
 margin:0;background:#f6f8fa}
main{max-width:1240px;margin:0 auto;padding:24px 28px 64px;background:#fff;min-height:100vh}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:36px 0 10px;padding-top:8px;
 border-top:1px solid #d0d7de}h3{font-size:16px;margin:22px 0 8px}
.sub{color:#59636e;margin:0 0 16px}
nav{padding:8px 0;border-bottom:1px solid #d0d7de;font-size:14px}
nav a{margin-right:14px;color:#0969da;text-decoration:none}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{border:1px solid #d0d7de;border-radius:8px;padding:10px 16px;min-width:170px}
.card .v{font-size:26px;font-weight:600;font-variant-numeric:tabular-nums}
.card .k{color:#59636e;font-size:13px}
p.note{background:#f6f8fa;border-left:4px solid #0969da;padding:8px 12px;margin:10px 0}
p.warn{background:#fff8c5;border-left:4px solid #d4a72c;padding:8px 12px;margin:6px 0}
table{border-collapse:collapse;margin:8px 0 14px;font-size:14px}
th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr:nth-child(even) td{background:#fbfcfd}
table.compact{font-size:12.5px}table.compact th,table.compact td{padding:2px 7px}
.cols.tight{gap:14px}
td.text{max-width:620px;word-break:break-word}
.good{color:#1a7f37}.bad{color:#cf222e}
figure{margin:12px 0 22px}
figure img{display:block;max-width:100%;height:auto;border:1px solid #eaeef2}
figure.wide{overflow-x:auto}figure.wide img{max-width:none}
figcaption{color:#59636e;font-size:13px;margin-top:4px;max-width:900px}
.cols{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
code{background:#f6f8fa;padding:1px 4px;border-radius:4px;font-size:13px}
"""


# --- small HTML builders ----------------------------------------------------------------------

def _num(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    return f"{v:.{digits}f}"


def _cell_class(i: int, v, numeric: set[int], kinds: dict) -> str:
    kind = kinds.get(i)
    if kind == "sign":   # a signed difference: green when it favours textclf, red against
        text = str(v)
        better = text.startswith("+") and float(text) > 0
        worse = text.startswith("-") and float(text) < 0
        return "n good" if better else "n bad" if worse else "n"
    return " ".join((["n"] if i in numeric else []) + ([kind] if kind else []))


def table(head: list[str], rows: list[list], numeric: set[int] | None = None,
          cls: dict[int, str] | None = None, compact: bool = False) -> str:
    """An HTML table of escaped cells; `numeric` columns align right, `cls` adds a CSS class per
    column ("text" for long texts, "sign" for signed differences). An all-empty head: no header."""
    numeric, kinds = numeric or set(), cls or {}
    out = [("<table class=\"compact\">" if compact else "<table>") + ("<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>"
                        if any(head) else "") + "<tbody>"]
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            klass = _cell_class(i, v, numeric, kinds)
            attr = f' class="{klass}"' if klass else ""
            cells.append(f"<td{attr}>{escape(str(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</tbody></table>"


def figure_html(fig, caption: str, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    width_px = int(round(fig.get_figwidth() * 96))
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    wide = " class=\"wide\"" if width_px > PAGE_PX else ""
    return (f"<figure{wide}><img alt=\"{escape(alt)}\" width=\"{width_px}\" "
            f"src=\"data:image/png;base64,{data}\"><figcaption>{escape(caption)}</figcaption></figure>")


def section(anchor: str, title: str, body: str) -> str:
    return f"<section id=\"{anchor}\"><h2>{escape(title)}</h2>\n{body}\n</section>"


# --- sections ---------------------------------------------------------------------------------

def summary_section(run: RunFiles) -> str:
    m, base = run.test, run.metrics.get("baseline")
    k = m["primary_metric"]
    cards = [(_label(k, m), _num(m[k]), "textclf, test split")]
    alone = run.metrics.get("transformer")
    if alone:
        cards[0] = (_label(k, m), _num(m[k]), "textclf (with the TF-IDF ensemble), test split")
        cards.append((_label(k, m), _num(alone[k]), "the fine-tuned model alone"))
    if base:
        cards.append((_label(k, m), _num(base[k]), "TF-IDF + LR baseline"))
    t = run.metrics.get("training", {})
    if t.get("seconds") is not None:
        cards.append(("training time", _duration(t["seconds"]), f"{_num(t.get('epochs_run'), 0)} epochs"))
    cards.append(("test rows", _num(m["n"]), m.get("scored_on", "held-out test split")))
    html = "<div class=\"cards\">" + "".join(
        f"<div class=\"card\"><div class=\"k\">{escape(a)}</div><div class=\"v\">{escape(b)}</div>"
        f"<div class=\"k\">{escape(c)}</div></div>" for a, b, c in cards) + "</div>"
    lines = []
    if base:
        lines.append(verdict_line(m, base, run.metrics.get("comparison")))
    if run.metrics.get("calibration"):
        lines.append(calibration_line(run.metrics["calibration"]))
    if run.metrics.get("decision"):
        lines.append(decision_line(run.metrics["decision"]))
    if line := ensemble_line(run.metrics):
        lines.append(line)
    html += "".join(f"<p class=\"note\">{escape(s)}</p>" for s in lines)
    return html


def comparison_section(run: RunFiles) -> str:
    m, base = run.test, run.metrics.get("baseline")
    head = ["metric", "textclf"] + (["TF-IDF + LR", "difference"] if base else [])
    rows = []
    for k in headline_keys(m):
        row = [_label(k, m), _num(m.get(k))]
        if base:
            diff = None if m.get(k) is None or base.get(k) is None else m[k] - base[k]
            row += [_num(base.get(k)), "–" if diff is None else f"{diff:+.4f}"]
        rows.append(row)
    lower_better = {"hamming_loss"}
    for row, k in zip(rows, headline_keys(m)):
        if base and k in lower_better and row[3] not in ("–",):
            row[3] = row[3].translate(str.maketrans("+-", "-+"))   # green means better here too
    html = table(head, rows, numeric={1, 2, 3}, cls={3: "sign"})
    cmp = run.metrics.get("comparison")
    if cmp:
        html += "<h3>Paired test (exact McNemar) on the same test texts</h3>" + table(
            ["textclf alone right", "baseline alone right", "p-value"],
            [[cmp["model_only_right"], cmp["baseline_only_right"],
              f"{cmp['mcnemar_p']:.3g}" if cmp["mcnemar_p"] > 0 else "< 1e-300"]],
            numeric={0, 1, 2})
    if base:
        html += (f"<p>Baseline: TF-IDF word 1-2-grams + char 2-5-grams, logistic regression with "
                 f"C = {base.get('C', '–')} chosen on validation; fitted in "
                 f"{_duration(base.get('seconds', 0))}.</p>")
    return html


def per_class_section(run: RunFiles) -> str:
    m = run.test
    items = list(m["per_class"].items())
    many = len(items) > plots.MANY
    if many:
        items.sort(key=lambda kv: kv[1]["f1"])
    extra = [e for e in ("threshold", "train_positives") if e in items[0][1]]
    rare = set(m.get("rare_labels", []))
    rows = [[n + (" (rare)" if n in rare else ""), _num(c["precision"]), _num(c["recall"]),
             _num(c["f1"]), _num(c["support"])] + [f"{c[e]:g}" for e in extra] for n, c in items]
    head = ["class", "precision", "recall", "F1", "support", *extra]
    numeric = set(range(1, 5 + len(extra)))
    if not many:
        return table(head, rows, numeric=numeric)
    half = (len(rows) + 1) // 2   # two tables side by side, read down the left one first
    return ("<p>Sorted by F1, lowest first (left table, then right).</p><div class=\"cols tight\">"
            + table(head, rows[:half], numeric=numeric, compact=True)
            + table(head, rows[half:], numeric=numeric, compact=True) + "</div>")


def confusion_section(run: RunFiles) -> str:
    m = run.test
    if "confusion_matrix" not in m:
        return figure_html(plots.per_label_figure(m), "F1 of each label on the test split at its "
                           "tuned threshold (n: texts carrying the label).", "F1 per label")
    html = "".join(figure_html(f, cap, "confusion matrix")
                   for cap, f in plots.confusion_figures(m["confusion_matrix"], run.names))
    pairs = plots.confused_pairs(m["confusion_matrix"], run.names)
    if pairs:
        html += "<h3>Most frequent confusions</h3>" + table(
            ["true", "predicted", "texts"], [list(p) for p in pairs], numeric={2})
    return html


def curves_section(run: RunFiles) -> str:
    if not run.has_truth:
        return "<p>No test labels were saved, so no curves.</p>"
    probs, y = run.calibrated_probs(), run.y_true()
    onehot = y if run.multi_label else np.eye(len(run.names), dtype=int)[y]
    only = [positive_index(run)] if run.test["task"] == "binary" else None
    return figure_html(plots.roc_pr_figure(onehot, probs, run.names, only),
                       "ROC and precision-recall curves on the test split (calibrated probabilities)"
                       + (f" for the class '{run.names[only[0]]}'." if only else
                          ", one curve per " + ("label." if run.multi_label else "class (one vs rest).")),
                       "ROC and precision-recall curves")


def positive_index(run: RunFiles) -> int:
    """Binary tasks: the positive class, or the one the decision threshold was tuned for (the
    second label when no positive label was given)."""
    name = run.test.get("positive_label") or (run.metrics.get("decision") or {}).get("label")
    return run.names.index(name) if name in run.names else 1


def threshold_section(run: RunFiles) -> str:
    if not run.has_truth:
        return ""
    y, probs = run.y_true(), run.calibrated_probs()
    if run.test["task"] == "binary":
        pos = positive_index(run)
        fig = plots.binary_sweep_figure((y == pos).astype(int), probs[:, pos], run.names[pos],
                                        run.metrics.get("decision"))
        cap = (f"Precision, recall and F1 of '{run.names[pos]}' on the test split at each threshold "
               "on its calibrated probability. The threshold is chosen on validation, never here.")
        return figure_html(fig, cap, "threshold sweep")
    if run.multi_label:
        thresholds = [c["threshold"] for c in run.test["per_class"].values()]
        fig = plots.multilabel_sweep_figure(y, probs, run.names, thresholds)
        return figure_html(fig, "Micro-averaged scores on the test split at one shared threshold, "
                                "and each label's F1 against its own threshold (tuned on validation).",
                           "threshold sweep")
    return ""


def calibration_section(run: RunFiles) -> str:
    cal = run.metrics.get("calibration")
    if not cal or not run.has_truth:
        return ""
    fig = plots.reliability_figure(run.uncalibrated_probs(), run.calibrated_probs(), run.y_true(),
                                   run.multi_label, cal["temperature"])
    return figure_html(fig, "Fraction correct against confidence on the test split, before and after "
                            "temperature scaling (a point per confidence bin; on the dotted line a "
                            "model is as sure as it is right).", "reliability diagram") + \
        f"<p class=\"note\">{escape(calibration_line(cal))}</p>"


NUMBERS = ("score", "P(true)", "confidence")


def _text(df, i: int) -> str:
    """Row i's text, with its second text for sentence-pair runs."""
    text = df["text"].iat[i]
    if "text_pair" in df.columns:
        text = f"{text} ‖ {df['text_pair'].iat[i]}"
    return _short(text)


def mistakes(run: RunFiles, k: int = MISTAKES) -> tuple[list[str], list[list]]:
    """The k test texts the model got wrong with the most confidence."""
    df, probs, y = run.predictions, run.probs(), run.y_true()
    if run.multi_label:
        thresholds = np.array([c["threshold"] for c in run.test["per_class"].values()])
        pred = probs >= thresholds[None, :]
        wrong = pred != y.astype(bool)
        # confidence in the wrong decision: p for a label wrongly given, 1-p for one wrongly left out
        conf = np.where(wrong, np.where(pred, probs, 1 - probs), 0).max(1)
        idx = [i for i in np.argsort(-conf, kind="stable") if wrong[i].any()][:k]
        rows = [[_text(df, i), df["true_label"].iat[i] or "(none)",
                 df["labels"].iat[i] or "(none)",
                 ", ".join(n for n, w in zip(run.names, wrong[i]) if w), f"{conf[i]:.4f}"]
                for i in idx]
        return ["text", "true labels", "predicted labels", "wrong on", "confidence"], rows
    pred = probs.argmax(1)
    top = probs[np.arange(len(probs)), pred]
    idx = [i for i in np.argsort(-top, kind="stable") if pred[i] != y[i]][:k]
    rows = [[_text(df, i), run.names[y[i]], run.names[pred[i]], f"{top[i]:.4f}",
             f"{probs[i, y[i]]:.4f}"] for i in idx]
    return ["text", "true", "predicted", "score", "P(true)"], rows


def mistakes_section(run: RunFiles) -> str:
    if not run.has_truth:
        return "<p>No test labels were saved.</p>"
    head, rows = mistakes(run)
    if not rows:
        return "<p>No mistakes on the test split.</p>"
    return (f"<p>The {len(rows)} test texts predicted wrongly with the highest score.</p>"
            + table(head, rows, numeric={i for i, h in enumerate(head) if h in NUMBERS}, cls={0: "text"}))


ISSUES = 20


def issues_section(run: RunFiles) -> str:
    """The validation and test rows whose label looks wrong to the model (cleanlab on its
    predictions for rows it did not learn from), most suspect first."""
    info = run.metrics.get("label_issues")
    if not info:
        return ""   # a run from before label issues were listed
    if "skipped" in info:
        return f"<p class=\"note\">{escape(info['skipped'])}</p>"
    df = run.label_issues
    what = " and ".join(info["splits"])
    html = (f"<p>{info['flagged']:,} of the {info['rows_examined']:,} {what} rows look mislabelled "
            f"({info['label']:,} by cleanlab on this model's predictions for rows it did not learn "
            f"from, {info['conflicting_duplicate']:,} in duplicates with different labels); all of "
            f"them are in <code>{escape(info['file'])}</code>. Rows are 0-based data rows of the "
            "file. For the training rows too: <code>textclf data issues</code>; feed decisions "
            "back with <code>textclf train --drop-rows</code> or <code>--relabel</code>.</p>")
    if df is None or not len(df):
        return html + "<p>No row was flagged.</p>"
    shown = df.head(ISSUES)
    texts = [_short(t if "text_pair" not in df.columns else f"{t} ‖ {p}")
             for t, p in zip(shown["text"], shown["text_pair"] if "text_pair" in df.columns else shown["text"])]
    rows = [[r.split, r.row, r.given or "(none)", r.suggested or "(none)", f"{r.score:.4f}", r.issue, t]
            for r, t in zip(shown.itertuples(index=False), texts)]
    return html + table(["split", "row", "given", "suggested", "score", "issue", "text"], rows,
                        numeric={1, 4}, cls={6: "text"})


def training_section(run: RunFiles) -> str:
    t = run.metrics.get("training", {})
    metric = run.test["primary_metric"]
    html = ""
    if run.log:
        html += figure_html(plots.training_figure(run.log, metric, t.get("best_epoch")),
                            "Loss per logged step and per epoch, and the validation metric that picks "
                            "the kept checkpoint.", "training curves")
    epochs = t.get("epochs") or []
    rates = [e["samples_per_s"] for e in epochs if e.get("samples_per_s")]
    facts = [["training time", _duration(t.get("seconds", 0))],
             ["epochs run", _num(t.get("epochs_run"), 2)],
             ["kept epoch", f"{t.get('best_epoch')} (validation {metric} {_num(t.get('best_valid'))})"],
             ["training texts", f"{_num(t.get('train_rows'))} ({_num(t.get('train_windows'))} windows)"],
             ["samples/s (mean over epochs)", f"{np.mean(rates):.1f}" if rates else "–"],
             ["seed", t.get("seed", "–")]]
    if t.get("refit"):
        r = t["refit"]
        facts.append(["refit on train + validation", f"{r['epochs']} epochs on {r['rows']} texts, "
                                                     f"{_duration(r['seconds'])}"])
    html += table(["", ""], facts)
    if epochs:
        key = f"val_{metric}"
        html += "<h3>Per epoch</h3>" + table(
            ["epoch", "training loss", f"validation {metric}", "samples/s", "seconds"],
            [[f"{e['epoch']:g}", _num(e.get("train_loss")), _num(e.get(key)),
              f"{e.get('samples_per_s', 0):.1f}", f"{e.get('seconds', 0):.0f}"] for e in epochs],
            numeric={0, 1, 2, 3, 4})
    if t.get("restarts"):
        html += "<h3>Restarts</h3>" + table(
            ["seed", "best validation", "best epoch"],
            [[r["seed"], _num(r["best_valid"]), r["best_epoch"]] for r in t["restarts"]], numeric={0, 1, 2})
    return html


def data_section(run: RunFiles) -> str:
    d = run.metrics.get("data")
    if not d:
        return "<p>No data report was saved.</p>"
    html = "".join(f"<p class=\"warn\">{escape(w)}</p>" for w in data_warnings(d))
    html += "<div class=\"cols\">" + table(
        ["split", "rows", "source file"],
        [[s, _num(n), (run.split_files.get(s) or "")] for s, n in d["rows"].items()], numeric={1})
    facts = [["task", d["task"]], ["duplicate rows (normalised text, kept within one split)",
                                   _num(d["duplicate_rows"])],
             ["duplicates with conflicting labels", _num(len(d["conflicting_duplicates"]))],
             ["labels differing only by case/space", _num(len(d["label_variants"]))],
             ["rows dropped", ", ".join(f"{n} with {k}" for k, n in d["dropped"].items()) or "0"]]
    if "token_length" in d:
        facts.append(["token length " + ", ".join(d["token_length"]),
                      ", ".join(str(v) for v in d["token_length"].values())])
        facts.append([f"texts longer than max length {d['max_length']} (truncated, or windows)",
                      _num(d.get("over_max_length", 0))])
    html += table(["", ""], facts) + "</div>"
    if d["label_variants"]:
        html += "<h3>Label variants</h3>" + table(
            ["merged as", "spellings"], [[k, " / ".join(v)] for k, v in d["label_variants"].items()])
    if d["conflicting_duplicates"]:
        shown = d["conflicting_duplicates"][:20]
        html += (f"<h3>Duplicate texts with conflicting labels ({len(d['conflicting_duplicates'])}"
                 f"{', first 20' if len(d['conflicting_duplicates']) > 20 else ''})</h3>") + table(
            ["text", "labels"], [[c["text"], ", ".join(map(str, c["labels"]))] for c in shown],
            cls={0: "text"})
    html += figure_html(plots.label_distribution_figure(d["labels"], d["rows"]),
                        "Share of each label in each split.", "label distribution")
    if d.get("token_length_histogram"):
        html += figure_html(plots.token_length_figure(d["token_length_histogram"], d["max_length"],
                                                      d.get("over_max_length")),
                            "Token lengths per split (tokenizer of the base model, special tokens "
                            "included); the dashed line is where texts are cut.", "token lengths")
    return html


def export_section(run: RunFiles) -> str:
    from textclf.reporting.runfiles import export_table

    found = export_table(run)
    if found is None:
        return ""
    head, rows, notes = found
    return table(head, rows, numeric={1, 2, 3, 4, 5}) + "".join(f"<p>{escape(n)}</p>" for n in notes)


def setup_section(run: RunFiles) -> str:
    cfg = dict(run.config)
    data_cfg = cfg.pop("data", {}) or {}
    hyper = [[k, _value(v)] for k, v in cfg.items() if k not in ("output", "overwrite")]
    data_rows = [[k, _value(v)] for k, v in data_cfg.items() if v not in (None, False)]
    html = "<div class=\"cols\"><div><h3>Hyperparameters (config.yaml)</h3>" + table(
        ["setting", "value"], hyper) + "</div>"
    env = run.environment
    if env:
        hw = env.get("hardware", {})
        html += "<div><h3>Hardware</h3>" + table(["", ""], [[k, _value(v)] for k, v in hw.items()])
        html += "<h3>Libraries</h3>" + table(["library", "version"],
                                             [[k, v] for k, v in env.get("libraries", {}).items()]) + "</div>"
    else:
        html += "<p>This run has no environment.json (trained before it was recorded).</p>"
    html += "<div><h3>Data options</h3>" + table(["setting", "value"], data_rows) + "</div>"
    return html + "</div>"


# --- helpers ----------------------------------------------------------------------------------

def _duration(seconds: float) -> str:
    seconds = float(seconds or 0)
    if seconds < 90:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS - 1] + "…"


def _value(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{a}={b}" for a, b in v.items())
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return "–" if v is None else str(v)


def render(run: RunFiles) -> str:
    """The whole page as a string."""
    m = run.test
    trained = dt.datetime.fromtimestamp((run.path / "metrics.json").stat().st_mtime, dt.timezone.utc)
    base = run.config.get("model", "default")
    sections = [("summary", "Summary", summary_section(run)),
                ("test", f"Test split ({m['n']:,} rows)", comparison_section(run)),
                ("classes", "Per class" if not run.multi_label else "Per label", per_class_section(run)),
                ("confusion", "Confusion matrix" if not run.multi_label else "F1 per label",
                 confusion_section(run)),
                ("curves", "ROC and precision-recall", curves_section(run)),
                ("thresholds", "Decision threshold", threshold_section(run)),
                ("calibration", "Calibration", calibration_section(run)),
                ("mistakes", "Most confident mistakes", mistakes_section(run)),
                ("issues", "Label issues", issues_section(run)),
                ("training", "Training", training_section(run)),
                ("data", "Data", data_section(run)),
                ("export", "Exported models", export_section(run)),
                ("setup", "Setup", setup_section(run))]
    sections = [s for s in sections if s[2]]
    nav = "".join(f"<a href=\"#{a}\">{escape(t.split(' (')[0])}</a>" for a, t, _ in sections)
    body = "\n".join(section(a, t, b) for a, t, b in sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>textclf run {escape(run.name)}</title>
<style>{CSS}</style></head>
<body><main>
<h1>textclf run: {escape(run.name)}</h1>
<p class="sub">{escape(m['task'])} classification, {len(run.names)} {'labels' if run.multi_label else 'classes'};
base model <code>{escape(str(base))}</code>; data <code>{escape(str(run.config.get('data', {}).get('train')))}</code>;
trained {trained:%Y-%m-%d %H:%M} UTC</p>
<nav>{nav}</nav>
{body}
</main></body></html>
"""


def write_html(run: RunFiles) -> Path:
    from textclf import runs

    path = run.path / FILE
    runs.atomic_write(path, render(run))
    return path
