"""The plain POST /predict answered by the middleware equals the FastAPI route's answer."""
import pytest

from test_app import make_client, run_dir  # noqa: F401  (fixture)
from textclf.serving.fastpath import plain_request

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("body,plain", [
    (b'{"inputs": "hi"}', True),
    (b'{"inputs": ["a", "b"], "top_k": 1, "raw_scores": true, "truncate": false}', True),
    (b'{"inputs": [["a", "b"]]}', False),          # pairs: the route
    (b'{"inputs": "hi", "top_k": 1.0}', False),    # lax types: the route decides
    (b'{"inputs": "hi", "raw_scores": "yes"}', False),
    (b'{"inputs": "hi", "top_k": 0}', False),
    (b'{"inputs": "hi", "extra": 1}', False),
    (b'{"inputs": []}', False),
    (b'{"inputs": "hi"', False),
    (b'["hi"]', False),
    (b'{"inputs": "hi", "parameters": {}}', True),                     # the Inference API's shape
    (b'{"inputs": "hi", "parameters": {"top_k": 2, "function_to_apply": "none"}}', True),
    (b'{"inputs": "hi", "parameters": {"temperature": 1}}', False),    # the route names it
    (b'{"inputs": "hi", "parameters": {"function_to_apply": "relu"}}', False),
    (b'{"inputs": "hi", "parameters": []}', False),
])
def test_plain_request_takes_only_valid_simple_bodies(body, plain):
    assert (plain_request(body) is not None) == plain


def test_parameters_override_top_k_and_nest_the_answer():
    got = plain_request(b'{"inputs": "hi", "top_k": 3, "parameters": {"top_k": 1, "function_to_apply": "sigmoid"}}')
    assert got["top_k"] == 1 and got["nested"] and got["function_to_apply"] == "sigmoid"
    assert "nested" not in plain_request(b'{"inputs": "hi"}')


@pytest.mark.parametrize("path,body", [
    ("/predict", b'{"inputs": ["win cash now", "see you"], "top_k": 1}'),
    ("/", b'{"inputs": "win cash now", "parameters": {"function_to_apply": "none"}}'),
    ("/predict", b'{"inputs": "see you", "parameters": {"top_k": 1}}'),
])
def test_fast_and_route_answers_are_the_same(run_dir, monkeypatch, path, body):  # noqa: F811
    client = make_client(run_dir)
    try:
        fast = client.post(path, content=body, headers=JSON)
        monkeypatch.setattr("textclf.serving.app.plain_request", lambda body: None)   # the route
        slow = client.post(path, content=body, headers=JSON)
        assert fast.status_code == slow.status_code == 200
        assert fast.content == slow.content and fast.headers["content-type"] == slow.headers["content-type"]
        monkeypatch.undo()
        for body in (b'{"inputs": ""}', b'{"inputs": ["x"] }'.replace(b'"x"', b'"   "')):
            err = client.post("/predict", content=body, headers=JSON)
            assert err.status_code == 422 and "Empty text" in err.json()["error"]
        big = client.post("/predict", content=b'{"inputs": "' + b"a" * 2_000_000 + b'"}',
                          headers={**JSON, "transfer-encoding": "chunked"})
        assert big.status_code == 413
    finally:
        client.__exit__(None, None, None)
