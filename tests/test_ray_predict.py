"""Ray Data batch prediction on a real local Ray cluster (2 CPUs): the same rows and predictions
as the single-process streaming path."""
import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="Ray Data is the optional extra textclf[ray]")

from textclf.errors import DataError, MissingColumnError  # noqa: E402
from textclf.inference.ray_predict import RayPredictor, predict_ray  # noqa: E402
from textclf.inference.stream import predict_stream  # noqa: E402

TEXTS = ["win a free prize now call", "see you at lunch", "ok", "", "urgent claim your cash reward",
         "thanks", "lets meet at the station"]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_equals_single_process_row_for_row(cluster, tiny_model_dir, tmp_path):
    n = 120
    df = pd.DataFrame({"id": list(range(n)), "text": [f"{TEXTS[i % len(TEXTS)]} {i}" if i % 7 != 3 else ""
                                                      for i in range(n)]})
    src = tmp_path / "in"
    src.mkdir()
    df.iloc[:70].to_parquet(src / "a.parquet", index=False)   # a directory of two files
    df.iloc[70:].to_parquet(src / "b.parquet", index=False)
    one = tmp_path / "one.parquet"
    df.to_parquet(one, index=False)
    single = tmp_path / "single.parquet"
    predict_stream(tiny_model_dir, one, single, backend="torch", progress=False, chunk_rows=16)
    out = tmp_path / "preds"
    r = predict_ray(str(tiny_model_dir), str(src), str(out), actors=2, batch_size=16, backend="torch")
    assert r.rows == n and r.actors == 2 and "wrote 120 predictions" in r.summary()
    assert not list(tmp_path.glob(".preds.partial*"))
    files = sorted(out.glob("*.parquet"))
    for f in files:   # each file's rows in input order; the files' names are Ray Data's own
        ids = pd.read_parquet(f)["id"].tolist()
        assert ids == sorted(ids)
    got = pd.concat(pd.read_parquet(f) for f in files).sort_values("id").reset_index(drop=True)
    want = pd.read_parquet(single)
    assert got["id"].tolist() == list(range(n))   # every row once
    assert got["label"].tolist() == want["label"].tolist()
    assert got["label"].isna().sum() == n // 7 + (n % 7 > 3)   # empty texts: empty predictions
    cols = ["score", "prob_LABEL_0", "prob_LABEL_1"]
    assert np.allclose(got[cols].to_numpy(float), want[cols].to_numpy(float), atol=1e-5, equal_nan=True)


def test_ray_csv_output_and_errors(cluster, tiny_model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    pd.DataFrame({"message": TEXTS[:3]}).to_json(src, orient="records", lines=True)
    out = tmp_path / "preds.csv"
    predict_ray(str(tiny_model_dir), str(src), str(out), actors=1, backend="torch")
    got = pd.concat(pd.read_csv(f) for f in sorted(out.glob("*.csv")))
    assert got["message"].tolist() == TEXTS[:3] and got["label"].notna().all()
    with pytest.raises(MissingColumnError, match="'nope' not found"):
        predict_ray(str(tiny_model_dir), str(src), str(tmp_path / "x"), text_col="nope", backend="torch")
    bad = tmp_path / "mixed"
    bad.mkdir()
    (bad / "a.csv").write_text("text\nhi\n")
    (bad / "b.jsonl").write_text('{"text": "hi"}\n')
    with pytest.raises(DataError, match="mixes formats"):
        predict_ray(str(tiny_model_dir), str(bad), str(tmp_path / "y"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_callable_class_in_map_batches(cluster, tiny_model_dir):
    ds = ray.data.from_pandas(pd.DataFrame({"text": TEXTS}))
    out = ds.map_batches(RayPredictor, fn_constructor_kwargs={"model": str(tiny_model_dir), "backend": "torch"},
                         batch_size=4, batch_format="pandas",
                         compute=ray.data.ActorPoolStrategy(size=1), num_cpus=0.5).to_pandas()
    assert out["text"].tolist() == TEXTS and out["label"].isna().tolist() == [t == "" for t in TEXTS]
