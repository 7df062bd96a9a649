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


def test_single_label_sets_train_every_weight_at_5e_5_for_3_epochs_from_2000_rows_and_500_per_class():
    from textclf.config import SMALL_SET_BELOW

    def settled(rows, multi_label=False, classes=2, **kw):
        cfg = _cfg(**kw).for_training_rows(rows, multi_label=multi_label, classes=classes)
        return cfg.freeze, cfg.learning_rate, cfg.epochs

    assert (_cfg().freeze, _cfg().learning_rate, _cfg().epochs) == ("auto", None, None)   # what a run saves
    assert settled(SMALL_SET_BELOW - 1) == ("none", 5e-5, None)       # train's own rule: 5, more when small
    assert settled(SMALL_SET_BELOW - 1, classes=77) == ("none", 5e-5, None)
    assert settled(SMALL_SET_BELOW) == ("none", 5e-5, 3)
    assert settled(3000, classes=6) == ("none", 5e-5, 3)              # 500 rows per class
    assert settled(2999, classes=6) == ("embeddings", 1e-4, None)     # fewer: frozen, 5 epochs
    assert settled(8504, classes=77) == ("embeddings", 1e-4, None)
    assert settled(8504, classes=77, freeze="none") == ("none", 5e-5, None)
    assert settled(250, multi_label=True) == ("embeddings", 1e-4, None)          # multi-label: frozen
    assert settled(10_000, multi_label=True) == ("embeddings", 1e-4, None)
    assert settled(10_000, freeze="embeddings") == ("embeddings", 1e-4, None)   # epochs follow what trains
    assert settled(250, freeze="embeddings") == ("embeddings", 1e-4, None)      # the rate too
    assert settled(250, freeze="words") == ("words", 1e-4, None)
    assert settled(10_000, epochs=5) == ("none", 5e-5, 5)                       # as set
    assert settled(250, learning_rate=3e-4) == ("none", 3e-4, None)
    assert settled(10_000, freeze="base", learning_rate=1e-3) == ("base", 1e-3, None)


def _evaluations(callback, scores, steps_per_epoch):
    """Feed validation scores to an early-stopping callback, one evaluation an epoch; the epochs
    trained when it asked to stop (all of them if it did not)."""
    from transformers import TrainerControl, TrainerState, TrainingArguments

    args = TrainingArguments(output_dir="unused", metric_for_best_model="f1", greater_is_better=True,
                             report_to="none")
    state, control = TrainerState(), TrainerControl()
    for epoch, score in enumerate(scores, start=1):
        state.global_step = epoch * steps_per_epoch
        callback.on_evaluate(args, state, control, {"eval_f1": score})
        if state.best_metric is None or score > state.best_metric:   # what the Trainer records
            state.best_metric = score
        if control.should_training_stop:
            return epoch
    return len(scores)


def test_early_stopping_waits_for_min_steps_then_counts_the_evaluations_before_them():
    from textclf.training.callbacks import EarlyStopping

    falling = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    assert _evaluations(EarlyStopping(2), falling, steps_per_epoch=32) == 3               # the Trainer's rule
    assert _evaluations(EarlyStopping(2, min_steps=500), falling, steps_per_epoch=32) == 8  # never reached
    assert _evaluations(EarlyStopping(2, min_steps=100), falling, steps_per_epoch=32) == 4  # first at >= 100
    rising = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert _evaluations(EarlyStopping(2, min_steps=100), rising, steps_per_epoch=32) == 5   # improving: on
    saved = EarlyStopping(2, min_steps=100).state()   # what a resumed run rebuilds it from
    again = EarlyStopping(**saved["args"])
    assert (again.early_stopping_patience, again.min_steps) == (2, 100)


def test_a_small_set_with_unset_epochs_trains_to_min_steps_before_stopping_early(tiny_model_dir, tmp_path):
    """Validation that never improves (a learning rate of 1e-9) stops the Trainer after patience + 1
    epochs when the epochs are set; with them unset, early stopping waits for min_steps."""
    from conftest import train_tiny_sms

    settings = dict(early_stopping_patience=1, learning_rate=1e-9)
    (tmp_path / "set").mkdir(), (tmp_path / "unset").mkdir()
    run, _ = train_tiny_sms(tiny_model_dir, tmp_path / "set", epochs=5, min_steps=500, **settings)
    t = run.metrics["training"]
    assert t["epochs_run"] == 2                                # stopped after one epoch without gain
    assert (t["freeze"], t["learning_rate"]) == ("none", 1e-9)   # settled and recorded
    per_epoch = math.ceil(t["train_rows"] / 8)
    run, _ = train_tiny_sms(tiny_model_dir, tmp_path / "unset", epochs=None, min_steps=2 * per_epoch + 1,
                            **settings)
    assert run.metrics["training"]["epochs_run"] == 3          # the first evaluation past min_steps
