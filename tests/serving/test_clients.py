"""The clients people already use, against a real server on loopback: huggingface_hub's
InferenceClient and AsyncInferenceClient, pointed at the server's base URL (POST /, as
text-embeddings-inference routes it) and at its /predict URL (the Inference API's shape, with
`parameters`)."""
import asyncio

import numpy as np
import pytest
from huggingface_hub import AsyncInferenceClient, InferenceClient

from loopback import LoopbackServer
from textclf.inference.predictor import Predictor
from textclf.serving.app import create_app

TEXTS = ["win a free prize now call 0800 claim your cash reward", "see you at lunch tomorrow"]


@pytest.fixture(scope="module")
def served(tiny_model_dir, tmp_path_factory):
    from conftest import train_tiny_sms

    run, _ = train_tiny_sms(tiny_model_dir, tmp_path_factory.mktemp("clients"), long_text="truncate")
    app = create_app(lambda: Predictor.load(run.path, backend="torch"))
    with LoopbackServer(app) as srv:
        srv.wait_ready()
        yield srv.url, Predictor.load(run.path, backend="torch")


@pytest.fixture(autouse=True)
def client_online(monkeypatch):
    """huggingface_hub's offline mode (HF_HUB_OFFLINE=1, set for the suite) refuses every URL,
    loopback too; a user of InferenceClient is online, and these requests go only to 127.0.0.1."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def as_pairs(out):
    return [(x.label, x.score) for x in out]


@pytest.mark.parametrize("how", ["base_url", "model_url"])
def test_inference_client_text_classification(served, how):
    url, predictor = served
    client = InferenceClient(base_url=url) if how == "base_url" else InferenceClient(model=url + "/predict")
    for text in TEXTS:
        got = client.text_classification(text)
        want = predictor.predict_proba([text])[0]
        assert [x.label for x in got] == [predictor.labels.names[j] for j in np.argsort(-want)]
        assert [x.score for x in got] == pytest.approx(sorted(want, reverse=True), abs=1e-5)
    top = client.text_classification(TEXTS[0], top_k=1)
    assert len(top) == 1 and top[0].label == predictor.predict([TEXTS[0]])[0]["label"]


def test_function_to_apply_is_honoured(served):
    url, predictor = served
    client = InferenceClient(base_url=url)
    logits = predictor.logits([TEXTS[1]])[0]
    raw = dict(as_pairs(client.text_classification(TEXTS[1], function_to_apply="none")))
    assert [raw[n] for n in predictor.labels.names] == pytest.approx(logits.tolist(), abs=1e-4)
    sig = dict(as_pairs(client.text_classification(TEXTS[1], function_to_apply="sigmoid")))
    z = logits / predictor.temperature + predictor.offsets
    assert [sig[n] for n in predictor.labels.names] == pytest.approx((1 / (1 + np.exp(-z))).tolist(), abs=1e-5)
    soft = client.text_classification(TEXTS[1], function_to_apply="softmax")
    assert sum(x.score for x in soft) == pytest.approx(1, abs=1e-5)
    assert sum(sig.values()) != pytest.approx(1, abs=1e-3)   # sigmoid scores are not a softmax


def test_async_client(served):
    url, predictor = served

    async def ask():
        client = AsyncInferenceClient(base_url=url)
        return await asyncio.gather(*(client.text_classification(t, top_k=1) for t in TEXTS))

    got = asyncio.run(ask())
    assert [g[0].label for g in got] == [p["label"] for p in predictor.predict(TEXTS)]


def test_unknown_parameter_is_a_422_that_names_it(served):
    import httpx

    url, _ = served
    r = httpx.post(url + "/", json={"inputs": "hi", "parameters": {"top_k": 1, "temperature": 2}})
    assert r.status_code == 422 and "parameters.temperature" in r.json()["error"]
    r = httpx.post(url + "/predict", json={"inputs": "hi", "parameters": {"function_to_apply": "relu"}})
    assert r.status_code == 422 and "function_to_apply" in r.json()["error"]


def test_tei_fields_and_shapes_stay(served):
    import httpx

    url, _ = served
    flat = httpx.post(url + "/", json={"inputs": TEXTS[0]}).json()
    assert isinstance(flat[0], dict)                         # TEI: a single text gets its list alone
    nested = httpx.post(url + "/", json={"inputs": TEXTS[0], "parameters": {}}).json()
    assert nested == [flat]                                  # Inference API: always a list per input
    raw = httpx.post(url + "/predict", json={"inputs": TEXTS, "raw_scores": True, "truncate": True,
                                            "truncation_direction": "Right"}).json()
    assert len(raw) == 2 and abs(sum(x["score"] for x in raw[0]) - 1) > 1e-3


def test_left_truncation_keeps_the_end_of_a_long_text(served):
    import httpx

    url, predictor = served
    end = "win a free prize now call 0800 claim your cash reward"
    long_text = "see you at lunch tomorrow " * 40 + end   # far over the model's 32 tokens
    left = httpx.post(url + "/predict", json={"inputs": long_text, "raw_scores": True,
                                             "truncation_direction": "left"}).json()
    right = httpx.post(url + "/predict", json={"inputs": long_text, "raw_scores": True}).json()
    from textclf.serving.app import keep_ends
    kept = keep_ends(predictor, [long_text])[0]
    assert long_text.endswith(kept) and kept.endswith(end) and len(kept) < len(long_text)
    ids = predictor.tokenizer(kept)["input_ids"]
    assert len(ids) <= predictor.max_length
    want = predictor.logits([kept])[0]
    got = {x["label"]: x["score"] for x in left}
    assert [got[n] for n in predictor.labels.names] == pytest.approx(want.tolist(), abs=1e-4)
    assert left != right
