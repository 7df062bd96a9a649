"""Trainer callbacks: early stopping after a least number of steps, a quiet progress bar and a
one-line summary per epoch."""
from __future__ import annotations

import time

from transformers.trainer_callback import EarlyStoppingCallback, ProgressCallback, TrainerCallback


class EarlyStopping(EarlyStoppingCallback):
    """The Trainer's early stopping, which does not stop training before `min_steps` optimizer
    steps: on a small training set an epoch is a few dozen steps and validation a few dozen rows,
    so two noisy evaluations would otherwise end a run before its learning rate has peaked. The
    evaluations before `min_steps` still count towards the patience."""

    def __init__(self, early_stopping_patience: int = 1, early_stopping_threshold: float | None = 0.0,
                 min_steps: int = 0):
        super().__init__(early_stopping_patience, early_stopping_threshold)
        self.min_steps = min_steps

    def on_evaluate(self, args, state, control, metrics, **kwargs):
        name = args.metric_for_best_model
        value = metrics.get(name if name.startswith("eval_") else f"eval_{name}")
        if value is None:
            return
        self.check_metric_value(args, state, control, value)
        if self.early_stopping_patience_counter >= self.early_stopping_patience \
                and state.global_step >= self.min_steps:
            control.should_training_stop = True

    def state(self) -> dict:
        saved = super().state()
        saved["args"]["min_steps"] = self.min_steps
        return saved


class QuietProgress(ProgressCallback):
    """The Trainer's tqdm bars without the raw log dicts it prints between them."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        return


class EpochSummary(TrainerCallback):
    """Prints `epoch 1/3  loss 0.213  val f1_positive 0.951  41.2 samples/s  95s` per evaluation;
    with no metric (training without evaluation) the same line without `val` per epoch end."""

    def __init__(self, metric: str | None, train_size: int, print_fn=print):
        self.metric, self.train_size, self.print = metric, train_size, print_fn
        self.epoch_start = None
        self.losses: list[float] = []
        self.lines: list[dict] = []
        self.resumed_epoch: dict | None = None

    def state(self) -> dict:
        """What a checkpoint needs to carry on the epoch lines after a resume."""
        elapsed = time.perf_counter() - self.epoch_start if self.epoch_start is not None else 0.0
        return {"lines": self.lines, "losses": self.losses, "epoch_seconds": elapsed}

    def restore(self, saved: dict) -> None:
        self.lines = list(saved["lines"])
        self.resumed_epoch = saved

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.epoch_start = time.perf_counter()
        self.losses = []
        if self.resumed_epoch is not None:   # the epoch a checkpoint was taken in goes on
            self.epoch_start -= self.resumed_epoch["epoch_seconds"]
            self.losses = list(self.resumed_epoch["losses"])
            self.resumed_epoch = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not metrics or self.metric is None:
            return
        self._epoch_line(args, state, metrics.get(f"eval_{self.metric}", float("nan")))

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.metric is None:
            self._epoch_line(args, state, None)

    def _epoch_line(self, args, state, value: float | None) -> None:
        if self.epoch_start is None:
            return
        seconds = time.perf_counter() - self.epoch_start
        loss = sum(self.losses) / len(self.losses) if self.losses else float("nan")
        line = {"epoch": round(state.epoch or 0, 2), "train_loss": loss}
        if value is not None:
            line[f"val_{self.metric}"] = value
        line.update(samples_per_s=self.train_size / max(seconds, 1e-9), seconds=seconds)
        self.lines.append(line)
        self.epoch_start, self.losses = None, []   # this epoch is done; a checkpoint now starts the next
        val = f"val {self.metric} {value:.4f}  " if value is not None else ""
        self.print(f"epoch {line['epoch']:g}/{args.num_train_epochs:g}  loss {loss:.4f}  "
                   f"{val}{line['samples_per_s']:.1f} samples/s  {seconds:.0f}s")
