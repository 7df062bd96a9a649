"""Every bad input: one clear sentence on stderr, exit code 2, no traceback, nothing destroyed."""
import json
import sys

import pytest

from textclf.cli import main


def run_cli(argv, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["textclf", *argv])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


BAD = {
    "missing file": (None, "does not exist"),
    "empty file": (b"", "is empty"),
    "header only": (b"text,label\n", "header but no rows"),
    "missing column": (b"blah,label\nhi,a\nyo,b\n", "No text column found"),
    "ambiguous column": (b"sms,message,label\nhi,x,a\nyo,y,b\n", "Several columns could be the text"),
    "too few distinct texts": (b"text,label\n" + b"hi,a\nyo,b\n" * 5, "too few distinct texts"),
    "single class": (b"text,label\n" + b"".join(b"t%d,a\n" % i for i in range(10)), "single class"),
    "all texts empty": (b"text,label\n,a\n ,b\n", "No usable rows"),
    "non-utf8": (b"text,label\ncaf\xe9 au lait,a\n", "not valid UTF-8"),
    "class with one example": (b"text,label\n" + b"".join(b"t%d,a\n" % i for i in range(10)) + b"u,b\n",
                               "fewer than 2 examples"),
}


SHAPE_BAD = {   # (file content, extra flags, message)
    "named label column without positives": (b"text,IsToxic,IsHate,IsRude\na,1,0,1\nb,0,0,0\nc,1,0,0\n",
                                             ["--label-cols", "IsToxic,IsHate,IsRude"],
                                             "'IsHate' in"),
    "glob leaves one label column": (b"text,IsToxic,IsHate\na,1,0\nb,0,0\nc,1,0\n",
                                     ["--label-cols", "Is*"], "at least two label columns"),
    "pair column missing": (b"sentence1,label\na,x\nb,y\n", ["--text-col", "sentence1",
                            "--text-pair-col", "sentence2"], "pair column 'sentence2' not found"),
    "unknown multi-label name": (b"text,labels\na,\"joy,anger\"\nb,\"joy,envy\"\n",
                                 ["--label-names", "joy,anger,fear"], "unknown label 'envy'"),
    "unmapped split value": (b"text,label,part\na,x,TRAIN\nb,y,HOLDOUT\n", ["--split-col", "part"],
                             "'HOLDOUT' is not train/validation/test"),
    "bad split map": (b"text,label,part\na,x,TRAIN\n", ["--split-col", "part", "--split-map", "TRAIN"],
                      "must look like"),
    "bad label map": (b"text,label\na,x\nb,y\n", ["--label-map", "x=,y=z"], "--label-map 'x=,y=z' must look like"),
    "label map names no label": (b"text,label\na,x\nb,y\n", ["--label-map", "X=z"],
                                 "names 'X', which is not a label"),
}


@pytest.mark.parametrize("case", list(SHAPE_BAD))
def test_train_bad_shape_input(case, tmp_path, capsys, monkeypatch, tiny_model_dir):
    content, flags, match = SHAPE_BAD[case]
    path = _write(tmp_path, "d.csv", content)
    code, _, err = run_cli(["train", path, "--model", str(tiny_model_dir), *flags,
                            "--output", str(tmp_path / "run")], capsys, monkeypatch)
    assert code == 2
    assert match in err.replace("\n", " ") and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("case", list(BAD))
def test_train_bad_input(case, tmp_path, capsys, monkeypatch, tiny_model_dir):
    content, match = BAD[case]
    path = str(tmp_path / "nope.csv") if content is None else _write(tmp_path, "d.csv", content)
    code, _, err = run_cli(["train", path, "--model", str(tiny_model_dir),
                            "--output", str(tmp_path / "run")], capsys, monkeypatch)
    assert code == 2
    assert match in err and "Traceback" not in err
    assert err.count("\n") <= 3          # one sentence (rich may wrap it)
    assert not (tmp_path / "run").exists()


def test_unknown_model_name(sms_csv, tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["train", str(sms_csv), "--model", "./no/such/model",
                            "--output", str(tmp_path / "run")], capsys, monkeypatch)
    assert code == 2 and "does not exist" in err and "Traceback" not in err
    code, _, err = run_cli(["train", str(sms_csv), "--model", "nobody-xyz/not-a-model",
                            "--output", str(tmp_path / "run")], capsys, monkeypatch)
    assert code == 2 and "Cannot load" in err and "Traceback" not in err


def test_existing_output_refused_without_overwrite(sms_csv, tmp_path, capsys, monkeypatch, tiny_model_dir):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    code, _, err = run_cli(["train", str(sms_csv), "--model", str(tiny_model_dir), "--output", str(out)],
                           capsys, monkeypatch)
    assert code == 2 and "--overwrite" in err
    assert (out / "keep.txt").read_text() == "precious"


def test_label_variants_need_normalize_flag(tmp_path, capsys, monkeypatch, tiny_model_dir):
    rows = b"".join(b"text %d,%s\n" % (i, lab) for i, lab in enumerate([b"ham", b"Spam", b"spam"] * 5))
    path = _write(tmp_path, "d.csv", b"text,label\n" + rows)
    code, _, err = run_cli(["train", path, "--model", str(tiny_model_dir), "--output", str(tmp_path / "r")],
                           capsys, monkeypatch)
    assert code == 2 and "--normalize-labels" in err and "Spam/spam" in err


def test_data_check_prints_report(sms_csv, capsys, monkeypatch, tiny_model_dir):
    monkeypatch.setattr(sys, "argv", ["textclf", "data", "check", str(sms_csv), "--model", str(tiny_model_dir)])
    main()
    out = capsys.readouterr().out
    assert "validation" in out and "token length" in out and "picked text column 'message'" in out


def test_cli_train_predict_evaluate(sms_csv, tmp_path, capsys, monkeypatch, tiny_model_dir):
    run = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["textclf", "train", str(sms_csv), "--model", str(tiny_model_dir),
                                      "--output", str(run), "--epochs", "1", "--max-length", "32",
                                      "--no-baseline"])
    main()
    assert (run / "model" / "config.json").exists()
    trained = capsys.readouterr()
    assert "epoch 1/1" in trained.out
    # transformers' own per-checkpoint 'Writing model shards' bar is noise in textclf's output
    assert "Writing model shards" not in trained.out + trained.err
    monkeypatch.setattr(sys, "argv", ["textclf", "predict", str(run), "win cash now", "hello"])
    main()
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "\t" in ln]
    assert len(lines) == 2 and lines[0].split("\t")[0] in ("ham", "spam")
    bad = _write(tmp_path, "bad.csv", b"label,message\nham,hello\nspamm,hi\n")
    code, _, err = run_cli(["evaluate", str(run), bad], capsys, monkeypatch)
    assert code == 2 and "'spamm'" in err
    code, _, err = run_cli(["predict", str(run), "--input", str(sms_csv), "--output", str(sms_csv)],
                           capsys, monkeypatch)
    assert code == 2 and "already exists" in err


def test_config_yaml_reproduces_a_run(sms_csv, tmp_path, capsys, monkeypatch, tiny_model_dir):
    import yaml

    from textclf.config import TrainConfig
    first = TrainConfig.parse({"data": {"train": str(sms_csv), "positive_label": "spam"},
                               "model": str(tiny_model_dir), "learning_rate": 3e-4, "epochs": 1,
                               "output": str(tmp_path / "a")})
    path = tmp_path / "config.yaml"
    path.write_text(first.to_yaml())
    again = TrainConfig.from_yaml(path, data={"train": str(sms_csv)}, output=str(tmp_path / "b"))
    assert again.learning_rate == 3e-4 and again.data.positive_label == "spam"
    assert again.output == str(tmp_path / "b") and yaml.safe_load(again.to_yaml())["epochs"] == 1


@pytest.mark.parametrize("argv, message", [
    (["train"], "Missing argument"),
    (["predict", "somewhere", "--no-such-flag"], "No such option"),
])
def test_usage_errors_are_one_message_and_exit_2(argv, message, capsys, monkeypatch):
    code, out, err = run_cli(argv, capsys, monkeypatch)
    assert code == 2
    assert message in err and "Traceback" not in err + out


def test_bad_settings_are_one_sentence(tmp_path, capsys, monkeypatch):
    data = _write(tmp_path, "d.csv", b"text,label\n" + b"".join(b"t%d,%s\n" % (i, b"ab"[i % 2:i % 2 + 1]) for i in range(40)))
    code, out, err = run_cli(["train", data, "--loss", "focal", "--label-smoothing", "0.1",
                              "-o", str(tmp_path / "run")], capsys, monkeypatch)
    assert code == 2 and "label smoothing applies to the cross-entropy loss only" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()
    code, _, err = run_cli(["train", data, "--lr", "-1", "-o", str(tmp_path / "run")], capsys, monkeypatch)
    assert code == 2 and "Invalid setting 'learning_rate'" in err


def test_sigterm_during_training_leaves_a_resumable_run(sms_csv, tmp_path, tiny_model_dir):
    import signal
    import subprocess
    import time

    out = tmp_path / "run"
    partial = tmp_path / ".run.partial"
    proc = subprocess.Popen([sys.executable, "-m", "textclf.cli", "train", str(sms_csv), "--model",
                             str(tiny_model_dir), "--output", str(out), "--epochs", "500", "--patience", "0",
                             "--no-baseline"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (partial / "checkpoints").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert (partial / "checkpoints").exists(), "training never started"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err[-2000:]
    assert not out.exists() and (partial / "config.yaml").exists()
    assert "--resume" in err


def test_train_drops_glob_label_columns_with_one_value_and_warns(tmp_path, capsys, monkeypatch,
                                                                 tiny_model_dir):
    from conftest import multilabel_frame

    df = multilabel_frame(120)
    for j, name in enumerate(("IsJoy", "IsAnger", "IsFear")):
        df[name] = df["labels"].str.split(",").apply(lambda ids, j=j: int(str(j) in ids))
    df["IsNever"] = 0
    path = tmp_path / "flags.csv"
    df.drop(columns="labels").to_csv(path, index=False)
    code, out, err = run_cli(["train", str(path), "--label-cols", "Is*", "--model", str(tiny_model_dir),
                              "--epochs", "1", "--max-length", "32", "--no-baseline",
                              "--output", str(tmp_path / "run")], capsys, monkeypatch)
    assert code == 0, err
    flat = " ".join(out.split())   # rich wraps long lines
    assert flat.count("dropped label columns") == 1 and "only: IsNever (no positive)" in flat
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert sorted(metrics["test"]["per_class"]) == ["IsAnger", "IsFear", "IsJoy"]
