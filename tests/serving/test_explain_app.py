"""POST /explain on a tiny trained model: the same words and attributions as the Explainer,
JSON errors for bad input, the API key, and an ONNX-served model explained through torch."""

import pytest

from textclf.inference.predictor import Predictor
from test_app import ready_client

pytest.importorskip("captum", reason="captum is in the test extra (pip install -e '.[test]')")

TEXT = "urgent claim your free prize now"


@pytest.fixture(scope="module")
def run_dir(tiny_model_dir, tmp_path_factory):
    from conftest import train_tiny_sms
    run, _ = train_tiny_sms(tiny_model_dir, tmp_path_factory.mktemp("explain-serve"), baseline=False)
    return run.path


@pytest.fixture(scope="module")
def client(run_dir):
    c = ready_client(lambda: Predictor.load(run_dir, backend="torch"))
    yield c
    c.__exit__(None, None, None)


def test_explain_matches_the_explainer(client, run_dir):
    from textclf.inference.explain import Explainer

    r = client.post("/explain", json={"inputs": TEXT, "target": "spam", "steps": 20})
    assert r.status_code == 200, r.text
    body = r.json()
    local = Explainer(Predictor.load(run_dir, backend="torch")).explain(TEXT, target="spam", steps=20)
    assert body["target"] == "spam" and body["label"] == local["label"]
    assert [w["word"] for w in body["words"]] == TEXT.split()
    for a, b in zip(body["words"], local["words"]):
        assert a["attribution"] == pytest.approx(b["attribution"], rel=1e-4, abs=1e-6)
    assert "".join(p["text"] for p in body["segments"][0]) == TEXT


BAD = [
    ({"inputs": ""}, 422, "non-empty"),
    ({"inputs": TEXT, "target": "eggs"}, 422, "Unknown label 'eggs'"),
    ({"inputs": TEXT, "steps": 1}, 422, "Invalid request"),
    ({"inputs": TEXT, "steps": 10_000}, 422, "Invalid request"),
    ({"inputs": ["a", "b"]}, 422, "single texts"),
    ({"inputs": ["a", "b", "c"]}, 422, "one text or one"),
    ({"inputs": 3}, 422, "Invalid request"),
    ({"text": TEXT}, 422, "Invalid request"),
]


@pytest.mark.parametrize("body,status,message", BAD)
def test_bad_requests_get_json_errors(client, body, status, message):
    r = client.post("/explain", json=body)
    assert r.status_code == status and message in r.json()["error"]


def test_explain_needs_the_api_key(run_dir):
    c = ready_client(lambda: Predictor.load(run_dir, backend="torch"), api_key="s3cret")
    try:
        assert c.post("/explain", json={"inputs": TEXT}).status_code == 401
        ok = c.post("/explain", json={"inputs": TEXT}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
    finally:
        c.__exit__(None, None, None)


def test_onnx_served_model_is_explained_with_its_torch_weights(run_dir, tmp_path, client):
    import shutil

    from textclf.inference.onnx import export

    copy = tmp_path / "model"
    shutil.copytree(run_dir / "model", copy)
    export(copy, quantize=False, say=lambda *a: None)
    c = ready_client(lambda: Predictor.load(copy, backend="onnx"))
    try:
        assert c.get("/info").json()["backend"] == "onnx"
        onnx_body = c.post("/explain", json={"inputs": TEXT, "steps": 20}).json()
    finally:
        c.__exit__(None, None, None)
    torch_body = client.post("/explain", json={"inputs": TEXT, "steps": 20}).json()
    assert [w["word"] for w in onnx_body["words"]] == [w["word"] for w in torch_body["words"]]
    for a, b in zip(onnx_body["words"], torch_body["words"]):
        assert a["attribution"] == pytest.approx(b["attribution"], rel=1e-4, abs=1e-6)
