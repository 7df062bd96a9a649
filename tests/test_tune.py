"""`textclf tune`: trials are runs, chosen on validation only, test scored once for the chosen run."""
import json
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from textclf.errors import TextclfError

optuna = pytest.importorskip("optuna")

SPACE = {"learning_rate": {"low": 2e-5, "high": 1e-3, "log": True}, "epochs": [1, 2],
         "batch_size": [8, 16], "freeze": ["none", "embeddings"], "class_weights": ["auto", "none"],
         "max_length": [16, 32], "warmup_ratio": {"low": 0.0, "high": 0.2}}


@pytest.fixture(scope="module")
def tuned(tiny_model_dir, tmp_path_factory):
    from conftest import write_sms_csv

    from textclf.config import DataConfig, TrainConfig
    from textclf.tuning import tune

    tmp = tmp_path_factory.mktemp("tune")
    data = write_sms_csv(tmp / "sms.csv")
    cfg = TrainConfig(data=DataConfig(train=str(data)), model=str(tiny_model_dir), early_stopping_patience=0)
    result = tune(cfg, trials=3, space=SPACE, output=tmp / "tune", quiet=True)
    return result, tmp / "tune"


def test_every_trial_is_a_run_and_recorded(tuned):
    result, out = tuned
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 3 and result["trials"] == 3
    assert list(table["trial"]) == [0, 1, 2]
    assert set(SPACE) <= set(table.columns)
    assert set(table["state"]) <= {"complete", "pruned"}
    for _, row in table.iterrows():
        assert row["run"] == f"trials/trial-{row['trial']:03d}"
        assert (out / row["run"] / "model" / "config.json").exists()
        assert row["epochs"] in (1, 2) and 2e-5 <= row["learning_rate"] <= 1e-3
    md = (out / "trials.md").read_text()
    assert md.count("\n") == 2 + 3 and "best_valid" in md


def test_chosen_trial_is_the_best_on_validation_or_the_settings_as_given(tuned):
    result, out = tuned
    table = pd.read_csv(out / "trials.csv")
    done = table[table["state"] == "complete"]
    best = int(done.loc[done["best_valid"].idxmax(), "trial"])
    compared = result["compared_with_given"]
    if best == 0:
        assert compared is None and result["trial"] == 0
    else:   # the best trial is chosen only where its lead over trial 0 is beyond the noise
        assert compared["trial"] == best
        assert result["trial"] == (0 if compared["kept_given"] else best)
        assert compared["kept_given"] == (compared["gain"] <= compared["standard_error"])
        assert compared["params"] == {k: table.loc[table["trial"] == best, k].item() for k in SPACE}
    chosen = table.set_index("trial").loc[result["trial"]]
    assert result["best_valid"] == pytest.approx(chosen["best_valid"])
    saved = json.loads((out / "best.json").read_text())
    assert saved["trial"] == result["trial"]
    assert saved["params"] == {k: table.loc[table["trial"] == result["trial"], k].item() for k in SPACE}


def _trial_run(out, name, true, predicted, column="label"):
    run = out / name
    run.mkdir(parents=True)
    pd.DataFrame({"text": [f"t{i}" for i in range(len(true))], "true_label": true,
                  column: predicted}).to_csv(run / "validation_predictions.csv", index=False)
    return {"trial": int(name[-1]), "state": "complete", "run": name}


def test_a_trial_replaces_the_settings_as_given_only_when_its_lead_is_clear(tmp_path):
    from textclf.data.labels import LabelSpace
    from textclf.tuning import keep_given_unless_clear

    labels = LabelSpace.from_values(["a", "b", "c"] * 10)
    true = ["a", "b", "c"] * 40   # 120 validation texts
    wrong = {"a": "b", "b": "c", "c": "a"}

    def right_on(keep):
        return [t if keep(i) else wrong[t] for i, t in enumerate(true)]
    given = _trial_run(tmp_path, "t0", true, right_on(lambda i: i < 100))
    # two more right, but right and wrong on different texts: 10 gained, 8 lost
    lucky = _trial_run(tmp_path, "t1", true, right_on(lambda i: 8 <= i < 110))
    clear = _trial_run(tmp_path, "t2", true, right_on(lambda i: i < 119))              # 19 gained
    rows = [given, lucky, clear]
    kept, compared = keep_given_unless_clear(lucky, rows, tmp_path, labels)
    assert kept is given and compared["kept_given"] and compared["trial"] == 1
    assert 0 < compared["gain"] < compared["standard_error"] and compared["n"] == 120
    kept, compared = keep_given_unless_clear(clear, rows, tmp_path, labels)
    assert kept is clear and not compared["kept_given"]
    assert compared["gain"] > 3 * compared["standard_error"]
    assert keep_given_unless_clear(given, rows, tmp_path, labels) == (given, None)


def test_the_clear_lead_rule_reads_multi_label_predictions(tmp_path):
    from textclf.data.labels import LabelSpace
    from textclf.tuning import keep_given_unless_clear

    labels = LabelSpace.from_label_sets([("x",), ("y",), ("x", "y")])
    true = ["x", "y", "x,y", ""] * 30
    given = _trial_run(tmp_path, "t0", true, ["x"] * 120, column="labels")
    better = _trial_run(tmp_path, "t1", true, true, column="labels")
    kept, compared = keep_given_unless_clear(better, [given, better], tmp_path, labels)
    assert kept is better and compared["gain"] > 0.3


def test_the_first_trial_is_the_settings_as_given(tuned):
    table = pd.read_csv(tuned[1] / "trials.csv")
    first = table[table["trial"] == 0].iloc[0]
    # the config's own values where the space holds them, "auto" and an unset learning rate
    # settled for the training rows as train settles them (a small single-label set: every weight)
    assert (first["freeze"], first["class_weights"], first["batch_size"]) == ("none", "auto", 8)
    assert first["learning_rate"] == pytest.approx(5e-5) and first["warmup_ratio"] == pytest.approx(0.1)


def test_only_the_final_run_meets_the_test_split(tuned):
    """No trial is scored on test; the chosen settings are trained again as train trains them
    (refit on train + validation at this size, the baseline beside) and that run is scored."""
    result, out = tuned
    test_rows = len(pd.read_csv(out / "data" / "test.csv"))
    for run in sorted((out / "trials").iterdir()):
        metrics = json.loads((run / "metrics.json").read_text())
        assert "validation" in metrics and "test" not in metrics
        assert "refit" not in metrics["training"]   # trials are scored on validation: never refitted
    final = json.loads((out / "final" / "metrics.json").read_text())
    assert result["run"] == str(out / "final")
    assert final["test"]["n"] == test_rows
    assert final["test"]["primary"] == pytest.approx(result["test"]["primary"])
    assert "refit" in final["training"] and "baseline" in final
    chosen = pd.read_csv(out / "trials.csv").set_index("trial").loc[result["trial"]]
    config = yaml.safe_load((out / "final" / "config.yaml").read_text())
    assert config["freeze"] == chosen["freeze"] and config["batch_size"] == chosen["batch_size"]


def test_trials_never_see_the_test_rows(tuned):
    _, out = tuned
    test_texts = set(pd.read_csv(out / "data" / "test.csv")["text"])
    for name in ("train", "validation", "validation_texts"):
        assert not test_texts & set(pd.read_csv(out / "data" / f"{name}.csv")["text"])


def test_pruning_callback_stops_training_when_optuna_says_so():
    from transformers import TrainerControl, TrainerState

    from textclf.tuning import pruning_callback

    class Trial:
        def __init__(self):
            self.reports = []

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return len(self.reports) >= 2

    trial = Trial()
    cb = pruning_callback(trial, "macro_f1")
    state, control = TrainerState(), TrainerControl()
    args = SimpleNamespace(num_train_epochs=3)
    for epoch, value in ((1.0, 0.4), (2.0, 0.5)):
        state.epoch = epoch
        cb.on_evaluate(args, state, control, metrics={"eval_macro_f1": value})
    assert trial.reports == [(1, 0.4), (2, 0.5)]
    assert control.should_training_stop and cb.pruned_at == 2


class _AlwaysPrune:
    """An optuna trial stand-in that asks to prune whenever it is asked."""

    def report(self, value, step):
        pass

    def should_prune(self):
        return True


def test_a_long_schedule_is_not_pruned_before_its_middle():
    from transformers import TrainerControl, TrainerState

    from textclf.tuning import pruning_callback

    cb = pruning_callback(_AlwaysPrune(), "macro_f1")
    state, control = TrainerState(), TrainerControl()
    args = SimpleNamespace(num_train_epochs=16)
    for epoch in range(1, 8):
        state.epoch = float(epoch)
        cb.on_evaluate(args, state, control, metrics={"eval_macro_f1": 0.3})
        assert not control.should_training_stop and cb.pruned_at is None
    state.epoch = 8.0
    cb.on_evaluate(args, state, control, metrics={"eval_macro_f1": 0.3})
    assert control.should_training_stop and cb.pruned_at == 8


def test_a_trial_that_ran_all_its_epochs_is_not_pruned():
    from transformers import TrainerControl, TrainerState

    from textclf.tuning import pruning_callback

    cb = pruning_callback(_AlwaysPrune(), "macro_f1")
    state, control = TrainerState(epoch=2.0), TrainerControl()
    cb.on_evaluate(SimpleNamespace(num_train_epochs=2), state, control, metrics={"eval_macro_f1": 0.3})
    assert not control.should_training_stop and cb.pruned_at is None


def test_search_space_yaml_overrides_and_checks_keys(tmp_path):
    from textclf.tuning import DEFAULT_SPACE, load_space

    p = tmp_path / "space.yaml"
    p.write_text("epochs: [2, 4]\nwarmup_ratio: null\n")
    space = load_space(p)
    assert space["epochs"] == [2, 4] and "warmup_ratio" not in space
    assert space["learning_rate"] == DEFAULT_SPACE["learning_rate"]
    p.write_text("epoch: [2, 4]\n")
    with pytest.raises(TextclfError, match="'epoch' is not a training setting"):
        load_space(p)
    p.write_text("learning_rate: {low: 1e-5}\n")
    with pytest.raises(TextclfError, match="a range is"):
        load_space(p)


def test_cli_rejects_a_bad_search_space_in_one_line(tmp_path, capsys, monkeypatch, sms_csv):
    import sys

    from textclf.cli import main

    space = tmp_path / "space.yaml"
    space.write_text("output: [a, b]\n")
    monkeypatch.setattr(sys, "argv", ["textclf", "tune", str(sms_csv), "--space", str(space),
                                      "--output", str(tmp_path / "tune")])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "'output' is not a training setting" in err and "Traceback" not in err
    assert not (tmp_path / "tune").exists()


def test_overwrite_refuses_to_empty_a_directory_that_is_not_a_tune_dir(tmp_path):
    from textclf.config import DataConfig, TrainConfig
    from textclf.tuning import tune

    precious = tmp_path / "docs"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep")
    cfg = TrainConfig(data=DataConfig(train=str(tmp_path / "x.csv")), overwrite=True)
    with pytest.raises(TextclfError, match="not a textclf tune directory"):
        tune(cfg, trials=1, output=precious, quiet=True)
    assert (precious / "notes.txt").read_text() == "keep"


def test_trials_md_names_a_setting_left_to_trains_rule_auto(tmp_path):
    from textclf.tuning import write_tables

    rows = [{"trial": 0, "state": "complete", "epochs": None, "lr": 3e-4, "best_valid": 0.9, "best_epoch": None},
            {"trial": 1, "state": "complete", "epochs": 5, "lr": 1e-4, "best_valid": 0.8, "best_epoch": 2}]
    write_tables(rows, tmp_path, ("epochs", "lr"))
    lines = (tmp_path / "trials.md").read_text().splitlines()
    assert lines[2] == "| 0 | complete | auto | 0.0003 | 0.9 |  |"   # an unset result stays blank
    assert lines[3] == "| 1 | complete | 5 | 0.0001 | 0.8 | 2 |"
