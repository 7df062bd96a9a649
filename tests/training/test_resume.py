"""Checkpoints and --resume: a training process killed with SIGKILL continues from its last
complete checkpoint and ends with the metrics of a run that was never interrupted."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from textclf.training.checkpoints import STATE, resume_point


def _train(args, *extra, **popen):
    return subprocess.Popen([sys.executable, "-m", "textclf", "train", *args, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _args(csv, model, out):
    # learns within a few epochs and stops early (patience 2): early stopping's state is resumed too
    return [str(csv), "--model", str(model), "--output", str(out), "--epochs", "10", "--lr", "1e-2",
            "--freeze", "none", "--max-length", "32", "--save-steps", "3", "--no-baseline"]


def _without_timings(row: dict) -> dict:
    return {k: v for k, v in row.items() if "runtime" not in k and "per_second" not in k
            and k != "train_loss"}


def test_sigkilled_run_resumes_to_the_metrics_of_an_uninterrupted_run(sms_csv, tmp_path, tiny_model_dir):
    whole = tmp_path / "whole"
    done = _train(_args(sms_csv, tiny_model_dir, whole))
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err[-2000:]

    run = tmp_path / "killed"
    partial = tmp_path / ".killed.partial"
    proc = _train(_args(sms_csv, tiny_model_dir, run))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and \
            not list(partial.glob(f"checkpoints/restart-0/checkpoint-*/{STATE}")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before its first checkpoint was seen"
    assert not run.exists() and partial.is_dir()
    # a checkpoint the process was writing when it died: no completion mark, a torn weights file
    torn = partial / "checkpoints" / "restart-0" / "checkpoint-99999"
    torn.mkdir()
    (torn / "model.safetensors").write_bytes(b"\0" * 100)

    again = _train(_args(sms_csv, tiny_model_dir, run), "--resume")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-2000:]
    assert "resuming from checkpoint-" in out and "checkpoint-99999" not in out
    assert not partial.exists() and sorted(p.name for p in run.iterdir()) == \
        sorted(p.name for p in whole.iterdir())

    a, b = (json.loads((d / "metrics.json").read_text()) for d in (whole, run))
    assert a["test"] == b["test"] and a["calibration"] == b["calibration"]
    assert a.get("decision") == b.get("decision")
    for key in ("best_valid", "best_epoch", "epochs_run"):
        assert a["training"][key] == b["training"][key]
    assert a["training"]["epochs_run"] < 10, "early stopping never came into play"
    for key in ("train_loss", "val_f1_positive"):
        assert [e[key] for e in a["training"]["epochs"]] == [e[key] for e in b["training"]["epochs"]]
    assert (whole / "test_predictions.csv").read_text() == (run / "test_predictions.csv").read_text()
    logs = [[_without_timings(json.loads(line)) for line in (d / "train_log.jsonl").open()]
            for d in (whole, run)]
    assert logs[0] == logs[1]


def test_overwrite_starts_an_interrupted_run_over(sms_csv, tmp_path, tiny_model_dir):
    partial = tmp_path / ".run.partial"
    (partial / "checkpoints" / "restart-0" / "checkpoint-5").mkdir(parents=True)
    (partial / "config.yaml").write_text("not: the same run\n")
    proc = _train([str(sms_csv), "--model", str(tiny_model_dir), "--output", str(tmp_path / "run"),
                   "--epochs", "1", "--max-length", "32", "--no-baseline"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "--resume" in err and "--overwrite" in err
    proc = _train([str(sms_csv), "--model", str(tiny_model_dir), "--output", str(tmp_path / "run"),
                   "--epochs", "1", "--max-length", "32", "--no-baseline", "--overwrite"])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert "resuming" not in out and not partial.exists() and (tmp_path / "run" / "metrics.json").exists()


def _checkpoint(folder, step, complete=True, best=None):
    c = folder / f"checkpoint-{step}"
    c.mkdir(parents=True)
    (c / "trainer_state.json").write_text(json.dumps({"global_step": step, "best_model_checkpoint": best}))
    if complete:
        (c / STATE).write_text(json.dumps({"global_step": step}))
    return c


def test_resume_point_skips_and_removes_half_written_checkpoints(tmp_path):
    folder = tmp_path / "restart-0"
    _checkpoint(folder, 8)
    _checkpoint(folder, 12, best="/elsewhere/restart-0/checkpoint-8")
    torn = _checkpoint(folder, 15, complete=False)
    (folder / "checkpoint-20").mkdir()   # died before writing anything but the dir
    ckpt, state = resume_point(folder)
    assert ckpt == str(folder / "checkpoint-12") and state == {"global_step": 12}
    assert not torn.exists() and not (folder / "checkpoint-20").exists()
    # the run dir moved since: the best checkpoint is looked for where it is now
    saved = json.loads((folder / "checkpoint-12" / "trainer_state.json").read_text())
    assert saved["best_model_checkpoint"] == str(folder / "checkpoint-8")


def test_resume_point_of_a_fresh_run_is_none(tmp_path):
    assert resume_point(tmp_path / "nothing-yet") == (None, None)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "checkpoint-3").mkdir()
    assert resume_point(tmp_path / "r") == (None, None)


@pytest.mark.parametrize("settings, message", [
    (["--epochs", "2"], "epochs"),
])
def test_resume_with_other_settings_is_refused(sms_csv, tmp_path, tiny_model_dir, settings, message):
    from textclf import runs
    from textclf.config import DataConfig, TrainConfig

    out = tmp_path / "run"
    partial = runs.partial_dir(out)
    partial.mkdir()
    cfg = TrainConfig(data=DataConfig(train=str(sms_csv)), model=str(tiny_model_dir), output=str(out),
                      epochs=1, max_length=32, baseline=False)
    (partial / "config.yaml").write_text(cfg.to_yaml())
    proc = _train([str(sms_csv), "--model", str(tiny_model_dir), "--output", str(out), "--max-length",
                   "32", "--no-baseline", "--resume", *settings])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "other settings" in err and message in err, err[-2000:]
    assert partial.is_dir() and not out.exists()


def _same_results(a, b):
    assert a.metrics["test"] == b.metrics["test"] and a.metrics["calibration"] == b.metrics["calibration"]
    for key in ("best_valid", "best_epoch", "epochs_run", "seed", "restarts"):
        assert a.metrics["training"].get(key) == b.metrics["training"].get(key)
    assert (a.path / "test_predictions.csv").read_text() == (b.path / "test_predictions.csv").read_text()


def test_restarts_resume_after_the_last_finished_one(sms_csv, tiny_config, tmp_path, monkeypatch):
    """Killed while the second of two restarts trains: the first is not trained again, the
    kept model is the one an uninterrupted run keeps."""
    import textclf
    from textclf.training import trainer as tr

    settings = dict(restarts=2, epochs=3, learning_rate=1e-2, freeze="none", baseline=False)
    whole = textclf.train(tiny_config(sms_csv, output=str(tmp_path / "whole"), **settings), quiet=True)

    real_train, calls = tr.ClassifierTrainer.train, []

    def train_then_die_in_restart_2(self, *a, **k):
        calls.append(self.args.seed)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_train(self, *a, **k)
    monkeypatch.setattr(tr.ClassifierTrainer, "train", train_then_die_in_restart_2)
    cfg = tiny_config(sms_csv, output=str(tmp_path / "cut"), **settings)
    with pytest.raises(KeyboardInterrupt):
        textclf.train(cfg, quiet=True)
    monkeypatch.setattr(tr.ClassifierTrainer, "train", real_train)
    book = json.loads((tmp_path / ".cut.partial" / "restarts.json").read_text())
    assert [r["seed"] for r in book["done"]] == [42] and (tmp_path / ".cut.partial" / "kept-0").is_dir()

    seeds = []
    monkeypatch.setattr(tr.ClassifierTrainer, "train",
                        lambda self, *a, **k: seeds.append(self.args.seed) or real_train(self, *a, **k))
    resumed = textclf.train(cfg.model_copy(update={"resume": True}), quiet=True)
    assert seeds == [43]                          # restart 1 (seed 42) was not trained again
    _same_results(whole, resumed)


def test_killed_after_training_ended_only_loads_the_best_epoch(sms_csv, tiny_config, tmp_path, monkeypatch):
    """Killed between the end of training (stopped early) and recording it: the resume must not
    train the epochs early stopping skipped."""
    import textclf
    from textclf.training import phases

    settings = dict(epochs=10, learning_rate=1e-2, freeze="none", baseline=False, early_stopping_patience=2)
    whole = textclf.train(tiny_config(sms_csv, output=str(tmp_path / "whole"), **settings), quiet=True)
    assert whole.metrics["training"]["epochs_run"] < 10

    def die(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(phases, "_finish_restart", die)
    cfg = tiny_config(sms_csv, output=str(tmp_path / "cut"), **settings)
    with pytest.raises(KeyboardInterrupt):
        textclf.train(cfg, quiet=True)
    monkeypatch.undo()
    resumed = textclf.train(cfg.model_copy(update={"resume": True}), quiet=True)
    _same_results(whole, resumed)


def test_a_stop_request_checkpoints_the_current_step_then_interrupts(sms_csv, tiny_config, tmp_path):
    """What SIGTERM does during training (a preemptible machine's notice): a checkpoint at the
    end of the step in progress, then the interruption; the resumed run ends as an uninterrupted one."""
    from transformers import TrainerCallback

    import textclf
    from textclf.training.checkpoints import stop_after_checkpoint

    class SigtermAtStep5(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 4:
                assert stop_after_checkpoint()

    settings = dict(epochs=3, learning_rate=1e-2, freeze="none", baseline=False, save_minutes=0)
    whole = textclf.train(tiny_config(sms_csv, output=str(tmp_path / "whole"), **settings), quiet=True)
    cfg = tiny_config(sms_csv, output=str(tmp_path / "cut"), **settings)
    with pytest.raises(KeyboardInterrupt):
        textclf.train(cfg, quiet=True, callbacks=[SigtermAtStep5()])
    folder = tmp_path / ".cut.partial" / "checkpoints" / "restart-0"
    assert [p.name for p in folder.iterdir()] == ["checkpoint-5"]   # mid-epoch 1 (8 steps an epoch)
    assert resume_point(folder)[1]["global_step"] == 5
    assert not stop_after_checkpoint()          # no training loop runs any more
    _same_results(whole, textclf.train(cfg.model_copy(update={"resume": True}), quiet=True))
