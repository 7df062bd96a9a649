"""The command line: parses arguments, calls textclf.api, prints. No logic of its own."""
from __future__ import annotations

import os
import sys
from typing import List, Optional

import typer
from rich.console import Console

from textclf.errors import TextclfError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Fine-tune a transformer encoder into a text classifier, evaluate it, predict.")
data_app = typer.Typer(no_args_is_help=True, help="Look at a data set before training.")
app.add_typer(data_app, name="data")
err = Console(stderr=True)


def _columns(value: Optional[str]) -> Optional[list[str]]:
    return [c.strip() for c in value.split(",")] if value else None


def _data_config(path, valid, test, text_col, label_col, no_header, columns, sep, normalize_labels,
                 positive_label):
    from textclf.config import DataConfig
    return DataConfig(train=path, valid=valid, test=test, text_col=text_col, label_col=label_col,
                      no_header=no_header, columns=_columns(columns), sep=sep,
                      normalize_labels=normalize_labels, positive_label=positive_label)


TEXT_COL = typer.Option(None, "--text-col", help="Text column (default: picked from common names).")
LABEL_COL = typer.Option(None, "--label-col", help="Label column (default: picked from common names).")
NO_HEADER = typer.Option(False, "--no-header", help="The file has no header row (give --columns).")
COLUMNS = typer.Option(None, "--columns", help="Comma-separated column names for --no-header files.")
SEP = typer.Option(None, "--sep", help="Field separator (default: from the extension / first line).")
NORMALIZE = typer.Option(False, "--normalize-labels",
                         help="Merge labels that differ only by case or whitespace.")


@app.command()
def train(
    data: str = typer.Argument(..., help="Training data file (CSV, TSV, JSON, JSONL, Parquet)."),
    valid: Optional[str] = typer.Option(None, "--valid", help="Validation file (default: split off train)."),
    test: Optional[str] = typer.Option(None, "--test", help="Test file (default: split off train)."),
    text_col: Optional[str] = TEXT_COL, label_col: Optional[str] = LABEL_COL,
    no_header: bool = NO_HEADER, columns: Optional[str] = COLUMNS, sep: Optional[str] = SEP,
    normalize_labels: bool = NORMALIZE,
    positive_label: Optional[str] = typer.Option(None, "--positive-label",
                                                 help="Binary: the class whose F1 selects the model (default: minority)."),
    model: str = typer.Option("default", "--model", help="'default' (packaged all-MiniLM-L6-v2), a local dir, or a hub id."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Run directory (default: runs/<data name>)."),
    config: Optional[str] = typer.Option(None, "--config", help="YAML TrainConfig; flags given here override it."),
    epochs: Optional[float] = typer.Option(None, "--epochs"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    learning_rate: Optional[float] = typer.Option(None, "--lr", "--learning-rate"),
    max_length: Optional[int] = typer.Option(None, "--max-length"),
    class_weights: Optional[str] = typer.Option(None, "--class-weights", help="auto|none|balanced"),
    loss: Optional[str] = typer.Option(None, "--loss", help="ce|focal"),
    freeze: Optional[str] = typer.Option(None, "--freeze", help="none|embeddings|base"),
    unfreeze_last: Optional[int] = typer.Option(None, "--unfreeze-last"),
    no_length_grouping: bool = typer.Option(False, "--no-length-grouping"),
    patience: Optional[int] = typer.Option(None, "--patience", help="Early-stopping patience in epochs (0 = off)."),
    seed: Optional[int] = typer.Option(None, "--seed"),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="Skip the TF-IDF baseline."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run directory."),
):
    """Fine-tune, evaluate on the test split (next to a TF-IDF baseline) and save a run."""
    from pathlib import Path

    from textclf.api import train as run_train
    from textclf.config import TrainConfig

    d = _data_config(data, valid, test, text_col, label_col, no_header, columns, sep,
                     normalize_labels, positive_label)
    flags = dict(output=output, model=model if model != "default" or not config else None,
                 epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                 max_length=max_length, class_weights=class_weights, loss=loss, freeze=freeze,
                 unfreeze_last=unfreeze_last, early_stopping_patience=patience, seed=seed)
    flags = {k: v for k, v in flags.items() if v is not None}
    if no_length_grouping:
        flags["length_grouping"] = False
    if no_baseline:
        flags["baseline"] = False
    if overwrite:
        flags["overwrite"] = True
    if config:   # the YAML's data settings stay unless a flag here says otherwise
        cfg = TrainConfig.from_yaml(config, data=d.model_dump(exclude_defaults=True), **flags)
    else:
        flags.setdefault("output", str(Path("runs") / Path(data).stem))
        cfg = TrainConfig.parse({"data": d.model_dump(), **flags})
    run_train(cfg)


@app.command()
def evaluate(
    model: str = typer.Argument(..., help="Saved model dir or run dir."),
    data: str = typer.Argument(..., help="Labelled data file."),
    text_col: Optional[str] = TEXT_COL, label_col: Optional[str] = LABEL_COL,
    no_header: bool = NO_HEADER, columns: Optional[str] = COLUMNS, sep: Optional[str] = SEP,
    normalize_labels: bool = NORMALIZE,
    output: Optional[str] = typer.Option(None, "--output", help="Write the metrics as JSON here."),
    overwrite: bool = typer.Option(False, "--overwrite"),
):
    """Score a saved model on every row of a labelled file."""
    from textclf import runs
    from textclf.api import evaluate as run_eval

    if output:
        runs.check_output(output, overwrite)
    m = run_eval(model, _data_config(data, None, None, text_col, label_col, no_header, columns, sep,
                                     normalize_labels, None))
    if output:
        runs.write_json(output, m)


@app.command()
def predict(
    model: str = typer.Argument(..., help="Saved model dir or run dir."),
    texts: Optional[List[str]] = typer.Argument(None, help="Texts to classify."),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="CSV/TSV/JSONL/Parquet file of texts."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Where to write rows + predictions (.csv/.tsv/.jsonl)."),
    text_col: Optional[str] = TEXT_COL,
    max_batch_tokens: int = typer.Option(8192, "--max-batch-tokens"),
    overwrite: bool = typer.Option(False, "--overwrite"),
):
    """Print label + score for texts, or write predictions for a whole file."""
    from textclf.errors import DataError

    if input:
        if not output:
            raise DataError("--input needs --output FILE (.csv, .tsv or .jsonl).")
        from textclf.api import predict_file
        n = predict_file(model, input, output, text_col=text_col, overwrite=overwrite,
                         max_batch_tokens=max_batch_tokens)
        Console().print(f"wrote {n} predictions to {output}")
        return
    if not texts:
        raise DataError("Give texts to classify, or --input FILE --output FILE.")
    from textclf.inference.predictor import Predictor
    for text, p in zip(texts, Predictor.load(model).predict(texts, max_batch_tokens=max_batch_tokens)):
        short = text if len(text) <= 70 else text[:67] + "..."
        print(f"{p['label']}\t{p['score']:.4f}\t{short}")


@data_app.command("check")
def data_check(
    data: str = typer.Argument(..., help="Data file to check."),
    valid: Optional[str] = typer.Option(None, "--valid"), test: Optional[str] = typer.Option(None, "--test"),
    text_col: Optional[str] = TEXT_COL, label_col: Optional[str] = LABEL_COL,
    no_header: bool = NO_HEADER, columns: Optional[str] = COLUMNS, sep: Optional[str] = SEP,
    normalize_labels: bool = NORMALIZE,
    model: str = typer.Option("default", "--model", help="Tokenizer used for length statistics."),
    max_length: int = typer.Option(128, "--max-length"),
    seed: int = typer.Option(42, "--seed"),
):
    """Report rows, duplicates, label balance per split and token lengths, without training."""
    from textclf.data.checks import data_report, print_report
    from textclf.data.prepare import prepare
    from textclf.models.base import load_tokenizer

    d = _data_config(data, valid, test, text_col, label_col, no_header, columns, sep,
                     normalize_labels, None)
    prepared = prepare(d, seed=seed, check_labels=False)
    print_report(data_report(prepared, load_tokenizer(model), max_length), Console())


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app(standalone_mode=False)
    except TextclfError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted; nothing half-written was left in place")
        sys.exit(130)
    except Exception as exc:   # click's own usage errors
        import click
        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
