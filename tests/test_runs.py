"""`textclf runs`: the table of runs and two runs side by side, on tiny-model runs."""
import json
import os

import pytest
import yaml

from textclf import runlist
from test_cli import run_cli


@pytest.fixture(scope="module")
def runs_dir(tiny_model_dir, tmp_path_factory):
    """Two finished runs that differ in the learning rate, a resumable one and a stray dir."""
    import textclf
    from conftest import write_sms_csv
    from textclf.config import DataConfig, TrainConfig

    root = tmp_path_factory.mktemp("runs-list")
    data = write_sms_csv(root / "sms.csv")
    runs = root / "runs"
    for name, lr in (("slow", 5e-4), ("fast", 3e-3)):
        cfg = TrainConfig(data=DataConfig(train=str(data)), model=str(tiny_model_dir),
                          output=str(runs / name), epochs=2, batch_size=8, learning_rate=lr,
                          max_length=32, early_stopping_patience=0)
        textclf.train(cfg, quiet=True)
    partial = runs / ".next.partial"
    (partial / "checkpoints" / "checkpoint-16").mkdir(parents=True)
    (partial / "checkpoints" / "checkpoint-16" / "trainer_state.json").write_text('{"epoch": 2.0}')
    cfg = yaml.safe_load((runs / "slow" / "config.yaml").read_text())
    cfg["epochs"] = 5
    (partial / "config.yaml").write_text(yaml.safe_dump(cfg))
    live = runs / f".live.partial-{os.getpid()}"   # a training in progress in this process
    live.mkdir()
    (live / "config.yaml").write_text(yaml.safe_dump(cfg))
    (runs / "notes").mkdir()                     # not a run: ignored
    (runs / ".tmp.partial").mkdir()              # no checkpoints, no config: ignored
    return runs




def test_list_runs_reads_finished_and_resumable(runs_dir):
    found = {r.name: r for r in runlist.list_runs(runs_dir)}
    assert set(found) == {"slow", "fast", "next", "live"}
    assert found["live"].status == "running"
    slow = json.loads((runs_dir / "slow" / "metrics.json").read_text())
    r = found["slow"]
    assert r.status == "complete" and r.data == "sms.csv" and r.task == "binary"
    assert r.metric == "f1_positive" and r.value == slow["test"]["primary"]
    assert r.baseline == slow["baseline"]["primary"] and r.seconds == slow["training"]["seconds"]
    nxt = found["next"]
    assert nxt.status == "resumable" and nxt.progress == "epoch 2/5" and nxt.value is None
    assert nxt.data == "sms.csv"


def test_runs_command_prints_the_table(runs_dir, capsys, monkeypatch):
    code, out, err = run_cli(["runs", str(runs_dir)], capsys, monkeypatch)
    assert code == 0, err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│")}
    assert set(rows) == {"slow", "fast", "next", "live"}
    fast = json.loads((runs_dir / "fast" / "metrics.json").read_text())
    assert f"{fast['test']['primary']:.4f}" in rows["fast"] and "complete" in rows["fast"]
    assert "resumable (epoch 2/5)" in rows["next"]


def test_compare_shows_deltas_and_the_differing_setting(runs_dir, capsys, monkeypatch):
    result = runlist.compare(runs_dir / "slow", runs_dir / "fast")
    ma = json.loads((runs_dir / "slow" / "metrics.json").read_text())
    mb = json.loads((runs_dir / "fast" / "metrics.json").read_text())
    by_name = {r["metric"]: r for r in result["metrics"]}
    acc = by_name["accuracy"]
    assert acc["a"] == ma["test"]["accuracy"] and acc["b"] == mb["test"]["accuracy"]
    assert acc["delta"] == pytest.approx(mb["test"]["accuracy"] - ma["test"]["accuracy"])
    assert by_name["F1 (spam)"]["delta"] == pytest.approx(mb["test"]["f1_positive"] - ma["test"]["f1_positive"])
    assert result["config"] == [{"key": "learning_rate", "a": 5e-4, "b": 3e-3}]   # output is not a setting

    code, out, err = run_cli(["runs", str(runs_dir), "--compare", "slow", str(runs_dir / "fast")],
                             capsys, monkeypatch)
    assert code == 0, err
    acc_line = next(line for line in out.splitlines() if "│ accuracy" in line)
    assert f"{acc['delta']:+.4f}" in acc_line
    lr_line = next(line for line in out.splitlines() if "learning_rate" in line)
    assert "0.0005" in lr_line and "0.003" in lr_line


@pytest.mark.parametrize("argv,message", [
    (["runs", "{root}/missing"], "is not a directory of runs"),
    (["runs", "{root}", "--compare", "slow", "nope"], "No finished run named nope"),
    (["runs", "{root}", "--compare", "slow", "next"], "No finished run named next"),
])
def test_runs_errors(runs_dir, argv, message, capsys, monkeypatch):
    code, out, err = run_cli([a.format(root=runs_dir) for a in argv], capsys, monkeypatch)
    assert code == 2 and message in " ".join(err.split()) and "Traceback" not in err
