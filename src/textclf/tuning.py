"""`textclf tune`: an optuna search over training settings. Each trial is a run, trials are pruned
on the per-epoch validation metric, the best trial is chosen on validation only. The first trial
is the settings as given (the defaults unless --config changes them), and the search chooses
another trial only where it beat them on validation by more than the noise of that split (one
paired-bootstrap standard error). The chosen settings are then trained once more as
`train` would (refit on train + validation below SMALL_SET_BELOW rows, the TF-IDF model and its
ensemble where they help), and that final run is the only one that meets the test split.

Layout of the output dir:
  data/            the train / validation / test splits, drawn once and shared by every trial
  trials/trial-NNN run dirs; their metrics.json has "validation" (no "test")
  trials.csv, trials.md   one row per trial
  final/           the chosen settings trained as `train` trains; its metrics.json has "test"
  best.json        the chosen trial: its settings, validation score and the final run's test metrics
"""
from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console

from textclf import runs
from textclf.config import DataConfig, TrainConfig
from textclf.errors import TextclfError

console = Console(stderr=False)

# What a trial may change, and the values it samples from: a list is a choice, {low, high[, log]}
# a range (integers when both ends are), a single value is fixed. Override per key in YAML.
DEFAULT_SPACE: dict = {
    "learning_rate": {"low": 2e-5, "high": 3e-4, "log": True},
    "epochs": [None, 3, 5, 8],          # None: train's own rule (5, more on small sets)
    "batch_size": [8, 16, 32],
    "freeze": ["none", "words", "embeddings"],
    "class_weights": ["auto", "none", "sqrt"],
    "max_length": [64, 128, 256],
    "warmup_ratio": {"low": 0.0, "high": 0.2},
}
NOT_SEARCHABLE = {"data", "output", "overwrite", "model", "baseline"}
FINAL = "final"   # the chosen settings trained as train trains them
CLEAR_GAIN_SE = 1.0   # a trial replaces the settings as given only when it leads them on
                      # validation by more than this many standard errors of the difference


def _need_optuna():
    try:
        import optuna
    except ImportError:
        raise TextclfError("textclf tune needs optuna: pip install 'textclf[tune]'.") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def load_space(path: str | Path | None) -> dict:
    """DEFAULT_SPACE with the keys of a YAML file replacing it (`key: null` drops a key, so the
    setting stays at its configured value)."""
    space = dict(DEFAULT_SPACE)
    if path is not None:
        try:
            given = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise TextclfError(f"Cannot read search space {path}: {exc}.") from None
        if not isinstance(given, dict):
            raise TextclfError(f"Search space {path} must map settings to values, e.g. epochs: [3, 5].")
        space.update(given)
    space = {k: v for k, v in space.items() if v is not None}
    for key, spec in space.items():
        if key not in TrainConfig.model_fields or key in NOT_SEARCHABLE:
            raise TextclfError(f"Search space key '{key}' is not a training setting that can be "
                               f"searched (e.g. {', '.join(DEFAULT_SPACE)}).")
        if isinstance(spec, dict) and not ({"low", "high"} <= set(spec) <= {"low", "high", "log"}):
            raise TextclfError(f"Search space '{key}': a range is {{low: ..., high: ...[, log: true]}}.")
        if isinstance(spec, list) and not spec:
            raise TextclfError(f"Search space '{key}': the list of choices is empty.")
    return space


def given_settings(cfg: TrainConfig, space: dict) -> dict:
    """The searched settings as `cfg` has them, for the first trial; a value a range or list
    cannot hold is left to the sampler. Pass `cfg` settled for the training rows
    (`TrainConfig.for_training_rows`), so the first trial is what `train` would run."""
    out = {}
    for key, spec in space.items():
        value = getattr(cfg, key)
        if isinstance(spec, list) and value in spec:
            out[key] = value
        elif isinstance(spec, dict) and value is not None and spec["low"] <= value <= spec["high"]:
            out[key] = value
    return out


def suggest(trial, space: dict) -> dict:
    """One trial's settings, sampled from `space`."""
    out = {}
    for key, spec in space.items():
        if isinstance(spec, list):
            out[key] = trial.suggest_categorical(key, spec)
        elif isinstance(spec, dict):
            low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
            if isinstance(low, int) and isinstance(high, int):
                out[key] = trial.suggest_int(key, low, high, log=log)
            else:
                out[key] = trial.suggest_float(key, float(low), float(high), log=log)
        else:
            out[key] = spec
    return out


@dataclass
class SplitFiles:
    trial_data: DataConfig   # train + validation; the test file is validation without labels
    final_data: DataConfig   # train + validation + the labelled test split, for the final run


def write_splits(data, cfg: DataConfig, dest: Path) -> SplitFiles:
    """Write the prepared splits as CSV so every trial trains and validates on the same rows;
    trials get an unlabelled copy of validation as their test file, so no trial sees test."""
    import pandas as pd

    dest.mkdir(parents=True, exist_ok=True)
    pair = data.has_pairs
    names = list(data.labels.names)
    if data.labels.multi_label and {"text", "text_pair"} & set(names):
        raise TextclfError("A label named 'text' or 'text_pair' cannot be tuned; rename it with --label-map.")

    def frame(split, labelled: bool) -> pd.DataFrame:
        df = pd.DataFrame({"text": split.texts})
        if pair:
            df["text_pair"] = split.pairs
        if labelled and data.labels.multi_label:
            for n in names:
                df[n] = [int(n in row) for row in split.labels]
        elif labelled:
            df["label"] = split.labels
        return df

    for name, split, labelled in (("train", "train", True), ("validation", "validation", True),
                                  ("validation_texts", "validation", False), ("test", "test", True)):
        frame(data.splits[split], labelled).to_csv(dest / f"{name}.csv", index=False)
    common = dict(text_col="text", text_pair_col="text_pair" if pair else None)
    if data.labels.multi_label:
        (dest / "label_names.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
        common.update(label_cols=names, label_names=str(dest / "label_names.txt"), task="multilabel")
    else:
        common.update(label_col="label", task="single", positive_label=cfg.positive_label)
    trial = DataConfig(train=str(dest / "train.csv"), valid=str(dest / "validation.csv"),
                       test=str(dest / "validation_texts.csv"), **common)
    # the final run: the labelled test split, or (where the data has none) validation's texts,
    # which train then scores on validation as it does for any unlabelled test file
    test = "validation_texts.csv" if data.test_is_validation else "test.csv"
    final = DataConfig(train=str(dest / "train.csv"), valid=str(dest / "validation.csv"),
                       test=str(dest / test), **common)
    return SplitFiles(trial, final)


def settings_of(row: dict, space: dict) -> dict:
    """A trial's values of the searched settings (its trials.csv row, or the chosen one's)."""
    return {k: row[k] for k in space}


def pruning_callback(trial, metric: str):
    """A TrainerCallback reporting the validation metric to the optuna trial after each epoch
    and stopping the training (the run is still saved) when optuna says to prune. A trial is
    judged only from the middle of its own schedule on: before that a long schedule is still near
    its peak learning rate, and comparing it with short schedules at the same epoch prunes it
    for its length, not its settings."""
    from transformers import TrainerCallback

    class ReportToTrial(TrainerCallback):
        pruned_at: int | None = None

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            value = (metrics or {}).get(f"eval_{metric}")
            if value is None or self.pruned_at is not None:
                return
            epoch = round(state.epoch or 0)
            trial.report(float(value), step=epoch)
            judged = args is not None and args.num_train_epochs / 2 <= epoch < args.num_train_epochs
            if judged and trial.should_prune():
                self.pruned_at = epoch
                control.should_training_stop = True

    return ReportToTrial()


def _as_validation(run_dir: Path) -> dict:
    """A trial's run scored its 'test' on validation: file those metrics under 'validation'."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    if "test" in metrics:
        metrics["validation"] = {k: v for k, v in metrics.pop("test").items() if k != "scored_on"}
        for k in [k for k in metrics.get("calibration", {}) if k.startswith("ece_test")]:
            del metrics["calibration"][k]
        runs.write_json(run_dir / "metrics.json", metrics)
    return metrics


def _fmt(v) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4g}"
    return "" if v is None else str(v)


def _fmt_setting(v) -> str:
    """A searched setting's value; unset (left to train's own rule, e.g. epochs) reads "auto"."""
    return "auto" if v is None else _fmt(v)


def write_tables(rows: list[dict], out: Path, settings: tuple[str, ...] = ()) -> None:
    """trials.csv and trials.md; an unset value of one of `settings` (a searched setting left to
    train's own rule, e.g. epochs) reads "auto" in trials.md."""
    import pandas as pd

    if not rows:
        return
    df = pd.DataFrame(rows)
    df.to_csv(out / "trials.csv", index=False)
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join((_fmt_setting if c in settings else _fmt)(r.get(c)) for c in cols) + " |"
              for r in rows]
    runs.atomic_write(out / "trials.md", "\n".join(lines) + "\n")


def validation_outcomes(run_dir: Path, labels) -> tuple:
    """True and predicted labels of a trial's validation rows (ids, or 0/1 matrices for
    multi-label), read from its validation_predictions.csv."""
    import pandas as pd

    table = pd.read_csv(run_dir / "validation_predictions.csv", dtype=str, keep_default_na=False)
    if labels.multi_label:
        def sets(column):
            return [tuple(v for v in cell.split(",") if v) for cell in table[column]]
        return labels.encode(sets("true_label")), labels.encode(sets("labels"))
    return labels.encode(list(table["true_label"])), labels.encode(list(table["label"]))


def keep_given_unless_clear(best: dict, rows: list[dict], out: Path, labels) -> tuple[dict, dict | None]:
    """The best trial where it beat the settings as given (trial 0) on validation by more than
    CLEAR_GAIN_SE paired-bootstrap standard errors of the difference; else trial 0. On a few
    hundred validation texts the best of several trials beats the first by luck alone, and such a
    choice scores below the defaults on new texts. Returns the trial kept and the comparison."""
    from textclf.evaluation.metrics import bootstrap_gain

    given = next((r for r in rows if r["trial"] == 0 and r["state"] == "complete"), None)
    if given is None or best is given:
        return best, None
    y, pred_given = validation_outcomes(out / given["run"], labels)
    _, pred_best = validation_outcomes(out / best["run"], labels)
    compared = {"trial": best["trial"], **bootstrap_gain(y, pred_given, pred_best, labels)}
    compared["kept_given"] = not compared["gain"] > CLEAR_GAIN_SE * compared["standard_error"]
    return (given if compared["kept_given"] else best), compared


def comparison_line(compared: dict, metric: str) -> str:
    """One sentence on whether the best trial's lead over the settings as given counts."""
    lead = (f"trial {compared['trial']} led the settings as given by {compared['gain']:+.4f} validation "
            f"{metric} (standard error {compared['standard_error']:.4f} over {compared['n']} texts)")
    if compared["kept_given"]:
        return (lead + ": within the noise of this validation split, so the settings as given are kept; "
                "with this little validation data a search rarely beats them")
    return lead + ": more than one standard error, so it is chosen"


def choose(rows: list[dict]) -> dict | None:
    """The best trial on validation: among completed trials (pruned ones if none completed);
    ties go to the earlier trial."""
    for state in ("complete", "pruned"):
        done = [r for r in rows if r["state"] == state]
        if done:
            return max(done, key=lambda r: (r["best_valid"], -r["trial"]))
    return None


def _clear(out: Path, overwrite: bool) -> Path:
    """The output dir, emptied with --overwrite only if it is a previous tune dir."""
    out = runs.check_output(out, overwrite)
    if out.exists():
        if not (out / "trials.csv").exists() and not (out / "data").is_dir():
            raise TextclfError(f"{out} exists and is not a textclf tune directory; choose another --output.")
        shutil.rmtree(out)
    return out


@dataclass
class Search:
    """One tuning session: the base config, the shared splits, and a row per trial so far."""
    cfg: TrainConfig
    space: dict
    out: Path
    files: SplitFiles
    metric: str
    trials: int
    say: object
    rows: list

    def run_trial(self, trial) -> float:
        """optuna's objective: train one run with the sampled settings, reporting each epoch."""
        import optuna

        from textclf.api import train

        params = suggest(trial, self.space)
        run_dir = self.out / "trials" / f"trial-{trial.number:03d}"
        row = {"trial": trial.number, "state": "failed", **params, "best_valid": float("nan"),
               "best_epoch": None, "epochs_run": None, "seconds": None,
               "run": str(run_dir.relative_to(self.out))}
        self.rows.append(row)
        start = time.perf_counter()
        reporter = pruning_callback(trial, self.metric)
        try:
            trial_cfg = TrainConfig.parse({**self.cfg.model_dump(), **params,
                                           "data": self.files.trial_data.model_dump(),
                                           "output": str(run_dir), "baseline": False, "overwrite": True,
                                           "refit": False})   # trials are scored on validation
            run = train(trial_cfg, quiet=True, callbacks=[reporter])
        except TextclfError as exc:
            self.say(f"trial {trial.number + 1}/{self.trials}: failed: {exc}")
            raise
        finally:
            row["seconds"] = round(time.perf_counter() - start, 1)
            write_tables(self.rows, self.out, tuple(self.space))
        training = _as_validation(run.path)["training"]
        row.update(state="pruned" if reporter.pruned_at is not None else "complete",
                   best_valid=training["best_valid"], best_epoch=training["best_epoch"],
                   epochs_run=training["epochs_run"])
        write_tables(self.rows, self.out, tuple(self.space))
        self.say(f"trial {trial.number + 1}/{self.trials}: "
                 + ", ".join(f"{k} {_fmt_setting(v)}" for k, v in params.items())
                 + f" -> validation {self.metric} {row['best_valid']:.4f} (epoch {row['best_epoch']})"
                 + (f", pruned after epoch {reporter.pruned_at}" if reporter.pruned_at is not None else "")
                 + f", {row['seconds']:.0f}s")
        if reporter.pruned_at is not None:
            raise optuna.TrialPruned()
        return row["best_valid"]

    def train_final(self, best: dict) -> dict:
        """Train the chosen settings as `train` does, on the same splits, and score the test split
        (the only time it is read); returns the final run's test metrics."""
        from textclf.api import train

        final = TrainConfig.parse({**self.cfg.model_dump(), **settings_of(best, self.space),
                                   "data": self.files.final_data.model_dump(),
                                   "output": str(self.out / FINAL), "overwrite": True})
        return train(final, quiet=True).metrics["test"]


def tune(cfg: TrainConfig, *, trials: int, timeout: float | None = None, space: dict | None = None,
         output: str | Path = "runs/tune", quiet: bool = False) -> dict:
    """Search `space` (default: DEFAULT_SPACE) for up to `trials` trials or `timeout` seconds
    (a trial running when it expires is finished). Returns best.json's content."""
    from textclf.data.prepare import prepare

    optuna = _need_optuna()
    say = (lambda *a, **k: None) if quiet else console.print
    space = load_space(None) if space is None else space
    out = _clear(Path(output), cfg.overwrite)
    data = prepare(cfg.data, seed=cfg.seed)
    search = Search(cfg, space, out, write_splits(data, cfg.data, out / "data"),
                    data.labels.primary_metric, trials, say, [])
    say(f"tuning {', '.join(space)} on {len(data.splits['train'].texts)} training and "
        f"{len(data.splits['validation'].texts)} validation texts; chosen on validation {search.metric}")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=cfg.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2))
    settled = cfg.for_training_rows(len(data.splits["train"].texts), data.labels.multi_label,
                                    len(data.labels.names))
    study.enqueue_trial(given_settings(settled, space))
    study.optimize(search.run_trial, n_trials=trials, timeout=timeout, catch=(TextclfError,))
    leader = choose(search.rows)
    if leader is None:
        raise TextclfError(f"No trial finished; see {out / 'trials.md'}.")
    best, compared = keep_given_unless_clear(leader, search.rows, out, data.labels)
    if compared is not None:
        compared["params"] = settings_of(leader, space)
        say(comparison_line(compared, search.metric))
    say(f"chosen: trial {best['trial']} (validation {search.metric} {best['best_valid']:.4f}); "
        "training its settings as train does and scoring the test split ...")
    test = search.train_final(best)
    result = {"trial": best["trial"], "run": str(out / FINAL), "metric": search.metric,
              "params": settings_of(best, space), "best_valid": best["best_valid"],
              "test": {k: test[k] for k in ("primary", "primary_metric", "n", "scored_on") if k in test},
              "trials": len(search.rows), "compared_with_given": compared,
              "states": {s: sum(r["state"] == s for r in search.rows) for s in ("complete", "pruned", "failed")}}
    runs.write_json(out / "best.json", result)
    if not quiet:
        console.print((out / "trials.md").read_text(encoding="utf-8"), soft_wrap=True, markup=False,
                      highlight=False)
        say(f"chosen: trial {best['trial']}; test {search.metric} {test['primary']:.4f} (n={test['n']}); "
            f"trials in {out / 'trials.md'}, chosen run {result['run']}")
    return result
