"""The command line: parses arguments, calls textclf.api, prints. No logic of its own."""
from __future__ import annotations

import os
import sys
from typing import List, Optional, Tuple

import typer
from rich.console import Console
from rich.markup import escape

from textclf.config import (LARGE_SET_EPOCHS, LARGE_SET_ROWS_PER_CLASS, LEARNING_RATE_ALL_WEIGHTS,
                            LEARNING_RATE_FROZEN_EMBEDDINGS, SMALL_SET_BELOW)
from textclf.model_settings import DEFAULT_MAX_WINDOWS
from textclf.errors import TextclfError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Fine-tune a transformer encoder into a text classifier, evaluate it, predict.")
data_app = typer.Typer(no_args_is_help=True, help="Look at a data set before training.")
app.add_typer(data_app, name="data")
err = Console(stderr=True)


def _columns(value: Optional[str]) -> Optional[list[str]]:
    return [c.strip() for c in value.split(",")] if value else None


def _mapping(value: Optional[str], flag: str, example: str) -> Optional[dict[str, str]]:
    """'A=x,B=y' -> {'A': 'x', 'B': 'y'}."""
    if not value:
        return None
    from textclf.errors import DataError
    pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise DataError(f"{flag} {value!r} must look like {example}.")
    return {k.strip(): v.strip() for k, v in pairs}


def _data_config(path, valid, test, text_col, label_col, no_header, columns, sep, normalize_labels,
                 positive_label, text_pair_col=None, label_cols=None, label_sep=None,
                 label_names=None, task=None, split_col=None, split_map=None, label_map=None):
    from textclf.config import DataConfig
    extra = dict(text_pair_col=text_pair_col, label_cols=_columns(label_cols), label_sep=label_sep,
                 label_names=label_names, task=task, split_col=split_col,
                 split_map=_mapping(split_map, "--split-map", "TRAIN=train,TRIAL=validation,TEST=test"),
                 label_map=_mapping(label_map, "--label-map", "NEUTRAL=other,CONTRADICTION=other"))
    return DataConfig(train=path, valid=valid, test=test, text_col=text_col, label_col=label_col,
                      no_header=no_header, columns=_columns(columns), sep=sep,
                      normalize_labels=normalize_labels, positive_label=positive_label,
                      **{k: v for k, v in extra.items() if v is not None})


TEXT_COL = typer.Option(None, "--text-col", help="Text column (default: picked from common names).")
LABEL_COL = typer.Option(None, "--label-col", help="Label column (default: picked from common names).")
NO_HEADER = typer.Option(False, "--no-header", help="The file has no header row (give --columns).")
COLUMNS = typer.Option(None, "--columns", help="Comma-separated column names for --no-header files.")
SEP = typer.Option(None, "--sep", help="Field separator (default: from the extension / first line).")
NORMALIZE = typer.Option(False, "--normalize-labels",
                         help="Merge labels that differ only by case or whitespace.")
PAIR_COL = typer.Option(None, "--text-pair-col",
                        help="Second text of a sentence pair (default: found for sentence1/sentence2, "
                             "premise/hypothesis, question/sentence ...).")
LABEL_COLS = typer.Option(None, "--label-cols",
                          help="Multi-label: 0/1 or true/false columns, comma-separated names or globs ('Is*').")
LABEL_SEP = typer.Option(None, "--label-sep", help="Multi-label: separator of label lists in --label-col (default ,).")
LABEL_NAMES = typer.Option(None, "--label-names",
                           help="Names for integer label ids: a file with one per line, or a,b,c.")
TASK = typer.Option(None, "--task", help="auto|single|multilabel (auto: multi-label when labels are lists or columns).")
SPLIT_COL = typer.Option(None, "--split-col", help="Column holding each row's split (train/dev/test ...).")
SPLIT_MAP = typer.Option(None, "--split-map", help="Map split values, e.g. TRAIN=train,TRIAL=validation,TEST=test.")
LABEL_MAP = typer.Option(None, "--label-map", help="Rename or merge labels (names as in the file), e.g. "
                                                  "NEUTRAL=not_entailment,CONTRADICTION=not_entailment.")
def _with_default(text: str, field: str) -> str:
    """Help text ending in TrainConfig's default for `field` (the flags themselves default to None,
    so that a --config file's values stay unless a flag is given)."""
    from rich.markup import escape

    from textclf.config import TrainConfig
    return escape(f"{text} [default: {TrainConfig.model_fields[field].default}]".lstrip())


DATA = typer.Argument(..., help="Training data file (CSV, TSV, JSON, JSONL, Parquet).")
VALID = typer.Option(None, "--valid", help="Validation file (default: split off train).")
TEST = typer.Option(None, "--test", help="Test file (default: split off train).")
POSITIVE = typer.Option(None, "--positive-label",
                        help="Binary: the class whose F1 selects the model (default: minority).")
MODEL = typer.Option("default", "--model", help="'default' (packaged all-MiniLM-L6-v2), a local dir, or a hub id.")
BACKEND_HELP = ("auto|torch|compressed|onnx-int8|onnx|onnx-fp32 (auto: the compressed export, else int8, "
                "else fp32 ONNX, else torch; onnx: int8, else fp32).")
THRESHOLD = typer.Option(None, "--threshold", help="Multi-label: one decision threshold for every label "
                                                  "(default: the thresholds chosen on validation, saved with the model).")


@app.command()
def train(
    data: str = DATA,
    valid: Optional[str] = VALID,
    test: Optional[str] = TEST,
    text_col: Optional[str] = TEXT_COL, label_col: Optional[str] = LABEL_COL,
    no_header: bool = NO_HEADER, columns: Optional[str] = COLUMNS, sep: Optional[str] = SEP,
    normalize_labels: bool = NORMALIZE,
    text_pair_col: Optional[str] = PAIR_COL, label_cols: Optional[str] = LABEL_COLS,
    label_sep: Optional[str] = LABEL_SEP, label_names: Optional[str] = LABEL_NAMES,
    task: Optional[str] = TASK, split_col: Optional[str] = SPLIT_COL, split_map: Optional[str] = SPLIT_MAP,
    label_map: Optional[str] = LABEL_MAP,
    positive_label: Optional[str] = POSITIVE,
    model: str = MODEL,
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Run directory (default: runs/<data name>)."),
    config: Optional[str] = typer.Option(None, "--config", help="YAML TrainConfig; flags given here override it."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help=escape(f"Epochs [default: {LARGE_SET_EPOCHS} where every weight trains "
                                                                          f"on {SMALL_SET_BELOW}+ training rows with "
                                                                          f"{LARGE_SET_ROWS_PER_CLASS}+ per class, else 5, "
                                                                          "more for small sets (see --min-steps)].")),
    min_steps: Optional[int] = typer.Option(None, "--min-steps",
                                            help=_with_default("Without --epochs: small sets train more epochs, so "
                                                 "that training takes at least this many optimizer steps; early stopping does not stop before them (0 = off).", "min_steps")),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help=_with_default("Examples per batch on each device.", "batch_size")),
    learning_rate: Optional[float] = typer.Option(None, "--lr", "--learning-rate",
                                                  help=escape(f"[default: {LEARNING_RATE_ALL_WEIGHTS:g} when every weight "
                                                              f"trains, {LEARNING_RATE_FROZEN_EMBEDDINGS:g} with the "
                                                              "embeddings frozen]")),
    max_length: Optional[int] = typer.Option(None, "--max-length", help=_with_default("", "max_length")),
    class_weights: Optional[str] = typer.Option(None, "--class-weights", help=_with_default("auto|none|balanced|sqrt", "class_weights")),
    loss: Optional[str] = typer.Option(None, "--loss", help=_with_default("ce|focal", "loss")),
    label_smoothing: Optional[float] = typer.Option(None, "--label-smoothing",
                                                    help=_with_default("Cross-entropy label smoothing, e.g. 0.1.", "label_smoothing")),
    freeze: Optional[str] = typer.Option(None, "--freeze", help=escape(
        "auto|none|words|embeddings|base (words: the word embeddings only) [default: auto = none, or embeddings "
        f"on multi-label tasks and {SMALL_SET_BELOW}+ training rows with under {LARGE_SET_ROWS_PER_CLASS} per class]")),
    unfreeze_last: Optional[int] = typer.Option(None, "--unfreeze-last", help=_with_default("", "unfreeze_last")),
    no_length_grouping: bool = typer.Option(False, "--no-length-grouping"),
    long_text: Optional[str] = typer.Option(None, "--long-text",
                                            help=_with_default("chunk|truncate: texts over --max-length are split "
                                                 "into overlapping windows whose logits are averaged, or cut.", "long_text")),
    stride: Optional[int] = typer.Option(None, "--stride", help=_with_default("chunk: tokens shared by neighbouring windows.", "stride")),
    aggregate: Optional[str] = typer.Option(None, "--aggregate", help=_with_default("chunk: mean|max of window logits.", "aggregate")),
    max_windows: Optional[int] = typer.Option(None, "--max-windows", help=_with_default(
        "chunk: windows one text contributes at most (evenly spaced over it), in training, evaluation and prediction.", "max_windows")),
    patience: Optional[int] = typer.Option(None, "--patience", help=_with_default("Early-stopping patience in epochs (0 = off).", "early_stopping_patience")),
    seed: Optional[int] = typer.Option(None, "--seed", help=_with_default("", "seed")),
    restarts: Optional[int] = typer.Option(None, "--restarts",
                                           help=_with_default("Train N times (init seeds seed..seed+N-1, same split) "
                                                "and keep the best on validation; for small sets.", "restarts")),
    refit: Optional[bool] = typer.Option(None, "--refit/--no-refit",
                                         help=escape("Then train again on train + validation for the kept epoch count, "
                                                   "keeping validation's temperature and thresholds [default: when "
                                                   f"the training split has fewer than {SMALL_SET_BELOW} rows and the test "
                                                   "split is labelled].")),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help=_with_default("Gradient accumulation steps.", "grad_accum")),
    gradient_checkpointing: bool = typer.Option(False, "--gradient-checkpointing",
                                                help="Recompute activations in the backward pass (less memory)."),
    trainer_arg: Optional[List[str]] = typer.Option(None, "--trainer-arg",
                                                    help="KEY=VALUE for transformers' TrainingArguments, "
                                                         "repeatable (e.g. lr_scheduler_type=cosine)."),
    save_steps: Optional[int] = typer.Option(None, "--save-steps", help="Also checkpoint every N optimizer steps."),
    save_minutes: Optional[float] = typer.Option(None, "--save-minutes",
                                                 help=_with_default("Also checkpoint every M minutes (0 = off).", "save_minutes")),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run of --output from "
                                                        "its last complete checkpoint (or start it)."),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the TF-IDF baseline (and so the ensemble)."),
    ensemble: Optional[str] = typer.Option(None, "--ensemble", help=_with_default(
        "Combine the fine-tuned model with the TF-IDF model through a stacker fitted on validation: "
        "auto (where it beat the model alone on held-out halves of validation), always or none.", "ensemble")),
    no_tune_threshold: bool = typer.Option(False, "--no-tune-threshold",
                                           help="Binary tasks: always decide at probability 0.5."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory "
                                                              "(or an interrupted one: start over)."),
    drop_rows: Optional[str] = typer.Option(None, "--drop-rows", help="CSV with a 'row' column (e.g. from "
                                            "`textclf data issues`): leave those 0-based data rows of DATA out."),
    relabel: Optional[str] = typer.Option(None, "--relabel", help="CSV with 'row' and a new label column "
                                          "('suggested', or 'label'): give those rows of DATA that label."),
):
    """Fine-tune, evaluate on the test split (next to a TF-IDF baseline) and save a run."""
    from pathlib import Path

    from textclf.api import print_run
    from textclf.api import train as run_train
    from textclf.config import TrainConfig
    from textclf.training.arguments import parse_trainer_args

    d = _data_config(data, valid, test, text_col, label_col, no_header, columns, sep,
                     normalize_labels, positive_label, text_pair_col, label_cols, label_sep,
                     label_names, task, split_col, split_map, label_map)
    if drop_rows or relabel:   # the decisions themselves go into the run's config.yaml
        from textclf.data.row_edits import read_drop_rows, read_relabel
        d = d.model_copy(update={"drop_rows": read_drop_rows(drop_rows, data) if drop_rows else None,
                                 "relabel": read_relabel(relabel, data) if relabel else None})
    flags = dict(output=output, model=model if model != "default" or not config else None,
                 epochs=epochs, min_steps=min_steps, batch_size=batch_size, learning_rate=learning_rate,
                 max_length=max_length, class_weights=class_weights, loss=loss,
                 label_smoothing=label_smoothing, freeze=freeze,
                 unfreeze_last=unfreeze_last, early_stopping_patience=patience, seed=seed, restarts=restarts,
                 refit=refit, long_text=long_text, stride=stride, aggregate=aggregate, max_windows=max_windows,
                 grad_accum=grad_accum, ensemble=ensemble,
                 save_steps=save_steps, save_minutes=save_minutes,
                 trainer_args=parse_trainer_args(trainer_arg) or None)
    flags = {k: v for k, v in flags.items() if v is not None}
    if no_length_grouping:
        flags["length_grouping"] = False
    if no_baseline:
        flags["baseline"] = False
    if no_tune_threshold:
        flags["tune_threshold"] = False
    if overwrite:
        flags["overwrite"] = True
    if resume:
        flags["resume"] = True
    if gradient_checkpointing:
        flags["gradient_checkpointing"] = True
    if config:   # the YAML's data settings stay unless a flag here says otherwise
        cfg = TrainConfig.from_yaml(config, data=d.model_dump(exclude_defaults=True), **flags)
    else:
        flags.setdefault("output", str(Path("runs") / Path(data).stem))
        cfg = TrainConfig.parse({"data": d.model_dump(), **flags})
    out = Console()
    run = run_train(cfg, say=out.print)
    if run is None:   # another rank of a multi-process launch: its part is done
        from textclf.training import distributed
        distributed.exit_worker()
        return
    print_run(out, run)   # rank 0, or the only process


@app.command()
def tune(
    data: str = DATA,
    valid: Optional[str] = VALID,
    test: Optional[str] = TEST,
    text_col: Optional[str] = TEXT_COL, label_col: Optional[str] = LABEL_COL,
    no_header: bool = NO_HEADER, columns: Optional[str] = COLUMNS, sep: Optional[str] = SEP,
    normalize_labels: bool = NORMALIZE,
    text_pair_col: Optional[str] = PAIR_COL, label_cols: Optional[str] = LABEL_COLS,
    label_sep: Optional[str] = LABEL_SEP, label_names: Optional[str] = LABEL_NAMES,
    task: Optional[str] = TASK, split_col: Optional[str] = SPLIT_COL, split_map: Optional[str] = SPLIT_MAP,
    label_map: Optional[str] = LABEL_MAP,
    positive_label: Optional[str] = POSITIVE,
    trials: int = typer.Option(20, "--trials", min=1, help="Number of trials (each one training run)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Start no trial after this many seconds."),
    space: Optional[str] = typer.Option(None, "--space", help="YAML search space overriding the default one per key."),
    model: str = MODEL,
    config: Optional[str] = typer.Option(None, "--config", help="YAML TrainConfig for the settings not searched."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Tune directory (default: runs/tune-<data name>)."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing tune directory."),
):
    """Search training settings with optuna: each trial a run, chosen on validation, test scored once."""
    from pathlib import Path

    from textclf.config import TrainConfig
    from textclf.tuning import load_space, tune as run_tune

    d = _data_config(data, valid, test, text_col, label_col, no_header, columns, sep,
                     normalize_labels, positive_label, text_pair_col, label_cols, label_sep,
                     label_names, task, split_col, split_map, label_map)
    flags = {k: v for k, v in dict(model=model if model != "default" or not config else None,
                                   seed=seed, overwrite=overwrite or None).items() if v is not None}
    cfg = (TrainConfig.from_yaml(config, data=d.model_dump(exclude_defaults=True), **flags) if config
           else TrainConfig.parse({"data": d.model_dump(), **flags}))
    run_tune(cfg, trials=trials, timeout=timeout, space=load_space(space),
             output=output or f"runs/tune-{Path(data).stem}")


@app.command()
def evaluate(
    model: str = typer.Argument(..., help="Saved model dir or run dir."),
    data: str = typer.Argument(..., help="Labelled data file."),
    text_col: Optional[str] = TEXT_COL, label_col: Optional[str] = LABEL_COL,
    no_header: bool = NO_HEADER, columns: Optional[str] = COLUMNS, sep: Optional[str] = SEP,
    normalize_labels: bool = NORMALIZE,
    text_pair_col: Optional[str] = PAIR_COL, label_cols: Optional[str] = LABEL_COLS,
    label_sep: Optional[str] = LABEL_SEP, label_map: Optional[str] = LABEL_MAP,
    threshold: Optional[float] = THRESHOLD,
    backend: str = typer.Option("auto", "--backend", help=BACKEND_HELP),
    output: Optional[str] = typer.Option(None, "--output", help="Write the metrics as JSON here."),
    overwrite: bool = typer.Option(False, "--overwrite"),
):
    """Score a saved model on every row of a labelled file."""
    from textclf import runs
    from textclf.api import evaluate as run_eval

    if output:
        runs.check_output(output, overwrite)
    m = run_eval(model, _data_config(data, None, None, text_col, label_col, no_header, columns, sep,
                                     normalize_labels, None, text_pair_col, label_cols, label_sep,
                                     label_map=label_map),
                 threshold=threshold, backend=backend)
    if output:
        runs.write_json(output, m)


@app.command()
def predict(
    model: str = typer.Argument(..., help="Saved model dir or run dir."),
    texts: Optional[List[str]] = typer.Argument(None, help="Texts to classify."),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="CSV/TSV/JSONL/Parquet file of texts "
                                        "(--engine ray: also a directory of them)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Where to write rows + predictions "
                                         "(.csv/.tsv/.jsonl/.parquet; --engine ray: a directory)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted --input job from its "
                                "last finished chunk."),
    chunk_rows: int = typer.Option(4096, "--chunk-rows", help="--input: rows read, predicted and "
                                   "written at a time."),
    engine: str = typer.Option("local", "--engine", help="--input: local (one process, streamed) or "
                               "ray (Ray Data, pip install 'textclf\\[ray]')."),
    address: Optional[str] = typer.Option(None, "--address", help="--engine ray: a running Ray "
                                          "cluster to join (default: start a local one)."),
    actors: Optional[int] = typer.Option(None, "--actors", help="--engine ray: model replicas "
                                         "(default: one per 2 CPUs of the cluster)."),
    pair: bool = typer.Option(False, "--pair",
                              help='Sentence-pair models: the texts are pairs, --pair "premise" "hypothesis" ...'),
    text_col: Optional[str] = TEXT_COL, text_pair_col: Optional[str] = PAIR_COL,
    threshold: Optional[float] = THRESHOLD,
    backend: str = typer.Option("auto", "--backend", help=BACKEND_HELP),
    mc_dropout: int = typer.Option(0, "--mc-dropout", help="N stochastic passes with dropout on: mean "
                                   "probabilities + per-text uncertainty (predictive entropy); torch backend."),
    min_confidence: Optional[float] = typer.Option(None, "--min-confidence",
                                                   help="Label a top score below this '(abstain)'."),
    seed: int = typer.Option(0, "--seed", help="Seed for --mc-dropout."),
    max_batch_tokens: int = typer.Option(8192, "--max-batch-tokens"),
    overwrite: bool = typer.Option(False, "--overwrite"),
    explain: bool = typer.Option(False, "--explain", help="Also print the words that pushed each text "
                                 "toward its label (integrated gradients; needs textclf[explain])."),
):
    """Print label + score for texts, or write predictions for a whole file."""
    from textclf.errors import DataError

    if explain and input:
        raise DataError("--explain is for texts given on the command line, not --input files.")
    if input:
        if not output:
            raise DataError("--input needs --output FILE (.csv, .tsv, .jsonl or .parquet).")
        from textclf.api import predict_file
        options = dict(text_col=text_col, text_pair_col=text_pair_col, max_batch_tokens=max_batch_tokens,
                       threshold=threshold, backend=backend, mc_dropout=mc_dropout,
                       min_confidence=min_confidence, seed=seed)
        if engine == "ray":
            if resume:
                raise DataError("--resume is for --engine local; a Ray job writes its output directory "
                                "only when complete, so run it again.")
            from textclf.inference.ray_predict import predict_ray
            summary = predict_ray(model, input, output, address=address, actors=actors,
                                  overwrite=overwrite, **options).summary()
        elif engine == "local":
            summary = predict_file(model, input, output, overwrite=overwrite, resume=resume,
                                   chunk_rows=chunk_rows, **options)
        else:
            raise DataError(f"--engine {engine!r}: use local or ray.")
        Console().print(summary, highlight=False, soft_wrap=True)
        return
    if not texts:
        raise DataError("Give texts to classify (--pair A B for pair models), or --input FILE --output FILE.")
    from textclf.inference.predictor import Predictor
    if (mc_dropout or explain) and backend == "auto":
        backend = "torch"
    predictor = Predictor.load(model, backend=backend)
    explainer = None
    if explain:
        from textclf.inference.explain import Explainer, why_line
        explainer = Explainer(predictor)
    if predictor.text_pair and (not pair or len(texts) % 2):
        raise DataError('This model classifies text pairs: give them as --pair "first text" "second text" ...')
    if pair and not predictor.text_pair:
        raise DataError("--pair is for sentence-pair models; this model classifies single texts.")
    seconds = None
    if pair:
        texts, seconds = texts[0::2], texts[1::2]
    uncertainty = None
    if mc_dropout:
        probs, uncertainty = predictor.mc_dropout(texts, seconds, passes=mc_dropout, seed=seed,
                                                  max_batch_tokens=max_batch_tokens)
    else:
        probs = predictor.predict_proba(texts, seconds, max_batch_tokens=max_batch_tokens)
    preds = predictor.format(probs, threshold=threshold, min_confidence=min_confidence)
    shown_texts = texts if seconds is None else [f"{a} || {b}" for a, b in zip(texts, seconds)]
    if uncertainty is not None:
        print(f"# mean of {mc_dropout} MC-dropout passes; last column: predictive entropy (nats)")
    for i, (text, p) in enumerate(zip(shown_texts, preds)):
        short = text if len(text) <= 70 else text[:67] + "..."
        if predictor.labels.multi_label:
            shown = ", ".join(f"{q['label']} {q['score']:.3f}" for q in p) or "(no label above threshold)"
        else:
            shown = f"{p['label']}\t{p['score']:.4f}"
        extra = f"\t{uncertainty[i]:.4f}" if uncertainty is not None else ""
        print(f"{shown}\t{short}{extra}")
        if explainer is not None:
            print(why_line(explainer.explain(texts[i], None if seconds is None else seconds[i])))


@app.command()
def export(
    model: str = typer.Argument(..., help="Saved model dir or run dir."),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="Export to ONNX (the only format so far)."),
    quantize: str = typer.Option("int8", "--quantize", help="int8|none: also write a dynamically "
                                 "quantized int8 model."),
    compress: bool = typer.Option(False, "--compress", help="Also write the compressed model (vocabulary "
                                  "pruned to the run's training data, 4-bit embeddings, int8 weights), "
                                  "which predict, evaluate and serve then use; needs the run dir."),
    vocab_size: Optional[int] = typer.Option(None, "--vocab-size", min=2000, help="--compress: tokens "
                                             "the pruned vocabulary keeps [default: 7400, ~1/7 of fp32 "
                                             "for the default model]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing onnx/ export."),
):
    """Export to ONNX (+ int8, + compressed), check it against torch and on the run's test split."""
    from pathlib import Path

    from textclf.errors import TextclfError
    from textclf.inference.onnx import export as run_export

    if not onnx:
        raise TextclfError("Nothing to do: --onnx is the only export format.")
    if quantize not in ("int8", "none"):
        raise TextclfError(f"--quantize {quantize!r}: use int8 or none.")
    if vocab_size is not None and not compress:
        raise TextclfError("--vocab-size is an option of --compress.")
    out = Console()
    r = run_export(model, quantize=quantize == "int8", compress=compress, overwrite=overwrite,
                   say=out.print, vocab_size=vocab_size)
    mb = {k: v / 1e6 for k, v in r["bytes"].items()}
    out.print(f"fp32 ONNX vs torch: max |logit difference| {r['fp32_max_abs_logit_diff']:.2e}")
    if "onnx_int8" in mb:
        out.print(f"int8 vs torch: max |logit difference| {r['int8_max_abs_logit_diff']:.3f}")
        out.print(f"size: safetensors {mb['safetensors']:.1f} MB, ONNX fp32 {mb['onnx_fp32']:.1f} MB, "
                  f"int8 {mb['onnx_int8']:.1f} MB ({r['int8_smaller_than_safetensors']:.2f}x smaller)")
    for name in ("test_fp32", "test_int8"):
        if name in r:
            out.print(f"{name.replace('_', ' ')}: " + ", ".join(f"{k} {v:.4f}" for k, v in r[name].items()))
    c = r.get("compressed")
    if c:
        for line in compressed_lines(c):
            out.print(line, highlight=False)
        from textclf.runs import model_dir_of
        run_dir = model_dir_of(model).parent
        if (run_dir / "metrics.json").exists():   # report.html and the card show the export
            from textclf.reporting import write_reports
            for p in write_reports(run_dir):
                out.print(f"wrote {Path(p)}")


def compressed_lines(c: dict) -> list[str]:
    """What the compressed export measured, as lines for the console."""
    v = c["vocabulary"]
    lines = [f"compressed: {c['bytes'] / 1e6:.1f} MB ({c['smaller_than_safetensors']:.2f}x smaller than "
             f"model.safetensors), vocabulary {v['kept']:,} of {v['of']:,} tokens, max |logit "
             f"difference| vs torch {c['max_abs_logit_diff']:.3f}"]
    if "test" in c:
        u = c["test_unknown"]
        lines.append("test compressed: " + ", ".join(f"{k} {x:.4f} ({c['delta_points_vs_torch'][k]:+.2f} "
                                                     f"points vs torch)" for k, x in c["test"].items()))
        lines.append(f"test split: unknown tokens {100 * u['unknown_share_full']:.3f}% -> "
                     f"{100 * u['unknown_share_pruned']:.3f}% after pruning; tokens "
                     f"{100 * u['token_count_change']:+.1f}%")
        s = c["speed"]["ms_per_text"]
        lines.append(f"speed: compressed {s['compressed']:.2f} ms/text, int8 {s['int8']:.2f} ms/text "
                     f"(time ratio {c['speed']['compressed_time_vs_int8']:.2f})")
    return lines


@app.command()
def serve(
    model: str = typer.Argument(..., help="Saved model dir or run dir."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (default: loopback only)."),
    port: int = typer.Option(8000, "--port"),
    workers: int = typer.Option(1, "--workers", help="Server processes (each loads the model)."),
    backend: str = typer.Option("auto", "--backend", help=BACKEND_HELP),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="TEXTCLF_API_KEY",
                                          help="Require 'Authorization: Bearer KEY' on /predict and /info."),
    max_wait_ms: float = typer.Option(0.0, "--max-wait-ms", help="Micro-batching: longest wait for company "
                                      "(0: a batch starts as soon as the model is free; what queues "
                                      "meanwhile forms the next one)."),
    no_batching: bool = typer.Option(False, "--no-batching", help="One forward pass per request."),
    model_workers: int = typer.Option(0, "--model-workers", min=0, help="Model calls each server process "
                                      "runs at once (0: one per core for ONNX models, each on one core; "
                                      "1 for PyTorch)."),
):
    """Serve the model over HTTP: POST /predict, /info, /health, /ready, /metrics, a web page at /."""
    import uvicorn

    from textclf.inference.predictor import Predictor

    Predictor.load(model, backend=backend, warmup=False)   # fail here, with one sentence, not in a worker
    if model_workers == 0 and workers > 1:   # the cores shared among the processes
        from textclf.inference.backends import cpu_threads
        model_workers = max(1, cpu_threads() // workers)
    os.environ.update(TEXTCLF_MODEL=model, TEXTCLF_BACKEND=backend,
                      TEXTCLF_BATCHING="0" if no_batching else "1", TEXTCLF_MAX_WAIT_MS=str(max_wait_ms),
                      TEXTCLF_MODEL_WORKERS=str(model_workers))
    if api_key:
        os.environ["TEXTCLF_API_KEY"] = api_key
    err.print(f"serving {model} on http://{host}:{port} (web page at /, API docs at /docs)")
    uvicorn.run("textclf.serving.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, timeout_graceful_shutdown=30, log_level="warning")


@app.command()
def push(
    run: str = typer.Argument(..., help="Run dir or model dir."),
    repo_id: str = typer.Option(..., "--repo-id", help="USER/NAME (or ORG/NAME) on the Hugging Face Hub."),
    private: bool = typer.Option(False, "--private", help="Create the repo private (an existing repo keeps its setting)."),
    onnx: bool = typer.Option(False, "--onnx", help="Include the int8 ONNX export (exported first if missing)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be uploaded, upload nothing."),
):
    """Upload the model (safetensors, config, tokenizer, model card) to the Hub; token from HF_TOKEN or `hf auth login`."""
    from textclf.publish import push as run_push

    out = Console(highlight=False)
    r = run_push(run, repo_id, private=private, onnx=onnx, dry_run=dry_run,
                 say=lambda msg: out.print(msg, markup=False))
    if not dry_run:
        out.print(f"pushed {len(r['files'])} files to {r['url']} (commit {r['commit'][:10]})")


@app.command("runs")
def runs_cmd(
    directory: str = typer.Argument("runs", metavar="DIR", help="Directory holding run dirs."),
    compare: Optional[Tuple[str, str]] = typer.Option(None, "--compare", metavar="A B", help="Two runs (names under DIR "
                                                      "or paths): metrics side by side with deltas, and config differences."),
):
    """List the runs in DIR (default runs/): data, base model, task, metric, baseline, time, status."""
    from textclf import runlist

    out = Console()
    if not out.is_terminal:   # a log or a pipe: whole rows, not wrapped to 80 columns
        out = Console(width=200)
    if compare:
        a, b = (runlist.resolve_run(name, directory) for name in compare)
        runlist.print_compare(runlist.compare(a, b), out)
        return
    found = runlist.list_runs(directory)
    if not found:
        out.print(f"no runs in {directory}")
        return
    out.print(runlist.runs_table(found, title=f"Runs in {directory}"))


@app.command()
def report(
    run: str = typer.Argument(..., help="Run dir (written by textclf train)."),
):
    """Rebuild report.html and the model card (model/README.md) from a run dir's files."""
    from textclf.reporting import write_reports

    for path in write_reports(run):
        Console().print(f"wrote {path}")


@data_app.command("check")
def data_check(
    data: str = typer.Argument(..., help="Data file to check."),
    valid: Optional[str] = typer.Option(None, "--valid"), test: Optional[str] = typer.Option(None, "--test"),
    text_col: Optional[str] = TEXT_COL, label_col: Optional[str] = LABEL_COL,
    no_header: bool = NO_HEADER, columns: Optional[str] = COLUMNS, sep: Optional[str] = SEP,
    normalize_labels: bool = NORMALIZE,
    text_pair_col: Optional[str] = PAIR_COL, label_cols: Optional[str] = LABEL_COLS,
    label_sep: Optional[str] = LABEL_SEP, label_names: Optional[str] = LABEL_NAMES,
    task: Optional[str] = TASK, split_col: Optional[str] = SPLIT_COL, split_map: Optional[str] = SPLIT_MAP,
    label_map: Optional[str] = LABEL_MAP,
    model: str = typer.Option("default", "--model", help="Tokenizer used for length statistics."),
    max_length: int = typer.Option(128, "--max-length"),
    max_windows: int = typer.Option(DEFAULT_MAX_WINDOWS, "--max-windows", min=1,
                                    help="Windows one long text makes at most (counts the texts capped)."),
    seed: int = typer.Option(42, "--seed"),
):
    """Report rows, duplicates, label balance per split and token lengths, without training."""
    from textclf.data.checks import data_report, print_report
    from textclf.data.prepare import prepare
    from textclf.models.base import load_tokenizer

    d = _data_config(data, valid, test, text_col, label_col, no_header, columns, sep,
                     normalize_labels, None, text_pair_col, label_cols, label_sep, label_names, task,
                     split_col, split_map, label_map)
    prepared = prepare(d, seed=seed, check_labels=False)
    print_report(data_report(prepared, load_tokenizer(model), max_length, max_windows=max_windows), Console())


@data_app.command("issues")
def data_issues(
    data: str = typer.Argument(..., help="Data file to examine (with --valid/--test: those files too)."),
    valid: Optional[str] = typer.Option(None, "--valid"), test: Optional[str] = typer.Option(None, "--test"),
    text_col: Optional[str] = TEXT_COL, label_col: Optional[str] = LABEL_COL,
    no_header: bool = NO_HEADER, columns: Optional[str] = COLUMNS, sep: Optional[str] = SEP,
    normalize_labels: bool = NORMALIZE,
    text_pair_col: Optional[str] = PAIR_COL, label_cols: Optional[str] = LABEL_COLS,
    label_sep: Optional[str] = LABEL_SEP, label_names: Optional[str] = LABEL_NAMES,
    task: Optional[str] = TASK, split_col: Optional[str] = SPLIT_COL, split_map: Optional[str] = SPLIT_MAP,
    label_map: Optional[str] = LABEL_MAP,
    output: str = typer.Option("issues.csv", "--output", "-o", help="CSV of the flagged rows, most suspect first."),
    folds: int = typer.Option(5, "--folds", help="Folds of the out-of-fold predictions."),
    model: Optional[str] = typer.Option(None, "--model", help="Fine-tune this model ('default': the packaged one) "
                                        "once per fold for the predictions, instead of the TF-IDF baseline (slow)."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="--model: epochs of each fold's training."),
    all_rows: bool = typer.Option(False, "--all-rows", help="Write every row with its score, not only the flagged ones."),
    top: int = typer.Option(20, "--top", help="Rows shown on the terminal."),
    seed: int = typer.Option(42, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --output file."),
):
    """Rows whose label looks wrong (cleanlab on out-of-fold predictions), duplicates with
    different labels, and outliers: a table here and a CSV to review (then train --drop-rows / --relabel)."""
    from textclf.api import label_issues, write_issues
    from textclf.evaluation.label_issues import print_issues

    d = _data_config(data, valid, test, text_col, label_col, no_header, columns, sep,
                     normalize_labels, None, text_pair_col, label_cols, label_sep, label_names, task,
                     split_col, split_map, label_map)
    if epochs is not None and model is None:
        from textclf.errors import DataError
        raise DataError("--epochs sets the fine-tuning of --model; the TF-IDF default has no epochs.")
    out = Console()
    settings = {"epochs": epochs} if epochs is not None else {}
    issues = label_issues(d, folds=folds, seed=seed, model=model, train_settings=settings,
                          all_rows=all_rows, say=out.print)
    print_issues(issues.table, out, top=top)
    out.print(f"{issues.summary()}; predictions: {issues.method}")
    path = write_issues(issues, output, overwrite=overwrite)
    out.print(f"wrote {path}: row (0-based data row{' of file' if len(issues.files) > 1 else ''}), given, "
              f"suggested, score, issue, text; after review: textclf train {escape(data)} --drop-rows {path} "
              f"(or --relabel {path})", highlight=False, soft_wrap=True)


def _interrupt(signum, frame):
    """SIGTERM ends a command like Ctrl-C (what is half-written never looks finished); during
    training, first a checkpoint at the end of the current step, so --resume loses nothing."""
    from textclf.training.checkpoints import stop_after_checkpoint

    _terminations.append(signum)
    if len(_terminations) == 1 and stop_after_checkpoint():
        return   # training raises KeyboardInterrupt once that checkpoint is complete
    raise KeyboardInterrupt


_terminations: list[int] = []


def main() -> None:
    import signal

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    signal.signal(signal.SIGTERM, _interrupt)   # `serve` installs uvicorn's own graceful handler
    interrupted = ("interrupted; nothing half-written was left in place (train: --resume continues "
                   "from the last checkpoint)")
    if os.environ.get("RANK", "0") != "0":   # torchrun/accelerate: rank 0 alone speaks
        err.quiet = True
    try:
        # commands return None; newer typer turns Ctrl-C/SIGTERM into a returned 130
        # (and typer.Exit into its code) when not in standalone mode
        code = app(standalone_mode=False)
    except TextclfError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)   # [..] in a message is text
        sys.exit(2)
    except KeyboardInterrupt:
        err.print(interrupted)
        sys.exit(130)
    except Exception as exc:   # click's own usage errors (typer >= 0.2x vendors its own click)
        usage, abort = _click_exceptions()
        if isinstance(exc, usage):
            exc.show()
            sys.exit(2)
        if isinstance(exc, abort):
            err.print(interrupted)
            sys.exit(130)
        raise
    if isinstance(code, int) and code:
        if code == 130:
            err.print(interrupted)
        sys.exit(code)


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """ClickException and Abort from click and from typer's vendored copy, whichever exist."""
    import importlib

    usage, abort = [], [typer.Abort]
    for name in ("click.exceptions", "typer._click.exceptions"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for attr, found in (("ClickException", usage), ("Abort", abort)):
            if hasattr(mod, attr):
                found.append(getattr(mod, attr))
    return tuple(usage), tuple(abort)


if __name__ == "__main__":
    main()
