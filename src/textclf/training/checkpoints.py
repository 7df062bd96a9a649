"""Checkpoints a killed run continues from.

The Trainer writes a checkpoint (weights, optimizer, scheduler, RNG states, its own state with
early stopping's count) at every epoch end; the `Checkpoints` callback asks for one more every
`save_steps` steps and every `save_minutes` minutes, and when the Trainer has finished writing
one, adds `textclf_state.json` (the epoch lines so far, training time, whether training had
stopped) as the checkpoint's last file. A checkpoint without it was half-written when the
process died: `resume_point` deletes it and picks the newest complete one. Older checkpoints
are deleted only after a newer one is complete, keeping the best (on validation) too.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from transformers.trainer_callback import TrainerCallback

from textclf.training import distributed

STATE = "textclf_state.json"
PREFIX = "checkpoint-"

_training: list["Checkpoints"] = []   # the callback of the training loop running now, if any


def stop_after_checkpoint() -> bool:
    """Ask the running training loop to write a checkpoint at the end of its step and then stop
    (a SIGTERM: a preemptible machine's notice). False where no training loop runs."""
    if not _training:
        return False
    _training[-1].stop_requested = True
    return True


def _loss_file() -> str:
    """Each process's training loss since the last log line (the log averages over processes)."""
    return f"textclf_loss-rank{distributed.rank()}.json"


def _step(path: Path) -> int:
    return int(path.name[len(PREFIX):])


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def checkpoint_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    dirs = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
            and p.name[len(PREFIX):].isdigit()]
    return sorted(dirs, key=_step)


def is_complete(ckpt: Path) -> bool:
    return _read_json(ckpt / STATE) is not None and _read_json(ckpt / "trainer_state.json") is not None


def resume_point(folder: Path) -> tuple[str | None, dict | None]:
    """(newest complete checkpoint in `folder`, its textclf state); half-written ones are deleted.
    The Trainer's record of the best checkpoint is pointed into `folder`, wherever the run dir
    has moved since."""
    found = None
    for ckpt in checkpoint_dirs(folder):
        if is_complete(ckpt):
            found = ckpt
        else:
            shutil.rmtree(ckpt, ignore_errors=True)
    if found is None:
        return None, None
    trainer_state = found / "trainer_state.json"
    saved = _read_json(trainer_state)
    best = saved.get("best_model_checkpoint")
    if best and Path(best) != folder / Path(best).name and (folder / Path(best).name).is_dir():
        saved["best_model_checkpoint"] = str(folder / Path(best).name)
        _write_json(trainer_state, saved)
    return str(found), _read_json(found / STATE)


class Checkpoints(TrainerCallback):
    """Extra checkpoints by steps and minutes, the completion mark, and the rotation."""

    def __init__(self, trainer, summary, *, save_steps: int | None = None,
                 save_minutes: float = 10.0, keep: int = 1):
        self.trainer, self.summary = trainer, summary
        self.save_steps, self.save_seconds, self.keep = save_steps, save_minutes * 60, keep
        self.seconds_before = 0.0
        self.loss_log: dict | None = None
        self.started = self.last_save = time.monotonic()
        self.stop_requested = False

    def restore(self, ckpt: str, saved: dict) -> None:
        """Carry on from a checkpoint and its textclf state (before `trainer.train(resume_from_checkpoint=...)`)."""
        self.seconds_before = saved["seconds"]
        self.summary.restore(saved["summary"])
        self.loss_log = _read_json(Path(ckpt) / _loss_file())

    def seconds(self) -> float:
        """Training time so far, earlier processes' up to their last checkpoint included."""
        return self.seconds_before + time.monotonic() - self.started

    @contextmanager
    def running(self):
        """Around trainer.train(): while inside, a SIGTERM asks this loop for a last checkpoint."""
        _training.append(self)
        try:
            yield
        finally:
            if self in _training:
                _training.remove(self)

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = self.last_save = time.monotonic()
        t = self.trainer
        if self.loss_log and hasattr(t, "_tr_loss"):
            # the loss accumulated since the last log line, so the logged losses match too (the
            # final train_loss stays the Trainer's: the mean over this process's steps)
            t._tr_loss += self.loss_log["since_log"]
            t._globalstep_last_logged = self.loss_log["last_logged_step"]

    def on_step_end(self, args, state, control, **kwargs):
        due = bool(self.save_steps and state.global_step % self.save_steps == 0)
        due = due or bool(self.save_seconds and time.monotonic() - self.last_save >= self.save_seconds)
        self.stop_requested = distributed.agree(self.stop_requested)
        if distributed.agree(due or self.stop_requested):
            control.should_save = True

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir)
        ckpt = folder / f"{PREFIX}{state.global_step}"
        loss = self._loss_log()
        if loss is not None:
            _write_json(ckpt / _loss_file(), loss)
        distributed.barrier()   # every process has written its RNG state and loss
        if distributed.is_main():
            _write_json(ckpt / STATE, {"seconds": self.seconds(), "stopped": control.should_training_stop,
                                       "global_step": state.global_step, "summary": self.summary.state()})
            self._rotate(folder, state.best_model_checkpoint)
        self.last_save = time.monotonic()
        if self.stop_requested:   # the checkpoint a SIGTERM asked for is complete: stop now
            raise KeyboardInterrupt

    def _loss_log(self) -> dict | None:
        t = self.trainer
        if not hasattr(t, "_tr_loss"):
            return None
        return {"since_log": float(t._tr_loss.item()), "last_logged_step": int(t._globalstep_last_logged)}

    def _rotate(self, folder: Path, best: str | None) -> None:
        complete = [c for c in checkpoint_dirs(folder) if is_complete(c)]
        keep = set(complete[-self.keep:])
        if best:
            keep.add(folder / Path(best).name)
        for ckpt in checkpoint_dirs(folder):
            if ckpt not in keep:
                shutil.rmtree(ckpt, ignore_errors=True)
