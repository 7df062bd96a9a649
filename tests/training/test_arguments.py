"""TrainingArguments from a TrainConfig: the trainer_args passthrough, precision per device,
the train command's help and its output in a log file."""
from __future__ import annotations

import sys

import pytest

from textclf.config import DataConfig, TrainConfig
from textclf.errors import TextclfError
from textclf.training.arguments import parse_trainer_args, precision_args, training_arguments


@pytest.mark.parametrize("cuda, bf16, tf32, expected", [
    (False, False, False, {}),
    (True, True, True, {"bf16": True, "tf32": True}),       # Ampere and newer
    (True, False, False, {"fp16": True}),                   # older GPUs: fp16, no TF32
    (True, True, False, {"bf16": True}),
])
def test_precision_for_the_device(cuda, bf16, tf32, expected):
    assert precision_args(cuda, bf16, tf32) == expected


def _cfg(**kw):
    return TrainConfig(data=DataConfig(train="x.csv"), **kw)


def test_trainer_args_reach_training_arguments_and_win(tmp_path):
    cfg = _cfg(trainer_args={"lr_scheduler_type": "cosine", "max_grad_norm": 0.5, "logging_steps": 3},
               grad_accum=4)
    args = training_arguments(cfg, str(tmp_path), "accuracy")
    assert args.lr_scheduler_type == "cosine" and args.max_grad_norm == 0.5 and args.logging_steps == 3
    assert args.gradient_accumulation_steps == 4 and args.restore_callback_states_from_checkpoint


@pytest.mark.parametrize("args, message", [
    ({"no_such_option": 1}, "'no_such_option' is not a transformers TrainingArguments option"),
    ({"num_train_epochs": 3}, "use that instead"),
])
def test_unknown_or_owned_trainer_args_are_one_error(args, message):
    with pytest.raises(TextclfError, match=message):
        TrainConfig.parse({"data": {"train": "x.csv"}, "trainer_args": args})


def test_trainer_arg_values_are_read_as_yaml():
    assert parse_trainer_args(["a=true", "b=0.1", "c=[1, 2]", "d=cosine", "e="]) == \
        {"a": True, "b": 0.1, "c": [1, 2], "d": "cosine", "e": ""}
    with pytest.raises(TextclfError, match="key=value"):
        parse_trainer_args(["novalue"])


def test_yaml_trainer_args_merge_with_flags(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data: {train: x.csv}\ntrainer_args: {lr_scheduler_type: cosine, max_grad_norm: 0.5}\n")
    cfg = TrainConfig.from_yaml(p, trainer_args={"max_grad_norm": 2.0})
    assert cfg.trainer_args == {"lr_scheduler_type": "cosine", "max_grad_norm": 2.0}


def test_cli_unknown_trainer_arg_is_one_sentence(sms_csv, tmp_path, capsys, monkeypatch):
    from test_cli import run_cli
    code, _, err = run_cli(["train", str(sms_csv), "--trainer-arg", "warmup_stepz=3",
                            "-o", str(tmp_path / "r")], capsys, monkeypatch)
    assert code == 2 and "warmup_stepz" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists() and not (tmp_path / ".r.partial").exists()


def test_help_shows_every_default_from_train_config():
    import os
    import subprocess
    out = subprocess.run([sys.executable, "-m", "textclf", "train", "--help"], capture_output=True,
                         text=True, env={**os.environ, "COLUMNS": "250"}).stdout
    fields = TrainConfig.model_fields
    epochs = next(l for l in out.splitlines() if " --epochs " in l)
    assert ("[default: 3 where every weight trains on 2000+ training rows with 500+ per class, else 5, "
            "more for small sets (see --min-steps)]") in epochs, epochs   # epochs None
    rate = next(l for l in out.splitlines() if " --lr " in l or " --lr," in l)
    assert "[default: 5e-05 when every weight trains, 0.0001 with the embeddings frozen]" in rate, rate
    freeze = next(l for l in out.splitlines() if " --freeze " in l)
    assert ("[default: auto = none, or embeddings on multi-label tasks and 2000+ training rows with under 500 "
            "per class]") in freeze, freeze
    for flag, field in [("--min-steps", "min_steps"), ("--batch-size", "batch_size"),
                        ("--max-length", "max_length"),
                        ("--patience", "early_stopping_patience"), ("--save-minutes", "save_minutes"),
                        ("--grad-accum", "grad_accum"), ("--seed", "seed"), ("--long-text", "long_text")]:
        line = next(l for l in out.splitlines() if f" {flag} " in l or f" {flag}," in l)
        assert f"[default: {fields[field].default}]" in line, line


def test_a_log_file_gets_one_line_per_epoch_and_no_progress_bars(sms_csv, tmp_path, tiny_model_dir):
    import subprocess
    log = tmp_path / "train.log"
    with open(log, "w") as f:
        proc = subprocess.run([sys.executable, "-m", "textclf", "train", str(sms_csv), "--model",
                               str(tiny_model_dir), "-o", str(tmp_path / "run"), "--epochs", "2",
                               "--patience", "0", "--max-length", "32", "--no-baseline", "--no-refit"],
                              stdout=f, stderr=subprocess.STDOUT, timeout=300)
    text = log.read_text()
    assert proc.returncode == 0, text[-2000:]
    assert "\r" not in text and "it/s" not in text
    assert [l.split()[1] for l in text.splitlines() if l.startswith("epoch ")] == ["1/2", "2/2"]


def test_trainer_args_the_trainer_refuses_are_one_error(tmp_path):
    cfg = _cfg(trainer_args={"save_strategy": "steps", "eval_strategy": "no"})
    with pytest.raises(TextclfError, match="TrainingArguments refused"):
        training_arguments(cfg, str(tmp_path), "accuracy")


def test_resume_and_overwrite_together_are_refused():
    with pytest.raises(TextclfError, match="pass one of them"):
        TrainConfig.parse({"data": {"train": "x.csv"}, "resume": True, "overwrite": True})


@pytest.mark.parametrize("n, batch, steps", [(None, 16, 10), (20, 8, 3), (6, 8, 1), (10_000, 16, 10)])
def test_loss_is_logged_at_least_once_an_epoch(tmp_path, n, batch, steps):
    args = training_arguments(_cfg(batch_size=batch), str(tmp_path), "accuracy", n_examples=n)
    assert args.logging_steps == steps


def test_every_epoch_line_of_a_short_epoch_has_a_loss(tiny_model_dir, tmp_path):
    import math

    from conftest import train_tiny_sms

    run, _ = train_tiny_sms(tiny_model_dir, tmp_path)   # 63 training texts: 8 steps an epoch
    lines = run.metrics["training"]["epochs"]
    assert len(lines) == 2 and all(math.isfinite(e["train_loss"]) for e in lines)
