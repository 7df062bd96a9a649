"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot state).

Every function takes plain arrays/dicts and returns a Figure. Sizes grow with the number of
classes so that tick labels never overlap (77 classes: small type, one row per class; the full
confusion matrix then drops its per-cell numbers and a zoom on the most confused classes keeps
them).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from textclf.evaluation.calibration import expected_calibration_error

MANY = 20            # more classes than this: compact layouts
HIGHLIGHT = 5        # curves drawn in colour when there are many classes: the worst ones
ZOOM = 15            # classes in the most-confused zoom of a large confusion matrix
BINS = 15            # reliability bins (as the expected calibration error uses)
COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
          "#8c8c8c", "#ccb974", "#64b5cd"]
SPLIT_COLORS = {"train": "#4c72b0", "validation": "#dd8452", "test": "#55a868"}


def _new(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)   # Agg, whatever backend pyplot may have chosen elsewhere
    return fig


def _fig(width: float, height: float, ncols: int = 1, **kw) -> tuple[Figure, list]:
    fig = _new(width, height)
    axes = fig.subplots(1, ncols, squeeze=False, **kw)[0]
    return fig, list(axes)


def _tick_size(n: int) -> float:
    return 9 if n <= 12 else 8 if n <= MANY else 6.5 if n <= 50 else 6


# --- confusion matrix -------------------------------------------------------------------------

def _matrix(ax, m: np.ndarray, names: list[str], title: str, numbers: bool, fmt: str,
            vmax: float | None = None, aspect: str = "equal"):
    n = len(names)
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=vmax if vmax is not None else max(m.max(), 1e-9),
                   aspect=aspect, interpolation="nearest")
    size = _tick_size(n)
    ax.set_xticks(range(n), names, rotation=90 if n > 6 else 30, ha="center" if n > 6 else "right",
                  fontsize=size, rotation_mode="default" if n > 6 else "anchor")
    ax.set_yticks(range(n), names, fontsize=size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    if numbers:
        top = m.max() if m.max() > 0 else 1
        for i in range(n):
            for j in range(n):
                if m[i, j] or i == j:
                    ax.text(j, i, format(m[i, j], fmt), ha="center", va="center",
                            fontsize=max(size - 1, 6),
                            color="white" if m[i, j] > top * 0.55 else "black")
    return im


def row_normalise(cm: np.ndarray) -> np.ndarray:
    rows = cm.sum(1, keepdims=True)
    return np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)


def confusion_figures(cm, names: list[str]) -> list[tuple[str, Figure]]:
    """(caption, figure) pairs. Up to MANY classes: counts and row-normalised side by side, with
    numbers. Beyond: the full row-normalised matrix (no numbers; one row per class), and counts
    among the ZOOM classes with the most errors."""
    cm = np.asarray(cm)
    n = len(names)
    norm = row_normalise(cm)
    if n <= MANY:
        side = 1.6 + 0.45 * n + 0.07 * max(len(s) for s in names)
        fig, (a, b) = _fig(2 * side + 0.8, side + 0.4, ncols=2)
        _matrix(a, cm, names, "counts", True, "d")
        _matrix(b, norm, names, "row-normalised (recall on the diagonal)", True, ".2f", vmax=1)
        return [("Confusion matrix on the test split: counts (left) and each row divided by its "
                 "true-class total (right).", fig)]
    cell = min(0.155, 8.2 / n)   # 77 classes: 0.106 in per class, above the 6 pt type's height
    label_in = 0.052 * max(len(s) for s in names)   # a rotated/horizontal class name, in inches
    full, (ax,) = _fig(cell * n + label_in + 1.5, cell * n + label_in + 1.0)
    im = _matrix(ax, norm, names, f"row-normalised, all {n} classes", False, ".2f", vmax=1,
                 aspect="auto")
    full.colorbar(im, ax=ax, shrink=0.3, aspect=30, pad=0.01, label="share of the true class")
    errors = cm.sum(0) + cm.sum(1) - 2 * np.diag(cm)
    keep = np.sort(np.argsort(-errors, kind="stable")[:ZOOM])
    sub = [names[i] for i in keep]
    zs = 2.2 + 0.42 * len(sub) + 0.06 * max(len(s) for s in sub)
    zoom, (az,) = _fig(zs + 0.6, zs)
    _matrix(az, cm[np.ix_(keep, keep)], sub, f"counts among the {len(sub)} classes with the most "
            "errors", True, "d")
    return [(f"Row-normalised confusion matrix of all {n} classes on the test split (each row "
             "divided by its true-class total; the diagonal is recall).", full),
            (f"Counts among the {len(sub)} classes most often confused (as true or predicted "
             "class); errors with other classes are not shown here.", zoom)]


def confused_pairs(cm, names: list[str], k: int = 20) -> list[tuple[str, str, int]]:
    """The k largest off-diagonal cells: (true, predicted, count)."""
    cm = np.asarray(cm).copy()
    np.fill_diagonal(cm, 0)
    flat = np.argsort(-cm, axis=None, kind="stable")[:k]
    out = []
    for idx in flat:
        i, j = np.unravel_index(idx, cm.shape)
        if cm[i, j] > 0:
            out.append((names[i], names[j], int(cm[i, j])))
    return out


def per_label_figure(m: dict) -> Figure:
    """Multi-label: F1 per label at its tuned threshold, lowest first, with its test support."""
    items = sorted(m["per_class"].items(), key=lambda kv: kv[1]["f1"])
    longest = max(len(n) for n, _ in items)
    fig, (ax,) = _fig(6.5 + 0.05 * longest, 1.2 + 0.24 * len(items))
    ax.barh([n for n, _ in items], [c["f1"] for _, c in items], color=COLORS[0])
    for i, (_, c) in enumerate(items):
        ax.text(c["f1"] + 0.01, i, f"{c['f1']:.2f} (n={c['support']})", va="center", fontsize=7)
    ax.tick_params(axis="y", labelsize=_tick_size(len(items)))
    ax.set_xlim(0, 1.18)
    ax.set_ylim(-0.6, len(items) - 0.4)
    ax.set_xlabel(f"F1 at the tuned thresholds (macro {m['macro_f1']:.3f}, micro {m['micro_f1']:.3f})")
    return fig


# --- ROC and precision-recall -----------------------------------------------------------------

def _curves(y: np.ndarray, scores: np.ndarray):
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    fpr, tpr, _ = roc_curve(y, scores)
    prec, rec, _ = precision_recall_curve(y, scores)
    return (fpr, tpr, auc(fpr, tpr)), (rec, prec, average_precision_score(y, scores))


def roc_pr_figure(onehot: np.ndarray, probs: np.ndarray, names: list[str],
                  only: list[int] | None = None) -> Figure:
    """ROC (left) and precision-recall (right), one curve per class (or label) that has positives
    and negatives on the test split; `only` restricts to some classes (binary: the positive one).
    With many classes every curve is drawn thin and grey, the macro average and the HIGHLIGHT
    classes with the lowest average precision in colour."""
    cols = [j for j in (only if only is not None else range(len(names)))
            if 0 < onehot[:, j].sum() < len(onehot)]
    fig, (roc, pr) = _fig(11, 4.8, ncols=2)
    curves = {j: _curves(onehot[:, j], probs[:, j]) for j in cols}
    many = len(cols) > len(COLORS)
    worst = sorted(cols, key=lambda j: curves[j][1][2])[:HIGHLIGHT] if many else cols
    for j in cols:
        (fpr, tpr, a), (rec, prec, ap) = curves[j]
        if j in worst:
            c = COLORS[worst.index(j) % len(COLORS)]
            roc.plot(fpr, tpr, color=c, lw=1.6, label=f"{names[j]} (AUC {a:.3f})")
            pr.step(rec, prec, where="post", color=c, lw=1.6, label=f"{names[j]} (AP {ap:.3f})")
        else:
            roc.plot(fpr, tpr, color="#b0b0b0", lw=0.6, alpha=0.6)
            pr.step(rec, prec, where="post", color="#b0b0b0", lw=0.6, alpha=0.6)
    if many:
        grid = np.linspace(0, 1, 201)
        mean_tpr = np.mean([np.interp(grid, curves[j][0][0], curves[j][0][1]) for j in cols], 0)
        mean_prec = np.mean([np.interp(grid, curves[j][1][0][::-1], curves[j][1][1][::-1])
                             for j in cols], 0)
        roc.plot(grid, mean_tpr, color="black", lw=2,
                 label=f"macro average (AUC {np.mean([curves[j][0][2] for j in cols]):.3f})")
        pr.plot(grid, mean_prec, color="black", lw=2,
                label=f"macro average (AP {np.mean([curves[j][1][2] for j in cols]):.3f})")
    roc.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    roc.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.02))
    pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    note = f" (grey: the other {len(cols) - len(worst)}; colour: lowest AP)" if many else ""
    roc.set_title("ROC" + note, fontsize=10)
    pr.set_title("precision-recall" + note, fontsize=10)
    for ax in (roc, pr):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right" if ax is roc else "lower left")
    return fig


# --- training ---------------------------------------------------------------------------------

def training_figure(log: list[dict], metric: str, best_epoch: int | None = None) -> Figure:
    """Training loss (every logged step) and validation loss per epoch (left); the validation
    metric per epoch with the kept epoch marked (right)."""
    fig, (left, right) = _fig(11, 4, ncols=2)
    steps = [(h["epoch"], h["loss"]) for h in log if "loss" in h and "epoch" in h]
    evals = [h for h in log if "eval_loss" in h]
    if steps:
        left.plot(*zip(*steps), color=COLORS[0], lw=1.2, marker="." if len(steps) < 30 else None,
                  label="training loss (logged steps)")
    if evals:
        left.plot([h["epoch"] for h in evals], [h["eval_loss"] for h in evals], color=COLORS[1],
                  marker="o", label="validation loss")
    left.set(xlabel="epoch", ylabel="loss")
    left.set_title("loss", fontsize=10)
    key = f"eval_{metric}"
    points = [(h["epoch"], h[key]) for h in evals if key in h]
    if points:
        right.plot(*zip(*points), color=COLORS[2], marker="o", label=f"validation {metric}")
        best = [p for p in points if best_epoch is not None and round(p[0]) == best_epoch]
        if best:
            right.plot(*best[0], marker="*", ms=16, color=COLORS[3], ls="none",
                       label=f"kept: epoch {best_epoch} ({best[0][1]:.4f})")
    right.set(xlabel="epoch", ylabel=metric)
    right.set_title(f"validation {metric}", fontsize=10)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            ax.legend(fontsize=8)
    return fig


# --- calibration ------------------------------------------------------------------------------

def reliability_points(conf: np.ndarray, hit: np.ndarray, bins: int = BINS):
    """Per non-empty confidence bin: mean confidence, accuracy, count."""
    idx = np.clip(np.digitize(conf, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    rows = [(conf[idx == b].mean(), hit[idx == b].mean(), int((idx == b).sum()))
            for b in range(bins) if (idx == b).any()]
    return np.array(rows).reshape(-1, 3)


def confidence_and_hits(probs: np.ndarray, y: np.ndarray, multi_label: bool):
    if multi_label:
        return probs.ravel(), y.ravel().astype(float)
    return probs.max(1), (probs.argmax(1) == y).astype(float)


def reliability_figure(before: np.ndarray, after: np.ndarray, y: np.ndarray, multi_label: bool,
                       temperature: float) -> Figure:
    """Accuracy against confidence per bin, before and after temperature scaling; the marker
    area follows the number of texts in the bin."""
    fig, (ax, hist) = _fig(11, 4.6, ncols=2)
    # single-label confidence never falls below 1/classes: start the axes just under it
    low = 0.0 if multi_label else np.floor(10 / before.shape[1]) / 10
    what = "probability of each (text, label)" if multi_label else "confidence (top probability)"
    for probs, name, color in ((before, "before", COLORS[3]), (after, f"after (T = {temperature:.3g})",
                                                                COLORS[0])):
        conf, hit = confidence_and_hits(probs, y, multi_label)
        pts = reliability_points(conf, hit)
        ece = expected_calibration_error(probs, y, multi_label)
        ax.plot(pts[:, 0], pts[:, 1], color=color, lw=1.4, marker="o", ms=0)
        ax.scatter(pts[:, 0], pts[:, 1], s=15 + 300 * pts[:, 2] / pts[:, 2].sum(), color=color,
                   alpha=0.8, label=f"{name}: ECE {ece:.4f}")
        hist.hist(conf, bins=np.linspace(0, 1, BINS + 1), histtype="step", lw=1.6, color=color,
                  label=name)
    ax.plot([0, 1], [0, 1], ls=":", color="grey", lw=1, label="perfect calibration")
    ax.set(xlabel=what, ylabel="fraction correct" if not multi_label else "fraction present",
           xlim=(low - 0.02, 1.02), ylim=(-0.02, 1.04))
    ax.set_title("reliability on the test split (marker area: texts in the bin)", fontsize=10)
    hist.set(xlabel=what, ylabel="texts" if not multi_label else "(text, label) pairs",
             xlim=(low - 0.02, 1.02))
    hist.set_yscale("log")
    hist.set_title("how confident the predictions are", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")   # the points go anywhere: least overlap
    hist.grid(alpha=0.3)
    hist.legend(fontsize=8, loc="upper left")
    return fig


# --- thresholds -------------------------------------------------------------------------------

def _prf(y: np.ndarray, scores: np.ndarray, grid: np.ndarray):
    """Precision, recall and F1 of `scores >= t` for every t in grid (vectorised); precision is
    NaN (a gap in the plot) where nothing is predicted."""
    pred = scores[:, None] >= grid[None, :]
    pos = y.astype(bool)[:, None]
    tp = (pred & pos).sum(0).astype(float)
    fp = (pred & ~pos).sum(0)
    fn = (~pred & pos).sum(0)
    prec = np.divide(tp, tp + fp, out=np.full_like(tp, np.nan), where=(tp + fp) > 0)
    rec = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=(2 * tp + fp + fn) > 0)
    return prec, rec, f1


GRID = np.linspace(0.01, 0.99, 99)


def binary_sweep_figure(y_pos: np.ndarray, p_pos: np.ndarray, label: str, decision: dict | None) -> Figure:
    """Precision, recall and F1 of the positive class against the threshold on its calibrated
    probability (test split); the threshold in use (and the tuned one, if not used) marked."""
    prec, rec, f1 = _prf(y_pos, p_pos, GRID)
    fig, (ax,) = _fig(7.5, 4.2)
    ax.plot(GRID, prec, color=COLORS[0], label="precision")
    ax.plot(GRID, rec, color=COLORS[1], label="recall")
    ax.plot(GRID, f1, color=COLORS[2], lw=2.2, label="F1")
    used = decision["threshold"] if decision else 0.5
    ax.axvline(used, color="black", ls="--", lw=1.2, label=f"threshold in use: {used:.3f}")
    if decision and not decision.get("applied") and abs(decision.get("tuned", 0.5) - 0.5) > 1e-9:
        ax.axvline(decision["tuned"], color="grey", ls=":", lw=1.2,
                   label=f"tuned on validation, not used: {decision['tuned']:.3f}")
    ax.set(xlabel=f"threshold on P({label})", ylabel="score", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title(f"'{label}' on the test split against the decision threshold", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower center")
    return fig


def multilabel_sweep_figure(y: np.ndarray, probs: np.ndarray, names: list[str],
                            thresholds: list[float], max_panels: int = 30) -> Figure:
    """Left: micro precision/recall/F1 with one threshold for every label, and the micro-F1 the
    tuned per-label thresholds reach. Right: F1 per label against its threshold, the tuned one
    marked (the `max_panels` most frequent labels)."""
    pred_counts = y.sum(0)
    order = np.argsort(-pred_counts, kind="stable")[:max_panels]
    cols = 6 if len(order) > 12 else 4
    rows = int(np.ceil(len(order) / cols))
    fig = _new(12, 3.6 + 1.6 * rows)
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.6, 1.6 * rows])
    ax = top.subplots(1, 1)
    tp = np.stack([((probs >= t) & (y == 1)).sum() for t in GRID]).astype(float)
    fp = np.stack([((probs >= t) & (y == 0)).sum() for t in GRID])
    fn = np.stack([((probs < t) & (y == 1)).sum() for t in GRID])
    prec = np.divide(tp, tp + fp, out=np.full_like(tp, np.nan), where=(tp + fp) > 0)
    rec = tp / max(y.sum(), 1)
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    ax.plot(GRID, prec, color=COLORS[0], label="micro precision")
    ax.plot(GRID, rec, color=COLORS[1], label="micro recall")
    ax.plot(GRID, f1, color=COLORS[2], lw=2.2, label="micro F1 (one threshold for all labels)")
    chosen = probs >= np.asarray(thresholds)[None, :]
    tpc = (chosen & (y == 1)).sum()
    tuned_f1 = 2 * tpc / max(2 * tpc + (chosen & (y == 0)).sum() + (~chosen & (y == 1)).sum(), 1)
    ax.axhline(tuned_f1, color="black", ls="--", lw=1.2,
               label=f"micro F1 at the tuned per-label thresholds: {tuned_f1:.4f}")
    ax.set(xlabel="threshold", ylabel="score", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title("test split against one shared threshold", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower center")
    axes = bottom.subplots(rows, cols, squeeze=False, sharex=True, sharey=True).ravel()
    for a, j in zip(axes, order):
        _, _, f = _prf(y[:, j], probs[:, j], GRID)
        a.plot(GRID, f, color=COLORS[2])
        a.axvline(thresholds[j], color="black", ls="--", lw=1)
        a.set_title(f"{names[j]} (t={thresholds[j]:.2f})", fontsize=7.5)
        a.tick_params(labelsize=7)
        a.set_ylim(0, 1.02)
    for a in axes[len(order):]:
        a.set_visible(False)
    bottom.suptitle("F1 per label against its threshold (dashed: tuned on validation)", fontsize=10)
    return fig


# --- data -------------------------------------------------------------------------------------

def label_distribution_figure(labels: dict[str, dict[str, int]], rows: dict[str, int]) -> Figure:
    """Share of each label per split: grouped bars, or one dot per split when there are many."""
    splits = list(labels)
    names = list(labels[splits[0]])
    n = len(names)
    share = {s: np.array([labels[s][k] for k in names]) / max(rows[s], 1) * 100 for s in splits}
    height = 1.4 + (0.17 if n > MANY else 0.32 * len(splits)) * n
    longest = max(len(k) for k in names)
    fig, (ax,) = _fig(6.5 + 0.05 * longest, max(height, 2.6))
    ypos = np.arange(n)
    for i, s in enumerate(splits):
        color = SPLIT_COLORS.get(s, COLORS[i % len(COLORS)])
        label = f"{s} ({rows[s]:,} rows)"
        if n > MANY:
            ax.plot(share[s], ypos, "o", ms=3.5, color=color, alpha=0.85, label=label)
        else:
            width = 0.8 / len(splits)
            ax.barh(ypos + (i - (len(splits) - 1) / 2) * width, share[s], height=width, color=color,
                    label=label)
    ax.set_yticks(ypos, names, fontsize=_tick_size(n))
    ax.invert_yaxis()
    ax.set_xlabel("% of the split's rows" + (" (a row with several labels counts for each)"
                                              if sum(sum(v.values()) for v in labels.values())
                                              > sum(rows.values()) else ""))
    ax.grid(axis="x", alpha=0.3)
    ax.set_ylim(n - 0.5, -0.5)
    ax.legend(fontsize=8, loc="lower right" if n <= MANY else "upper right",
              bbox_to_anchor=None)
    ax.set_title("labels per split", fontsize=10)
    return fig


def token_length_figure(hist: dict, max_length: int, over: int | None) -> Figure:
    """Token lengths per split (share of the split per bin), with the max-length cut marked."""
    edges = np.asarray(hist["edges"], dtype=float)
    # lengths are whole numbers: divide each bin by the lengths it holds, so bins holding one or
    # two of them do not alternate in height
    lengths_in_bin = np.maximum(np.diff(np.ceil(edges)), 1)
    fig, (ax,) = _fig(9, 3.8)
    splits = [s for s in hist if s != "edges"]
    total = 0
    for i, s in enumerate(splits):
        counts = np.asarray(hist[s], dtype=float)
        total += counts.sum()
        if counts.sum():
            ax.stairs(counts / lengths_in_bin / counts.sum() * 100, edges, lw=1.6,
                      color=SPLIT_COLORS.get(s, COLORS[i % len(COLORS)]), label=s)
    note = f": {over:,} texts ({100 * over / max(total, 1):.1f}%) are longer" if over is not None else ""
    ax.axvline(max_length, color="black", ls="--", lw=1.2, label=f"max length {max_length}{note}")
    ax.set(xlabel="tokens per text (with special tokens)", ylabel="% of the split per token length")
    ax.set_xlim(0, max(edges[-1], max_length * 1.05))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("token lengths", fontsize=10)
    return fig


def save_result_plots(m: dict, run_dir) -> None:
    """confusion_matrix.png for single-label tasks, per_label_f1.png for multi-label ones."""
    if "confusion_matrix" in m:
        fig = confusion_figures(m["confusion_matrix"], list(m["per_class"]))[0][1]
        fig.savefig(Path(run_dir) / "confusion_matrix.png", dpi=120)
    else:
        per_label_figure(m).savefig(Path(run_dir) / "per_label_f1.png", dpi=120)
