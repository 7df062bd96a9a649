"""The public API: train(config) -> Run, evaluate(model, data) -> metrics, predict_file(...)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from textclf import runs
from textclf.config import DataConfig, TrainConfig
from textclf.data.checks import print_report
from textclf.evaluation.metrics import classification_metrics, multilabel_metrics
from textclf.evaluation.report import calibration_line, decision_line, print_metrics, verdict_line
from textclf.errors import DataError
from textclf.reporting import finish_run
from textclf.evaluation.thresholds import apply_thresholds

console = Console(stderr=False)


@dataclass
class Run:
    path: Path
    metrics: dict

    @property
    def model_dir(self) -> Path:
        return self.path / runs.MODEL_DIR

    def predictor(self):
        from textclf.inference.predictor import Predictor
        return Predictor.load(self.model_dir)


def score(y, probs, labels, thresholds=None, train_counts=None) -> dict:
    """The task's metrics for one set of predictions."""
    if labels.multi_label:
        return multilabel_metrics(y, probs, labels, thresholds, train_counts)
    return classification_metrics(y, probs, labels)


def train(cfg: TrainConfig, *, quiet: bool = False, say=None, callbacks=None) -> Run | None:
    """Train, evaluate and save a run: prepare data -> fit -> calibrate and decide -> score test
    -> write the run. Progress goes to `say` (default: print to stdout; `quiet`: nowhere); the
    results come back in the Run. Under torchrun/accelerate every process calls this; rank 0
    alone reads the data, writes the run and gets the Run, the others get None. A run is built
    in `.<name>.partial` beside its output and renamed into place when complete; an interrupted
    one stays there and `cfg.resume` continues it."""
    from textclf.training import distributed

    distributed.start()
    try:
        return _train(cfg, say=_silent if quiet else say, callbacks=callbacks)
    finally:
        distributed.stop()   # every process, whether it ended early, failed or finished


def _train(cfg: TrainConfig, *, say, callbacks) -> Run | None:
    """train's phases, inside the process group."""
    from textclf.training import distributed, phases, refit

    main = distributed.is_main()
    if not main:
        say = _silent
    elif say is None:
        say = console.print
    final, work = distributed.on_main(runs.begin, cfg.output, overwrite=cfg.overwrite,
                                      resume=cfg.resume)
    data, report = distributed.on_main(phases.read_data, cfg)
    print_report(report, _Printer(say))
    distributed.on_main(phases.start_run, work, cfg, data)
    prep = phases.prepare_data(cfg, data, report)
    fitted = phases.fit(cfg, prep, work, say, callbacks=callbacks)
    refitted = refit.refit(cfg, prep, fitted, work, say)   # cfg.refit: on train + validation
    if not main:
        return None
    decided = phases.calibrate_and_decide(cfg, prep, fitted.model, say)
    fitted, decided = refit.adopt(cfg, prep, fitted, decided, refitted)
    metrics = phases.score_test(cfg, prep, fitted, decided, say)
    phases.write_run(work, final.name, cfg, prep, fitted, decided, metrics)
    finish_run(work, final, say=say)   # environment.json, report.html, model card
    runs.finish(work, final)
    phases.drop_progress(final)
    return Run(final, metrics)


def _silent(*args, **kwargs) -> None:
    return None


class _Printer:
    """A console-like object over a print callback (for the report printers)."""

    def __init__(self, say):
        self.print = say


def print_run(out, run: Run) -> None:
    """The end of `textclf train`: the test table next to the baseline, verdict, calibration,
    decision, where the run is."""
    metrics = run.metrics
    print_metrics(out, metrics["test"], metrics.get("baseline"))
    if "baseline" in metrics:
        out.print(verdict_line(metrics["test"], metrics["baseline"], metrics.get("comparison")))
    out.print(calibration_line(metrics["calibration"]))
    if "decision" in metrics:
        out.print(decision_line(metrics["decision"]))
    out.print(f"run saved to [bold]{run.path}[/] (model: {run.model_dir})")


def prediction_columns(probs: np.ndarray, labels, thresholds=None,
                       min_confidence: float | None = None) -> dict[str, list]:
    """Output columns for predictions: label + score (single-label; a score below
    `min_confidence` makes the label "(abstain)") or labels (multi-label, comma-joined, those
    at/above their thresholds), then prob_<name> for every label."""
    from textclf.inference.predictor import ABSTAIN

    names = labels.names
    cols: dict[str, list] = {}
    if labels.multi_label:
        chosen = apply_thresholds(probs, thresholds)
        cols["labels"] = [",".join(n for n, c in zip(names, row) if c) for row in chosen]
    else:
        best = probs.argmax(axis=1)
        top = probs[np.arange(len(probs)), best]
        low = top < min_confidence if min_confidence is not None else np.zeros(len(top), bool)
        cols["label"] = [ABSTAIN if a else names[j] for j, a in zip(best, low)]
        cols["score"] = [round(float(v), 6) for v in top]
    for j, n in enumerate(names):
        cols[f"prob_{n}"] = [round(float(v), 6) for v in probs[:, j]]
    return cols


def evaluate(model_path: str, data_cfg: DataConfig, *, quiet: bool = False,
             threshold: float | None = None, backend: str = "auto") -> dict:
    """Score a saved model on every row of a labelled file (`backend`: see Predictor.load)."""
    from textclf.data.load import load_labelled
    from textclf.inference.predictor import Predictor

    predictor = Predictor.load(model_path, backend=backend)
    space = predictor.labels
    d = load_labelled(data_cfg.train, text_col=data_cfg.text_col, label_col=data_cfg.label_col,
                      no_header=data_cfg.no_header, columns=data_cfg.columns, sep=data_cfg.sep,
                      text_pair_col=data_cfg.text_pair_col, label_cols=data_cfg.label_cols,
                      label_sep=data_cfg.label_sep,
                      label_names=list(space.names) if space.multi_label else None,
                      task="multilabel" if space.multi_label else "single")
    if predictor.text_pair and d.pairs is None:
        raise DataError(f"The model classifies text pairs but {data_cfg.train} has no second text "
                        "column; pass --text-pair-col.")
    if data_cfg.label_map:
        from textclf.data.labels import remap_labels
        d.labels = remap_labels(d.labels, data_cfg.label_map, source=str(data_cfg.train))
    if data_cfg.normalize_labels and not space.multi_label:   # map variants onto the model's spelling
        from textclf.data.labels import match_labels
        d.labels = match_labels(d.labels, space.names)
    y = np.asarray(space.encode(d.labels, source=str(data_cfg.train)))
    probs = predictor.predict_proba(d.texts, d.pairs, progress=not quiet)
    m = score(y, probs, space, predictor.thresholds_for(threshold))
    if not quiet:
        shown = getattr(predictor.backend, "path", None)
        print_metrics(console, m, title=f"Evaluation on {Path(data_cfg.train).name} "
                                        f"({shown.name if shown else 'torch'})")
    return m


def predict_file(model_path: str, input_path: str, output_path: str, *, overwrite: bool = False,
                 resume: bool = False, progress: bool = True, **options) -> str:
    """Predict every row of a CSV/TSV/JSONL/Parquet file into a CSV/TSV/JSONL/Parquet file (the
    rows plus label/score or labels, prob_<class>, and uncertainty with MC dropout), streamed in
    chunks; see textclf.inference.stream. Returns a one-line summary."""
    from textclf.inference.stream import predict_stream

    return predict_stream(model_path, input_path, output_path, overwrite=overwrite, resume=resume,
                          progress=progress, **options).summary()
