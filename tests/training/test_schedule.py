"""The classification head's own learning rate (head_lr_scale) and the epochs of small sets (min_steps)."""
import math

import pytest


def _trainer(model_dir, tmp_path, scale):
    from transformers import AutoModelForSequenceClassification, TrainingArguments

    from textclf.training.trainer import ClassifierTrainer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-4, weight_decay=0.01,
                             report_to="none", use_cpu=True)
    return ClassifierTrainer(model=model, args=args, head_lr_scale=scale), model


@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_head_parameters_learn_at_the_scaled_rate_and_the_base_at_the_set_one(tiny_model_dir, tmp_path, scale):
    trainer, model = _trainer(tiny_model_dir, tmp_path, scale)
    optimizer = trainer.create_optimizer()
    trainer.create_optimizer()            # asked again (the Trainer does): no second scaling
    rate = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    decay = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert set(rate) == {id(p) for p in trainable.values()}          # every parameter exactly once
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(trainable)
    for name, p in trainable.items():
        head = not name.startswith(model.base_model_prefix + ".")
        assert rate[id(p)] == pytest.approx(1e-4 * (scale if head else 1.0)), name
        assert decay[id(p)] == (0.0 if "bias" in name or "LayerNorm" in name else 0.01), name
    assert any(not n.startswith("bert.") for n in trainable)            # the head is there


def test_scheduler_follows_the_scaled_rates(tiny_model_dir, tmp_path):
    trainer, _ = _trainer(tiny_model_dir, tmp_path, 20.0)
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    assert sorted(trainer.lr_scheduler.base_lrs) == pytest.approx(sorted(g["initial_lr"] for g in trainer.optimizer.param_groups))
    assert max(trainer.lr_scheduler.base_lrs) == pytest.approx(20 * min(trainer.lr_scheduler.base_lrs))


def _cfg(**kw):
    from textclf.config import DataConfig, TrainConfig
    return TrainConfig(data=DataConfig(train="x.csv"), **kw)


def test_small_sets_get_the_epochs_that_make_min_steps_and_large_ones_keep_theirs():
    from textclf.training.arguments import scheduled_epochs

    cfg = _cfg(batch_size=8)                          # epochs unset, min_steps 500
    assert scheduled_epochs(cfg, 250) == 16          # 32 steps an epoch: 16 x 32 = 512 >= 500
    assert scheduled_epochs(cfg, 1000) == 5          # 125 steps an epoch: 5 already make 625
    assert scheduled_epochs(_cfg(batch_size=8, min_steps=0), 250) == 5              # off
    assert scheduled_epochs(_cfg(batch_size=8, epochs=2), 250) == 2                 # as set
    assert scheduled_epochs(_cfg(batch_size=8, grad_accum=4), 1000) == 16


def test_a_small_run_trains_the_scheduled_epochs(tiny_model_dir, tmp_path):
    from conftest import train_tiny_sms

    run, _ = train_tiny_sms(tiny_model_dir, tmp_path, epochs=None, min_steps=60)
    t = run.metrics["training"]
    per_epoch = math.ceil(t["train_rows"] / 8)
    assert 5 * per_epoch < 60                          # so the epochs were raised
    assert t["epochs_run"] == math.ceil(60 / per_epoch) == len(t["epochs"])
