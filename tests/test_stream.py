"""Streaming file prediction: formats, order, bad rows, missing columns, interruption and --resume."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from textclf.errors import DataError, MissingColumnError, OutputExistsError
from textclf.inference.predictor import Predictor
from textclf.inference.stream import predict_stream

SRC = Path(__file__).resolve().parents[1] / "src"
WORDS = ["win a free prize now call", "see you at lunch", "ok", "urgent claim your cash reward now by "
         "texting win to 80082 before midnight tonight", "thanks, \"really\"", "lets meet at the station"]


def texts(n: int) -> list[str]:
    return [f"{WORDS[i % len(WORDS)]} {i}" for i in range(n)]


def write_input(path: Path, df: pd.DataFrame) -> Path:
    fmt = path.suffix
    if fmt == ".csv":
        df.to_csv(path, index=False)
    elif fmt == ".tsv":
        df.to_csv(path, index=False, sep="\t")
    elif fmt == ".jsonl":
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        df.to_parquet(path, index=False)
    return path


def read_output(path: Path) -> pd.DataFrame:
    fmt = path.suffix
    if fmt == ".parquet":
        return pd.read_parquet(path)
    if fmt == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, sep="\t" if fmt == ".tsv" else ",", keep_default_na=False, dtype=str)


@pytest.fixture(scope="module")
def predictor(tiny_model_dir):
    return Predictor.load(tiny_model_dir, backend="torch")


@pytest.mark.parametrize("src,dst", [(".csv", ".jsonl"), (".jsonl", ".parquet"), (".parquet", ".tsv"),
                                     (".tsv", ".csv"), (".csv", ".parquet")])
def test_formats_round_trip_in_order(tiny_model_dir, predictor, tmp_path, src, dst):
    df = pd.DataFrame({"id": [str(i) for i in range(50)], "text": texts(50)})
    if src == ".tsv":   # TSV is read without quoting
        df["text"] = df["text"].str.replace('"', "")
    inp = write_input(tmp_path / f"in{src}", df)
    out = tmp_path / f"out{dst}"
    r = predict_stream(tiny_model_dir, inp, out, backend="torch", chunk_rows=7, progress=False)
    assert r.rows == 50 and r.bad == 0 and r.summary().startswith("wrote 50 predictions")
    got = read_output(out)
    assert list(got.columns) == ["id", "text", "label", "score", "prob_LABEL_0", "prob_LABEL_1"]
    assert [str(v) for v in got["id"]] == df["id"].tolist() and got["text"].tolist() == df["text"].tolist()
    # the same numbers as the in-memory path, row for row
    expected = predictor.predict_proba(df["text"].tolist())
    assert np.allclose(got[["prob_LABEL_0", "prob_LABEL_1"]].astype(float).to_numpy(), expected, atol=1e-5)
    assert got["label"].tolist() == [predictor.labels.names[j] for j in expected.argmax(1)]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no partial left behind


def test_bad_rows_are_reported_not_fatal(tiny_model_dir, tmp_path):
    inp = tmp_path / "in.jsonl"
    lines = [{"text": "hello there"}, {"text": ""}, {"text": 42}, {"text": None}, {"text": ["a", "b"]},
             {"other": "no text key"}, {"text": "   "}, {"text": "win cash now"}]
    inp.write_text("\n".join(json.dumps(x) for x in lines[:4]) + "\n{not json\n"
                   + "\n".join(json.dumps(x) for x in lines[4:]) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    r = predict_stream(tiny_model_dir, inp, out, backend="torch", chunk_rows=3, progress=False)
    got = pd.read_csv(out, keep_default_na=False, dtype=str)
    assert len(got) == 8 and r.bad == 6 and r.skipped.count == 1
    assert got["label"].tolist()[0] and got["label"].tolist()[-1]
    assert got["label"].tolist()[1:7] == [""] * 6 and got["prob_LABEL_0"].tolist()[1:7] == [""] * 6
    s = r.summary()
    assert "6 rows without a usable text" in s and "2 (empty text)" in s and "3 (not text (int))" in s
    assert "1 input lines skipped (line 5 (malformed line: not a JSON object))" in s


def test_bad_csv_lines_are_skipped_and_counted(tiny_model_dir, tmp_path):
    inp = tmp_path / "in.csv"
    inp.write_text("text,id\nhello,1\ntoo,many,fields\n,3\nbye,4\n", encoding="utf-8")
    r = predict_stream(tiny_model_dir, inp, tmp_path / "o.jsonl", backend="torch", progress=False)
    got = pd.read_json(tmp_path / "o.jsonl", lines=True, dtype=False)
    assert got["id"].astype(str).tolist() == ["1", "3", "4"] and r.bad == 1 and r.skipped.count == 1
    assert got["label"].isna().tolist() == [False, True, False]
    assert "line 3 (malformed line: expected 2 fields, saw 3)" in r.summary()


def test_missing_column_is_one_error_before_any_output(tiny_model_dir, tmp_path, capsys, monkeypatch):
    from test_cli import run_cli

    inp = write_input(tmp_path / "in.csv", pd.DataFrame({"body2": ["a", "b"], "x": ["1", "2"]}))
    out = tmp_path / "out.csv"
    with pytest.raises(MissingColumnError, match="No text column found"):
        predict_stream(tiny_model_dir, inp, out, progress=False)
    with pytest.raises(MissingColumnError, match="'nope' not found"):
        predict_stream(tiny_model_dir, inp, out, text_col="nope", progress=False)
    with pytest.raises(DataError, match="must end in"):
        predict_stream(tiny_model_dir, inp, tmp_path / "out.xlsx", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
    code, _, err = run_cli(["predict", str(tiny_model_dir), "--input", str(inp), "--output", str(out)],
                           capsys, monkeypatch)
    assert code == 2 and "No text column found" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def _interrupt_after(monkeypatch, chunks: int):
    """Make the job stop (as Ctrl-C would) while appending chunk number `chunks` + 1."""
    from textclf.inference import stream

    calls = {"n": 0}
    real = stream.prediction_frame

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] > chunks:
            raise KeyboardInterrupt
        return real(*args)
    monkeypatch.setattr(stream, "prediction_frame", flaky)


@pytest.mark.parametrize("dst", [".jsonl", ".parquet"])
def test_resume_after_interruption_equals_one_run(tiny_model_dir, tmp_path, monkeypatch, dst):
    inp = write_input(tmp_path / "in.csv", pd.DataFrame({"text": texts(60)}))
    whole = tmp_path / f"whole{dst}"
    predict_stream(tiny_model_dir, inp, whole, backend="torch", chunk_rows=8, progress=False)
    out = tmp_path / f"out{dst}"
    with monkeypatch.context() as m:
        _interrupt_after(m, 3)
        with pytest.raises(KeyboardInterrupt):
            predict_stream(tiny_model_dir, inp, out, backend="torch", chunk_rows=8, progress=False)
    assert not out.exists()
    state = json.loads((tmp_path / f".out{dst}.partial.json").read_text())
    assert state["chunks"] == 3 and state["rows"] == 24
    with pytest.raises(DataError, match="another chunk_rows"):
        predict_stream(tiny_model_dir, inp, out, backend="torch", chunk_rows=9, resume=True,
                       progress=False)
    r = predict_stream(tiny_model_dir, inp, out, backend="torch", chunk_rows=8, resume=True,
                       progress=False)
    assert r.resumed_from == 24 and r.predicted_now == 36 and "resumed after 24 rows" in r.summary()
    pd.testing.assert_frame_equal(read_output(out), read_output(whole))
    assert not (tmp_path / f".out{dst}.partial.json").exists()
    with pytest.raises(OutputExistsError):   # a finished job is not resumed over
        predict_stream(tiny_model_dir, inp, out, backend="torch", chunk_rows=8, resume=True,
                       progress=False)


def test_resume_drops_a_half_appended_chunk(tiny_model_dir, tmp_path, monkeypatch):
    inp = write_input(tmp_path / "in.csv", pd.DataFrame({"text": texts(40)}))
    whole = tmp_path / "whole.csv"
    predict_stream(tiny_model_dir, inp, whole, backend="torch", chunk_rows=10, progress=False)
    out = tmp_path / "out.csv"
    with monkeypatch.context() as m:
        _interrupt_after(m, 2)
        with pytest.raises(KeyboardInterrupt):
            predict_stream(tiny_model_dir, inp, out, backend="torch", chunk_rows=10, progress=False)
    partial = tmp_path / ".out.csv.partial"
    with open(partial, "a") as f:   # a kill in the middle of the third append
        f.write('1,2,"half a row of the third ch')
    predict_stream(tiny_model_dir, inp, out, backend="torch", chunk_rows=10, resume=True, progress=False)
    assert out.read_bytes() == whole.read_bytes()


def _cli(*args) -> list[str]:
    return [sys.executable, "-c", "from textclf.cli import main; main()", "predict", *map(str, args)]


def test_sigkill_mid_file_then_resume_equals_an_uninterrupted_run(tiny_model_dir, tmp_path):
    """A real `textclf predict` process killed with SIGKILL, then `--resume`."""
    n = 3000
    inp = write_input(tmp_path / "in.csv", pd.DataFrame({"id": [str(i) for i in range(n)],
                                                         "text": texts(n)}))
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    common = ["--backend", "torch", "--chunk-rows", "10"]
    out = tmp_path / "out.csv"
    state_path = tmp_path / ".out.csv.partial.json"
    proc = subprocess.Popen(_cli(tiny_model_dir, "--input", inp, "--output", out, *common), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if state_path.exists():
            try:
                done = json.loads(state_path.read_text())["chunks"]
            except (ValueError, KeyError):   # read while being replaced
                pass
        if done >= 20:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert not out.exists() and (tmp_path / ".out.csv.partial").exists()
    killed_at = json.loads(state_path.read_text())["rows"]
    assert 0 < killed_at < n
    resumed = subprocess.run(_cli(tiny_model_dir, "--input", inp, "--output", out, "--resume", *common),
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed after {killed_at} rows" in resumed.stdout.replace("\n", "")
    whole = tmp_path / "whole.csv"
    one = subprocess.run(_cli(tiny_model_dir, "--input", inp, "--output", whole, *common), env=env,
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    a, b = pd.read_csv(out, dtype=str), pd.read_csv(whole, dtype=str)
    assert len(a) == n
    pd.testing.assert_frame_equal(a, b)
    assert not state_path.exists() and not (tmp_path / ".out.csv.partial").exists()
