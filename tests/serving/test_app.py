"""The HTTP API on a tiny trained model: shapes, micro-batching, limits, errors, key, metrics."""
import asyncio
import time

import pytest
from fastapi.testclient import TestClient

from textclf.inference.predictor import Predictor
from textclf.serving.app import MAX_INPUTS, create_app


@pytest.fixture(scope="module")
def run_dir(tiny_model_dir, tmp_path_factory):
    from conftest import train_tiny_sms
    # truncating model: a text over max_length with truncate=false must be refused
    run, _ = train_tiny_sms(tiny_model_dir, tmp_path_factory.mktemp("serve"), long_text="truncate")
    return run.path


def make_client(run_dir, **kw):
    return ready_client(lambda: Predictor.load(run_dir, backend="torch"), **kw)


def ready_client(factory, **kw):
    """A TestClient over create_app(factory), returned once /ready answers 200."""
    client = TestClient(create_app(factory, **kw))
    client.__enter__()
    deadline = time.time() + 30
    while client.get("/ready").status_code != 200:
        assert time.time() < deadline, "model never became ready"
        time.sleep(0.05)
    return client


@pytest.fixture(scope="module")
def client(run_dir):
    c = make_client(run_dir)
    yield c
    c.__exit__(None, None, None)


def test_predict_shapes(client):
    one = client.post("/predict", json={"inputs": "win a free prize now"})
    assert one.status_code == 200
    body = one.json()
    assert [x["label"] for x in body] and {x["label"] for x in body} == {"ham", "spam"}
    assert abs(sum(x["score"] for x in body) - 1) < 1e-5
    assert body[0]["score"] >= body[1]["score"]
    many = client.post("/predict", json={"inputs": ["a", "b", "c"], "top_k": 1}).json()
    assert len(many) == 3 and all(len(x) == 1 for x in many)
    raw = client.post("/predict", json={"inputs": "a", "raw_scores": True}).json()
    assert abs(sum(x["score"] for x in raw) - 1) > 1e-3   # logits, not probabilities


def test_same_answer_as_the_predictor(client, run_dir):
    texts = ["see you at lunch", "urgent claim your cash reward now"]
    api = client.post("/predict", json={"inputs": texts, "top_k": 1}).json()
    local = Predictor.load(run_dir, backend="torch").predict(texts)
    for a, b in zip(api, local):
        assert a[0]["label"] == b["label"] and a[0]["score"] == pytest.approx(b["score"], abs=1e-5)


BAD = [
    ({"inputs": ""}, 422, "Empty text"),
    ({"inputs": []}, 422, "inputs is empty"),
    ({"inputs": ["ok", "  "]}, 422, "Empty text"),
    ({"inputs": 5}, 422, "Invalid request"),
    ({"inputs": ["a", 3]}, 422, "Invalid request"),
    ({"text": "hi"}, 422, "Invalid request"),
    ({"inputs": [["a", "b"]]}, 422, "single texts"),
    ({"inputs": [["a"]]}, 422, "exactly two texts"),
    ({"inputs": "x", "top_k": 0}, 422, "Invalid request"),
    ({"inputs": ["a"] * (MAX_INPUTS + 1)}, 422, "Too many inputs"),
    ({"inputs": "word " * 500, "truncate": False}, 422, "max length"),
]


@pytest.mark.parametrize("body,status,msg", BAD)
def test_bad_requests_get_json_errors(client, body, status, msg):
    r = client.post("/predict", json=body)
    assert r.status_code == status
    assert msg in r.json()["error"]


def test_long_text_is_truncated_by_default(client):
    assert client.post("/predict", json={"inputs": "word " * 500}).status_code == 200


def test_malformed_json_and_body_size(client):
    r = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    big = b'{"inputs": "' + b"a" * 1_100_000 + b'"}'
    r = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    assert client.get("/nope").status_code == 404 and "error" in client.get("/nope").json()


def _samples(prometheus_text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in prometheus_text.splitlines() if line and not line.startswith("#")}


def test_info_health_metrics_page(client):
    info = client.get("/info").json()
    assert info["labels"] == ["ham", "spam"] and info["task"] == "binary" and info["backend"] == "torch"
    assert 0 < info["decision_threshold"] < 1   # the binary decision threshold (0.5 unless tuning paid off)
    assert client.get("/health").json() == {"status": "ok"}
    ok = 'textclf_requests_total{path="/predict",status="200"}'
    timed = 'textclf_request_seconds_count{path="/predict"}'
    before = _samples(client.get("/metrics").text)
    client.post("/predict", json={"inputs": "hello"})
    text = client.get("/metrics").text
    assert "textclf_requests_total" in text and "textclf_batch_texts_bucket" in text
    assert "textclf_tokens_total" in text and "textclf_queue_depth" in text
    after = _samples(text)
    assert after[ok] == before.get(ok, 0) + 1 and after[timed] == before.get(timed, 0) + 1
    page = client.get("/")
    assert page.status_code == 200 and "<button id=\"go\">Predict</button>" in page.text
    assert "http://" not in page.text and "https://" not in page.text   # no CDN


def test_api_key(run_dir):
    c = make_client(run_dir, api_key="s3cret")
    try:
        assert c.post("/predict", json={"inputs": "a"}).status_code == 401
        assert c.post("/predict", json={"inputs": "a"}, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.post("/predict", json={"inputs": "a"}, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/info", headers={"x-api-key": "s3cret"}).status_code == 200
        assert c.get("/health").status_code == 200
        assert c.post("/", json={"inputs": "a"}).status_code == 401   # TEI's route is guarded too
        assert c.post("/", json={"inputs": "a"}, headers={"x-api-key": "s3cret"}).status_code == 200
        assert c.get("/").status_code == 200                           # the page is not
    finally:
        c.__exit__(None, None, None)


def post_at_once(app, texts):
    """Every text POSTed to /predict at the same time (top_k 1); the responses in order."""
    import httpx

    async def fire():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as ac:
            return await asyncio.gather(*[ac.post("/predict", json={"inputs": t, "top_k": 1}) for t in texts])
    return asyncio.run(fire())


def test_concurrent_requests_share_model_calls(run_dir):
    """Many requests in flight at once are answered correctly and in fewer model calls."""
    c = make_client(run_dir, max_wait_ms=20)
    try:
        app = c.app
        batcher = app.state.textclf["batcher"]
        calls = []
        real = batcher.predictors[0].logits
        batcher.predictors[0].logits = lambda t, p=None: (calls.append(len(t)), real(t, p))[1]
        texts = [f"message number {i}" for i in range(24)]

        responses = post_at_once(app, texts)
        assert all(r.status_code == 200 for r in responses)
        assert sum(calls) == 24 and len(calls) < 24 and max(calls) > 1
        local = Predictor.load(run_dir, backend="torch").predict(texts)
        assert [r.json()[0]["label"] for r in responses] == [x["label"] for x in local]
    finally:
        c.__exit__(None, None, None)


def test_not_ready_is_503(run_dir):
    import threading
    gate = threading.Event()

    def slow():
        gate.wait(10)
        return Predictor.load(run_dir, backend="torch")
    app = create_app(slow)
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 503
        r = c.post("/predict", json={"inputs": "a"})
        assert r.status_code == 503 and "not loaded" in r.json()["error"]
        gate.set()
        deadline = time.time() + 30
        while c.get("/ready").status_code != 200 and time.time() < deadline:
            time.sleep(0.05)
        assert c.post("/predict", json={"inputs": "a"}).status_code == 200


def test_multilabel_scores_are_sigmoid_with_selected_flags(tiny_model_dir, tmp_path):
    import textclf
    from conftest import EMOTIONS, multilabel_frame
    from textclf.config import DataConfig, TrainConfig

    p = tmp_path / "ml.csv"
    multilabel_frame(200).to_csv(p, index=False)
    cfg = TrainConfig(data=DataConfig(train=str(p), label_names=",".join(EMOTIONS)),
                      model=str(tiny_model_dir), output=str(tmp_path / "run"), epochs=1,
                      batch_size=16, max_length=32, early_stopping_patience=0, baseline=False)
    run = textclf.train(cfg, quiet=True)
    c = make_client(run.path)
    try:
        body = c.post("/predict", json={"inputs": "comment joyword"}).json()
        local = Predictor.load(run.path, backend="torch")
        probs = local.predict_proba(["comment joyword"])[0]
        assert {x["label"] for x in body} == set(EMOTIONS)
        for item in body:
            j = EMOTIONS.index(item["label"])
            assert item["score"] == pytest.approx(float(probs[j]), abs=1e-5)
            assert item["selected"] == (probs[j] >= local.thresholds[j])
    finally:
        c.__exit__(None, None, None)


@pytest.fixture(scope="module")
def onnx_model(run_dir, tmp_path_factory):
    import shutil

    from textclf.inference.onnx import export

    copy = tmp_path_factory.mktemp("onnx") / "model"
    shutil.copytree(run_dir / "model", copy)
    export(copy, quantize=False, say=lambda *a: None)
    return copy


def test_onnx_model_workers_are_single_threaded_replicas(onnx_model):
    """One replica per model worker, each with its own tokenizer, on one shared one-thread session."""
    from textclf.serving.app import batch_predictors

    p = Predictor.load(onnx_model, backend="onnx")
    reps = batch_predictors(p, 3)
    assert len(reps) == 3 and reps[0] is p
    assert all(r.backend is reps[0].backend and r.backend.threads == 1 for r in reps)
    assert len({id(r.tokenizer) for r in reps}) == 3
    assert len(batch_predictors(Predictor.load(onnx_model, backend="onnx"), 1)) == 1


def test_several_model_workers_answer_concurrent_requests_correctly(onnx_model):
    """Two worker threads take batches from one queue at once; every request gets its own rows."""
    c = ready_client(lambda: Predictor.load(onnx_model, backend="onnx"), model_workers=2, max_wait_ms=5)
    try:
        app = c.app
        batcher = app.state.textclf["batcher"]
        assert len(batcher.threads) == 2 and all(t.is_alive() for t in batcher.threads)
        used = {}
        for k, q in enumerate(batcher.predictors):
            real = q.logits
            q.logits = (lambda real, k: lambda t, p=None: (used.setdefault(k, []).append(len(t)),
                                                             time.sleep(0.02), real(t, p))[2])(real, k)
        texts = [f"message {i} " + "free prize " * (i % 5) for i in range(40)]

        responses = post_at_once(app, texts)
        assert all(r.status_code == 200 for r in responses)
        assert sum(sum(v) for v in used.values()) == 40 and len(used) == 2   # both workers ran batches
        local = Predictor.load(onnx_model, backend="onnx").predict(texts)
        for r, x in zip(responses, local):
            assert r.json()[0]["label"] == x["label"]
            assert r.json()[0]["score"] == pytest.approx(x["score"], abs=1e-4)
    finally:
        c.__exit__(None, None, None)
    assert not any(t.is_alive() for t in batcher.threads)   # shutdown stops every worker
